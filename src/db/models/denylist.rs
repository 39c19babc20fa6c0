use diesel::prelude::*;

use crate::db::schema::access_token_denylist as deny;
use crate::db::DbConn;

/// Puts an access token's `jti` on the deny-list until the token would have expired anyway.
/// Idempotent, also when two requests race to add the same `jti`.
pub fn add(conn: &mut DbConn, jti: &str, expires_at: i64) -> QueryResult<()> {
    let _written = crate::db::writes::Written::denylist();
    // A savepoint of its own (write first, so SQLite takes the write lock at once), so a lost
    // race ends in a unique violation that does not abort the caller's transaction.
    let result = conn.transaction(|c| {
        diesel::insert_into(deny::table)
            .values((deny::jti.eq(jti), deny::expires_at.eq(expires_at)))
            .execute(c)
            .map(|_| ())
    });
    match result {
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => Ok(()),
        other => other,
    }
}

pub fn contains(conn: &mut DbConn, jti: &str) -> QueryResult<bool> {
    Ok(deny::table
        .find(jti)
        .select(deny::jti)
        .first::<String>(conn)
        .optional()?
        .is_some())
}
