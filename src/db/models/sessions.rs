use diesel::prelude::*;

use crate::db::schema::sessions;
use crate::db::DbConn;

/// A browser session. The cookie holds a random id; only its SHA-256 is stored.
#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = sessions)]
pub struct SessionRow {
    pub id_hash: String,
    /// `None` until the browser has logged in (the row then only anchors the CSRF token).
    pub user_id: Option<String>,
    pub csrf_token: String,
    pub auth_time: Option<i64>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    /// How the user authenticated (RFC 8176 values, space-separated), decided by the login.
    pub amr: Option<String>,
    /// The sign-in lineage this session continues (see the migration); `None`: its own id.
    pub lineage: Option<String>,
}

impl SessionRow {
    /// What codes, refresh families and `sid` name: the lineage, stable across re-logins.
    pub fn lineage(&self) -> &str {
        self.lineage.as_deref().unwrap_or(&self.id_hash)
    }
}

pub fn insert(conn: &mut DbConn, row: &SessionRow) -> QueryResult<()> {
    crate::execute_prepared!(
        conn,
        diesel::insert_into(sessions::table).values(row),
        sessions::id_hash,
        String
    )
    .map(|_| ())
}

/// The live session with this id hash, if any.
pub fn live(conn: &mut DbConn, id_hash: &str, now: i64) -> QueryResult<Option<SessionRow>> {
    sessions::table
        .find(id_hash)
        .filter(sessions::expires_at.gt(now))
        .select(SessionRow::as_select())
        .first(conn)
        .optional()
}

/// The lineage a new login of `user_id` in this browser continues: the replaced session's, when
/// it was the same person's (`None` otherwise, and the old session then ends like a logout).
pub fn continue_lineage(
    conn: &mut DbConn,
    old: &str,
    user_id: &str,
) -> QueryResult<Option<String>> {
    let row = sessions::table
        .find(old)
        .select(SessionRow::as_select())
        .first(conn)
        .optional()?;
    let Some(row) = row else { return Ok(None) };
    if row.user_id.as_deref() == Some(user_id) {
        diesel::delete(sessions::table.find(old)).execute(conn)?;
        return Ok(Some(row.lineage().to_owned()));
    }
    end(conn, old)?;
    Ok(None)
}

/// Ends these sessions: clients holding their tokens are told (back-channel logout, through
/// the outbox) and those refresh tokens revoked, in the same transaction as the delete.
fn end_all(conn: &mut DbConn, ids: Vec<String>) -> QueryResult<usize> {
    if ids.is_empty() {
        return Ok(0);
    }
    conn.transaction(|c| {
        let rows: Vec<SessionRow> = sessions::table
            .filter(sessions::id_hash.eq_any(&ids))
            .select(SessionRow::as_select())
            .load(c)?;
        let lineages: Vec<String> = rows.iter().map(|r| r.lineage().to_owned()).collect();
        crate::db::models::backchannel::sessions_ending(c, &lineages, crate::db::now())?;
        diesel::delete(sessions::table.filter(sessions::id_hash.eq_any(&ids))).execute(c)
    })
}

/// Ends one session (a logout).
pub fn end(conn: &mut DbConn, id_hash: &str) -> QueryResult<usize> {
    end_all(conn, vec![id_hash.to_owned()])
}

pub fn delete_for_user(conn: &mut DbConn, user_id: &str) -> QueryResult<usize> {
    delete_for_user_except(conn, user_id, None)
}

/// Ends a user's sessions, all of them or all but `keep`.
pub fn delete_for_user_except(
    conn: &mut DbConn,
    user_id: &str,
    keep: Option<&str>,
) -> QueryResult<usize> {
    let ids: Vec<String> = sessions::table
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::id_hash.ne(keep.unwrap_or("")))
        .select(sessions::id_hash)
        .load(conn)?;
    end_all(conn, ids)
}

/// Marks the session as freshly authenticated by its password re-entered: the latest
/// authentication is a password, so the methods say only that (an id_token must not claim a
/// second factor at a time when only the password was checked).
pub fn touch_auth(conn: &mut DbConn, id_hash: &str, now: i64) -> QueryResult<usize> {
    diesel::update(sessions::table.find(id_hash))
        .set((
            sessions::auth_time.eq(Some(now)),
            sessions::amr.eq(Some("pwd")),
        ))
        .execute(conn)
}

/// Records the methods the session's login now has (after a step-up).
pub fn set_amr(conn: &mut DbConn, id_hash: &str, amr: &str) -> QueryResult<usize> {
    diesel::update(sessions::table.find(id_hash))
        .set(sessions::amr.eq(Some(amr)))
        .execute(conn)
}

/// How stale `last_seen_at` may get before a request refreshes it: at most one write per
/// session per interval, never one per request.
pub const SEEN_INTERVAL_SECONDS: i64 = 300;

/// Records that the session was used now, unless that was already recorded less than
/// `SEEN_INTERVAL_SECONDS` ago. One conditional UPDATE: concurrent requests of the same session
/// write at most once per interval, and a fresh row costs no write at all.
pub fn touch_seen(conn: &mut DbConn, id_hash: &str, now: i64) -> QueryResult<usize> {
    diesel::update(
        sessions::table
            .find(id_hash)
            .filter(sessions::last_seen_at.lt(now - SEEN_INTERVAL_SECONDS)),
    )
    .set(sessions::last_seen_at.eq(now))
    .execute(conn)
}

/// A user's live sessions, most recently used first.
pub fn for_user(conn: &mut DbConn, user_id: &str, now: i64) -> QueryResult<Vec<SessionRow>> {
    sessions::table
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::expires_at.gt(now))
        .order((sessions::last_seen_at.desc(), sessions::created_at.desc()))
        .select(SessionRow::as_select())
        .load(conn)
}

/// Ends one session, only if it belongs to `user_id` (a user or an admin acting for one never
/// ends somebody else's session by naming it).
pub fn delete_of_user(conn: &mut DbConn, user_id: &str, id_hash: &str) -> QueryResult<usize> {
    let ids: Vec<String> = sessions::table
        .find(id_hash)
        .filter(sessions::user_id.eq(user_id))
        .select(sessions::id_hash)
        .load(conn)?;
    end_all(conn, ids)
}
