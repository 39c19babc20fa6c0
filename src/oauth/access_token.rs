//! Checking our own JWT access tokens when they come back (userinfo, introspection,
//! revocation): signature by a published key, `typ: at+jwt`, issuer, expiry, deny-list, client.
//!
//! Reads go to the caches first (`crate::cache`) and to the database only for what they do not
//! hold; without a connection (the inline path) such a read fails with
//! `cache::needs_database()`.

use std::sync::Arc;

use crate::cache::{self, verified, Caches};
use crate::crypto::jwt;
use crate::crypto::keys::{KeyRing, KeySet};
use crate::db::models::{clients, denylist};
use crate::db::DbConn;
use crate::domain::claims::AccessClaims;

#[derive(Debug, PartialEq, Eq)]
pub enum AccessTokenCheck {
    Valid,
    /// Bad signature, wrong type or issuer, expired, or malformed.
    Invalid,
    /// Revoked (on the deny-list), or its client was disabled or deleted.
    Revoked,
}

/// The connection, or the error that sends an inline request to the blocking pool.
pub fn db<'a>(conn: &'a mut Option<&mut DbConn>) -> diesel::QueryResult<&'a mut DbConn> {
    conn.as_deref_mut().ok_or_else(cache::needs_database)
}

fn key_error(e: impl std::fmt::Display) -> diesel::result::Error {
    diesel::result::Error::QueryBuilderError(format!("key ring: {e}").into())
}

/// The keys that can verify a token signed by `kid`.
fn keys_for(
    conn: &mut Option<&mut DbConn>,
    ring: &KeyRing,
    kid: &str,
) -> diesel::QueryResult<Arc<KeySet>> {
    if let Some(set) = ring.cached().filter(|s| s.by_kid(kid).is_some()) {
        return Ok(set);
    }
    ring.for_kid(db(conn)?, Some(kid)).map_err(key_error)
}

/// Verifies an access token and tells whether it is valid, invalid or revoked.
pub fn verify(
    mut conn: Option<&mut DbConn>,
    caches: &Caches,
    ring: &KeyRing,
    issuer: &str,
    token: &str,
) -> diesel::QueryResult<(AccessTokenCheck, Option<AccessClaims>)> {
    let now = crate::db::now();
    let Some(kid) = jsonwebtoken::decode_header(token).ok().and_then(|h| h.kid) else {
        return Ok((AccessTokenCheck::Invalid, None));
    };
    let keys = keys_for(&mut conn, ring, &kid)?;
    let claims = match caches.tokens.get(token, now) {
        // Checked by a key that is still in the set: no second P-256 verification.
        Some(e) if e.kid == kid && keys.by_kid(&kid).is_some() => e.claims,
        _ => match jwt::verify::<AccessClaims>(&keys, token, issuer, Some("at+jwt"), now) {
            Ok(c) => {
                let claims = Arc::new(c);
                caches.tokens.put(
                    token,
                    verified::Entry {
                        kid,
                        claims: claims.clone(),
                    },
                );
                claims
            }
            Err(_) => return Ok((AccessTokenCheck::Invalid, None)),
        },
    };
    let claims = AccessClaims::clone(&claims);
    let denied = match caches.denied(&claims.jti) {
        Some(d) => d,
        None => denylist::contains(db(&mut conn)?, &claims.jti)?,
    };
    if denied {
        return Ok((AccessTokenCheck::Revoked, Some(claims)));
    }
    // A deleted or disabled client's tokens die with it (the cache holds enabled clients only).
    let client_active = match caches.client(&claims.client_id) {
        Some(_) => true,
        None => clients::is_active(db(&mut conn)?, &claims.client_id)?,
    };
    if !client_active {
        return Ok((AccessTokenCheck::Revoked, Some(claims)));
    }
    Ok((AccessTokenCheck::Valid, Some(claims)))
}

/// What introspection needs of the user a token names (`None`: there is no such user), from
/// the cache or the database.
pub fn user_status(
    mut conn: Option<&mut DbConn>,
    caches: &Caches,
    user_id: &str,
) -> diesel::QueryResult<Option<cache::UserStatus>> {
    if let Some(known) = caches.user(user_id) {
        return Ok(known);
    }
    let ticket = caches.users.ticket();
    let status =
        crate::db::models::users::by_id(db(&mut conn)?, user_id)?.map(|u| cache::UserStatus {
            username: u.username,
            disabled: u.disabled,
        });
    caches.users.put(ticket, user_id, status.clone());
    Ok(status)
}
