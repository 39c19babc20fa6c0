//! The UserInfo endpoint's logic (OIDC Core §5.3): claims by the access token's scope.

use serde_json::{Map, Value};

use super::claims;
use crate::crypto::jwt;
use crate::crypto::keys::KeyRing;
use crate::db::models::users;
use crate::db::DbConn;
use crate::domain::signing::SigningAlg;
use crate::oauth::access_token::{self, AccessTokenCheck};

#[derive(Debug)]
pub enum Userinfo {
    Claims(Map<String, Value>),
    /// The claims as a JWT, for a client registered with `userinfo_signed_response_alg`
    /// (OIDC Core §5.3.2: with `iss` and `aud`), answered as `application/jwt`.
    Signed(String),
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
) -> Result<Userinfo, UserinfoError> {
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
    // A pairwise client's token names the user by its pairwise sub.
    let user_id = crate::oauth::subject::user_of_token(Some(&mut *conn), caches, &claims)?;
    let found_user = match user_id {
        Some(id) => users::by_id(conn, &id)?,
        None => None,
    };
    let Some(user) = found_user else {
        return Ok(Userinfo::InvalidToken("the access token has no user"));
    };
    if user.disabled {
        return Ok(Userinfo::InvalidToken("the user is disabled"));
    }
    let mut found = claims::for_scope(&user, &claims.scope);
    claims::add_groups(&mut found, &claims.scope, || {
        crate::db::models::groups::names_of(conn, &user.id)
    })?;
    // Claims the `claims` request asked for at userinfo (Core §5.5), as released to the client.
    found.extend(claims::by_name(
        &user,
        claims.userinfo_claims.iter().flatten().map(String::as_str),
    ));
    // The client's own view of `sub` (pairwise or public, OIDC Core §8), as its token has it.
    if let Some(client) = crate::clients::get(Some(caches), conn, &claims.client_id)? {
        let sub = crate::oauth::subject::for_client(conn, &client, &user.id)?;
        found.insert("sub".into(), sub.into());
    }
    signed_if_asked(conn, caches, ring, issuer, &claims.client_id, found)
}

/// The answer in the form the client registered: plain claims, or a JWT signed with its
/// `userinfo_signed_response_alg`.
fn signed_if_asked(
    conn: &mut DbConn,
    caches: &crate::cache::Caches,
    ring: &KeyRing,
    issuer: &str,
    client_id: &str,
    mut found: Map<String, Value>,
) -> Result<Userinfo, UserinfoError> {
    let alg = crate::clients::get(Some(caches), conn, client_id)?.and_then(|c| {
        c.metadata()
            .get("userinfo_signed_response_alg")
            .and_then(Value::as_str)
            .and_then(SigningAlg::parse)
    });
    let Some(alg) = alg else {
        return Ok(Userinfo::Claims(found));
    };
    let now = crate::db::now();
    found.insert("iss".into(), issuer.into());
    found.insert("aud".into(), client_id.into());
    found.insert("iat".into(), now.into());
    let keys = ring
        .current(conn)
        .map_err(|e| UserinfoError::Signing(e.to_string()))?;
    let signed = jwt::sign(&keys, alg, "JWT", &Value::Object(found), now)
        .map_err(|e| UserinfoError::Signing(e.to_string()))?;
    Ok(Userinfo::Signed(signed))
}

/// Why no answer could be given: the database, or keys that cannot sign (an operator's problem,
/// never the client's: the web layer logs it and answers 500).
#[derive(Debug, thiserror::Error)]
pub enum UserinfoError {
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
    #[error("userinfo could not be signed: {0}")]
    Signing(String),
}
