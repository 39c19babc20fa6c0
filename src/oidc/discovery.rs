//! OpenID Connect Discovery 1.0 and RFC 8414 metadata. Only what is implemented is advertised.

use serde_json::{json, Value};

use crate::config::Settings;
use crate::crypto::keys::ALGORITHMS;
use crate::domain::grants::SUPPORTED_GRANTS;
use crate::oauth::claims_request::SCOPE_CLAIMS;
use crate::oauth::client_policy::SUPPORTED_AUTH_METHODS;

pub const SCOPES: [&str; 7] = [
    "openid",
    "profile",
    "email",
    "address",
    "phone",
    "offline_access",
    "groups",
];

/// Claims about the token and the login, in every id_token that has them.
const TOKEN_CLAIMS: [&str; 12] = [
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "acr",
    "amr",
    "nonce",
    "at_hash",
    "azp",
    "sid",
];

/// `claims_supported`: the token's own claims, then the standard claims of each scope
/// (`claims_request::SCOPE_CLAIMS`, the one list).
fn claims_supported() -> Vec<&'static str> {
    TOKEN_CLAIMS
        .into_iter()
        .chain(
            SCOPE_CLAIMS
                .iter()
                .flat_map(|(_, claims)| claims.iter().copied()),
        )
        // The `groups` scope's claim: read from the directory, not the profile.
        .chain(["groups"])
        .collect()
}

/// The metadata document for `issuer` (no trailing slash), advertising what `settings` turn on.
pub fn metadata(issuer: &str, settings: &Settings) -> Value {
    let algs: Vec<&str> = ALGORITHMS.iter().map(|a| a.as_str()).collect();
    let mut doc = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        "jwks_uri": format!("{issuer}/jwks.json"),
        "revocation_endpoint": format!("{issuer}/revoke"),
        "introspection_endpoint": format!("{issuer}/introspect"),
        "end_session_endpoint": format!("{issuer}/logout"),
        "scopes_supported": SCOPES,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "grant_types_supported": SUPPORTED_GRANTS,
        "subject_types_supported": crate::oauth::subject::SUPPORTED,
        "id_token_signing_alg_values_supported": algs,
        "token_endpoint_auth_methods_supported": SUPPORTED_AUTH_METHODS,
        "revocation_endpoint_auth_methods_supported": SUPPORTED_AUTH_METHODS,
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256", "ES256", "EdDSA"],
        "revocation_endpoint_auth_signing_alg_values_supported": ["RS256", "ES256", "EdDSA"],
        "introspection_endpoint_auth_signing_alg_values_supported": ["RS256", "ES256", "EdDSA"],
        "device_authorization_endpoint": format!("{issuer}/device_authorization"),
        "pushed_authorization_request_endpoint": format!("{issuer}/par"),
        "require_pushed_authorization_requests": settings.require_par,
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        "frontchannel_logout_supported": true,
        "frontchannel_logout_session_supported": true,
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": claims_supported(),
        "claim_types_supported": ["normal"],
        "claims_parameter_supported": true,
        // Request objects (OIDC Core §6, RFC 9101): by value and from registered request_uris.
        "request_parameter_supported": true,
        "request_uri_parameter_supported": true,
        "require_request_uri_registration": true,
        "request_object_signing_alg_values_supported": crate::oauth::request_object::ALGORITHMS
            .iter()
            .chain([&crate::oauth::request_object::UNSIGNED])
            .collect::<Vec<_>>(),
        // Per client (`userinfo_signed_response_alg`); plain JSON otherwise.
        "userinfo_signing_alg_values_supported": algs,
        "prompt_values_supported": ["none", "login", "consent"],
        "authorization_response_iss_parameter_supported": true,
        "acr_values_supported": crate::authn::acr::SUPPORTED,
    });
    if let Some(o) = doc.as_object_mut() {
        // Advertised unless registration is closed by configuration; an administrator closing
        // it at run time gets 403 at the endpoint (discovery stays a constant, cacheable document).
        if settings.registration.policy != crate::config::RegistrationPolicy::Closed {
            o.insert(
                "registration_endpoint".into(),
                Value::String(format!("{issuer}/register")),
            );
        }
        if settings.client_id_metadata_documents {
            // draft-ietf-oauth-client-id-metadata-document: https URL client_ids are fetched.
            o.insert(
                "client_id_metadata_document_supported".into(),
                Value::Bool(true),
            );
        }
    }
    doc
}
