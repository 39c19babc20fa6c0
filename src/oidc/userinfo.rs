//! The UserInfo endpoint's logic (OIDC Core §5.3): claims by the access token's scope.

use serde_json::{Map, Value};

use super::claims;
use crate::crypto::keys::KeyRing;
use crate::db::models::users;
use crate::db::DbConn;
use crate::oauth::access_token::{self, AccessTokenCheck};

#[derive(Debug)]
pub enum Userinfo {
    Claims(Map<String, Value>),
    /// RFC 6750 `invalid_token`, with a reason for `error_description`.
    InvalidToken(&'static str),
    /// RFC 6750 `insufficient_scope`: the token lacks `openid`.
    InsufficientScope,
}

pub fn userinfo(
    conn: &mut DbConn,
    caches: &crate::cache::Caches,
    ring: &KeyRing,
    issuer: &str,
    token: &str,
) -> Result<Userinfo, diesel::result::Error> {
    let (check, claims) = access_token::verify(Some(&mut *conn), caches, ring, issuer, token)?;
    let claims = match (check, claims) {
        (AccessTokenCheck::Valid, Some(c)) => c,
        (AccessTokenCheck::Revoked, _) => {
            return Ok(Userinfo::InvalidToken("the access token was revoked"))
        }
        _ => {
            return Ok(Userinfo::InvalidToken(
                "the access token is invalid or expired",
            ))
        }
    };
    // A token exchanged for another audience (RFC 8693) is that service's, not this one's.
    if claims.aud != issuer {
        return Ok(Userinfo::InvalidToken(
            "the access token is for another audience",
        ));
    }
    if !claims.scope.split_ascii_whitespace().any(|s| s == "openid") {
        return Ok(Userinfo::InsufficientScope);
    }
    // Tokens from client_credentials have no user behind them.
    let Some(user) = users::by_id(conn, &claims.sub)? else {
        return Ok(Userinfo::InvalidToken("the access token has no user"));
    };
    if user.disabled {
        return Ok(Userinfo::InvalidToken("the user is disabled"));
    }
    let mut answer = claims::for_scope(&user, &claims.scope);
    // Claims the `claims` request asked for at userinfo (Core §5.5), as released to the client.
    answer.extend(claims::by_name(
        &user,
        claims.userinfo_claims.iter().flatten().map(String::as_str),
    ));
    Ok(Userinfo::Claims(answer))
}
