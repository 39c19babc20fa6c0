//! Request objects (OpenID Connect Core 1.0 §6, RFC 9101 "JAR"): an authorization request sent
//! as a JWT, by value (`request`) or by reference (`request_uri`, fetched by the web layer
//! through `outbound` from a URL the client registered in `request_uris`; PAR's own
//! `urn:ietf:params:oauth:request_uri:` values are `oauth::par`'s and never fetched).
//!
//! What is accepted:
//! - Signed with a key the client registered (`jwks` or `jwks_uri`, as for `private_key_jwt`)
//!   with RS256, PS256, ES256 or EdDSA — only the client's `request_object_signing_alg` when it
//!   registered one. Unsigned (`alg: none`) only from a client registered with
//!   `request_object_signing_alg=none`. Encrypted objects are not supported (refused).
//! - Checked by `crypto::jwt` (`decode`, or `decode_unsigned` for `none`) with one profile:
//!   `iss` = the client's id and `aud` = our issuer, both required (the OpenID conformance
//!   suite and openid-client send them; OIDC Core §6.1 asks for them on signed objects, and an
//!   object without `aud` could be replayed at another server); `exp`, `nbf` and `iat` checked
//!   when present with `crypto::jwt::LEEWAY`, none of them required (neither OIDC Core §6.3.2
//!   nor RFC 9101 §6.3 requires them).
//! - `client_id` inside, when present, equal to the outer one (RFC 9101 §6.3); `request` and
//!   `request_uri` never inside (RFC 9101 §4).
//!
//! How the parameters are assembled (the decision between the two specifications):
//! - An OpenID request — the outer `scope` contains `openid` — follows OIDC Core §6.1/§6.3.3:
//!   `response_type` and `client_id` MUST also be outer parameters, and a `response_type` inside
//!   must equal the outer one; the request is the outer parameters (without `request` /
//!   `request_uri`) with every parameter the object carries taking the object's value.
//! - Any other request follows RFC 9101 §5/§6.3: only the object's parameters are used, plus
//!   the outer `client_id`; other outer parameters are ignored.
//!
//! The assembled request is an urlencoded query that goes through the authorization endpoint's
//! usual checks (client, redirect URI, scope, PKCE) exactly as a plain request would. A refusal
//! (`refusal`) is redirected only to a redirect URI the client registered — the outer one, or
//! the object's when it is registered too — and is otherwise an error page.

use std::str::FromStr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::{Map, Value};
use url::Url;

use super::authorize::{plain_error_redirect, AuthorizeOutcome};
use super::errors::{ErrorCode, ProtocolError};
use super::registrar::redirect_matches;
use crate::crypto::jwt::{self, Expiry, JwtError, Profile};
use crate::db::models::clients::Client;

/// The signed algorithms a request object may use.
pub const ALGORITHMS: [&str; 4] = ["RS256", "PS256", "ES256", "EdDSA"];

/// The prefix of the `request_uri`s PAR hands out (RFC 9126 §2.2).
pub const URN_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// `request_object_signing_alg` of a client that sends unsigned request objects.
pub const UNSIGNED: &str = "none";
/// The client metadata this module reads (stored with the client's other extra metadata).
pub const METADATA: [&str; 3] = [
    "request_uris",
    "request_object_signing_alg",
    "require_signed_request_object",
];
/// The longest `request_uri` we fetch (RFC 9101 §5.2.1 asks for at most 512 ASCII characters).
pub const MAX_REQUEST_URI: usize = 512;
/// The media types asked for when fetching a `request_uri` (RFC 9101 §10.2; the conformance
/// suite answers `application/jose`).
pub const ACCEPT: &str = "application/oauth-authz-req+jwt, application/jwt, application/jose";
/// Claims of the JWT itself, never authorization parameters.
const JWT_CLAIMS: [&str; 6] = ["iss", "aud", "exp", "nbf", "iat", "jti"];

