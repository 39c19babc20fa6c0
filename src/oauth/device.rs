//! The device authorization grant (RFC 8628): a device without a browser gets a device code
//! (kept secret, polled with) and a user code (typed by a person at `/device` on another
//! device, who signs in there and approves); one poll after the approval gets the tokens.

use diesel::result::{DatabaseErrorKind, Error as DbError};

use super::errors::{ErrorCode, ProtocolError};
use crate::db::models::clients::Client;
use crate::db::models::device_codes::{self, DeviceCodeRow};
use crate::db::DbConn;
use crate::random;

/// RFC 8628 §6.1: 20 consonants — no vowels (no words), no 0/O/1/I — typed case-insensitively.
pub const ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
/// Eight characters: 20^8 ≈ 2^34.6 codes, guessed against a rate limit and a 10-minute life.
const USER_CODE_LEN: usize = 8;
/// Timers are not exact: a poll this much early is not "too fast".
const POLL_SLACK_MS: i64 = 250;

/// The device authorization response (RFC 8628 §3.2).
#[derive(Debug, serde::Serialize)]
pub struct DeviceAuthorization {
    pub device_code: String,
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: String,
    pub expires_in: i64,
    pub interval: i64,
}

fn new_user_code() -> String {
    let raw = random::bytes::<USER_CODE_LEN>();
    raw.iter()
        .map(|b| ALPHABET[(*b as usize) % ALPHABET.len()] as char)
        .collect()
}

/// `ABCD-EFGH`, as shown and typed.
pub fn display(user_code: &str) -> String {
    match user_code.len() {
        USER_CODE_LEN => format!("{}-{}", &user_code[..4], &user_code[4..]),
        _ => user_code.to_owned(),
    }
}

/// The stored form of a typed user code: upper case, without dashes and spaces; `None` when it
/// cannot be one.
pub fn normalize(typed: &str) -> Option<String> {
    let s: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (s.len() == USER_CODE_LEN && s.bytes().all(|b| ALPHABET.contains(&b))).then_some(s)
}

