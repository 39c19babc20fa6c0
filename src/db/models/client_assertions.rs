//! Spent client-assertion `jti`s (RFC 7523 §3 item 7), per client, until their assertion expires.

use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error};

use crate::db::schema::client_assertion_jtis as t;
use crate::db::DbConn;

/// Records the jti; false when this client used it already (the primary key says so, even for
/// two replicas racing).
pub fn spend(conn: &mut DbConn, client_id: &str, jti: &str, expires_at: i64) -> QueryResult<bool> {
    let inserted = diesel::insert_into(t::table)
        .values((
            t::client_id.eq(client_id),
            t::jti.eq(jti),
            t::expires_at.eq(expires_at),
        ))
        .execute(conn);
    match inserted {
        Ok(_) => Ok(true),
        Err(Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => Ok(false),
        Err(e) => Err(e),
    }
}
