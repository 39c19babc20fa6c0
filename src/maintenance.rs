//! Background upkeep, run by every replica: removing expired rows and, when
//! `key_rotation_interval` is set, rotating signing keys on schedule. Each step is one short
//! transaction; on PostgreSQL the rotation check holds an advisory lock so replicas that wake
//! together rotate once.

use std::sync::Arc;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::Connection;

use crate::crypto::keys;
use crate::db::models::{
    codes, denylist, login_attempts, login_throttle, refresh, sessions, signing_keys,
};
use crate::db::{self, DbConn};
use crate::state::AppState;

/// How long used or expired codes are kept, so a late replay is still recognised and revokes.
const CODE_RETENTION: i64 = 24 * 3600;
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

#[derive(Debug, Default)]
pub struct Report {
    pub sessions: usize,
    pub codes: usize,
    pub denylist: usize,
    pub families: usize,
    pub login_attempts: usize,
    pub rotated: bool,
}

impl Report {
    fn any(&self) -> bool {
        self.sessions + self.codes + self.denylist + self.families + self.login_attempts > 0
            || self.rotated
    }
}

pub fn run_once(state: &AppState) -> Result<Report, String> {
    let mut conn = state.pool.get().map_err(|e| e.to_string())?;
    let now = db::now();
    let mut r = Report {
        sessions: sessions::delete_expired(&mut conn, now).map_err(|e| e.to_string())?
            + crate::db::models::interactions::delete_expired(&mut conn, now)
                .map_err(|e| e.to_string())?
            + crate::db::models::factors::delete_expired_ceremonies(&mut conn, now)
                .map_err(|e| e.to_string())?
            + crate::db::models::pushed_requests::delete_expired(&mut conn, now)
                .map_err(|e| e.to_string())?
            + crate::db::models::device_codes::delete_expired(&mut conn, now)
                .map_err(|e| e.to_string())?
            + crate::db::models::client_assertions::delete_expired(&mut conn, now)
                .map_err(|e| e.to_string())?,
        codes: codes::delete_expired(&mut conn, now - CODE_RETENTION).map_err(|e| e.to_string())?,
        denylist: denylist::delete_expired(&mut conn, now).map_err(|e| e.to_string())?,
        families: refresh::delete_expired(&mut conn, now).map_err(|e| e.to_string())?,
        login_attempts: login_attempts::delete_before(&mut conn, now - LOGIN_ATTEMPT_RETENTION)
            .map_err(|e| e.to_string())?
            // Failure counters older than a lockout are forgotten anyway.
            + login_throttle::delete_before(&mut conn, now - state.settings.throttle.lockout_duration)
                .map_err(|e| e.to_string())?,
        rotated: false,
    };
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
