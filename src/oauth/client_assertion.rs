//! `private_key_jwt` (RFC 7523 §2.2, OIDC Core §9): a client proves itself with a JWT signed
//! by a key it registered — a JWK Set in its metadata (`jwks`) or at its `jwks_uri` (fetched
//! through `outbound` and cached per process by `fetched`, fetched again when an unknown `kid`
//! turns up).
//!
//! The assertion: `iss` = `sub` = the client id; `aud` = the issuer or the URL of the endpoint
//! it is sent to (or the token endpoint's); `exp` required and at most `MAX_LIFETIME` ahead;
//! `jti` required and accepted once (kept in the database until `exp`, so every replica knows).
//! RS256, ES256 and EdDSA; never `none` or HMAC.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::DecodingKey;
use serde_json::Value;

use super::errors::ProtocolError;
use crate::crypto::jwt::{self, Expiry, JwtError, Profile};
use crate::db::models::clients::Client;
use crate::db::DbConn;
use crate::fetched::Fetched;
use crate::outbound::{Limits, Outbound};

pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// The longest an assertion may live (exp − now); openid-client and most libraries use 60 s.
pub const MAX_LIFETIME: i64 = 300;

fn invalid(description: &str) -> ProtocolError {
    ProtocolError::invalid_client(description)
}

/// What the assertion says about itself before anything is verified: who, and which key.
pub struct Peeked {
    pub client_id: String,
    pub kid: Option<String>,
}

/// Reads the unverified `sub` (falling back to `iss`) and the header's `kid`.
pub fn peek(assertion: &str) -> Result<Peeked, ProtocolError> {
    if assertion.len() > 8192 {
        return Err(invalid("the client assertion is too long"));
    }
    let header = jsonwebtoken::decode_header(assertion)
        .map_err(|_| invalid("the client assertion is not a JWT"))?;
    let payload = assertion
        .split('.')
        .nth(1)
        .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
        .and_then(|raw| serde_json::from_slice::<Value>(&raw).ok())
        .ok_or_else(|| invalid("the client assertion is not a JWT"))?;
    let client_id = payload["sub"]
        .as_str()
        .or(payload["iss"].as_str())
        .ok_or_else(|| invalid("the client assertion names no client (sub)"))?
        .to_owned();
    Ok(Peeked {
        client_id,
        kid: header.kid,
    })
}

/// The client's public keys for verifying an assertion with `kid`: its registered `jwks`, or
/// its `jwks_uri`'s (cached; fetched again when stale or when `kid` is not among them).
pub async fn keys_for(
    cache: &Fetched,
    outbound: &Outbound,
    client: &Client,
    kid: Option<&str>,
) -> Result<Value, ProtocolError> {
    if client.row.auth_method != super::client_policy::AUTH_PRIVATE_KEY_JWT {
        return Err(invalid(
            "this client does not authenticate with private_key_jwt",
        ));
    }
    registered_keys(cache, outbound, client, kid).await
}

/// The public keys `client` registered (`jwks`, or its `jwks_uri`'s, cached as `keys_for`
/// says), whatever it authenticates with: request objects (`oauth::request_object`) are
/// signed with them too.
pub async fn registered_keys(
    cache: &Fetched,
    outbound: &Outbound,
    client: &Client,
    kid: Option<&str>,
) -> Result<Value, ProtocolError> {
    let metadata = client.metadata();
    if let Some(jwks) = metadata.get("jwks") {
        return Ok(jwks.clone());
    }
    let Some(uri) = metadata.get("jwks_uri").and_then(Value::as_str) else {
        return Err(invalid("this client registered no keys"));
    };
    match cache.key_set(outbound, uri, Limits::JWKS, kid).await {
        Ok(keys) => Ok(Value::clone(&keys)),
        Err(e) => {
            tracing::warn!(client_id = %client.row.client_id, error = %e, "fetching a client's jwks_uri failed");
            // Without keys fetched earlier (which `fetched` serves while the client's server is
            // down), no key matches; the failure itself is remembered a while (no fetch per
            // request).
            Ok(serde_json::json!({ "keys": [] }))
        }
    }
}

/// What a refused assertion's `error_description` says.
fn refusal(e: &JwtError) -> &'static str {
    match e {
        JwtError::Expired => "the client assertion has expired (exp)",
        JwtError::NotYetValid => "the client assertion is not valid yet (nbf)",
        JwtError::IssuedInFuture => "the client assertion was issued in the future (iat)",
        _ => "the client assertion is invalid (signature, iss, sub, aud or exp)",
    }
}

/// Verifies `assertion` for `client` with `keys`, accepting `audiences`, and spends its `jti`.
pub fn verify(
    conn: &mut DbConn,
    client: &Client,
    assertion: &str,
    keys: &Value,
    audiences: &[String],
    now: i64,
) -> Result<(), ProtocolError> {
    let header = jsonwebtoken::decode_header(assertion)
        .map_err(|_| invalid("the client assertion is not a JWT"))?;
    if !jwt::ALGORITHMS.contains(&header.alg) {
        return Err(invalid(
            "the client assertion must be signed with RS256, ES256 or EdDSA",
        ));
    }
    // Never a key the client registered for another use or algorithm; without a kid, only an
    // unambiguous one.
    let jwk = jwt::select_key(keys, header.kid.as_deref(), header.alg).ok_or_else(|| {
        invalid("the client assertion is signed with a key the client did not register")
    })?;
    let key = DecodingKey::from_jwk(&jwk).map_err(|_| invalid("the client's key is not usable"))?;
    let profile = Profile {
        issuer: &client.row.client_id,
        audiences: Some(audiences),
        subject: Some(&client.row.client_id),
        expiry: Expiry::Skewed,
    };
    let claims: Value = jwt::decode(assertion, &key, header.alg, &profile, now).map_err(|e| {
        tracing::info!(client_id = %client.row.client_id, error = %e, "client assertion refused");
        invalid(refusal(&e))
    })?;
    let exp = claims["exp"]
        .as_i64()
        .ok_or_else(|| invalid("the client assertion's exp must be an integer"))?;
    if exp - now > MAX_LIFETIME {
        return Err(invalid(
            "the client assertion lives too long (exp at most 5 minutes ahead)",
        ));
    }
    let jti = claims["jti"]
        .as_str()
        .filter(|j| !j.is_empty() && j.len() <= 256)
        .ok_or_else(|| invalid("the client assertion has no jti"))?;
    let fresh = crate::db::models::client_assertions::spend(conn, &client.row.client_id, jti, exp)
        .map_err(ProtocolError::server_error)?;
    if !fresh {
        return Err(invalid("the client assertion was used already (jti)"));
    }
    Ok(())
}
