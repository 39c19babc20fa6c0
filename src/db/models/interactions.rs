//! Pending authorization requests (see `authn::interaction`).

use diesel::prelude::*;

use crate::db::schema::interactions as ix;
use crate::db::DbConn;

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = ix)]
pub struct InteractionRow {
    pub id_hash: String,
    pub client_id: String,
    pub request: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub user_id: Option<String>,
    pub auth_time: Option<i64>,
    pub amr: Option<String>,
    pub completed_at: Option<i64>,
    /// SHA-256 of the binding cookie of the browser that started the interaction.
    pub browser_hash: String,
    /// What the interaction is for: `authn::interaction::Kind`'s stored name.
    pub kind: String,
    /// For a device approval: the device request's key (`device_codes.device_code_hash`).
    pub device_code_hash: Option<String>,
}

pub fn insert(conn: &mut DbConn, row: &InteractionRow) -> QueryResult<()> {
    crate::execute_prepared!(
        conn,
        diesel::insert_into(ix::table).values(row),
        ix::id_hash,
        String
    )
    .map(|_| ())
}

/// The interaction if it is still pending (not expired, not completed).
pub fn pending(conn: &mut DbConn, id_hash: &str, now: i64) -> QueryResult<Option<InteractionRow>> {
    ix::table
        .find(id_hash)
        .filter(ix::expires_at.gt(now))
        .filter(ix::completed_at.is_null())
        .select(InteractionRow::as_select())
        .first(conn)
        .optional()
}

/// Records a login within the interaction, made in the browser that started it; never replaces
/// another user's login on it.
pub fn authenticated(
    conn: &mut DbConn,
    id_hash: &str,
    browser_hash: &str,
    user_id: &str,
    auth_time: i64,
    amr: &str,
) -> QueryResult<usize> {
    crate::execute_prepared!(
        conn,
        diesel::update(
            ix::table
                .find(id_hash)
                .filter(ix::browser_hash.eq(browser_hash))
                .filter(ix::completed_at.is_null())
                .filter(ix::user_id.is_null().or(ix::user_id.eq(user_id))),
        )
        .set((
            ix::user_id.eq(Some(user_id)),
            ix::auth_time.eq(Some(auth_time)),
            ix::amr.eq(Some(amr)),
        )),
        ix::id_hash,
        String
    )
}

/// Marks the interaction done: one conditional UPDATE, so it completes once, and only from the
/// browser that started it.
pub fn complete(
    conn: &mut DbConn,
    id_hash: &str,
    browser_hash: &str,
    now: i64,
) -> QueryResult<bool> {
    let n = crate::execute_prepared!(
        conn,
        diesel::update(
            ix::table
                .find(id_hash)
                .filter(ix::browser_hash.eq(browser_hash))
                .filter(ix::completed_at.is_null()),
        )
        .set(ix::completed_at.eq(Some(now))),
        ix::id_hash,
        String
    )?;
    Ok(n == 1)
}