/// A client's request-object settings, from its registered metadata.
#[derive(Debug, Default)]
pub struct ClientSettings {
    pub request_uris: Vec<String>,
    pub signing_alg: Option<String>,
    pub require_signed: bool,
}

impl ClientSettings {
    pub fn of(client: &Client) -> Self {
        let m = client.metadata();
        ClientSettings {
            request_uris: m
                .get("request_uris")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|u| u.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            signing_alg: m
                .get("request_object_signing_alg")
                .and_then(Value::as_str)
                .map(str::to_owned),
            require_signed: m
                .get("require_signed_request_object")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        }
    }
}

/// What an authorization request carries besides its own parameters.
#[derive(Debug, PartialEq, Eq)]
pub enum Carried {
    /// Neither `request` nor `request_uri`.
    Nothing,
    /// A pushed request's `request_uri` (RFC 9126): `oauth::par` resolves it.
    Pushed,
    /// A request object by value.
    ByValue(String),
    /// A request object at a URL.
    ByReference(String),
}

/// Reads `request` and `request_uri` from an urlencoded query. Both at once, or either
/// repeated, is `invalid_request` (OIDC Core §6: one or the other).
pub fn carried(query: &str) -> Result<Carried, ProtocolError> {
    let mut request = Vec::new();
    let mut request_uri = Vec::new();
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "request" => request.push(v.into_owned()),
            "request_uri" => request_uri.push(v.into_owned()),
            _ => {}
        }
    }
    match (request.as_slice(), request_uri.as_slice()) {
        ([], []) => Ok(Carried::Nothing),
        ([_], [_]) => Err(ProtocolError::invalid_request(
            "request and request_uri cannot both be sent",
        )),
        ([object], []) => Ok(Carried::ByValue(object.clone())),
        ([], [uri]) if uri.starts_with(URN_PREFIX) => Ok(Carried::Pushed),
        ([], [uri]) => Ok(Carried::ByReference(uri.clone())),
        _ => Err(ProtocolError::invalid_request(
            "request or request_uri was repeated",
        )),
    }
}

fn invalid_object(description: impl Into<String>) -> ProtocolError {
    ProtocolError::new(ErrorCode::InvalidRequestObject, description)
}

fn invalid_uri(description: impl Into<String>) -> ProtocolError {
    ProtocolError::new(ErrorCode::InvalidRequestUri, description)
}

/// The URL to fetch for `request_uri`: one of the client's registered `request_uris` (compared
/// without their fragments, which OIDC Core §6.2 lets carry a hash of the contents), fetched
/// without its fragment.
pub fn fetchable(client: &Client, request_uri: &str) -> Result<Url, ProtocolError> {
    if request_uri.len() > MAX_REQUEST_URI {
        return Err(invalid_uri("the request_uri is too long"));
    }
    let base = |u: &str| u.split('#').next().unwrap_or("").to_owned();
    let registered = ClientSettings::of(client)
        .request_uris
        .iter()
        .any(|r| base(r) == base(request_uri));
    if !registered {
        return Err(invalid_uri(
            "the request_uri is not one of the client's registered request_uris",
        ));
    }
    let mut url =
        Url::parse(request_uri).map_err(|_| invalid_uri("the request_uri is not a URL"))?;
    url.set_fragment(None);
    Ok(url)
}

/// A fetched `request_uri` response body as a request object (a compact JWT), or
/// `invalid_request_uri`.
pub fn fetched_object(status: u16, body: &[u8]) -> Result<String, ProtocolError> {
    if status != 200 {
        return Err(invalid_uri(format!(
            "fetching the request_uri answered HTTP {status}"
        )));
    }
    std::str::from_utf8(body)
        .ok()
        .map(str::trim)
        .filter(|b| !b.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| invalid_uri("the request_uri did not answer a request object"))
}

