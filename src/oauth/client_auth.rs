//! Client authentication at the token endpoint (RFC 6749 §2.3). A client that holds a secret
//! may present it in a Basic header or in the body, whichever it registered: relying parties
//! pick from the methods discovery advertises (django-allauth picks the body), RFC 6749 §2.3.1
//! allows both, and the secret is the same 256-bit value either way. Public clients (`none`)
//! stay strict: a secret presented for them is refused.

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::client_assertion;
use super::client_policy::{AUTH_BASIC, AUTH_NONE, AUTH_POST, AUTH_PRIVATE_KEY_JWT};
use super::context::Ctx;
use super::errors::{ErrorCode, ProtocolError};
use super::params::Params;
use crate::db::models::clients::Client;
use crate::random;

/// How the request presented the client.
#[derive(Debug, PartialEq, Eq)]
pub enum Presented {
    Basic {
        id: String,
        secret: String,
    },
    Post {
        id: String,
        secret: String,
    },
    IdOnly {
        id: String,
    },
    /// RFC 7523 `client_assertion` (for `private_key_jwt`).
    Assertion {
        id: String,
        assertion: String,
    },
}

fn form_decode(s: &str) -> Option<String> {
    // RFC 6749 §2.3.1: Basic credentials are form-urlencoded before base64.
    let decoded: String = url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())?;
    Some(decoded)
}

fn parse_basic(header: &str) -> Result<(String, String), ProtocolError> {
    let bad = || ProtocolError::invalid_client("malformed Basic credentials");
    let (scheme, value) = header.trim().split_once(' ').ok_or_else(bad)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(bad());
    }
    let raw = STANDARD.decode(value.trim()).map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    let (id, secret) = text.split_once(':').ok_or_else(bad)?;
    Ok((
        form_decode(id).ok_or_else(bad)?,
        form_decode(secret).ok_or_else(bad)?,
    ))
}

/// Reads the credentials; refuses requests that use more than one method (RFC 6749 §2.3).
pub fn presented(
    auth_header: Option<&str>,
    params: &Params<'_>,
) -> Result<Presented, ProtocolError> {
    let body_id = params.get("client_id").map(|c| c.into_owned());
    let body_secret = params.get("client_secret").map(|c| c.into_owned());
    let assertion = params.get("client_assertion").map(|c| c.into_owned());
    let assertion_type = params.get("client_assertion_type");
    if let Some(assertion) = assertion {
        if assertion_type.as_deref() != Some(client_assertion::ASSERTION_TYPE) {
            return Err(ProtocolError::invalid_request(
                "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ));
        }
        if auth_header.is_some() || body_secret.is_some() {
            return Err(ProtocolError::invalid_request(
                "use one client authentication method, not several",
            ));
        }
        let id = client_assertion::peek(&assertion)?.client_id;
        if body_id.as_deref().is_some_and(|b| b != id) {
            return Err(ProtocolError::invalid_request(
                "client_id in the body differs from the client assertion's subject",
            ));
        }
        return Ok(Presented::Assertion { id, assertion });
    }
    match (auth_header, body_secret) {
        (Some(h), None) => {
            let (id, secret) = parse_basic(h)?;
            if body_id.as_deref().is_some_and(|b| b != id) {
                return Err(ProtocolError::invalid_request(
                    "client_id in the body differs from the authenticated client",
                ));
            }
            Ok(Presented::Basic { id, secret })
        }
        (Some(_), Some(_)) => Err(ProtocolError::invalid_request(
            "use one client authentication method, not several",
        )),
        (None, Some(secret)) => match body_id {
            Some(id) => Ok(Presented::Post { id, secret }),
            None => Err(ProtocolError::invalid_client("client_id is missing")),
        },
        (None, None) => match body_id {
            Some(id) => Ok(Presented::IdOnly { id }),
            None => Err(ProtocolError::invalid_client(
                "client authentication is required",
            )),
        },
    }
}

/// Authenticates the client with the method it registered; the same answer for unknown clients
/// and wrong secrets.
pub fn authenticate(ctx: &Ctx, presented: &Presented) -> Result<Arc<Client>, ProtocolError> {
    let (id, secret, method) = match presented {
        Presented::Basic { id, secret } => (id, Some(secret), AUTH_BASIC),
        Presented::Post { id, secret } => (id, Some(secret), AUTH_POST),
        Presented::IdOnly { id } => (id, None, AUTH_NONE),
        Presented::Assertion { id, assertion } => return with_assertion(ctx, id, assertion),
    };
    let failed = || ProtocolError::invalid_client("client authentication failed");
    if id.is_empty() || id.len() > 256 {
        return Err(failed());
    }
    let client = ctx
        .client(id)
        .ok_or_else(|| ctx.storage_failure().unwrap_or_else(failed))?;
    let holds_secret = |m: &str| m == AUTH_BASIC || m == AUTH_POST;
    let acceptable = client.row.auth_method == method
        || (holds_secret(&client.row.auth_method) && holds_secret(method));
    if !acceptable {
        return Err(ProtocolError::invalid_client(format!(
            "this client must authenticate with {}",
            client.row.auth_method
        )));
    }
    match (secret, client.row.secret_hash.as_deref()) {
        (None, None) if client.row.is_public => Ok(client),
        (Some(s), Some(stored))
            if !client.row.is_public && random::verify_sha256_hex(s, stored) =>
        {
            Ok(client)
        }
        _ => Err(failed()),
    }
}

fn with_assertion(ctx: &Ctx, id: &str, assertion: &str) -> Result<Arc<Client>, ProtocolError> {
    let failed = || ProtocolError::invalid_client("client authentication failed");
    if id.is_empty() || id.len() > 256 {
        return Err(failed());
    }
    let client = ctx
        .client(id)
        .ok_or_else(|| ctx.storage_failure().unwrap_or_else(failed))?;
    if client.row.auth_method != AUTH_PRIVATE_KEY_JWT {
        return Err(ProtocolError::invalid_client(format!(
            "this client must authenticate with {}",
            client.row.auth_method
        )));
    }
    let keys = ctx.assertion_keys.as_ref().ok_or_else(failed)?;
    let mut conn = ctx.conn()?;
    client_assertion::verify(
        &mut conn,
        &client,
        assertion,
        &keys.keys,
        &keys.audiences,
        ctx.now,
    )?;
    Ok(client)
}

/// The error a client-authenticated endpoint answers (RFC 6749 §5.2): a failed client
/// authentication challenges the scheme the client used, so a Basic challenge only when the
/// request carried an Authorization header. A client that authenticated in the body
/// (`client_secret_post`, `private_key_jwt`) or not at all gets 401 `invalid_client` without
/// one: a challenge it never answered reads as "use Basic", and openid-client reports it as a
/// challenge error instead of `invalid_client`. Every endpoint that authenticates clients
/// (/token, /revoke, /introspect, /par, /device_authorization) passes its errors through here.
pub fn answer(used_authorization_header: bool, mut e: ProtocolError) -> ProtocolError {
    e.basic_challenge = used_authorization_header && e.code == ErrorCode::InvalidClient;
    e
}

/// Reads and checks the client's credentials in one step.
pub fn authenticate_request(
    ctx: &Ctx,
    auth_header: Option<&str>,
    params: &Params<'_>,
) -> Result<Arc<Client>, ProtocolError> {
    let p = presented(auth_header, params)?;
    authenticate(ctx, &p)
}
