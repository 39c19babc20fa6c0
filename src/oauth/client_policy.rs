//! The rules a client registration must satisfy. [`admit`] is the one decision "may this client
//! exist with these settings", asked by every way a client comes to exist or change: the console,
//! the CLI, `ostiary apply`, `/register`, RFC 7592 updates and Client ID Metadata Documents. The
//! administrator's paths are the exceptions spelled out in it, not paths around it.

use url::Url;

use crate::config::RegistrationSettings;
use crate::db::models::clients::{
    Client, ClientRow, ORIGIN_ADMIN, ORIGIN_DOCUMENT, ORIGIN_DYNAMIC,
};
use crate::domain::grants::{
    GRANT_AUTHORIZATION_CODE, GRANT_CLIENT_CREDENTIALS, GRANT_DEVICE_CODE, GRANT_REFRESH_TOKEN,
    GRANT_TOKEN_EXCHANGE, SUPPORTED_GRANTS,
};
use crate::domain::net::is_loopback_host;
use crate::domain::signing::SigningAlg;
use crate::random;

pub const AUTH_BASIC: &str = "client_secret_basic";
pub const AUTH_POST: &str = "client_secret_post";
pub const AUTH_NONE: &str = "none";
/// RFC 7523 client authentication with a key the client registered (OIDC Core §9).
pub const AUTH_PRIVATE_KEY_JWT: &str = "private_key_jwt";
pub const SUPPORTED_AUTH_METHODS: [&str; 4] =
    [AUTH_BASIC, AUTH_POST, AUTH_PRIVATE_KEY_JWT, AUTH_NONE];

/// Whether a client with this method holds a shared secret.
pub fn uses_secret(auth_method: &str) -> bool {
    auth_method == AUTH_BASIC || auth_method == AUTH_POST
}

pub const DEFAULT_SCOPES: [&str; 3] = ["openid", "profile", "email"];

pub const APP_WEB: &str = "web";
pub const APP_NATIVE: &str = "native";

/// What someone asks to register, before validation.
#[derive(Clone, Debug, Default)]
pub struct ClientSpec {
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub public: bool,
    /// Empty means the defaults: authorization_code and refresh_token.
    pub grant_types: Vec<String>,
    /// Empty means the defaults: openid, profile, email.
    pub scopes: Vec<String>,
    /// `None` means client_secret_basic for confidential clients, none for public ones.
    pub auth_method: Option<String>,
    pub id_token_alg: Option<String>,
    pub logo_uri: Option<String>,
    pub homepage_uri: Option<String>,
    /// `web` or `native`; `None`: native for public clients, web for confidential ones.
    pub application_type: Option<String>,
    pub policy_uri: Option<String>,
    pub tos_uri: Option<String>,
    pub contacts: Vec<String>,
    /// A JWK Set (for key-based client authentication, later).
    pub jwks: Option<serde_json::Value>,
    pub jwks_uri: Option<String>,
    /// The least `acr` (see `authn::acr`) the client accepts; `None` or blank: any.
    pub minimum_acr: Option<String>,
    /// RFC 9126 `require_pushed_authorization_requests`.
    pub require_par: bool,
    /// OIDC Back-Channel Logout 1.0.
    pub backchannel_logout_uri: Option<String>,
    pub backchannel_logout_session_required: bool,
    /// OIDC Front-Channel Logout 1.0: the page the logged-out page loads in a hidden frame, with
    /// `iss` and `sid` when `frontchannel_logout_session_required`.
    pub frontchannel_logout_uri: Option<String>,
    pub frontchannel_logout_session_required: bool,
    /// RFC 8693: audiences the client may exchange tokens for.
    pub token_exchange_audiences: Vec<String>,
    /// OIDC Core §6.2: where the client's request objects may be fetched from (`request_uri`).
    pub request_uris: Vec<String>,
    /// OIDC Registration §2 `request_object_signing_alg`: the one algorithm its request
    /// objects use (`none`: unsigned ones accepted); `None`: any signed one we support.
    pub request_object_signing_alg: Option<String>,
    /// RFC 9101 §10.5: every authorization request must come as a signed request object.
    pub require_signed_request_object: bool,
    /// OIDC Registration §2 `userinfo_signed_response_alg`: userinfo answers as a JWT signed
    /// with this algorithm; `None`: plain JSON.
    pub userinfo_signed_response_alg: Option<String>,
    /// OIDC Registration §2 `subject_type`: `public` (the default) or `pairwise` (Core §8).
    pub subject_type: Option<String>,
    /// OIDC Registration §2 `sector_identifier_uri`: an https URL holding a JSON array of URIs
    /// that lists every redirect URI; its host is the pairwise sector (Core §8.1).
    pub sector_identifier_uri: Option<String>,
    /// What `sector_identifier_uri` held (its URIs, or why it could not be read), fetched by the
    /// caller (the web and CLI layers, `clients::sector::fetch`): the policy never fetches.
    /// `None`: not fetched. Never stored.
    pub sector_document: Option<Result<Vec<String>, String>>,
}

