//! RFC 9126 pushed authorization requests (see `oauth::par`).

use diesel::prelude::*;

use crate::db::schema::pushed_requests as t;
use crate::db::DbConn;

pub fn insert(
    conn: &mut DbConn,
    uri_hash: &str,
    client_id: &str,
    request: &str,
    expires_at: i64,
) -> QueryResult<()> {
    diesel::insert_into(t::table)
        .values((
            t::uri_hash.eq(uri_hash),
            t::client_id.eq(client_id),
            t::request.eq(request),
            t::expires_at.eq(expires_at),
        ))
        .execute(conn)
        .map(|_| ())
}

/// Takes the request out for `client_id`: once, before it expires. One conditional UPDATE, so
/// two replicas cannot both use it.
pub fn take(
    conn: &mut DbConn,
    uri_hash: &str,
    client_id: &str,
    now: i64,
) -> QueryResult<Option<String>> {
    let n = diesel::update(
        t::table
            .find(uri_hash)
            .filter(t::client_id.eq(client_id))
            .filter(t::used_at.is_null())
            .filter(t::expires_at.gt(now)),
    )
    .set(t::used_at.eq(Some(now)))
    .execute(conn)?;
    if n != 1 {
        return Ok(None);
    }
    t::table
        .find(uri_hash)
        .select(t::request)
        .first(conn)
        .optional()
}
