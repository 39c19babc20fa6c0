//! Settings an administrator changes at run time, shared by every replica.

use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error};

use crate::db::schema::server_settings as ss;
use crate::db::DbConn;

pub const REGISTRATION_POLICY: &str = "registration_policy";

pub fn get(conn: &mut DbConn, name: &str) -> QueryResult<Option<String>> {
    ss::table
        .find(name)
        .select(ss::value)
        .first(conn)
        .optional()
}

pub fn set(conn: &mut DbConn, name: &str, value: &str, now: i64) -> QueryResult<()> {
    let n = diesel::update(ss::table.find(name))
        .set((ss::value.eq(value), ss::updated_at.eq(now)))
        .execute(conn)?;
    if n == 0 {
        let inserted = diesel::insert_into(ss::table)
            .values((
                ss::name.eq(name),
                ss::value.eq(value),
                ss::updated_at.eq(now),
            ))
            .execute(conn);
        match inserted {
            Ok(_) => {}
            // Another replica inserted it meanwhile: ours is the later word.
            Err(Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
                diesel::update(ss::table.find(name))
                    .set((ss::value.eq(value), ss::updated_at.eq(now)))
                    .execute(conn)?;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