/// A validation failure, named by the field it belongs to so forms can show it beside that field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

fn err(field: &'static str, message: impl Into<String>) -> FieldError {
    FieldError {
        field,
        message: message.into(),
    }
}

/// Checks one redirect URI: absolute, no fragment, no wildcard; https, or http on a loopback
/// address; native apps may also use a private-use scheme (RFC 8252 §7.1).
pub fn check_redirect_uri(uri: &str, native: bool) -> Result<(), String> {
    if uri.contains('*') {
        return Err(format!("{uri}: wildcards are not allowed"));
    }
    let parsed = Url::parse(uri).map_err(|e| format!("{uri}: not an absolute URI ({e})"))?;
    if parsed.fragment().is_some() || uri.contains('#') {
        return Err(format!("{uri}: must not contain a fragment"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(format!("{uri}: must not contain user information"));
    }
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if is_loopback_host(parsed.host()) => Ok(()),
        "http" => Err(format!(
            "{uri}: http is allowed only on loopback addresses; use https"
        )),
        scheme if native && scheme.contains('.') => Ok(()),
        _ => Err(format!(
            "{uri}: the scheme must be https (or a reverse-domain private-use scheme for native apps)"
        )),
    }
}

/// RFC 6749 §3.3 scope-token: printable ASCII except space, `"` and `\`.
pub fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

fn check_optional_url(field: &'static str, value: &Option<String>, errors: &mut Vec<FieldError>) {
    if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
        match Url::parse(v) {
            Ok(u)
                if u.scheme() == "https"
                    || (u.scheme() == "http" && is_loopback_host(u.host())) => {}
            _ => errors.push(err(field, format!("{v}: must be an absolute https URL"))),
        }
    }
}

/// The registered metadata without a column of its own, checked, as a JSON object (or `None`).
fn extra_metadata(
    spec: &ClientSpec,
    redirect_uris: &[String],
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    check_optional_url("policy_uri", &spec.policy_uri, errors);
    check_optional_url("tos_uri", &spec.tos_uri, errors);
    check_optional_url("jwks_uri", &spec.jwks_uri, errors);
    let mut m = serde_json::Map::new();
    let mut put = |k: &str, v: &Option<String>| {
        if let Some(v) = v.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            m.insert(k.to_owned(), serde_json::Value::String(v.to_owned()));
        }
    };
    put("policy_uri", &spec.policy_uri);
    put("tos_uri", &spec.tos_uri);
    put("jwks_uri", &spec.jwks_uri);
    if spec.contacts.len() > 20
        || spec
            .contacts
            .iter()
            .any(|c| c.trim().is_empty() || c.len() > 320 || c.chars().any(char::is_control))
    {
        errors.push(err(
            "contacts",
            "at most 20 addresses of at most 320 characters",
        ));
    } else if !spec.contacts.is_empty() {
        m.insert("contacts".into(), serde_json::json!(spec.contacts));
    }
    if let Some(jwks) = &spec.jwks {
        let keys_ok = jwks
            .get("keys")
            .and_then(|k| k.as_array())
            .is_some_and(|k| {
                !k.is_empty()
                    && k.len() <= 20
                    && k.iter()
                        .all(|j| j.get("kty").is_some_and(|t| t.is_string()))
            });
        if !keys_ok {
            errors.push(err(
                "jwks",
                "must be a JWK Set: {\"keys\": [ … ]} with 1 to 20 keys, each with a kty",
            ));
        } else if spec
            .jwks_uri
            .as_deref()
            .is_some_and(|u| !u.trim().is_empty())
        {
            errors.push(err(
                "jwks",
                "jwks and jwks_uri must not both be given (RFC 7591 §2)",
            ));
        } else {
            m.insert("jwks".into(), jwks.clone());
        }
    }
    checked_request_objects(spec, &mut m, errors);
    match non_blank(spec.userinfo_signed_response_alg.as_deref()) {
        None => {}
        Some(a) if SigningAlg::parse(&a).is_some() => {
            m.insert("userinfo_signed_response_alg".into(), a.into());
        }
        Some(a) => errors.push(err(
            "userinfo_signed_response_alg",
            format!(
                "{a}: use one of {}",
                SigningAlg::ALL.map(SigningAlg::as_str).join(", ")
            ),
        )),
    }
    checked_subject_type(spec, redirect_uris, &mut m, errors);
    (!m.is_empty()).then(|| serde_json::Value::Object(m).to_string())
}

