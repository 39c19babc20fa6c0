//! The first-run setup token: lets whoever holds the link logged at start-up create the first
//! administrator, once.

use diesel::prelude::*;

use crate::db::models::users::{self, User};
use crate::db::schema::setup_tokens;
use crate::db::DbConn;

/// Replaces any earlier token with this one (each start with an empty user table logs a fresh
/// link; older links stop working).
pub fn replace(conn: &mut DbConn, token_hash: &str, now: i64) -> QueryResult<()> {
    conn.transaction(|c| {
        diesel::delete(setup_tokens::table).execute(c)?;
        diesel::insert_into(setup_tokens::table)
            .values((
                setup_tokens::token_hash.eq(token_hash),
                setup_tokens::created_at.eq(now),
            ))
            .execute(c)?;
        Ok(())
    })
}

pub fn is_valid(conn: &mut DbConn, token_hash: &str) -> QueryResult<bool> {
    Ok(users::count(conn)? == 0
        && setup_tokens::table
            .find(token_hash)
            .select(setup_tokens::token_hash)
            .first::<String>(conn)
            .optional()?
            .is_some())
}

#[derive(Debug, PartialEq, Eq)]
pub enum Redeem {
    Created,
    /// Unknown or used token, or users exist already.
    Invalid,
}

/// Consumes the token and creates the first administrator in one transaction.
pub fn redeem(conn: &mut DbConn, token_hash: &str, admin: &User) -> QueryResult<Redeem> {
    conn.transaction(|c| {
        let taken = diesel::delete(setup_tokens::table.find(token_hash)).execute(c)?;
        if taken != 1 || users::count(c)? != 0 {
            return Ok(Redeem::Invalid);
        }
        users::insert(c, admin)?;
        diesel::delete(setup_tokens::table).execute(c)?;
        Ok(Redeem::Created)
    })
}

pub fn clear(conn: &mut DbConn) -> QueryResult<usize> {
    diesel::delete(setup_tokens::table).execute(conn)
}
