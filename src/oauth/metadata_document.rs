//! Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document): a client whose
//! `client_id` is an https URL, whose registration is the JSON document at that URL.
//!
//! At `/authorize` (only when `client_id_metadata_documents` is on), before the synchronous
//! flow runs, `clients::document::resolve` makes sure the client row for such a `client_id` is current: if there is
//! none, or its document has expired, the document is fetched through [`crate::outbound`],
//! validated here, and stored as a client row by the client store (`origin = metadata_document`, unverified, public).
//! The rest of the flow — consent, the code, the token exchange with PKCE — then sees an ordinary
//! public client; the token endpoint never fetches.
//!
//! Decisions:
//! - **The URL** must be https (plain http only to an `outbound_allow` address, for tests), with
//!   a path other than `/`, no fragment, no user information, no dot segments, and already in
//!   the normal form a URL parser gives it (so the string compared, fetched and stored is one).
//! - **The document** must come with status 200 and `application/json` (or `application/*+json`),
//!   at most 64 KiB, without redirects (the draft forbids following them), within 5 seconds.
//!   Its `client_id` must equal the URL exactly. It describes a public client:
//!   `token_endpoint_auth_method` absent or `none`; shared-secret methods and a `client_secret`
//!   are refused (there is no way to share a secret). The metadata then goes through
//!   `registration::spec_from_metadata` and `client_policy::admit` as `Registrant::Document`:
//!   the registration limits of self-registered clients (grant types, scopes, redirect hosts)
//!   bind it, and its grant types are only `authorization_code` and `refresh_token`.
//! - **Caching** follows the response's HTTP caching headers (`Cache-Control: s-maxage`/`max-age`,
//!   `no-store`/`no-cache` as 0, else `Expires` − `Date`, minus `Age`), clamped to
//!   [60 s, 24 h]; 1 h when the response says nothing. The minimum exists because the row must
//!   outlive one sign-in (login and consent come back to `/authorize`) and bounds how often one
//!   client makes us fetch.
//! - **No stale documents.** Once expired, the document is fetched again; if that fails the
//!   authorization request is refused (the row is kept, unchanged, and the next request tries
//!   again). Codes and refresh tokens already issued keep working: they were granted under a
//!   valid document, and revoking them because the client's host had a bad minute would punish
//!   users. An administrator who wants a client gone disables or deletes it.
//! - A refused document stores nothing. A row an administrator or dynamic registration created
//!   is never replaced by a document, and a disabled document client is not fetched again.

use reqwest::header::{HeaderMap, AGE, CACHE_CONTROL, DATE, EXPIRES};
use serde_json::Value;
use url::Url;

use super::client_policy::{self, Registrant, AUTH_NONE};
use super::registration::spec_from_metadata;
use crate::config::RegistrationSettings;
use crate::db::models::clients::{self, Client, ORIGIN_DOCUMENT};
use crate::db::DbConn;
use crate::outbound::{FetchError, Limits, Outbound};

/// Cache lifetime bounds and default, in seconds.
pub const MIN_LIFETIME: i64 = 60;
pub const MAX_LIFETIME: i64 = 24 * 3600;
pub const DEFAULT_LIFETIME: i64 = 3600;

/// Longest `client_id` URL accepted.
const MAX_URL_LEN: usize = 2048;