/// `subject_type` and `sector_identifier_uri` (OIDC Core §8.1, Registration §2). A pairwise
/// client needs a sector: the host of its `sector_identifier_uri`, whose document (fetched by
/// the caller into `sector_redirect_uris`) lists every redirect URI; without one, the one host
/// all its redirect URIs share. A client without redirect URIs has no sector.
fn checked_subject_type(
    spec: &ClientSpec,
    redirect_uris: &[String],
    m: &mut serde_json::Map<String, serde_json::Value>,
    errors: &mut Vec<FieldError>,
) {
    use crate::oauth::subject::{PAIRWISE, PUBLIC, SUPPORTED};
    let subject_type = non_blank(spec.subject_type.as_deref());
    let sector_uri = non_blank(spec.sector_identifier_uri.as_deref());
    if let Some(u) = &sector_uri {
        let https = Url::parse(u).is_ok_and(|p| {
            p.username().is_empty()
                && p.password().is_none()
                && p.host_str().is_some()
                && (p.scheme() == "https" || (p.scheme() == "http" && is_loopback_host(p.host())))
        });
        if !https || u.len() > 512 {
            errors.push(err(
                "sector_identifier_uri",
                format!("{u}: must be an absolute https URL of at most 512 characters"),
            ));
            return;
        }
        match &spec.sector_document {
            None => errors.push(err(
                "sector_identifier_uri",
                format!("{u}: its document was not read"),
            )),
            Some(Err(why)) => errors.push(err(
                "sector_identifier_uri",
                format!("{u}: its document could not be read: {why}"),
            )),
            Some(Ok(listed)) => {
                if let Some(missing) = redirect_uris.iter().find(|r| !listed.contains(r)) {
                    errors.push(err(
                        "sector_identifier_uri",
                        format!("{missing} is not listed in the document at {u}"),
                    ));
                }
            }
        }
        m.insert("sector_identifier_uri".into(), u.as_str().into());
    }
    match subject_type.as_deref() {
        None | Some(PUBLIC) => {}
        Some(PAIRWISE) => {
            let hosts: std::collections::BTreeSet<String> = redirect_uris
                .iter()
                .filter_map(|u| Url::parse(u).ok())
                .map(|u| u.host_str().unwrap_or_default().to_ascii_lowercase())
                .collect();
            if redirect_uris.is_empty() {
                errors.push(err(
                    "subject_type",
                    "pairwise identifiers are per sector, and a client without redirect URIs has none: use public",
                ));
            } else if sector_uri.is_none() && hosts.len() > 1 {
                errors.push(err(
                    "sector_identifier_uri",
                    "pairwise clients with redirect URIs on several hosts need a sector_identifier_uri",
                ));
            } else if sector_uri.is_none() && hosts.iter().any(String::is_empty) {
                errors.push(err(
                    "sector_identifier_uri",
                    "redirect URIs without a host need a sector_identifier_uri for pairwise identifiers",
                ));
            }
            m.insert("subject_type".into(), PAIRWISE.into());
        }
        Some(other) => errors.push(err(
            "subject_type",
            format!("{other}: use one of {}", SUPPORTED.join(", ")),
        )),
    }
}

/// Request-object metadata (OIDC Core §6, RFC 9101 §10): `request_uris` absolute https URLs
/// (http on loopback, as other URLs here; a fragment is allowed, §6.2), at most 20 of at most
/// 512 characters; `request_object_signing_alg` one we verify, a signed one only with keys to
/// verify it by; `none` and `require_signed_request_object` exclude each other.
fn checked_request_objects(
    spec: &ClientSpec,
    m: &mut serde_json::Map<String, serde_json::Value>,
    errors: &mut Vec<FieldError>,
) {
    use super::request_object::{ALGORITHMS, UNSIGNED};
    let uris: Vec<&str> = spec
        .request_uris
        .iter()
        .map(|u| u.trim())
        .filter(|u| !u.is_empty())
        .collect();
    let bad = uris.iter().find(|u| {
        u.len() > 512
            || !Url::parse(u).is_ok_and(|p| {
                p.username().is_empty()
                    && p.password().is_none()
                    && (p.scheme() == "https"
                        || (p.scheme() == "http" && is_loopback_host(p.host())))
            })
    });
    if uris.len() > 20 {
        errors.push(err("request_uris", "at most 20 request URIs"));
    } else if let Some(u) = bad {
        errors.push(err(
            "request_uris",
            format!("{u}: must be an absolute https URL of at most 512 characters"),
        ));
    } else if !uris.is_empty() {
        m.insert("request_uris".into(), serde_json::json!(uris));
    }
    let alg = non_blank(spec.request_object_signing_alg.as_deref());
    let has_keys = spec.jwks.is_some()
        || spec
            .jwks_uri
            .as_deref()
            .is_some_and(|u| !u.trim().is_empty());
    match alg.as_deref() {
        None => {}
        Some(a) if !ALGORITHMS.contains(&a) && a != UNSIGNED => errors.push(err(
            "request_object_signing_alg",
            format!("{a}: use one of {}, or {UNSIGNED}", ALGORITHMS.join(", ")),
        )),
        Some(UNSIGNED) if spec.require_signed_request_object => errors.push(err(
            "request_object_signing_alg",
            "none contradicts require_signed_request_object",
        )),
        Some(a) if a != UNSIGNED && !has_keys => errors.push(err(
            "request_object_signing_alg",
            format!("{a} request objects are checked with the client's keys: jwks or jwks_uri"),
        )),
        Some(a) => {
            m.insert("request_object_signing_alg".into(), serde_json::json!(a));
        }
    }
    if spec.require_signed_request_object {
        if !has_keys {
            errors.push(err(
                "require_signed_request_object",
                "signed request objects are checked with the client's keys: jwks or jwks_uri",
            ));
        }
        m.insert(
            "require_signed_request_object".into(),
            serde_json::Value::Bool(true),
        );
    }
}