/// The header fields the caller needs before verifying (to fetch the right keys).
pub struct Header {
    pub alg: String,
    pub kid: Option<String>,
}

fn segment(part: Option<&str>) -> Option<Map<String, Value>> {
    let raw = URL_SAFE_NO_PAD.decode(part?).ok()?;
    match serde_json::from_slice::<Value>(&raw).ok()? {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

/// The object's JOSE header, unverified: `invalid_request_object` when it is not a JWT, and
/// for an encrypted one (JWE), which is not supported.
pub fn header(object: &str) -> Result<Header, ProtocolError> {
    if object.split('.').count() == 5 {
        return Err(invalid_object(
            "encrypted request objects are not supported",
        ));
    }
    let h = segment(object.split('.').next())
        .ok_or_else(|| invalid_object("the request object is not a JWT"))?;
    let alg = h
        .get("alg")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid_object("the request object's header has no alg"))?;
    Ok(Header {
        alg: alg.to_owned(),
        kid: h.get("kid").and_then(Value::as_str).map(str::to_owned),
    })
}

/// The object's claims, unverified — only for choosing where a refusal may be redirected
/// (a registered redirect URI) and the `state` it carries.
pub fn unverified_claims(object: &str) -> Option<Map<String, Value>> {
    segment(object.split('.').nth(1))
}

/// The key family each algorithm needs (a JWK's `kty`).
fn kty_for(alg: &str) -> &'static str {
    match alg {
        "ES256" => "EC",
        "EdDSA" => "OKP",
        _ => "RSA",
    }
}

/// The client's key for `alg` (and `kid`, when the header names one): a signing key of the
/// right type whose `alg`, when it says one, is `alg`. Without a `kid`, only an unambiguous
/// choice will do.
fn key_for(keys: &Value, kid: Option<&str>, alg: &str) -> Option<Jwk> {
    let str_of = |k: &Value, name: &str| k.get(name).and_then(Value::as_str).map(str::to_owned);
    let candidates: Vec<&Value> = keys
        .get("keys")?
        .as_array()?
        .iter()
        .filter(|k| str_of(k, "kty").as_deref() == Some(kty_for(alg)))
        .filter(|k| str_of(k, "use").is_none_or(|u| u == "sig"))
        .filter(|k| str_of(k, "alg").is_none_or(|a| a == alg))
        .filter(|k| kid.is_none_or(|kid| str_of(k, "kid").as_deref() == Some(kid)))
        .collect();
    match candidates.as_slice() {
        [only] => serde_json::from_value((*only).clone()).ok(),
        _ => None,
    }
}

fn refused(e: JwtError) -> ProtocolError {
    invalid_object(match e {
        JwtError::Expired => "the request object has expired (exp)",
        JwtError::NotYetValid => "the request object is not valid yet (nbf)",
        JwtError::IssuedInFuture => "the request object was issued in the future (iat)",
        _ => {
            "the request object is invalid (signature, iss = the client's id, aud = this \
             issuer, or its claims)"
        }
    })
}

