//! Token revocation (RFC 7009). A refresh token takes its whole family with it; an access token
//! goes on the deny-list until it would have expired. Tokens of other clients, unknown tokens and
//! garbage are ignored: the answer is the same 200 either way (§2.2).

use crate::crypto::keys::KeyRing;
use crate::db::models::{denylist, refresh};
use crate::db::{self, DbConn};
use crate::oauth::access_token;
use crate::oauth::tokens::REFRESH_PREFIX;
use crate::random;

pub fn revoke(
    conn: &mut DbConn,
    caches: &crate::cache::Caches,
    ring: &KeyRing,
    issuer: &str,
    client_id: &str,
    token: &str,
    hint: Option<&str>,
) -> Result<(), diesel::result::Error> {
    let now = db::now();
    let looks_refresh = token.starts_with(REFRESH_PREFIX) || hint == Some("refresh_token");
    if looks_refresh {
        if let Some((_, family)) = refresh::find(conn, &random::sha256_hex(token))? {
            if family.client_id == client_id {
                refresh::revoke_family(conn, &family.id, now)?;
            }
            return Ok(());
        }
    }
    let (_, claims) = access_token::verify(Some(&mut *conn), caches, ring, issuer, token)?;
    if let Some(c) = claims {
        if c.client_id == client_id && c.exp > now {
            denylist::add(conn, &c.jti, c.exp)?;
        }
    }
    Ok(())
}