/// Who brings a client into being or changes it: what the client may be follows from it.
#[derive(Clone, Copy, Debug)]
pub enum Registrant<'a> {
    /// The console, the CLI and `ostiary apply`. The exception: an administrator may give a
    /// client any grant, scope and redirect host the server supports, and sets what only an
    /// administrator sets (the least `acr`, token-exchange audiences); the client is verified.
    Admin,
    /// The client itself, by `/register` (RFC 7591) or an RFC 7592 update: within the
    /// deployment's registration limits (grant types, scopes, redirect hosts); unverified.
    SelfRegistered(&'a RegistrationSettings),
    /// A Client ID Metadata Document: the same limits as a self-registered client, and besides a
    /// public client (no secret can be shared with a document) with only the grants a browser
    /// sign-in needs (authorization_code, refresh_token); unverified.
    Document(&'a RegistrationSettings),
}

/// Grants a client described by a metadata document may have.
pub const DOCUMENT_GRANTS: [&str; 2] = [GRANT_AUTHORIZATION_CODE, GRANT_REFRESH_TOKEN];

/// The one decision "may this client exist with these settings": `spec` for `client_id`, as
/// `who` may have it. Every problem at once (a form shows them all). The secret hash is left
/// `None`; origin and verification follow from `who`.
pub fn admit(
    spec: &ClientSpec,
    client_id: &str,
    who: Registrant<'_>,
    now: i64,
) -> Result<Client, Vec<FieldError>> {
    let mut spec = spec.clone();
    let mut errors = Vec::new();
    let (origin, limits) = match who {
        Registrant::Admin => (ORIGIN_ADMIN, None),
        Registrant::SelfRegistered(limits) => (ORIGIN_DYNAMIC, Some(limits)),
        Registrant::Document(limits) => {
            document_rules(&spec, &mut errors);
            (ORIGIN_DOCUMENT, Some(limits))
        }
    };
    if let Some(limits) = limits {
        // What only an administrator decides is never taken from a client's own metadata.
        spec.minimum_acr = None;
        spec.token_exchange_audiences.clear();
        within_limits(&mut spec, limits, &mut errors);
    }
    let validated = validate(&spec, client_id, now);
    let mut client = match validated {
        Ok(c) if errors.is_empty() => c,
        Ok(_) => return Err(errors),
        Err(more) => {
            errors.extend(more);
            return Err(errors);
        }
    };
    client.row.origin = origin.to_owned();
    client.row.verified = origin == ORIGIN_ADMIN;
    Ok(client)
}

/// A metadata document describes a public client that signs users in through a browser.
fn document_rules(spec: &ClientSpec, errors: &mut Vec<FieldError>) {
    if !spec.public {
        errors.push(err(
            "auth_method",
            "a client described by a metadata document is public: use none",
        ));
    }
    if let Some(g) = spec
        .grant_types
        .iter()
        .find(|g| !DOCUMENT_GRANTS.contains(&g.trim()))
    {
        errors.push(err(
            "grant_types",
            format!(
                "{g} is not available to clients described by a metadata document (use {})",
                DOCUMENT_GRANTS.join(", ")
            ),
        ));
    }
}

/// The deployment's limits on clients that are not an administrator's: grant types, scopes (no
/// scope asked: the allowed ones of the defaults) and the hosts of redirect URIs.
fn within_limits(
    spec: &mut ClientSpec,
    limits: &RegistrationSettings,
    errors: &mut Vec<FieldError>,
) {
    if spec.grant_types.is_empty() {
        // RFC 7591 §2: no grant_types means authorization_code.
        spec.grant_types = vec![GRANT_AUTHORIZATION_CODE.to_owned()];
    }
    if let Some(g) = spec
        .grant_types
        .iter()
        .find(|g| !limits.grant_types.iter().any(|a| a == g.trim()))
    {
        errors.push(err(
            "grant_types",
            format!(
                "grant type {g} is not allowed for self-registered clients here (allowed: {})",
                limits.grant_types.join(", ")
            ),
        ));
    }
    let asked: Vec<String> = spec
        .scopes
        .iter()
        .flat_map(|s| s.split_ascii_whitespace())
        .map(str::to_owned)
        .collect();
    spec.scopes = if asked.is_empty() {
        let defaults: Vec<String> = DEFAULT_SCOPES
            .iter()
            .filter(|s| limits.scopes.iter().any(|p| p == *s))
            .map(|s| s.to_string())
            .collect();
        if defaults.is_empty() {
            limits.scopes.clone()
        } else {
            defaults
        }
    } else {
        asked
    };
    if let Some(s) = spec.scopes.iter().find(|s| !limits.scopes.contains(s)) {
        errors.push(err(
            "scopes",
            format!(
                "scope {s} is not allowed for self-registered clients here (allowed: {})",
                limits.scopes.join(" ")
            ),
        ));
    }
    if limits.redirect_hosts.is_empty() {
        return;
    }
    for (field, uris) in [
        ("redirect_uris", &spec.redirect_uris),
        ("post_logout_redirect_uris", &spec.post_logout_redirect_uris),
    ] {
        for uri in uris.iter().filter(|u| !u.trim().is_empty()) {
            let host = Url::parse(uri.trim())
                .ok()
                .and_then(|u| u.host_str().map(str::to_ascii_lowercase));
            if !host
                .as_deref()
                .is_some_and(|h| limits.redirect_hosts.iter().any(|a| a == h))
            {
                errors.push(err(
                    field,
                    format!(
                        "{uri}: redirect URIs of self-registered clients must point at {}",
                        limits.redirect_hosts.join(", ")
                    ),
                ));
            }
        }
    }
}

/// An administrator's client (see [`admit`]) with a fresh id and, for confidential clients, a
/// fresh secret. Returns every problem at once so a form can show them all.
pub fn build_client(
    spec: &ClientSpec,
    now: i64,
) -> Result<(Client, Option<String>), Vec<FieldError>> {
    let client_id = random::client_id();
    let validated = admit(spec, &client_id, Registrant::Admin, now)?;
    let secret = uses_secret(&validated.row.auth_method).then(random::client_secret);
    let mut client = validated;
    client.row.secret_hash = secret.as_deref().map(random::sha256_hex);
    Ok((client, secret))
}

/// The rules every client satisfies, whoever registers it (call [`admit`], which adds what the
/// registrant may do). The secret hash is left `None`.
///
/// Every rule below pushes its problems onto one list, in the order the fields appear on the
/// forms, so a form can show them all at once; the row is built only when the list is empty.
fn validate(spec: &ClientSpec, client_id: &str, now: i64) -> Result<Client, Vec<FieldError>> {
    let mut errors = Vec::new();
    let name = checked_name(spec, &mut errors);
    let auth_method = checked_auth_method(spec, &mut errors);
    let grants = checked_grants(spec, &mut errors);
    let application_type = checked_application_type(spec, &mut errors);
    let native = application_type == APP_NATIVE;
    let has_code = grants.iter().any(|g| g == GRANT_AUTHORIZATION_CODE);
    let redirect_uris = checked_redirect_uris(spec, native, has_code, &mut errors);
    let post_logout = checked_uris(
        "post_logout_redirect_uris",
        &spec.post_logout_redirect_uris,
        native,
        &mut errors,
    );
    let scopes = checked_scopes(spec, &mut errors);
    let id_token_alg = checked_id_token_alg(spec, &mut errors);
    // Presentation URIs are shown to people on the consent page: https only.
    check_optional_url("logo_uri", &spec.logo_uri, &mut errors);
    check_optional_url("homepage_uri", &spec.homepage_uri, &mut errors);
    let metadata = extra_metadata(spec, &redirect_uris, &mut errors);
    let minimum_acr = checked_minimum_acr(spec, &mut errors);
    let backchannel_logout_uri = checked_backchannel_logout_uri(spec, &mut errors);
    let frontchannel_logout_uri = checked_frontchannel_logout_uri(spec, &mut errors);
    let audiences = checked_exchange_audiences(spec, &grants, &mut errors);

    if !errors.is_empty() {
        return Err(errors);
    }
    let blank_to_none = |v: &Option<String>| v.clone().filter(|v| !v.trim().is_empty());
    Ok(Client {
        row: ClientRow {
            client_id: client_id.to_owned(),
            name: name.to_owned(),
            secret_hash: None,
            is_public: spec.public,
            auth_method,
            grant_types: grants.join(" "),
            scopes: scopes.join(" "),
            id_token_alg,
            logo_uri: blank_to_none(&spec.logo_uri),
            homepage_uri: blank_to_none(&spec.homepage_uri),
            created_at: now,
            updated_at: now,
            origin: ORIGIN_ADMIN.to_owned(),
            verified: true,
            disabled: false,
            application_type,
            metadata,
            registration_token_hash: None,
            metadata_expires_at: None,
            minimum_acr,
            require_par: spec.require_par,
            backchannel_logout_uri,
            backchannel_logout_session_required: spec.backchannel_logout_session_required,
            frontchannel_logout_uri,
            frontchannel_logout_session_required: spec.frontchannel_logout_session_required,
            token_exchange_audiences: (!audiences.is_empty()).then(|| audiences.join(" ")),
        },
        redirect_uris,
        post_logout_redirect_uris: post_logout,
    })
}

/// The display name, trimmed: required, at most 200 characters, only characters shown as
/// themselves (`domain::text::visible_name`: it is shown on the consent page and in the
/// console, and a bidi override would make it read as another name) — for every client,
/// an administrator's too.
fn checked_name<'s>(spec: &'s ClientSpec, errors: &mut Vec<FieldError>) -> &'s str {
    let name = spec.name.trim();
    if name.is_empty() {
        errors.push(err("name", "a name is required"));
    } else if name.chars().count() > 200 {
        errors.push(err("name", "at most 200 characters"));
    } else if let Err(why) = crate::domain::text::visible_name(name) {
        errors.push(err("name", why));
    }
    name
}