/// Verifies `object` for `client` (its signature with `keys`, the client's registered keys, or
/// `none` where the client registered it; then the claims) and assembles the authorization
/// request it stands for from it and the outer `query` (see the module's notes). Returns the
/// assembled request as an urlencoded query.
pub fn assemble(
    client: &Client,
    query: &str,
    object: &str,
    keys: Option<&Value>,
    issuer: &str,
    now: i64,
) -> Result<String, ProtocolError> {
    let settings = ClientSettings::of(client);
    let header = header(object)?;
    let audiences = [issuer.to_owned()];
    let profile = Profile {
        issuer: &client.row.client_id,
        audiences: Some(&audiences),
        subject: None,
        expiry: Expiry::IfPresent,
    };
    let claims: Map<String, Value> = if header.alg == UNSIGNED {
        if settings.signing_alg.as_deref() != Some(UNSIGNED) || settings.require_signed {
            return Err(invalid_object(
                "this client's request objects must be signed (alg none is accepted only from \
                 a client registered with request_object_signing_alg=none)",
            ));
        }
        jwt::decode_unsigned(object, &profile, now).map_err(refused)?
    } else {
        if !ALGORITHMS.contains(&header.alg.as_str()) {
            return Err(invalid_object(format!(
                "request objects must be signed with one of {}",
                ALGORITHMS.join(", ")
            )));
        }
        if let Some(registered) = settings.signing_alg.as_deref() {
            if registered != header.alg {
                return Err(invalid_object(format!(
                    "this client registered request_object_signing_alg {registered}"
                )));
            }
        }
        let alg = Algorithm::from_str(&header.alg)
            .map_err(|_| invalid_object("unsupported request object algorithm"))?;
        let jwk = keys
            .and_then(|k| key_for(k, header.kid.as_deref(), &header.alg))
            .ok_or_else(|| {
                invalid_object(
                    "the request object is signed with a key the client did not register",
                )
            })?;
        let key = DecodingKey::from_jwk(&jwk)
            .map_err(|_| invalid_object("the client's key is not usable"))?;
        jwt::decode(object, &key, alg, &profile, now).map_err(refused)?
    };
    merge(&client.row.client_id, query, claims)
}

/// A claim as a parameter value: strings as they are, numbers and booleans as text, objects
/// and arrays (the `claims` parameter) as JSON text; `null` is no value.
fn as_parameter(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// The authorization request: OIDC Core §6.3.3 for OpenID requests, RFC 9101 §6.3 otherwise.
fn merge(
    client_id: &str,
    query: &str,
    claims: Map<String, Value>,
) -> Result<String, ProtocolError> {
    if claims.contains_key("request") || claims.contains_key("request_uri") {
        return Err(invalid_object(
            "a request object must not contain request or request_uri",
        ));
    }
    if let Some(inner) = claims.get("client_id") {
        if inner.as_str() != Some(client_id) {
            return Err(invalid_object(
                "the request object's client_id differs from the request's",
            ));
        }
    }
    let outer: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| k != "request" && k != "request_uri")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let outer_value = |key: &str| {
        outer
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    let openid =
        outer_value("scope").is_some_and(|s| s.split_ascii_whitespace().any(|s| s == "openid"));
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    if openid {
        let Some(response_type) = outer_value("response_type") else {
            return Err(ProtocolError::invalid_request(
                "response_type must also be sent as a request parameter (OIDC Core §6.1)",
            ));
        };
        if claims
            .get("response_type")
            .is_some_and(|inner| inner.as_str() != Some(response_type))
        {
            return Err(invalid_object(
                "the request object's response_type differs from the request's",
            ));
        }
        for (k, v) in &outer {
            if !claims.contains_key(k) {
                out.append_pair(k, v);
            }
        }
    } else {
        out.append_pair("client_id", client_id);
    }
    for (k, v) in &claims {
        if JWT_CLAIMS.contains(&k.as_str()) || (!openid && k == "client_id") {
            continue;
        }
        if let Some(v) = as_parameter(v) {
            out.append_pair(k, &v);
        }
    }
    Ok(out.finish())
}

/// How the authorization endpoint answers a refused request object: redirected with the error
/// to a redirect URI `client` registered — the request's, else the object's (unverified, so
/// only when registered), else the client's only one when neither names any — with the
/// request's `state` (else the object's); otherwise, and for an unknown client or a server
/// failure, an error page.
pub fn refusal(
    client: Option<&Client>,
    query: &str,
    object: Option<&str>,
    e: ProtocolError,
    issuer: &str,
) -> AuthorizeOutcome {
    let Some(client) = client else {
        return AuthorizeOutcome::ErrorPage(e);
    };
    if matches!(
        e.code,
        ErrorCode::ServerError | ErrorCode::TemporarilyUnavailable
    ) {
        return AuthorizeOutcome::ErrorPage(e);
    }
    let inner = object.and_then(unverified_claims).unwrap_or_default();
    let claim = |k: &str| inner.get(k).and_then(Value::as_str).map(str::to_owned);
    let outer = |k: &str| {
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.into_owned())
    };
    let registered = |uri: &String| {
        client
            .redirect_uris
            .iter()
            .any(|r| redirect_matches(r, uri, client.row.is_public))
    };
    let named: Vec<String> = outer("redirect_uri")
        .into_iter()
        .chain(claim("redirect_uri"))
        .collect();
    let target = if named.is_empty() {
        match client.redirect_uris.as_slice() {
            [only] => Some(only.clone()),
            _ => None,
        }
    } else {
        named.into_iter().find(registered)
    };
    match target.and_then(|t| Url::parse(&t).ok()) {
        Some(url) => {
            let state = outer("state").or_else(|| claim("state"));
            AuthorizeOutcome::Redirect(plain_error_redirect(
                url,
                e.code.as_str(),
                &e.description,
                state.as_deref(),
                issuer,
            ))
        }
        None => AuthorizeOutcome::ErrorPage(e),
    }
}

