//! Token introspection (RFC 7662). Any authenticated confidential client (a resource server)
//! may introspect access tokens; refresh tokens only by the client they were issued to.
//! Anything unknown, expired, revoked or not the caller's is `{"active": false}`.

use serde_json::{json, Value};

use super::access_token::{self, AccessTokenCheck};
use crate::crypto::keys::KeyRing;
use crate::crypto::random;
use crate::db::models::{refresh, users};
use crate::db::{self, DbConn};
use crate::oauth::tokens::REFRESH_PREFIX;

pub fn inactive() -> Value {
    json!({ "active": false })
}

pub fn introspect(
    conn: &mut DbConn,
    ring: &KeyRing,
    issuer: &str,
    grace: i64,
    caller: &str,
    token: &str,
) -> Result<Value, diesel::result::Error> {
    let now = db::now();
    if token.starts_with(REFRESH_PREFIX) {
        let Some((row, family)) = refresh::find(conn, &random::sha256_hex(token))? else {
            return Ok(inactive());
        };
        if family.client_id != caller
            || !refresh::liveness(conn, &row, &family, now, grace)?.usable()
        {
            return Ok(inactive());
        }
        let username = match &family.user_id {
            Some(uid) => users::by_id(conn, uid)?.map(|u| u.username),
            None => None,
        };
        return Ok(json!({
            "active": true,
            "token_type": "refresh_token",
            "scope": family.scope,
            "client_id": family.client_id,
            "sub": family.user_id,
            "username": username,
            "iat": row.created_at,
            "exp": row.expires_at,
            "iss": issuer,
        }));
    }
    let (check, claims) = access_token::verify(conn, ring, issuer, token)?;
    let (AccessTokenCheck::Valid, Some(c)) = (check, claims) else {
        return Ok(inactive());
    };
    let user = users::by_id(conn, &c.sub)?;
    if user.as_ref().is_some_and(|u| u.disabled) {
        return Ok(inactive());
    }
    let username = user.map(|u| u.username);
    Ok(json!({
        "active": true,
        "token_type": "Bearer",
        "scope": c.scope,
        "client_id": c.client_id,
        "sub": c.sub,
        "username": username,
        "aud": c.aud,
        "iss": c.iss,
        "iat": c.iat,
        "exp": c.exp,
        "jti": c.jti,
    }))
}