/// The token endpoint authentication method (default: client_secret_basic for confidential
/// clients, none for public ones). Public clients hold no secret and confidential ones must
/// authenticate; private_key_jwt needs keys to check assertions against.
fn checked_auth_method(spec: &ClientSpec, errors: &mut Vec<FieldError>) -> String {
    let auth_method = spec
        .auth_method
        .clone()
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| if spec.public { AUTH_NONE } else { AUTH_BASIC }.to_owned());
    if !SUPPORTED_AUTH_METHODS.contains(&auth_method.as_str()) {
        errors.push(err(
            "auth_method",
            format!(
                "{auth_method}: use one of {}",
                SUPPORTED_AUTH_METHODS.join(", ")
            ),
        ));
    } else if spec.public && auth_method != AUTH_NONE {
        errors.push(err(
            "auth_method",
            "public clients have no secret: use none",
        ));
    } else if !spec.public && auth_method == AUTH_NONE {
        errors.push(err(
            "auth_method",
            "confidential clients authenticate: use client_secret_basic, client_secret_post or private_key_jwt",
        ));
    } else if auth_method == AUTH_PRIVATE_KEY_JWT
        && spec.jwks.is_none()
        && spec.jwks_uri.as_deref().is_none_or(|u| u.trim().is_empty())
    {
        errors.push(err(
            "jwks",
            "private_key_jwt needs the client's public keys: jwks or jwks_uri",
        ));
    }
    auth_method
}

