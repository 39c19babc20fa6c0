//! Interactions: a pending authorization request kept server-side and referenced by an
//! unguessable id, so the login, sign-up and consent pages carry that id instead of the raw
//! query string. Each step records what it satisfied (a login: who, when, how); the
//! authorization endpoint resumes the request from the row and completes it once.

use crate::db::models::interactions::{self, InteractionRow};
use crate::db::DbConn;
use crate::random;

/// How long a person has to log in (or sign up) and consent.
pub const TTL: i64 = 1800;

/// Where the browser resumes an interaction.
pub fn resume_path(id: &str) -> String {
    format!("/authorize/resume?interaction={id}")
}

/// The interaction id in a local resume path (a login's `return_to`), if it is one.
pub fn id_in_path(path: &str) -> Option<String> {
    let query = path.strip_prefix("/authorize/resume?")?;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "interaction")
        .map(|(_, v)| v.into_owned())
        .filter(|v| {
            v.len() == 43
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// Starts an interaction for a validated authorization request; returns its id.
pub fn start(
    conn: &mut DbConn,
    client_id: &str,
    request: &str,
    now: i64,
) -> diesel::QueryResult<String> {
    let id = random::token::<32>();
    interactions::insert(
        conn,
        &InteractionRow {
            id_hash: random::sha256_hex(&id),
            client_id: client_id.to_owned(),
            request: request.to_owned(),
            created_at: now,
            expires_at: now + TTL,
            user_id: None,
            auth_time: None,
            amr: None,
            completed_at: None,
        },
    )?;
    Ok(id)
}

/// The pending interaction with this id.
pub fn find(conn: &mut DbConn, id: &str, now: i64) -> diesel::QueryResult<Option<InteractionRow>> {
    interactions::pending(conn, &random::sha256_hex(id), now)
}

/// A login happened within the interaction.
pub fn record_login(
    conn: &mut DbConn,
    id: &str,
    user_id: &str,
    auth_time: i64,
    amr: &str,
) -> diesel::QueryResult<()> {
    interactions::authenticated(conn, &random::sha256_hex(id), user_id, auth_time, amr).map(|_| ())
}

/// Completes the interaction (the client got its answer); false when it already was.
pub fn complete(conn: &mut DbConn, id: &str, now: i64) -> diesel::QueryResult<bool> {
    interactions::complete(conn, &random::sha256_hex(id), now)
}

/// Whether `user_id` logged in during this interaction: what `prompt=login` and `max_age`
/// asked for has happened, and must not be asked again on resuming.
pub fn logged_in_here(row: &InteractionRow, user_id: Option<&str>) -> bool {
    row.auth_time.is_some() && row.user_id.is_some() && row.user_id.as_deref() == user_id
}
