use diesel::prelude::*;

use crate::db::schema::login_attempts;
use crate::db::DbConn;

pub fn record(
    conn: &mut DbConn,
    username: &str,
    ip: Option<&str>,
    succeeded: bool,
    at: i64,
) -> QueryResult<()> {
    diesel::insert_into(login_attempts::table)
        .values((
            login_attempts::username.eq(username),
            login_attempts::ip.eq(ip),
            login_attempts::succeeded.eq(succeeded),
            login_attempts::at.eq(at),
        ))
        .execute(conn)
        .map(|_| ())
}

/// Failed attempts for `username` since `since`.
pub fn failures_since(conn: &mut DbConn, username: &str, since: i64) -> QueryResult<i64> {
    login_attempts::table
        .filter(login_attempts::username.eq(username))
        .filter(login_attempts::succeeded.eq(false))
        .filter(login_attempts::at.ge(since))
        .count()
        .get_result(conn)
}