/// The grant types (default: authorization_code and refresh_token). Grants that act without a
/// user (client_credentials, token exchange) need a client that can keep a secret; a refresh
/// token is only ever issued by a grant that involves a user.
fn checked_grants(spec: &ClientSpec, errors: &mut Vec<FieldError>) -> Vec<String> {
    let mut grants: Vec<String> = if spec.grant_types.is_empty() {
        vec![GRANT_AUTHORIZATION_CODE.into(), GRANT_REFRESH_TOKEN.into()]
    } else {
        spec.grant_types
            .iter()
            .map(|g| g.trim().to_owned())
            .collect()
    };
    grants.dedup();
    for g in &grants {
        if !SUPPORTED_GRANTS.contains(&g.as_str()) {
            errors.push(err(
                "grant_types",
                format!("{g}: use one of {}", SUPPORTED_GRANTS.join(", ")),
            ));
        }
    }
    for confidential_only in [GRANT_CLIENT_CREDENTIALS, GRANT_TOKEN_EXCHANGE] {
        if spec.public && grants.iter().any(|g| g == confidential_only) {
            errors.push(err(
                "grant_types",
                format!("{confidential_only} needs a confidential client"),
            ));
        }
    }
    let has_code = grants.iter().any(|g| g == GRANT_AUTHORIZATION_CODE);
    let has_device = grants.iter().any(|g| g == GRANT_DEVICE_CODE);
    if grants.iter().any(|g| g == GRANT_REFRESH_TOKEN) && !has_code && !has_device {
        errors.push(err(
            "grant_types",
            "refresh_token is issued only with authorization_code or the device grant",
        ));
    }
    grants
}

/// `web` or `native`. Unspecified: a public client with a private-use scheme is a native app,
/// anything else a web application (OpenID Connect Dynamic Client Registration §2 defaults to
/// web). Native apps may use private-use redirect schemes (RFC 8252 §7.1).
fn checked_application_type(spec: &ClientSpec, errors: &mut Vec<FieldError>) -> String {
    let private_scheme = |u: &String| Url::parse(u).is_ok_and(|p| p.scheme().contains('.'));
    let application_type = spec
        .application_type
        .clone()
        .filter(|a| !a.trim().is_empty())
        .unwrap_or_else(|| {
            if spec.public && spec.redirect_uris.iter().any(private_scheme) {
                APP_NATIVE.to_owned()
            } else {
                APP_WEB.to_owned()
            }
        });
    if application_type != APP_WEB && application_type != APP_NATIVE {
        errors.push(err(
            "application_type",
            format!("{application_type}: use web or native"),
        ));
    }
    application_type
}

