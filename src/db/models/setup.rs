//! The first-run setup token: lets whoever holds the link logged at start-up create the first
//! administrator, once.

use diesel::prelude::*;

use crate::db::models::users;
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

/// Uses up the token: true when it was there (one conditional DELETE, so it works once).
pub fn consume(conn: &mut DbConn, token_hash: &str) -> QueryResult<bool> {
    Ok(diesel::delete(setup_tokens::table.find(token_hash)).execute(conn)? == 1)
}

pub fn clear(conn: &mut DbConn) -> QueryResult<usize> {
    diesel::delete(setup_tokens::table).execute(conn)
}
