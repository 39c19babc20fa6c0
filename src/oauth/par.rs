//! Pushed authorization requests (RFC 9126): a client posts its authorization request's
//! parameters (authenticated, as at the token endpoint) and gets a `request_uri` that stands
//! for them at `/authorize` — once, within `TTL`, and only with the same `client_id`.

use super::errors::{ErrorCode, ProtocolError};
use super::params::Params;
use super::registrar::redirect_matches;
use super::request_object::URN_PREFIX;
use crate::db::models::clients::Client;
use crate::db::models::pushed_requests;
use crate::db::DbConn;
use crate::domain::grants::GRANT_AUTHORIZATION_CODE;
use crate::random;

/// RFC 9126 §2.2 suggests a short life; 60 s covers a redirect and a slow page.
pub const TTL: i64 = 60;
/// Client authentication parameters: they are for this endpoint, not part of the request.
const AUTHENTICATION: [&str; 3] = ["client_secret", "client_assertion", "client_assertion_type"];

pub struct Pushed {
    pub request_uri: String,
    pub expires_in: i64,
}

/// A pushed request object's verification needs: the client's registered keys (fetched
/// before the blocking section, for the client the form claims to be) and our issuer.
pub struct ObjectKeys {
    pub client_id: String,
    pub keys: Option<serde_json::Value>,
    pub issuer: String,
}

/// Checks what can be checked before a user is involved (RFC 9126 §2.1: as the authorization
/// endpoint would) and stores the request for `client`. A signed `request` object (RFC 9126
/// §3) is verified as at the authorization endpoint (`request_object::assemble`) and the
/// request it stands for is what is checked and stored.
pub fn push(
    conn: &mut DbConn,
    client: &Client,
    params: &Params<'_>,
    raw: &[(String, String)],
    object_keys: Option<&ObjectKeys>,
    now: i64,
) -> Result<Pushed, ProtocolError> {
    if params.get("request_uri").is_some() {
        return Err(ProtocolError::invalid_request(
            "request_uri cannot itself be pushed",
        ));
    }
    if let Some(object) = params.get("request") {
        let outer: Vec<(String, String)> = raw
            .iter()
            .filter(|(k, _)| !AUTHENTICATION.contains(&k.as_str()))
            .cloned()
            .collect();
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&outer)
            .finish();
        let keys = object_keys
            .filter(|k| k.client_id == client.row.client_id)
            .ok_or_else(|| {
                ProtocolError::invalid_request(
                    "the request names another client than the one authenticated",
                )
            })?;
        let assembled = super::request_object::assemble(
            client,
            &query,
            &object,
            keys.keys.as_ref(),
            &keys.issuer,
            now,
        )?;
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(assembled.as_bytes())
            .into_owned()
            .collect();
        let form = super::params::Form::parse(assembled.as_bytes());
        let mut inner = form.params();
        inner.authenticated = params.authenticated.clone();
        if !inner.well_formed() {
            return Err(ProtocolError::invalid_request("a parameter was repeated"));
        }
        return push_checked(conn, client, &inner, &pairs, now);
    }
    if super::request_object::ClientSettings::of(client).require_signed {
        return Err(super::request_object::signed_object_required());
    }
    push_checked(conn, client, params, raw, now)
}

/// `push` for the request's own parameters (after any request object was resolved).
fn push_checked(
    conn: &mut DbConn,
    client: &Client,
    params: &Params<'_>,
    raw: &[(String, String)],
    now: i64,
) -> Result<Pushed, ProtocolError> {
    if !client.allows_grant(GRANT_AUTHORIZATION_CODE) {
        return Err(ProtocolError::new(
            ErrorCode::UnauthorizedClient,
            "this client may not use the authorization code grant",
        ));
    }
    match params.get("response_type").as_deref() {
        Some("code") => {}
        Some(_) => {
            return Err(ProtocolError::new(
                ErrorCode::UnsupportedResponseType,
                "only response_type=code is supported",
            ))
        }
        None => return Err(ProtocolError::invalid_request("response_type is missing")),
    }
    if let Err(why) = super::response_mode::requested(params) {
        return Err(ProtocolError::invalid_request(why));
    }
    let registered = match params.get("redirect_uri") {
        Some(r) => client
            .redirect_uris
            .iter()
            .any(|u| redirect_matches(u, &r, client.row.is_public)),
        None => client.redirect_uris.len() == 1,
    };
    if !registered {
        return Err(ProtocolError::invalid_request(
            "redirect_uri is not registered for this client",
        ));
    }
    if client.row.is_public && params.get("code_challenge").is_none() {
        return Err(ProtocolError::invalid_request(
            "public clients must send a code_challenge (PKCE, S256)",
        ));
    }
    let mut request = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in raw {
        if AUTHENTICATION.contains(&k.as_str()) || k == "client_id" {
            continue;
        }
        request.append_pair(k, v);
    }
    request.append_pair("client_id", &client.row.client_id);
    let token = random::token::<32>();
    let request_uri = format!("{URN_PREFIX}{token}");
    pushed_requests::insert(
        conn,
        &random::sha256_hex(&request_uri),
        &client.row.client_id,
        &request.finish(),
        now + TTL,
    )
    .map_err(ProtocolError::server_error)?;
    Ok(Pushed {
        request_uri,
        expires_in: TTL,
    })
}

/// Why an authorization request naming a `request_uri` cannot go on.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// Unknown, expired, used already, or pushed by another client.
    Invalid,
    /// The request must name its `client_id` beside the `request_uri`.
    NoClientId,
}

/// The pushed request named by an authorization request (`request_uri` + `client_id`), taken
/// out for good. `Ok(None)`: the request pushed nothing.
pub fn resolve(conn: &mut DbConn, query: &str, now: i64) -> Result<Option<String>, Refused> {
    let mut request_uri = None;
    let mut client_id = None;
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "request_uri" => request_uri = Some(v.into_owned()),
            "client_id" => client_id = Some(v.into_owned()),
            _ => {}
        }
    }
    let Some(uri) = request_uri else {
        return Ok(None);
    };
    let client_id = client_id.ok_or(Refused::NoClientId)?;
    if !uri.starts_with(URN_PREFIX) || uri.len() > 200 {
        return Err(Refused::Invalid);
    }
    pushed_requests::take(conn, &random::sha256_hex(&uri), &client_id, now)
        .map_err(|e| {
            tracing::error!(error = %e, "pushed request lookup failed");
            Refused::Invalid
        })?
        .map(Some)
        .ok_or(Refused::Invalid)
}
