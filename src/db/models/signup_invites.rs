//! Sign-up invitations: single use, time-limited, stored as SHA-256.

use diesel::prelude::*;

use crate::db::schema::signup_invites as si;
use crate::db::DbConn;

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = si)]
pub struct Invite {
    pub token_hash: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub used_by: Option<String>,
    pub note: Option<String>,
}

pub fn insert(conn: &mut DbConn, row: &Invite) -> QueryResult<()> {
    diesel::insert_into(si::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

/// Whether the invitation can still be used (checked before showing the form).
pub fn usable(conn: &mut DbConn, token_hash: &str, now: i64) -> QueryResult<bool> {
    let n: i64 = si::table
        .find(token_hash)
        .filter(si::used_at.is_null())
        .filter(si::expires_at.gt(now))
        .count()
        .get_result(conn)?;
    Ok(n == 1)
}

/// Uses the invitation for `user_id`: one conditional UPDATE, so it admits one account.
pub fn consume(conn: &mut DbConn, token_hash: &str, user_id: &str, now: i64) -> QueryResult<bool> {
    let n = diesel::update(
        si::table
            .find(token_hash)
            .filter(si::used_at.is_null())
            .filter(si::expires_at.gt(now)),
    )
    .set((si::used_at.eq(Some(now)), si::used_by.eq(Some(user_id))))
    .execute(conn)?;
    Ok(n == 1)
}

pub fn list(conn: &mut DbConn) -> QueryResult<Vec<Invite>> {
    si::table
        .order(si::created_at.desc())
        .limit(200)
        .select(Invite::as_select())
        .load(conn)
}