/// A client that must send signed request objects (RFC 9101 §10.5) sent a plain request.
pub fn signed_object_required() -> ProtocolError {
    ProtocolError::invalid_request(
        "this application must send its authorization requests as signed request objects \
         (RFC 9101)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_and_request_uri_are_told_apart() {
        assert_eq!(carried("client_id=a").ok(), Some(Carried::Nothing));
        assert_eq!(
            carried("request=x.y.z").ok(),
            Some(Carried::ByValue("x.y.z".into()))
        );
        assert_eq!(
            carried("request_uri=urn%3Aietf%3Aparams%3Aoauth%3Arequest_uri%3Aabc").ok(),
            Some(Carried::Pushed)
        );
        assert_eq!(
            carried("request_uri=https%3A%2F%2Fa.example%2Fr").ok(),
            Some(Carried::ByReference("https://a.example/r".into()))
        );
        assert!(carried("request=a&request_uri=https%3A%2F%2Fa.example%2Fr").is_err());
        assert!(carried("request=a&request=b").is_err());
    }

    #[test]
    fn openid_requests_keep_outer_parameters_and_the_object_wins() {
        let mut claims = Map::new();
        claims.insert("state".into(), Value::from("inner"));
        claims.insert("max_age".into(), Value::from(60));
        claims.insert("iss".into(), Value::from("c"));
        let q = merge(
            "c",
            "client_id=c&response_type=code&scope=openid&state=outer&request=x",
            claims.clone(),
        )
        .expect("merged");
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(q.as_bytes())
            .into_owned()
            .collect();
        let get = |k: &str| pairs.iter().find(|(p, _)| p == k).map(|(_, v)| v.as_str());
        assert_eq!(get("state"), Some("inner"));
        assert_eq!(get("max_age"), Some("60"));
        assert_eq!(get("scope"), Some("openid"));
        assert_eq!(get("iss"), None);
        assert_eq!(get("request"), None);
        // OAuth (no openid outside): only the object's parameters and the client_id.
        let q = merge("c", "client_id=c&scope=email&state=outer", claims).expect("merged");
        assert!(!q.contains("outer") && !q.contains("scope"), "{q}");
    }

    #[test]
    fn openid_requests_need_response_type_outside() {
        let err = merge("c", "client_id=c&scope=openid", Map::new()).expect_err("refused");
        assert_eq!(err.code, ErrorCode::InvalidRequest);
        let mut claims = Map::new();
        claims.insert("client_id".into(), Value::from("other"));
        let err =
            merge("c", "client_id=c&scope=openid&response_type=code", claims).expect_err("refused");
        assert_eq!(err.code, ErrorCode::InvalidRequestObject);
    }
}
