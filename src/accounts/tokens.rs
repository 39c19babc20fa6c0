//! Single-use account tokens: 256 random bits in the mailed link, only their SHA-256 stored.

use diesel::QueryResult;

use crate::config::Settings;
use crate::db::models::account_tokens::{self, AccountToken, Kind};
use crate::db::DbConn;
use crate::random;

/// Longer than any token we hand out; such input is refused without hashing or a query.
const MAX_TOKEN_CHARS: usize = 128;

/// Creates a token of `kind` for the user and `email` (the address it is mailed to), valid for
/// `ttl` seconds; returns the token itself, which is never stored.
pub fn issue(
    conn: &mut DbConn,
    kind: Kind,
    user_id: &str,
    email: &str,
    ttl: i64,
    now: i64,
) -> QueryResult<String> {
    let token = random::token::<32>();
    account_tokens::insert(
        conn,
        &AccountToken {
            token_hash: random::sha256_hex(&token),
            kind: kind.as_str().to_owned(),
            user_id: user_id.to_owned(),
            email: email.to_owned(),
            created_at: now,
            expires_at: now + ttl,
            used_at: None,
        },
    )?;
    Ok(token)
}

/// The stored form of a presented token, or `None` for input that cannot be one.
pub fn hash(presented: &str) -> Option<String> {
    let t = presented.trim();
    (!t.is_empty() && t.len() <= MAX_TOKEN_CHARS).then(|| random::sha256_hex(t))
}

/// `{issuer}{path}?token=…`.
pub fn link(settings: &Settings, path: &str, token: &str) -> String {
    format!("{}{path}?token={token}", settings.issuer)
}

/// The live token of `kind`, unchanged (for a page that asks before it acts).
pub fn peek(
    conn: &mut DbConn,
    presented: &str,
    kind: Kind,
    now: i64,
) -> QueryResult<Option<AccountToken>> {
    match hash(presented) {
        Some(h) => account_tokens::live(conn, &h, kind, now),
        None => Ok(None),
    }
}

/// Spends the token (see `account_tokens::consume`).
pub fn consume(
    conn: &mut DbConn,
    presented: &str,
    kind: Kind,
    now: i64,
) -> QueryResult<Option<AccountToken>> {
    match hash(presented) {
        Some(h) => account_tokens::consume(conn, &h, kind, now),
        None => Ok(None),
    }
}

/// Whether the user was sent `limit` tokens of `kind` in the last hour already.
pub fn hourly_limit_reached(
    conn: &mut DbConn,
    user_id: &str,
    kind: Kind,
    limit: i64,
    now: i64,
) -> QueryResult<bool> {
    Ok(account_tokens::issued_since(conn, user_id, kind, now - 3600)? >= limit)
}