/// The redirect URIs, each by `check_redirect_uri`; the authorization_code grant needs at least
/// one (said only when no URI was refused already, so the form shows the real problem).
fn checked_redirect_uris(
    spec: &ClientSpec,
    native: bool,
    has_code: bool,
    errors: &mut Vec<FieldError>,
) -> Vec<String> {
    let redirect_uris = checked_uris("redirect_uris", &spec.redirect_uris, native, errors);
    if has_code && redirect_uris.is_empty() && !errors.iter().any(|e| e.field == "redirect_uris") {
        errors.push(err(
            "redirect_uris",
            "at least one redirect URI is needed for the authorization_code grant",
        ));
    }
    redirect_uris
}

/// The non-blank URIs of a list, trimmed, each checked like a redirect URI (`field` names the
/// list in the errors).
fn checked_uris(
    field: &'static str,
    uris: &[String],
    native: bool,
    errors: &mut Vec<FieldError>,
) -> Vec<String> {
    let mut kept = Vec::new();
    for uri in uris.iter().map(|u| u.trim()).filter(|u| !u.is_empty()) {
        match check_redirect_uri(uri, native) {
            Ok(()) => kept.push(uri.to_owned()),
            Err(m) => errors.push(err(field, m)),
        }
    }
    kept
}

/// The scopes the client may ask for (default: openid, profile, email), split on spaces, sorted
/// and without repeats; each an RFC 6749 §3.3 scope-token.
fn checked_scopes(spec: &ClientSpec, errors: &mut Vec<FieldError>) -> Vec<String> {
    let mut scopes: Vec<String> = if spec.scopes.is_empty() {
        DEFAULT_SCOPES.iter().map(|s| s.to_string()).collect()
    } else {
        spec.scopes
            .iter()
            .flat_map(|s| s.split_ascii_whitespace())
            .map(str::to_owned)
            .collect()
    };
    scopes.sort();
    scopes.dedup();
    for s in &scopes {
        if !is_scope_token(s) {
            errors.push(err("scopes", format!("{s:?} is not a valid scope")));
        }
    }
    scopes
}

/// The id_token signing algorithm (default RS256, OIDC's mandatory one); one we can sign with.
fn checked_id_token_alg(spec: &ClientSpec, errors: &mut Vec<FieldError>) -> String {
    let id_token_alg = spec
        .id_token_alg
        .clone()
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| SigningAlg::Rs256.as_str().to_owned());
    if SigningAlg::parse(&id_token_alg).is_none() {
        errors.push(err(
            "id_token_alg",
            format!("{id_token_alg}: use RS256, ES256 or EdDSA"),
        ));
    }
    id_token_alg
}

