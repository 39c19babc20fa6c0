//! Dynamic Client Registration (RFC 7591, OpenID Connect Dynamic Client Registration 1.0) and
//! its management protocol (RFC 7592): client metadata in, a client out, admitted by the one
//! policy every client passes (`client_policy::admit`, which also holds what the deployment allows
//! self-registered clients to be). The web layer does HTTP and authentication; the client store
//! (`crate::clients::registration`) stores.

use serde_json::{json, Map, Value};
use url::Url;

use super::client_policy::{self, ClientSpec, FieldError, Registrant, AUTH_BASIC, AUTH_NONE};
use crate::config::{RegistrationPolicy, RegistrationSettings};
use crate::db::models::clients::Client;
use crate::random;

/// The `sector_identifier_uri` a registration body names, for the caller to read
/// (`clients::sector`) before [`register`] or [`replace`].
pub fn sector_uri(body: &Value) -> Option<String> {
    body.get("sector_identifier_uri")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(str::to_owned)
}

/// RFC 7591 §3.2.2 errors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegistrationError {
    InvalidRedirectUri(String),
    InvalidClientMetadata(String),
}

impl RegistrationError {
    pub fn code(&self) -> &'static str {
        match self {
            RegistrationError::InvalidRedirectUri(_) => "invalid_redirect_uri",
            RegistrationError::InvalidClientMetadata(_) => "invalid_client_metadata",
        }
    }

    pub fn description(&self) -> &str {
        match self {
            RegistrationError::InvalidRedirectUri(d)
            | RegistrationError::InvalidClientMetadata(d) => d,
        }
    }
}

fn metadata_error(d: impl Into<String>) -> RegistrationError {
    RegistrationError::InvalidClientMetadata(d.into())
}

/// The first validation failure, with the RFC 7591 code its field calls for.
pub fn from_field_errors(errors: Vec<FieldError>) -> RegistrationError {
    let uri_error = errors
        .iter()
        .find(|e| e.field == "redirect_uris" || e.field == "post_logout_redirect_uris");
    match uri_error {
        Some(e) => RegistrationError::InvalidRedirectUri(e.message.clone()),
        None => {
            let all: Vec<String> = errors
                .iter()
                .map(|e| format!("{}: {}", dcr_name(e.field), e.message))
                .collect();
            metadata_error(all.join("; "))
        }
    }
}

/// Our field names as RFC 7591 calls them.
fn dcr_name(field: &str) -> &str {
    match field {
        "name" => "client_name",
        "auth_method" => "token_endpoint_auth_method",
        "scopes" => "scope",
        "id_token_alg" => "id_token_signed_response_alg",
        "homepage_uri" => "client_uri",
        other => other,
    }
}

fn string(m: &Map<String, Value>, key: &str) -> Result<Option<String>, RegistrationError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.len() <= 2048 => Ok(Some(s.clone())),
        Some(Value::String(_)) => Err(metadata_error(format!("{key} is too long"))),
        Some(_) => Err(metadata_error(format!("{key} must be a string"))),
    }
}

fn strings(m: &Map<String, Value>, key: &str) -> Result<Vec<String>, RegistrationError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) if items.len() <= 50 => items
            .iter()
            .map(|v| match v {
                Value::String(s) if s.len() <= 2048 => Ok(s.clone()),
                _ => Err(metadata_error(format!("{key} must be an array of strings"))),
            })
            .collect(),
        Some(_) => Err(metadata_error(format!(
            "{key} must be an array of at most 50 strings"
        ))),
    }
}

fn boolean(m: &Map<String, Value>, key: &str) -> Result<bool, RegistrationError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(metadata_error(format!("{key} must be true or false"))),
    }
}

