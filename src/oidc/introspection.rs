//! Token introspection (RFC 7662). Any authenticated confidential client (a resource server)
//! may introspect access tokens; refresh tokens only by the client they were issued to.
//! Anything unknown, expired, revoked or not the caller's is `{"active": false}`.

use serde_json::{json, Value};

use crate::cache::Caches;
use crate::crypto::keys::KeyRing;
use crate::db::models::clients::Client;
use crate::db::models::{refresh, users};
use crate::db::DbConn;
use crate::oauth::access_token::{self, db, AccessTokenCheck};
use crate::oauth::subject;
use crate::oauth::tokens::REFRESH_PREFIX;
use crate::random;

pub fn inactive() -> Value {
    json!({ "active": false })
}

/// Reads the caches first; without a connection (`conn` is `None`) it answers from them or fails
/// with `cache::needs_database()`.
pub fn introspect(
    mut conn: Option<&mut DbConn>,
    caches: &Caches,
    ring: &KeyRing,
    issuer: &str,
    grace: i64,
    caller: &Client,
    token: &str,
) -> Result<Value, diesel::result::Error> {
    let now = crate::db::now();
    let caller_id = caller.row.client_id.as_str();
    if token.starts_with(REFRESH_PREFIX) {
        let conn = db(&mut conn)?;
        let Some((row, family)) = refresh::find(conn, &random::sha256_hex(token))? else {
            return Ok(inactive());
        };
        if family.client_id != caller_id
            || !refresh::liveness(conn, &row, &family, now, grace)?.usable()
        {
            return Ok(inactive());
        }
        let username = match &family.user_id {
            Some(uid) => users::by_id(conn, uid)?.map(|u| u.username),
            None => None,
        };
        let sub = match &family.user_id {
            Some(uid) => Some(subject::for_client(conn, caller, uid)?),
            None => None,
        };
        return Ok(json!({
            "active": true,
            "token_type": "refresh_token",
            "scope": family.scope,
            "client_id": family.client_id,
            "sub": sub,
            "username": username,
            "iat": row.created_at,
            "exp": row.expires_at,
            "iss": issuer,
        }));
    }
    let (check, claims) = access_token::verify(conn.as_deref_mut(), caches, ring, issuer, token)?;
    let (AccessTokenCheck::Valid, Some(c)) = (check, claims) else {
        return Ok(inactive());
    };
    // The sub is the token's client's view (pairwise ones resolved back).
    let user_id = subject::user_of_token(conn.as_deref_mut(), caches, &c)?;
    let user = match &user_id {
        Some(id) => access_token::user_status(conn.as_deref_mut(), caches, id)?,
        None => None,
    };
    if user.as_ref().is_some_and(|u| u.disabled) {
        return Ok(inactive());
    }
    let has_user = user.is_some();
    let username = user.map(|u| u.username);
    // The caller's view of the user (OIDC Core §8): a pairwise caller sees its own pairwise
    // sub, for its tokens and for another client's alike (RFC 7662 leaves `sub` to the
    // server); a token without a user (client_credentials) names its client.
    let sub = match user_id.filter(|_| has_user) {
        Some(id) if subject::is_pairwise(caller) => {
            subject::for_client(db(&mut conn)?, caller, &id)?
        }
        Some(id) => id,
        None => c.sub.clone(),
    };
    Ok(json!({
        "active": true,
        "token_type": "Bearer",
        "scope": c.scope,
        "client_id": c.client_id,
        "sub": sub,
        "username": username,
        "aud": c.aud,
        "iss": c.iss,
        "iat": c.iat,
        "exp": c.exp,
        "jti": c.jti,
    }))
}