/// Why a metadata document was refused. The message is shown on the authorization error page.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    #[error("The client_id {url:?} is not a usable client metadata document URL: {reason}.")]
    BadUrl { url: String, reason: &'static str },
    #[error("The application's client metadata document could not be fetched: {0}.")]
    Fetch(#[source] FetchError),
    #[error("The application's client metadata document is not usable: {0}.")]
    NotADocument(String),
    #[error("The application's client metadata document names another client_id ({found}); it must name its own URL exactly.")]
    ClientIdMismatch { found: String },
    #[error("The application's client metadata document asks for a client secret ({0}); such clients are public and use token_endpoint_auth_method none.")]
    SharedSecret(String),
    #[error("The application's client metadata document is not valid: {0}.")]
    Invalid(String),
    #[error("The client_id is already registered here by other means.")]
    Taken,
    #[error(
        "Too many client metadata documents were asked for from your address; try again shortly."
    )]
    TooMany { retry_after: u64 },
    #[error("The server could not look up or store the client.")]
    Storage(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl DocumentError {
    /// A failure of ours rather than of the document.
    pub fn is_server_error(&self) -> bool {
        matches!(self, DocumentError::Storage(_))
    }
}

impl From<diesel::result::Error> for DocumentError {
    fn from(e: diesel::result::Error) -> Self {
        DocumentError::Storage(Box::new(e))
    }
}

/// Whether a `client_id` is meant as a metadata document URL (anything else is an ordinary id).
pub fn is_url_client_id(client_id: &str) -> bool {
    let lower = |p: &str| {
        client_id
            .get(..p.len())
            .is_some_and(|s| s.eq_ignore_ascii_case(p))
    };
    lower("https://") || lower("http://")
}

/// Checks the `client_id` URL's form (the draft's §3 rules). Whether plain http may be used is
/// outbound's decision (allow-listed addresses only).
pub fn document_url(client_id: &str) -> Result<Url, DocumentError> {
    let bad = |reason| DocumentError::BadUrl {
        url: client_id.chars().take(200).collect(),
        reason,
    };
    if client_id.len() > MAX_URL_LEN {
        return Err(bad("it is too long"));
    }
    let url = Url::parse(client_id).map_err(|_| bad("it is not a URL"))?;
    if url.scheme() != "https" && url.scheme() != "http" {
        return Err(bad("it must be an https URL"));
    }
    if client_id.contains('#') {
        return Err(bad("it must not have a fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("it must not contain user information"));
    }
    let raw_path = client_id
        .split_once("://")
        .map(|(_, rest)| rest.split(['?']).next().unwrap_or(""))
        .and_then(|authority_path| authority_path.find('/').map(|i| &authority_path[i..]))
        .unwrap_or("");
    let dot_segment = raw_path.split('/').any(|s| {
        let s = s.to_ascii_lowercase();
        matches!(s.as_str(), "." | ".." | "%2e" | "%2e%2e" | ".%2e" | "%2e.")
    });
    if dot_segment {
        return Err(bad("it must not contain . or .. path segments"));
    }
    if url.path() == "/" || url.path().is_empty() {
        return Err(bad("it must have a path"));
    }
    if url.as_str() != client_id {
        return Err(bad(
            "it is not in normal form (lower-case scheme and host, no default port, encoded characters)",
        ));
    }
    Ok(url)
}

/// What the database holds for a URL `client_id`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stored {
    /// Nothing: fetch.
    Absent,
    /// A document client whose document has expired: fetch again.
    Expired,
    /// A current document client, or a row that is not ours to refresh (registered otherwise,
    /// or disabled): leave it to the flow.
    Current,
}

pub fn stored(conn: &mut DbConn, client_id: &str, now: i64) -> diesel::QueryResult<Stored> {
    Ok(match clients::by_id(conn, client_id)? {
        None => Stored::Absent,
        Some(c) if c.row.origin != ORIGIN_DOCUMENT || c.row.disabled => Stored::Current,
        Some(c) if c.row.metadata_expires_at.is_some_and(|t| t > now) => Stored::Current,
        Some(_) => Stored::Expired,
    })
}

/// Fetches and validates the document at `client_id`; the client it describes, expiring per the
/// response's caching headers.
pub async fn fetch(
    outbound: &Outbound,
    client_id: &str,
    limits: &RegistrationSettings,
    now: i64,
) -> Result<Client, DocumentError> {
    let url = document_url(client_id)?;
    let response = outbound
        .get(url.as_str(), "application/json", Limits::DOCUMENT)
        .await
        .map_err(DocumentError::Fetch)?;
    if response.status != 200 {
        return Err(DocumentError::NotADocument(format!(
            "it was answered with HTTP status {} instead of 200",
            response.status
        )));
    }
    let json_type = response.media_type().is_some_and(|t| {
        t == "application/json" || (t.starts_with("application/") && t.ends_with("+json"))
    });
    if !json_type {
        return Err(DocumentError::NotADocument(format!(
            "it is served as {} instead of application/json",
            response
                .media_type()
                .unwrap_or_else(|| "an unnamed type".into())
        )));
    }
    let doc: Value = serde_json::from_slice(&response.body)
        .map_err(|e| DocumentError::NotADocument(format!("it is not valid JSON ({e})")))?;
    let expires_at = now + lifetime(&response.headers, now);
    client_from_document(client_id, &doc, limits, now, expires_at)
}

/// The client a document describes (pure: no I/O), validated like every other client.
pub fn client_from_document(
    client_id: &str,
    doc: &Value,
    limits: &RegistrationSettings,
    now: i64,
    expires_at: i64,
) -> Result<Client, DocumentError> {
    let Some(m) = doc.as_object() else {
        return Err(DocumentError::NotADocument(
            "it is not a JSON object".into(),
        ));
    };
    match m.get("client_id") {
        Some(Value::String(s)) if s == client_id => {}
        Some(Value::String(s)) => {
            return Err(DocumentError::ClientIdMismatch {
                found: s.chars().take(200).collect(),
            })
        }
        _ => {
            return Err(DocumentError::ClientIdMismatch {
                found: "none".into(),
            })
        }
    }
    for key in ["client_secret", "client_secret_expires_at"] {
        if m.contains_key(key) {
            return Err(DocumentError::SharedSecret(format!("it contains {key}")));
        }
    }
    let mut m = m.clone();
    match m.get("token_endpoint_auth_method") {
        None | Some(Value::Null) => {
            m.insert("token_endpoint_auth_method".into(), Value::from(AUTH_NONE));
        }
        Some(Value::String(a)) if a == AUTH_NONE => {}
        Some(Value::String(a)) if a.starts_with("client_secret") => {
            return Err(DocumentError::SharedSecret(format!(
                "token_endpoint_auth_method {a}"
            )))
        }
        Some(Value::String(a)) => {
            return Err(DocumentError::Invalid(format!(
                "token_endpoint_auth_method {a} is not supported here; use none"
            )))
        }
        Some(_) => {
            return Err(DocumentError::Invalid(
                "token_endpoint_auth_method must be a string".into(),
            ))
        }
    }
    let unnamed = |k: &str| {
        m.get(k)
            .and_then(Value::as_str)
            .is_none_or(|v| v.trim().is_empty())
    };
    if unnamed("client_name") && unnamed("client_uri") {
        // The consent page shows a name; the host that serves the document is the honest one.
        let host = Url::parse(client_id)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_else(|| client_id.to_owned());
        m.insert("client_name".into(), Value::from(host));
    }
    let spec = spec_from_metadata(&Value::Object(m))
        .map_err(|e| DocumentError::Invalid(e.description().to_owned()))?;
    let mut client = client_policy::admit(&spec, client_id, Registrant::Document(limits), now)
        .map_err(|errors| {
            DocumentError::Invalid(
                errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        })?;
    let row = &mut client.row;
    row.secret_hash = None;
    row.registration_token_hash = None;
    row.metadata_expires_at = Some(expires_at);
    Ok(client)
}

/// Seconds the document may be used, from the response's caching headers (RFC 9111 §4.2),
/// clamped to [`MIN_LIFETIME`, `MAX_LIFETIME`].
pub fn lifetime(headers: &HeaderMap, now: i64) -> i64 {
    let mut max_age = None;
    let mut s_maxage = None;
    let mut uncacheable = false;
    for value in headers.get_all(CACHE_CONTROL) {
        let Ok(value) = value.to_str() else { continue };
        for directive in value.split(',') {
            let (name, arg) = match directive.split_once('=') {
                Some((n, a)) => (n.trim(), Some(a.trim().trim_matches('"'))),
                None => (directive.trim(), None),
            };
            let seconds = || arg.and_then(|a| a.parse::<i64>().ok()).map(|s| s.max(0));
            match name.to_ascii_lowercase().as_str() {
                "no-store" | "no-cache" => uncacheable = true,
                "max-age" => max_age = seconds().or(Some(0)),
                "s-maxage" => s_maxage = seconds().or(Some(0)),
                _ => {}
            }
        }
    }
    let date = |h| {
        headers.get(h).and_then(|v| v.to_str().ok()).map(|v| {
            httpdate::parse_http_date(v.trim())
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        })
    };
    let freshness = if uncacheable {
        Some(0)
    } else if let Some(s) = s_maxage.or(max_age) {
        Some(s)
    } else {
        // An invalid Expires means "already expired" (RFC 9111 §5.3).
        date(EXPIRES).map(|expires| {
            let served = date(DATE).flatten().unwrap_or(now);
            expires.map_or(0, |e| e.saturating_sub(served))
        })
    };
    let age = headers
        .get(AGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok())
        .unwrap_or(0)
        .max(0);
    freshness
        .map_or(DEFAULT_LIFETIME, |f| f.saturating_sub(age))
        .clamp(MIN_LIFETIME, MAX_LIFETIME)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;
    use serde_json::json;

    const ID: &str = "https://app.example/oauth/client.json";

    fn limits() -> RegistrationSettings {
        RegistrationSettings {
            policy: crate::config::RegistrationPolicy::Token,
            grant_types: vec!["authorization_code".into(), "refresh_token".into()],
            scopes: vec!["openid".into(), "profile".into(), "email".into()],
            redirect_hosts: vec![],
            per_address_per_hour: 10,
        }
    }

    fn doc() -> Value {
        json!({
            "client_id": ID,
            "client_name": "Example App",
            "redirect_uris": ["https://app.example/cb"],
            "grant_types": ["authorization_code", "refresh_token"],
        })
    }

    #[test]
    fn client_id_urls_follow_the_draft() {
        assert!(document_url(ID).is_ok());
        assert!(document_url("https://app.example:8443/c?v=1").is_ok());
        assert!(document_url("http://127.0.0.1:8080/client").is_ok());
        for bad in [
            "https://app.example",
            "https://app.example/",
            "https://app.example/a#frag",
            "https://user@app.example/a",
            "https://app.example/a/../b",
            "https://app.example/./b",
            "https://app.example/a/%2e%2e/b",
            "https://APP.example/a",
            "https://app.example:443/a",
            "ftp://app.example/a",
            "https://app.example/a b",
        ] {
            assert!(document_url(bad).is_err(), "{bad} must be refused");
        }
        assert!(is_url_client_id("HTTPS://x/y"));
        assert!(!is_url_client_id("ost_client_123"));
    }

    #[test]
    fn a_document_makes_an_unverified_public_client() {
        let c = client_from_document(ID, &doc(), &limits(), 10, 3610).expect("valid");
        assert_eq!(c.row.client_id, ID);
        assert_eq!(c.row.origin, ORIGIN_DOCUMENT);
        assert!(c.row.is_public && !c.row.verified);
        assert_eq!(c.row.auth_method, AUTH_NONE);
        assert_eq!(c.row.secret_hash, None);
        assert_eq!(c.row.metadata_expires_at, Some(3610));
        assert_eq!(c.redirect_uris, vec!["https://app.example/cb"]);
        let mut unnamed = doc();
        unnamed
            .as_object_mut()
            .expect("object")
            .remove("client_name");
        let c = client_from_document(ID, &unnamed, &limits(), 10, 3610).expect("valid");
        assert_eq!(c.row.name, "app.example");
    }

    #[test]
    fn documents_are_refused_for_what_they_say() {
        let with = |k: &str, v: Value| {
            let mut d = doc();
            d.as_object_mut().expect("object").insert(k.into(), v);
            client_from_document(ID, &d, &limits(), 1, 61)
        };
        assert!(matches!(
            with("client_id", json!("https://other.example/c")),
            Err(DocumentError::ClientIdMismatch { .. })
        ));
        assert!(matches!(
            with("client_id", json!(format!("{ID}/"))),
            Err(DocumentError::ClientIdMismatch { .. })
        ));
        assert!(matches!(
            with("token_endpoint_auth_method", json!("client_secret_basic")),
            Err(DocumentError::SharedSecret(_))
        ));
        assert!(matches!(
            with("token_endpoint_auth_method", json!("client_secret_post")),
            Err(DocumentError::SharedSecret(_))
        ));
        assert!(matches!(
            with("token_endpoint_auth_method", json!("client_secret_jwt")),
            Err(DocumentError::SharedSecret(_))
        ));
        assert!(matches!(
            with("client_secret", json!("s")),
            Err(DocumentError::SharedSecret(_))
        ));
        assert!(matches!(
            with("token_endpoint_auth_method", json!("private_key_jwt")),
            Err(DocumentError::Invalid(_))
        ));
        assert!(matches!(
            with("grant_types", json!(["client_credentials"])),
            Err(DocumentError::Invalid(_))
        ));
        assert!(matches!(
            with("redirect_uris", json!(["http://app.example/cb"])),
            Err(DocumentError::Invalid(_))
        ));
        assert!(matches!(
            with("redirect_uris", json!([])),
            Err(DocumentError::Invalid(_))
        ));
        assert!(matches!(
            client_from_document(ID, &json!([1]), &limits(), 1, 61),
            Err(DocumentError::NotADocument(_))
        ));
        // The deployment's limits on self-registered clients bind documents too.
        assert!(matches!(
            with("scope", json!("openid admin payments:write")),
            Err(DocumentError::Invalid(m)) if m.contains("admin")
        ));
        let mut narrow = limits();
        narrow.redirect_hosts = vec!["other.example".into()];
        assert!(matches!(
            client_from_document(ID, &doc(), &narrow, 1, 61),
            Err(DocumentError::Invalid(_))
        ));
        narrow = limits();
        narrow.grant_types = vec!["authorization_code".into()];
        assert!(matches!(
            client_from_document(ID, &doc(), &narrow, 1, 61),
            Err(DocumentError::Invalid(_))
        ));
        let mut no_id = doc();
        no_id.as_object_mut().expect("object").remove("client_id");
        assert!(matches!(
            client_from_document(ID, &no_id, &limits(), 1, 61),
            Err(DocumentError::ClientIdMismatch { .. })
        ));
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).expect("header"));
        }
        h
    }

    #[test]
    fn lifetimes_follow_caching_headers_within_bounds() {
        let now = 1_700_000_000;
        assert_eq!(lifetime(&headers(&[]), now), DEFAULT_LIFETIME);
        assert_eq!(
            lifetime(&headers(&[("cache-control", "public, max-age=600")]), now),
            600
        );
        assert_eq!(
            lifetime(
                &headers(&[("cache-control", "max-age=600, s-maxage=900")]),
                now
            ),
            900
        );
        assert_eq!(
            lifetime(
                &headers(&[("cache-control", "max-age=600"), ("age", "100")]),
                now
            ),
            500
        );
        assert_eq!(
            lifetime(&headers(&[("cache-control", "max-age=5")]), now),
            MIN_LIFETIME
        );
        assert_eq!(
            lifetime(&headers(&[("cache-control", "max-age=9999999")]), now),
            MAX_LIFETIME
        );
        assert_eq!(
            lifetime(&headers(&[("cache-control", "no-store")]), now),
            MIN_LIFETIME
        );
        assert_eq!(
            lifetime(&headers(&[("cache-control", "max-age=600, no-cache")]), now),
            MIN_LIFETIME
        );
        let date = httpdate::fmt_http_date(
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(now as u64),
        );
        let later = httpdate::fmt_http_date(
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(now as u64 + 7200),
        );
        assert_eq!(
            lifetime(&headers(&[("date", &date), ("expires", &later)]), now),
            7200
        );
        assert_eq!(lifetime(&headers(&[("expires", "0")]), now), MIN_LIFETIME);
        assert_eq!(
            lifetime(
                &headers(&[("expires", &later), ("cache-control", "max-age=120")]),
                now
            ),
            120
        );
    }
}