/// Reads RFC 7591 client metadata into a spec. Unknown members are ignored (and so never echoed).
pub fn spec_from_metadata(body: &Value) -> Result<ClientSpec, RegistrationError> {
    let m = body
        .as_object()
        .ok_or_else(|| metadata_error("the request body must be a JSON object"))?;
    let auth_method = string(m, "token_endpoint_auth_method")?;
    let public = auth_method.as_deref() == Some(AUTH_NONE);
    if let Some(a) = auth_method.as_deref() {
        if !client_policy::SUPPORTED_AUTH_METHODS.contains(&a) {
            return Err(metadata_error(format!(
                "token_endpoint_auth_method {a} is not supported: use client_secret_basic, \
                 client_secret_post, private_key_jwt or none"
            )));
        }
    }
    let response_types = strings(m, "response_types")?;
    if response_types.iter().any(|r| r != "code") {
        return Err(metadata_error("only the response type code is supported"));
    }
    // RFC 7591 §2: grant_types defaults to authorization_code.
    let mut grant_types = strings(m, "grant_types")?;
    if grant_types.is_empty() {
        grant_types.push(crate::domain::grants::GRANT_AUTHORIZATION_CODE.to_owned());
    }
    if !response_types.is_empty()
        && !grant_types
            .iter()
            .any(|g| g == crate::domain::grants::GRANT_AUTHORIZATION_CODE)
    {
        return Err(metadata_error(
            "response_types code needs the authorization_code grant type",
        ));
    }
    let scopes = string(m, "scope")?
        .map(|s| s.split_ascii_whitespace().map(str::to_owned).collect())
        .unwrap_or_default();
    let redirect_uris = strings(m, "redirect_uris")?;
    let client_uri = string(m, "client_uri")?;
    let name = string(m, "client_name")?.unwrap_or_default();
    let name = if name.trim().is_empty() {
        // A name is what the consent page shows; without one, the app's site stands in.
        client_uri
            .as_deref()
            .and_then(|u| Url::parse(u).ok())
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_else(|| "Unnamed application".to_owned())
    } else {
        name
    };
    let jwks = match m.get("jwks") {
        None | Some(Value::Null) => None,
        Some(v @ Value::Object(_)) => Some(v.clone()),
        Some(_) => return Err(metadata_error("jwks must be a JWK Set object")),
    };
    Ok(ClientSpec {
        name,
        redirect_uris,
        post_logout_redirect_uris: strings(m, "post_logout_redirect_uris")?,
        public,
        grant_types,
        scopes,
        auth_method: auth_method.or_else(|| Some(AUTH_BASIC.to_owned())),
        id_token_alg: string(m, "id_token_signed_response_alg")?,
        logo_uri: string(m, "logo_uri")?,
        homepage_uri: client_uri,
        application_type: Some(string(m, "application_type")?.unwrap_or_else(|| "web".into())),
        policy_uri: string(m, "policy_uri")?,
        tos_uri: string(m, "tos_uri")?,
        contacts: strings(m, "contacts")?,
        jwks,
        jwks_uri: string(m, "jwks_uri")?,
        // A client cannot set its own minimum: that is an administrator's decision.
        minimum_acr: None,
        require_par: boolean(m, "require_pushed_authorization_requests")?,
        backchannel_logout_uri: string(m, "backchannel_logout_uri")?,
        backchannel_logout_session_required: boolean(m, "backchannel_logout_session_required")?,
        frontchannel_logout_uri: string(m, "frontchannel_logout_uri")?,
        frontchannel_logout_session_required: boolean(m, "frontchannel_logout_session_required")?,
        // Which other services a client may obtain tokens for is an administrator's decision.
        token_exchange_audiences: Vec::new(),
        request_uris: strings(m, "request_uris")?,
        request_object_signing_alg: string(m, "request_object_signing_alg")?,
        require_signed_request_object: boolean(m, "require_signed_request_object")?,
        userinfo_signed_response_alg: string(m, "userinfo_signed_response_alg")?,
        subject_type: string(m, "subject_type")?,
        sector_identifier_uri: string(m, "sector_identifier_uri")?,
        sector_document: None,
    })
}

/// A new self-registered client: the client (unverified, origin `dynamic`), its secret when
/// confidential, and its registration access token. Only hashes of both are in the row.
pub struct Registered {
    pub client: Client,
    pub secret: Option<String>,
    pub registration_token: String,
}

