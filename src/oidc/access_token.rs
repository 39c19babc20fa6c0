//! Checking our own JWT access tokens when they come back (userinfo, introspection,
//! revocation): signature by a published key, `typ: at+jwt`, issuer, expiry, deny-list.

use crate::crypto::jwt::{self, JwtError};
use crate::crypto::keys::KeyRing;
use crate::db::models::{clients, denylist};
use crate::db::DbConn;
use crate::oauth::tokens::AccessClaims;

#[derive(Debug, PartialEq, Eq)]
pub enum AccessTokenCheck {
    Valid,
    /// Bad signature, wrong type or issuer, expired, or malformed.
    Invalid,
    /// Revoked (on the deny-list).
    Revoked,
}

/// Verifies an access token and tells whether it is valid, invalid or revoked.
pub fn verify(
    conn: &mut DbConn,
    ring: &KeyRing,
    issuer: &str,
    token: &str,
) -> Result<(AccessTokenCheck, Option<AccessClaims>), diesel::result::Error> {
    let kid = jsonwebtoken::decode_header(token).ok().and_then(|h| h.kid);
    let keys = match ring.for_kid(conn, kid.as_deref()) {
        Ok(k) => k,
        Err(e) => {
            return Err(diesel::result::Error::QueryBuilderError(
                format!("key ring: {e}").into(),
            ))
        }
    };
    let claims: AccessClaims = match jwt::verify(&keys, token, issuer, Some("at+jwt")) {
        Ok(c) => c,
        Err(JwtError::UnknownKey) | Err(_) => return Ok((AccessTokenCheck::Invalid, None)),
    };
    if denylist::contains(conn, &claims.jti)? {
        return Ok((AccessTokenCheck::Revoked, Some(claims)));
    }
    // A deleted or disabled client's tokens die with it.
    if !clients::is_active(conn, &claims.client_id)? {
        return Ok((AccessTokenCheck::Revoked, Some(claims)));
    }
    Ok((AccessTokenCheck::Valid, Some(claims)))
}
