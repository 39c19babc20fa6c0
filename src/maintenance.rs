//! Background upkeep, run by every replica: removing expired rows and, when
//! `key_rotation_interval` is set, rotating signing keys on schedule. Each step is one short
//! transaction; on PostgreSQL the rotation check holds an advisory lock so replicas that wake
//! together rotate once.

use std::sync::Arc;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::Connection;

use crate::crypto::keys;
use crate::db::janitor::{self, Sweep};
use crate::db::models::signing_keys;
use crate::db::{self, DbConn};
use crate::state::AppState;

/// How long used or expired codes are kept, so a late replay is still recognised and revokes.
const CODE_RETENTION: i64 = 24 * 3600;
/// `login_attempts` is no longer written (`audit_events` records every password check with the
/// same name, address and time); the table stays, as migrations are additive, and rows from
/// earlier releases still age out.
const LOGIN_ATTEMPT_RETENTION: i64 = 30 * 86400;

pub fn spawn(state: Arc<AppState>, every: Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let st = state.clone();
            let result = tokio::task::spawn_blocking(move || run_once(&st)).await;
            match result {
                Ok(Ok(report)) if report.any() => tracing::info!(?report, "maintenance"),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "maintenance failed"),
                Err(e) => tracing::warn!(error = %e, "maintenance task failed"),
            }
        }
    });
}

/// What one pass removed (rows per table) and whether keys were rotated.
#[derive(Debug, Default, PartialEq)]
pub struct Report {
    pub removed: Vec<(&'static str, usize)>,
    pub rotated: bool,
}

impl Report {
    fn any(&self) -> bool {
        self.removed.iter().any(|(_, n)| *n > 0) || self.rotated
    }

    pub fn total(&self) -> usize {
        self.removed.iter().map(|(_, n)| n).sum()
    }
}

/// Every leftover and the age past which it goes: (table, primary key, time column, seconds
/// after that time). Each table is swept in bounded batches (`db::janitor`).
fn sweeps(settings: &crate::config::Settings) -> Vec<(Sweep, i64)> {
    let s = |table, key, column| Sweep { table, key, column };
    vec![
        (s("sessions", "id_hash", "expires_at"), 0),
        (s("interactions", "id_hash", "expires_at"), 0),
        (s("upstream_states", "state_hash", "expires_at"), 0),
        (s("webauthn_ceremonies", "id_hash", "expires_at"), 0),
        (s("pushed_requests", "uri_hash", "expires_at"), 0),
        // Kept a while after expiry so a late poll still gets `expired_token`.
        (s("device_codes", "device_code_hash", "expires_at"), 3600),
        // Kept a day, so a late replay is still recognised and revokes what the code issued.
        (
            s("authorization_codes", "code_hash", "expires_at"),
            CODE_RETENTION,
        ),
        (s("access_token_denylist", "jti", "expires_at"), 0),
        // Refresh tokens go with their family (ON DELETE CASCADE).
        (s("refresh_families", "id", "expires_at"), 0),
        (s("account_tokens", "token_hash", "expires_at"), 0),
        (s("login_attempts", "id", "at"), LOGIN_ATTEMPT_RETENTION),
        // Failure counters older than a lockout are forgotten anyway.
        (
            s("login_throttle", "subject", "last_failure_at"),
            settings.throttle.lockout_duration,
        ),
        // Kept longer than `crypto::jwt::LEEWAY`, the skew an assertion's exp is allowed: a
        // jti forgotten sooner could be replayed while its assertion is still accepted.
        (s("client_assertion_jtis", "jti", "expires_at"), 60),
    ]
}

/// Removes what has outlived its use (the part of a pass that `ostiary gc` runs too).
pub fn sweep_all(
    conn: &mut DbConn,
    settings: &crate::config::Settings,
    now: i64,
) -> Result<Report, String> {
    let mut report = Report::default();
    for (s, age) in sweeps(settings) {
        let n = janitor::sweep(conn, &s, now - age).map_err(|e| format!("{}: {e}", s.table))?;
        report.removed.push((s.table, n));
    }
    Ok(report)
}

pub fn run_once(state: &AppState) -> Result<Report, String> {
    let mut conn = state.pool.get().map_err(|e| e.to_string())?;
    let now = db::now();
    let mut r = sweep_all(&mut conn, &state.settings, now)?;
    if let Some(interval) = state.settings.key_rotation_interval {
        r.rotated = rotate_if_due(&mut conn, state, interval, now).map_err(|e| e.to_string())?;
    }
    Ok(r)
}

/// Rotates when the newest key of the set is older than `interval`.
fn rotate_if_due(
    conn: &mut DbConn,
    state: &AppState,
    interval: i64,
    now: i64,
) -> Result<bool, keys::KeyError> {
    conn.transaction(|c| {
        match c {
            DbConn::Pg(pg) => pg.batch_execute("SELECT pg_advisory_xact_lock(7370003)")?,
            // A write first takes SQLite's write lock up front (see refresh::rotate).
            DbConn::Sqlite(lite) => {
                lite.batch_execute("UPDATE signing_keys SET kid = kid WHERE 0")?
            }
        }
        let newest = signing_keys::all(c)?
            .iter()
            .map(|k| k.created_at)
            .max()
            .unwrap_or(0);
        if now - newest < interval {
            return Ok(false);
        }
        keys::rotate(
            c,
            state.keys.kek(),
            state.settings.key_activation_delay,
            state.settings.max_token_ttl(),
        )?;
        tracing::info!("signing keys rotated on schedule");
        Ok(true)
    })
}
