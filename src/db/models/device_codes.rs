//! RFC 8628 device codes (see `oauth::device`). Every state change is one conditional UPDATE,
//! so two replicas answering polls or approvals cannot both win.

use diesel::prelude::*;

use crate::db::schema::device_codes as t;
use crate::db::DbConn;

pub const PENDING: &str = "pending";
pub const APPROVED: &str = "approved";
pub const DENIED: &str = "denied";
pub const CONSUMED: &str = "consumed";

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = t)]
pub struct DeviceCodeRow {
    pub device_code_hash: String,
    /// Normalised: upper case, no dash.
    pub user_code: String,
    pub client_id: String,
    pub scope: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub poll_interval: i64,
    /// Milliseconds since the epoch (polls are compared at sub-second precision).
    pub last_polled_at: Option<i64>,
    pub status: String,
    pub user_id: Option<String>,
    pub auth_time: Option<i64>,
    pub amr: Option<String>,
    pub session_id: Option<String>,
}

pub fn insert(conn: &mut DbConn, row: &DeviceCodeRow) -> QueryResult<()> {
    diesel::insert_into(t::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn by_device_code(conn: &mut DbConn, hash: &str) -> QueryResult<Option<DeviceCodeRow>> {
    t::table
        .find(hash)
        .select(DeviceCodeRow::as_select())
        .first(conn)
        .optional()
}

/// The pending, unexpired request with this (normalised) user code.
pub fn pending_by_user_code(
    conn: &mut DbConn,
    user_code: &str,
    now: i64,
) -> QueryResult<Option<DeviceCodeRow>> {
    t::table
        .filter(t::user_code.eq(user_code))
        .filter(t::status.eq(PENDING))
        .filter(t::expires_at.gt(now))
        .select(DeviceCodeRow::as_select())
        .first(conn)
        .optional()
}

/// Records a poll at `now_ms`, and the interval that holds from now on when it changes
/// (`oauth::device::poll` decides it).
pub fn record_poll(
    conn: &mut DbConn,
    hash: &str,
    now_ms: i64,
    new_interval: Option<i64>,
) -> QueryResult<()> {
    let target = t::table.find(hash);
    match new_interval {
        Some(interval) => diesel::update(target)
            .set((
                t::last_polled_at.eq(Some(now_ms)),
                t::poll_interval.eq(interval),
            ))
            .execute(conn)?,
        None => diesel::update(target)
            .set(t::last_polled_at.eq(Some(now_ms)))
            .execute(conn)?,
    };
    Ok(())
}

/// What the user decided, for a request still pending.
pub struct Decision<'a> {
    pub user_id: &'a str,
    pub auth_time: i64,
    pub amr: Option<&'a str>,
    pub session_id: Option<&'a str>,
}

/// Pending → approved for the user, once (the request is named by its device code's hash,
/// as the approval's interaction keeps it).
pub fn approve(conn: &mut DbConn, hash: &str, d: &Decision<'_>, now: i64) -> QueryResult<bool> {
    let n = diesel::update(
        t::table
            .find(hash)
            .filter(t::status.eq(PENDING))
            .filter(t::expires_at.gt(now)),
    )
    .set((
        t::status.eq(APPROVED),
        t::user_id.eq(Some(d.user_id)),
        t::auth_time.eq(Some(d.auth_time)),
        t::amr.eq(d.amr),
        t::session_id.eq(d.session_id),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Pending → denied, once.
pub fn deny(conn: &mut DbConn, hash: &str, now: i64) -> QueryResult<bool> {
    let n = diesel::update(
        t::table
            .find(hash)
            .filter(t::status.eq(PENDING))
            .filter(t::expires_at.gt(now)),
    )
    .set(t::status.eq(DENIED))
    .execute(conn)?;
    Ok(n == 1)
}

/// Approved → consumed, once: the one poll that gets the tokens.
pub fn consume(conn: &mut DbConn, hash: &str) -> QueryResult<bool> {
    let n = diesel::update(t::table.find(hash).filter(t::status.eq(APPROVED)))
        .set(t::status.eq(CONSUMED))
        .execute(conn)?;
    Ok(n == 1)
}

/// The pending, unexpired request with this device code hash (an approval's interaction names
/// its request so).
pub fn pending_by_hash(
    conn: &mut DbConn,
    hash: &str,
    now: i64,
) -> QueryResult<Option<DeviceCodeRow>> {
    t::table
        .find(hash)
        .filter(t::status.eq(PENDING))
        .filter(t::expires_at.gt(now))
        .select(DeviceCodeRow::as_select())
        .first(conn)
        .optional()
}