/// `sector` is what the body's `sector_identifier_uri` held, read by the caller
/// (`clients::sector`); `None` when it names none.
pub fn register(
    body: &Value,
    sector: Option<Result<Vec<String>, String>>,
    policy: &RegistrationSettings,
    now: i64,
) -> Result<Registered, RegistrationError> {
    let mut spec = spec_from_metadata(body)?;
    spec.sector_document = sector;
    let mut client = client_policy::admit(
        &spec,
        &random::client_id(),
        Registrant::SelfRegistered(policy),
        now,
    )
    .map_err(from_field_errors)?;
    let secret = client_policy::uses_secret(&client.row.auth_method).then(random::client_secret);
    client.row.secret_hash = secret.as_deref().map(random::sha256_hex);
    let registration_token = random::registration_token();
    client.row.registration_token_hash = Some(random::sha256_hex(&registration_token));
    Ok(Registered {
        client,
        secret,
        registration_token,
    })
}

/// RFC 7592 §2.2: the client's metadata replaced by `body`. The secret is kept (a confidential
/// client that had none, having been public, gets one: returned once).
pub fn replace(
    existing: &Client,
    body: &Value,
    sector: Option<Result<Vec<String>, String>>,
    policy: &RegistrationSettings,
    now: i64,
) -> Result<(Client, Option<String>), RegistrationError> {
    let m = body
        .as_object()
        .ok_or_else(|| metadata_error("the request body must be a JSON object"))?;
    if string(m, "client_id")?.as_deref() != Some(existing.row.client_id.as_str()) {
        return Err(metadata_error(
            "client_id must be present and name this client (RFC 7592 §2.2)",
        ));
    }
    if let Some(presented) = string(m, "client_secret")? {
        let matches = existing
            .row
            .secret_hash
            .as_deref()
            .is_some_and(|h| random::verify_sha256_hex(&presented, h));
        if !matches {
            return Err(metadata_error(
                "client_secret does not match the current secret",
            ));
        }
    }
    let mut spec = spec_from_metadata(body)?;
    spec.sector_document = sector;
    let mut client = client_policy::admit(
        &spec,
        &existing.row.client_id,
        Registrant::SelfRegistered(policy),
        now,
    )
    .map_err(from_field_errors)?;
    // What an administrator set (verification, disabling, the least acr…) is kept by the
    // store (`clients::keep_admin_fields`), which also issues the new registration access token.
    let r = &existing.row;
    let mut new_secret = None;
    if client.row.is_public {
        client.row.secret_hash = None;
    } else if r.secret_hash.is_some() {
        client.row.secret_hash = r.secret_hash.clone();
    } else {
        let s = random::client_secret();
        client.row.secret_hash = Some(random::sha256_hex(&s));
        new_secret = Some(s);
    }
    Ok((client, new_secret))
}

/// The registration policy in force: an administrator's choice stored in the database, else the
/// configured one.
pub fn current_policy(
    conn: &mut crate::db::DbConn,
    configured: RegistrationPolicy,
) -> diesel::QueryResult<RegistrationPolicy> {
    use crate::db::models::server_settings;
    Ok(
        server_settings::get(conn, server_settings::REGISTRATION_POLICY)?
            .and_then(|v| RegistrationPolicy::parse(&v))
            .unwrap_or(configured),
    )
}

