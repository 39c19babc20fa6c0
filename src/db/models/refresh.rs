//! Refresh tokens in families. Each rotation is one conditional UPDATE (a compare-and-set on
//! `rotated_at IS NULL`); the successor of a token is derived from the token itself, so a retry
//! inside the grace window recomputes the very successor the first request stored.

use diesel::prelude::*;

use crate::db::schema::{refresh_families as fam, refresh_tokens as tok};
use crate::db::DbConn;

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = fam)]
pub struct FamilyRow {
    pub id: String,
    pub client_id: String,
    pub user_id: Option<String>,
    /// The scope granted with the code; every token of the family carries it (RFC 6749 §6).
    pub scope: String,
    pub auth_time: Option<i64>,
    pub session_id: Option<String>,
    pub created_at: i64,
    /// Absolute end of the family: rotation does not extend it.
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = tok)]
pub struct TokenRow {
    pub token_hash: String,
    pub family_id: String,
    pub generation: i64,
    pub scope: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub rotated_at: Option<i64>,
    pub successor_hash: Option<String>,
}

pub fn create_family(conn: &mut DbConn, family: &FamilyRow, first: &TokenRow) -> QueryResult<()> {
    conn.transaction(|c| {
        diesel::insert_into(fam::table).values(family).execute(c)?;
        diesel::insert_into(tok::table).values(first).execute(c)?;
        Ok(())
    })
}

/// The token and its family, whatever their state.
pub fn find(conn: &mut DbConn, token_hash: &str) -> QueryResult<Option<(TokenRow, FamilyRow)>> {
    tok::table
        .inner_join(fam::table)
        .filter(tok::token_hash.eq(token_hash))
        .select((TokenRow::as_select(), FamilyRow::as_select()))
        .first(conn)
        .optional()
}

#[derive(Debug, PartialEq, Eq)]
pub enum Rotation {
    /// The successor was stored; this request won the rotation.
    Rotated,
    /// The same token was rotated moments ago to this same successor: answer with it again.
    Retried,
    /// The token was rotated earlier than the grace window allows (or to something else):
    /// treated as theft, and the whole family is now revoked.
    ReuseDetected,
    /// Unknown, expired, or its family was revoked.
    Invalid,
}

/// Rotates `token_hash` to `successor`, or recognises a retry, or detects reuse.
pub fn rotate(
    conn: &mut DbConn,
    token_hash: &str,
    successor: &TokenRow,
    now: i64,
    grace: i64,
) -> QueryResult<Rotation> {
    conn.transaction(|c| {
        // The write comes first: on SQLite a transaction that reads before it writes can fail
        // with SQLITE_BUSY_SNAPSHOT under concurrency, while a first write simply waits its turn.
        let live_families = fam::table
            .select(fam::id)
            .filter(fam::revoked_at.is_null())
            .filter(fam::expires_at.gt(now));
        let won = diesel::update(
            tok::table
                .find(token_hash)
                .filter(tok::rotated_at.is_null())
                .filter(tok::expires_at.gt(now))
                .filter(tok::family_id.eq_any(live_families)),
        )
        .set((
            tok::rotated_at.eq(Some(now)),
            tok::successor_hash.eq(Some(&successor.token_hash)),
        ))
        .execute(c)?;
        if won == 1 {
            diesel::insert_into(tok::table)
                .values(successor)
                .execute(c)?;
            return Ok(Rotation::Rotated);
        }
        // Not ours to rotate: find out why. What another request stored is committed, since our
        // UPDATE waited for its transaction.
        let Some((current, family)) = find(c, token_hash)? else {
            return Ok(Rotation::Invalid);
        };
        if family.revoked_at.is_some() || current.expires_at <= now || family.expires_at <= now {
            return Ok(Rotation::Invalid);
        }
        let within_grace = current.rotated_at.is_some_and(|t| now - t <= grace);
        if within_grace && current.successor_hash.as_deref() == Some(&successor.token_hash) {
            return Ok(Rotation::Retried);
        }
        revoke_family(c, &family.id, now)?;
        Ok(Rotation::ReuseDetected)
    })
}

pub fn revoke_family(conn: &mut DbConn, family_id: &str, now: i64) -> QueryResult<usize> {
    diesel::update(fam::table.find(family_id).filter(fam::revoked_at.is_null()))
        .set(fam::revoked_at.eq(Some(now)))
        .execute(conn)
}

/// Revokes every family a user holds for a client (consent withdrawn).
pub fn revoke_for_user_client(
    conn: &mut DbConn,
    user_id: &str,
    client_id: &str,
    now: i64,
) -> QueryResult<usize> {
    diesel::update(
        fam::table
            .filter(fam::user_id.eq(user_id))
            .filter(fam::client_id.eq(client_id))
            .filter(fam::revoked_at.is_null()),
    )
    .set(fam::revoked_at.eq(Some(now)))
    .execute(conn)
}

/// Removes families (and their tokens, by cascade) that ended before `before`.
pub fn delete_expired(conn: &mut DbConn, before: i64) -> QueryResult<usize> {
    diesel::delete(fam::table.filter(fam::expires_at.le(before))).execute(conn)
}
