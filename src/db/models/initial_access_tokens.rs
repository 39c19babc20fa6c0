//! Initial access tokens (RFC 7591 §3): what an app presents to register itself under the
//! `token` policy. Stored as SHA-256; each registration uses one up by a conditional UPDATE.

use diesel::prelude::*;

use crate::db::schema::initial_access_tokens as iat;
use crate::db::DbConn;

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = iat)]
pub struct InitialAccessToken {
    pub token_hash: String,
    pub uses_left: Option<i64>,
    pub expires_at: Option<i64>,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    pub note: Option<String>,
}

pub fn insert(conn: &mut DbConn, row: &InitialAccessToken) -> QueryResult<()> {
    diesel::insert_into(iat::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

/// Uses the token once: true when it was live (not revoked, not expired, uses left). One
/// conditional UPDATE, so two registrations cannot share a token's last use.
pub fn consume(conn: &mut DbConn, token_hash: &str, now: i64) -> QueryResult<bool> {
    let live = iat::table
        .find(token_hash)
        .filter(iat::revoked_at.is_null())
        .filter(iat::expires_at.is_null().or(iat::expires_at.gt(now)));
    let limited = diesel::update(live.filter(iat::uses_left.gt(0)))
        .set(iat::uses_left.eq(iat::uses_left - 1))
        .execute(conn)?;
    if limited == 1 {
        return Ok(true);
    }
    let unlimited: i64 = live
        .filter(iat::uses_left.is_null())
        .count()
        .get_result(conn)?;
    Ok(unlimited == 1)
}

/// Whether the token could be used now (live, with uses left), without using it: for checks
/// that must come before expensive work (`consume` still decides, in the store's transaction).
pub fn is_live(conn: &mut DbConn, token_hash: &str, now: i64) -> QueryResult<bool> {
    let n: i64 = iat::table
        .find(token_hash)
        .filter(iat::revoked_at.is_null())
        .filter(iat::expires_at.is_null().or(iat::expires_at.gt(now)))
        .filter(iat::uses_left.is_null().or(iat::uses_left.gt(0)))
        .count()
        .get_result(conn)?;
    Ok(n == 1)
}

pub fn list(conn: &mut DbConn) -> QueryResult<Vec<InitialAccessToken>> {
    iat::table
        .order(iat::created_at.desc())
        .select(InitialAccessToken::as_select())
        .load(conn)
}

/// Revokes by the hash's first characters (what the console and CLI show as the token's id).
pub fn revoke(conn: &mut DbConn, id_prefix: &str, now: i64) -> QueryResult<usize> {
    if id_prefix.len() < 8 || !id_prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(0);
    }
    diesel::update(
        iat::table
            .filter(iat::token_hash.like(format!("{id_prefix}%")))
            .filter(iat::revoked_at.is_null()),
    )
    .set(iat::revoked_at.eq(Some(now)))
    .execute(conn)
}