/// The client information response (RFC 7591 §3.2.1, RFC 7592 §3): the metadata as stored,
/// with the secret and registration access token when they were just issued.
pub fn information(
    client: &Client,
    issuer: &str,
    secret: Option<&str>,
    registration_token: Option<&str>,
) -> Value {
    let r = &client.row;
    let mut out = json!({
        "client_id": r.client_id,
        "client_id_issued_at": r.created_at,
        "client_name": r.name,
        "redirect_uris": client.redirect_uris,
        "grant_types": r.grant_types.split_ascii_whitespace().collect::<Vec<_>>(),
        "response_types": if client.allows_grant(crate::domain::grants::GRANT_AUTHORIZATION_CODE) { vec!["code"] } else { vec![] },
        "token_endpoint_auth_method": r.auth_method,
        "scope": r.scopes,
        "id_token_signed_response_alg": r.id_token_alg,
        "application_type": r.application_type,
        "registration_client_uri": format!("{issuer}/register/{}", r.client_id),
    });
    let Value::Object(o) = &mut out else {
        return out;
    };
    if !client.post_logout_redirect_uris.is_empty() {
        o.insert(
            "post_logout_redirect_uris".into(),
            json!(client.post_logout_redirect_uris),
        );
    }
    if let Some(u) = &r.homepage_uri {
        o.insert("client_uri".into(), json!(u));
    }
    if let Some(u) = &r.logo_uri {
        o.insert("logo_uri".into(), json!(u));
    }
    if r.require_par {
        o.insert("require_pushed_authorization_requests".into(), json!(true));
    }
    if let Some(u) = &r.backchannel_logout_uri {
        o.insert("backchannel_logout_uri".into(), json!(u));
        o.insert(
            "backchannel_logout_session_required".into(),
            json!(r.backchannel_logout_session_required),
        );
    }
    if let Some(u) = &r.frontchannel_logout_uri {
        o.insert("frontchannel_logout_uri".into(), json!(u));
        o.insert(
            "frontchannel_logout_session_required".into(),
            json!(r.frontchannel_logout_session_required),
        );
    }
    for (k, v) in client.metadata() {
        o.insert(k, v);
    }
    if let Some(s) = secret {
        o.insert("client_secret".into(), json!(s));
    }
    if !r.is_public {
        // The secret never expires (RFC 7591 §3.2.1: 0).
        o.insert("client_secret_expires_at".into(), json!(0));
    }
    if let Some(t) = registration_token {
        o.insert("registration_access_token".into(), json!(t));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::models::clients::ORIGIN_DYNAMIC;

    fn policy() -> RegistrationSettings {
        RegistrationSettings {
            policy: crate::config::RegistrationPolicy::Open,
            grant_types: vec!["authorization_code".into(), "refresh_token".into()],
            scopes: vec!["openid".into(), "profile".into(), "email".into()],
            redirect_hosts: vec![],
            per_address_per_hour: 10,
        }
    }

    #[test]
    fn a_minimal_web_client_gets_defaults_and_its_tokens() {
        let body = json!({"redirect_uris": ["https://app.example/cb"], "client_name": "App", "x-unknown": 1});
        let r = register(&body, None, &policy(), 100).expect("valid");
        assert_eq!(r.client.row.auth_method, AUTH_BASIC);
        assert_eq!(r.client.row.grant_types, "authorization_code");
        assert_eq!(r.client.row.origin, ORIGIN_DYNAMIC);
        assert!(!r.client.row.verified);
        let secret = r.secret.expect("confidential");
        let info = information(
            &r.client,
            "https://id.example",
            Some(&secret),
            Some(&r.registration_token),
        );
        assert_eq!(info["client_secret_expires_at"], 0);
        assert!(
            info.get("x-unknown").is_none(),
            "unknown metadata is not echoed"
        );
        assert_eq!(
            info["registration_client_uri"],
            format!("https://id.example/register/{}", r.client.row.client_id)
        );
    }

    #[test]
    fn redirect_uris_follow_the_application_type() {
        let web =
            json!({"redirect_uris": ["com.example.app:/cb"], "token_endpoint_auth_method": "none"});
        assert_eq!(
            register(&web, None, &policy(), 1).err().map(|e| e.code()),
            Some("invalid_redirect_uri")
        );
        let native = json!({"redirect_uris": ["com.example.app:/cb"], "token_endpoint_auth_method": "none", "application_type": "native"});
        assert!(register(&native, None, &policy(), 1).is_ok());
        let plain_http = json!({"redirect_uris": ["http://app.example/cb"]});
        assert_eq!(
            register(&plain_http, None, &policy(), 1)
                .err()
                .map(|e| e.code()),
            Some("invalid_redirect_uri")
        );
    }

    #[test]
    fn the_policy_limits_grants_scopes_and_hosts() {
        let cc = json!({"grant_types": ["client_credentials"]});
        assert_eq!(
            register(&cc, None, &policy(), 1).err().map(|e| e.code()),
            Some("invalid_client_metadata")
        );
        let scope = json!({"redirect_uris": ["https://a.example/cb"], "scope": "openid admin"});
        assert!(register(&scope, None, &policy(), 1).is_err());
        let mut p = policy();
        p.redirect_hosts = vec!["a.example".into()];
        let other = json!({"redirect_uris": ["https://b.example/cb"]});
        assert_eq!(
            register(&other, None, &p, 1).err().map(|e| e.code()),
            Some("invalid_redirect_uri")
        );
        let ok = json!({"redirect_uris": ["https://a.example/cb"]});
        assert!(register(&ok, None, &p, 1).is_ok());
    }
}