/// Starts a device authorization for `client` and `scope` (already checked against the client).
pub fn start(
    conn: &mut DbConn,
    client: &Client,
    scope: &str,
    issuer: &str,
    ttl: i64,
    interval: i64,
    now: i64,
) -> Result<DeviceAuthorization, ProtocolError> {
    let device_code = random::token::<32>();
    // A user code still in the table (pending or recently ended) is never handed out twice:
    // the unique index says so, and another is drawn.
    for _ in 0..5 {
        let user_code = new_user_code();
        let row = DeviceCodeRow {
            device_code_hash: random::sha256_hex(&device_code),
            user_code: user_code.clone(),
            client_id: client.row.client_id.clone(),
            scope: scope.to_owned(),
            created_at: now,
            expires_at: now + ttl,
            poll_interval: interval,
            last_polled_at: None,
            status: device_codes::PENDING.to_owned(),
            user_id: None,
            auth_time: None,
            amr: None,
            session_id: None,
        };
        match device_codes::insert(conn, &row) {
            Ok(()) => {
                let shown = display(&user_code);
                let verification_uri = format!("{issuer}/device");
                return Ok(DeviceAuthorization {
                    device_code,
                    verification_uri_complete: format!("{verification_uri}?user_code={shown}"),
                    verification_uri,
                    user_code: shown,
                    expires_in: ttl,
                    interval,
                });
            }
            Err(DbError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => continue,
            Err(e) => return Err(ProtocolError::server_error(e)),
        }
    }
    Err(ProtocolError::server_error("no free user code"))
}

/// The user allowed the request: the device code is approved for them, and the client gets
/// their consent for its scopes (it shows on their account page like any app's), together.
pub fn approve(
    conn: &mut DbConn,
    device_code_hash: &str,
    client_id: &str,
    scope: &str,
    decision: &device_codes::Decision<'_>,
    now: i64,
) -> diesel::QueryResult<bool> {
    use diesel::Connection;
    conn.transaction(|conn| {
        if !device_codes::approve(conn, device_code_hash, decision, now)? {
            return Ok(false);
        }
        let scopes: Vec<&str> = scope.split_ascii_whitespace().collect();
        crate::db::models::consents::grant(conn, decision.user_id, client_id, &scopes, now)?;
        Ok(true)
    })
}

/// What an approved device code grants.
pub struct Approved {
    pub user_id: String,
    pub scope: String,
    pub auth_time: i64,
    pub amr: Option<String>,
    pub session_id: Option<String>,
}

/// Whether a poll `gap_ms` after the previous one came too soon for `interval` (seconds), and
/// if so the interval from now on. RFC 8628 §3.5: on `slow_down` the client adds 5 s to the
/// interval it polls at, so the interval becomes 5 s more than the gap this poll came after
/// (to the nearest second, at least one), never more than 5 s above the interval in force,
/// never lower.
/// Raising the interval in force by 5 s on every early poll instead keeps a client that missed
/// a `slow_down` (a lost response, polls before it started) one step behind forever: each
/// early poll it makes raises the bar by as much as it then adds. This way a client that polls
/// at the interval it was last told and adds 5 s per `slow_down` it sees is in step at its next
/// poll after a `slow_down`, whatever it missed.
pub fn slow_down(interval: i64, gap_ms: i64) -> Option<i64> {
    if gap_ms >= interval * 1000 - POLL_SLACK_MS {
        return None;
    }
    // The interval the client polls at: whole seconds (plus latency), at least one.
    let used = ((gap_ms + 500) / 1000).max(1);
    Some(interval.max((interval + 5).min(used + 5)))
}

fn error(code: ErrorCode, description: &str) -> ProtocolError {
    ProtocolError::new(code, description)
}

/// A poll by `client` with `device_code` (RFC 8628 §3.4, §3.5).
pub fn poll(
    conn: &mut DbConn,
    client: &Client,
    device_code: &str,
    now: i64,
    now_ms: i64,
) -> Result<Approved, ProtocolError> {
    let hash = random::sha256_hex(device_code);
    let row = device_codes::by_device_code(conn, &hash)
        .map_err(ProtocolError::server_error)?
        .filter(|r| r.client_id == client.row.client_id)
        .ok_or_else(|| ProtocolError::invalid_grant("the device code is invalid"))?;
    if row.status == device_codes::CONSUMED {
        return Err(ProtocolError::invalid_grant(
            "the device code was used already",
        ));
    }
    if row.expires_at <= now {
        return Err(error(
            ErrorCode::ExpiredToken,
            "the device code expired; start again",
        ));
    }
    if row.status == device_codes::DENIED {
        return Err(error(
            ErrorCode::AccessDenied,
            "the user denied the request",
        ));
    }
    let slowed = row
        .last_polled_at
        .and_then(|previous| slow_down(row.poll_interval, now_ms - previous));
    device_codes::record_poll(conn, &hash, now_ms, slowed).map_err(ProtocolError::server_error)?;
    if slowed.is_some() {
        return Err(error(
            ErrorCode::SlowDown,
            "polling too fast: wait 5 seconds longer between requests",
        ));
    }
    if row.status == device_codes::PENDING {
        return Err(error(
            ErrorCode::AuthorizationPending,
            "the user has not finished yet",
        ));
    }
    if !device_codes::consume(conn, &hash).map_err(ProtocolError::server_error)? {
        return Err(ProtocolError::invalid_grant(
            "the device code was used already",
        ));
    }
    let user_id = row
        .user_id
        .ok_or_else(|| ProtocolError::server_error("approved without a user"))?;
    Ok(Approved {
        user_id,
        scope: row.scope,
        auth_time: row.auth_time.unwrap_or(now),
        amr: row.amr,
        session_id: row.session_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// openid-client's `pollDeviceAuthorizationGrant`: waits its interval, adds 5 s per
    /// `slow_down` it sees. After `missed` early polls it never saw, it is in step within one
    /// `slow_down`.
    #[test]
    fn a_client_that_missed_slow_downs_converges() {
        for initial in [1, 5] {
            for missed in 0..4 {
                let mut server = initial;
                for _ in 0..missed {
                    server = slow_down(server, 10).unwrap_or(server);
                }
                let mut client = initial;
                let mut slowed = 0;
                while let Some(next) = slow_down(server, client * 1000) {
                    server = next;
                    client += 5;
                    slowed += 1;
                    assert!(
                        slowed <= 1,
                        "initial {initial}, missed {missed}: no convergence"
                    );
                }
            }
        }
    }

    #[test]
    fn slow_down_raises_the_interval_by_five_seconds_over_the_clients() {
        // Too fast: 5 s over the gap the client used, at most 5 s over the interval in force.
        assert_eq!(slow_down(1, 10), Some(6));
        assert_eq!(slow_down(5, 4_000), Some(9));
        assert_eq!(slow_down(5, 0), Some(6));
        assert_eq!(slow_down(10, 9_000), Some(14));
        // Never lower than the interval in force.
        assert_eq!(slow_down(20, 100), Some(20));
        // In time (with a little slack for timers): nothing changes.
        assert_eq!(slow_down(5, 5_000), None);
        assert_eq!(slow_down(5, 4_800), None);
    }

    #[test]
    fn user_codes_are_unambiguous_and_typed_loosely() {
        for _ in 0..100 {
            let c = new_user_code();
            assert_eq!(c.len(), 8);
            assert!(!c.contains(['0', 'O', '1', 'I', 'A', 'E', 'U']));
            assert_eq!(normalize(&display(&c).to_lowercase()), Some(c.clone()));
        }
        assert_eq!(normalize("bcdf ghjk"), Some("BCDFGHJK".into()));
        assert_eq!(normalize("BCDF-GHJ0"), None);
        assert_eq!(normalize("BCDF-GHJ"), None);
    }
}