/// A value trimmed, `None` when blank.
fn non_blank(value: Option<&str>) -> Option<String> {
    value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// The least `acr` the client accepts (blank: any); one of the classes `authn::acr` knows.
fn checked_minimum_acr(spec: &ClientSpec, errors: &mut Vec<FieldError>) -> Option<String> {
    let minimum_acr = non_blank(spec.minimum_acr.as_deref());
    if let Some(a) = &minimum_acr {
        if crate::authn::acr::Acr::parse(a).is_none() {
            errors.push(err(
                "minimum_acr",
                format!(
                    "{a}: use one of {}",
                    crate::authn::acr::SUPPORTED.join(", ")
                ),
            ));
        }
    }
    minimum_acr
}

/// OIDC Back-Channel Logout §2.2: absolute, no fragment; https as for redirect URIs (http only
/// on loopback, for development). Never a private-use scheme: we post to it.
fn checked_backchannel_logout_uri(
    spec: &ClientSpec,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    let uri = non_blank(spec.backchannel_logout_uri.as_deref());
    if let Some(u) = &uri {
        if let Err(m) = check_redirect_uri(u, false) {
            errors.push(err("backchannel_logout_uri", m));
        }
    }
    uri
}

/// OIDC Front-Channel Logout §2: absolute, no fragment (a query is allowed); https as for
/// redirect URIs (http only on loopback, for development). Never a private-use scheme: a
/// browser frame loads it.
fn checked_frontchannel_logout_uri(
    spec: &ClientSpec,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    let uri = non_blank(spec.frontchannel_logout_uri.as_deref());
    if let Some(u) = &uri {
        if let Err(m) = check_redirect_uri(u, false) {
            errors.push(err("frontchannel_logout_uri", m));
        }
    }
    uri
}

/// RFC 8693 audiences the client may exchange tokens for: a bounded list of short values
/// (they go into tokens), and only for a client that has the token-exchange grant.
fn checked_exchange_audiences(
    spec: &ClientSpec,
    grants: &[String],
    errors: &mut Vec<FieldError>,
) -> Vec<String> {
    let audiences: Vec<String> = spec
        .token_exchange_audiences
        .iter()
        .flat_map(|a| a.split_ascii_whitespace())
        .map(str::to_owned)
        .collect();
    if audiences.len() > 20
        || audiences
            .iter()
            .any(|a| a.len() > 200 || a.chars().any(char::is_control))
    {
        errors.push(err(
            "token_exchange_audiences",
            "at most 20 audiences of at most 200 characters",
        ));
    }
    if !audiences.is_empty() && !grants.iter().any(|g| g == GRANT_TOKEN_EXCHANGE) {
        errors.push(err(
            "token_exchange_audiences",
            "audiences need the token-exchange grant type",
        ));
    }
    audiences
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(uris: &[&str]) -> ClientSpec {
        ClientSpec {
            name: "App".into(),
            redirect_uris: uris.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn redirect_uri_rules() {
        assert!(check_redirect_uri("https://app.example/cb", false).is_ok());
        assert!(check_redirect_uri("http://127.0.0.1:9000/cb", false).is_ok());
        assert!(check_redirect_uri("http://[::1]/cb", false).is_ok());
        assert!(check_redirect_uri("http://localhost/cb", false).is_ok());
        assert!(check_redirect_uri("http://app.example/cb", false).is_err());
        assert!(check_redirect_uri("https://app.example/cb#frag", false).is_err());
        assert!(check_redirect_uri("https://*.example/cb", false).is_err());
        assert!(check_redirect_uri("/relative", false).is_err());
        assert!(check_redirect_uri("com.example.app:/cb", true).is_ok());
        assert!(check_redirect_uri("com.example.app:/cb", false).is_err());
        assert!(check_redirect_uri("javascript:alert(1)", true).is_err());
        assert!(check_redirect_uri("https://u:p@app.example/cb", false).is_err());
    }

    #[test]
    fn defaults_and_secret() {
        let (c, secret) = build_client(&spec(&["https://a.example/cb"]), 1).expect("valid");
        assert_eq!(c.row.auth_method, AUTH_BASIC);
        assert_eq!(c.row.grant_types, "authorization_code refresh_token");
        assert_eq!(c.row.scopes, "email openid profile");
        assert_eq!(c.row.id_token_alg, "RS256");
        let secret = secret.expect("confidential clients get a secret");
        assert_eq!(c.row.secret_hash, Some(random::sha256_hex(&secret)));
    }

    #[test]
    fn public_clients_get_no_secret_and_no_client_credentials() {
        let mut s = spec(&["http://127.0.0.1/cb"]);
        s.public = true;
        let (c, secret) = build_client(&s, 1).expect("valid");
        assert!(secret.is_none());
        assert_eq!(c.row.auth_method, AUTH_NONE);
        s.grant_types = vec![GRANT_CLIENT_CREDENTIALS.into()];
        assert!(build_client(&s, 1).is_err());
    }

    #[test]
    fn every_problem_is_reported() {
        let mut s = spec(&["https://a.example/cb#x"]);
        s.name = String::new();
        s.grant_types = vec!["password".into()];
        s.scopes = vec!["bad\"scope".into()];
        s.id_token_alg = Some("HS256".into());
        let errors = build_client(&s, 1).expect_err("invalid");
        let fields: Vec<_> = errors.iter().map(|e| e.field).collect();
        for f in [
            "name",
            "grant_types",
            "redirect_uris",
            "scopes",
            "id_token_alg",
        ] {
            assert!(fields.contains(&f), "{f} missing from {fields:?}");
        }
    }

    #[test]
    fn code_grant_needs_a_redirect_uri() {
        assert!(build_client(&spec(&[]), 1).is_err());
        let mut s = spec(&[]);
        s.grant_types = vec![GRANT_CLIENT_CREDENTIALS.into()];
        assert!(build_client(&s, 1).is_ok());
    }

    #[test]
    fn pairwise_needs_one_sector() {
        let mut s = spec(&["https://a.example/cb", "https://a.example/other"]);
        s.subject_type = Some("pairwise".into());
        let (c, _) = build_client(&s, 1).expect("one host is one sector");
        assert_eq!(
            crate::oauth::subject::sector(&c).as_deref(),
            Some("a.example")
        );
        s.redirect_uris.push("https://b.example/cb".into());
        let errors = build_client(&s, 1).expect_err("two hosts");
        assert_eq!(errors[0].field, "sector_identifier_uri");
        s.sector_identifier_uri = Some("https://sector.example/uris.json".into());
        assert!(
            build_client(&s, 1).is_err(),
            "a document not read is no proof"
        );
        s.sector_document = Some(Ok(s.redirect_uris.clone()));
        let (c, _) = build_client(&s, 1).expect("listed");
        assert_eq!(
            crate::oauth::subject::sector(&c).as_deref(),
            Some("sector.example")
        );
        s.sector_document = Some(Ok(vec!["https://a.example/cb".into()]));
        assert!(
            build_client(&s, 1).is_err(),
            "not every redirect URI listed"
        );
        let mut machine = spec(&[]);
        machine.grant_types = vec![GRANT_CLIENT_CREDENTIALS.into()];
        machine.subject_type = Some("pairwise".into());
        assert!(
            build_client(&machine, 1).is_err(),
            "no redirect URIs, no sector"
        );
    }
}
