//! The outbox sender: the background worker every replica runs, delivering the rows that
//! `outbox` (mail) and `db::models::backchannel` (logout tokens) queued in the transactions of
//! the changes that caused them. It sits above `state` (it takes the whole `AppState`).
//!
//! - A request never waits for the mail server: it commits its row and answers. A crash after
//!   the commit loses nothing; the row is still there for the next sender.
//! - A sender owns a row only once its conditional UPDATE (`models::outbox::claim`) took it:
//!   replicas never deliver the same row while a claim lasts, and a crashed sender's claim runs
//!   out after `CLAIM_LEASE` seconds. Delivery is therefore at least once: a sender that dies
//!   between the server's "250 OK" and recording it sends that message again (with the same
//!   Message-ID).
//! - Failures are retried with exponential backoff (`outbox_interval` doubling, at most an hour
//!   apart) up to `MAX_ATTEMPTS`; a permanent refusal (5xx) ends at once. The last error is kept;
//!   it is the SMTP server's reply or the network error, never credentials.
//! - The payload (which may hold a single-use link) is emptied once delivered or given up, and
//!   finished rows are deleted after `KEEP_FINISHED`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::QueryResult;

use crate::db::models::backchannel::Notice;
use crate::db::models::outbox as rows;
use crate::db::{self, DbConn};
use crate::mail::{Mail, Mailer, SendError, SMTP_TIMEOUT};
use crate::outbox::{BACKCHANNEL, MAIL};
use crate::random;
use crate::state::AppState;

/// Attempts before a message is given up (about three and a half hours at the default interval).
pub const MAX_ATTEMPTS: i64 = 12;
/// Longest wait between two attempts.
const BACKOFF_CAP: i64 = 3600;
/// Seconds a claim lasts: well beyond one SMTP conversation.
const CLAIM_LEASE: i64 = 4 * SMTP_TIMEOUT.as_secs() as i64;
/// Rows claimed per database round.
const BATCH: i64 = 20;
/// How long delivered or given-up rows stay for operators.
const KEEP_FINISHED: i64 = 7 * 86400;

/// Seconds before attempt `attempts + 1`, after `attempts` failed ones.
pub fn backoff(attempts: i64, base: u64) -> i64 {
    let base = i64::try_from(base).unwrap_or(BACKOFF_CAP).max(1);
    let doublings = (attempts - 1).clamp(0, 20) as u32;
    base.saturating_mul(1i64 << doublings).min(BACKOFF_CAP)
}

/// Starts the sender (mail only when SMTP is configured; logout tokens always).
pub fn spawn(state: Arc<AppState>) {
    let mailer = if state.settings.mail_enabled() {
        match Mailer::new(&state.settings) {
            Ok(m) => Some(m),
            Err(e) => {
                tracing::error!(error = %e, "mail sender not started");
                None
            }
        }
    } else {
        None
    };
    let every = Duration::from_secs(state.settings.mail.outbox_interval);
    tokio::spawn(async move {
        let mut pruned = Instant::now() - Duration::from_secs(3600);
        loop {
            match deliver_due(&state, mailer.as_ref()).await {
                Ok(r) if r.any() => tracing::info!(?r, "outbox"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "outbox pass failed"),
            }
            if pruned.elapsed() >= Duration::from_secs(3600) {
                pruned = Instant::now();
                let st = state.clone();
                match tokio::task::spawn_blocking(move || prune(&st)).await {
                    Ok(Ok(n)) if n > 0 => tracing::info!(removed = n, "outbox pruned"),
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => tracing::warn!(error = %e, "outbox prune failed"),
                    Err(e) => tracing::warn!(error = %e, "outbox prune task failed"),
                }
            }
            tokio::select! {
                _ = state.outbox.notified() => {}
                _ = tokio::time::sleep(every) => {}
            }
        }
    });
}

/// What one pass did.
#[derive(Debug, Default)]
pub struct Report {
    pub sent: usize,
    pub retrying: usize,
    pub failed: usize,
}

impl Report {
    fn any(&self) -> bool {
        self.sent + self.retrying + self.failed > 0
    }
}

async fn blocking<T: Send + 'static>(
    state: &Arc<AppState>,
    f: impl FnOnce(&mut DbConn) -> QueryResult<T> + Send + 'static,
) -> Result<T, String> {
    let st = state.clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = st.pool.get().map_err(|e| format!("database pool: {e}"))?;
        f(&mut conn).map_err(|e| format!("database: {e}"))
    })
    .await
    .map_err(|e| format!("outbox task: {e}"))?
}

/// Delivers every row that is due, claiming each first; returns when none is left.
pub async fn deliver_due(state: &Arc<AppState>, mailer: Option<&Mailer>) -> Result<Report, String> {
    let mut report = Report::default();
    let claim_id = random::token::<16>();
    let base = state.settings.mail.outbox_interval;
    loop {
        let ids = blocking(state, |c| rows::due(c, db::now(), BATCH)).await?;
        if ids.is_empty() {
            return Ok(report);
        }
        let mut claimed_any = false;
        for id in ids {
            let cid = claim_id.clone();
            let Some(row) = blocking(state, move |c| {
                rows::claim(c, &id, &cid, db::now(), CLAIM_LEASE)
            })
            .await?
            else {
                // Another replica took it.
                continue;
            };
            claimed_any = true;
            let unreadable =
                |e: serde_json::Error| SendError::Permanent(format!("unreadable payload: {e}"));
            let outcome = match row.kind.as_str() {
                MAIL => match (serde_json::from_str::<Mail>(&row.payload), mailer) {
                    (Ok(mail), Some(m)) => m.send(&row.id, &mail).await,
                    (Ok(_), None) => Err(SendError::Transient("mail is not configured".into())),
                    (Err(e), _) => Err(unreadable(e)),
                },
                BACKCHANNEL => match serde_json::from_str::<Notice>(&row.payload) {
                    Ok(n) => crate::backchannel::deliver(state, &n).await,
                    Err(e) => Err(unreadable(e)),
                },
                other => Err(SendError::Permanent(format!("unknown kind {other:?}"))),
            };
            let cid = claim_id.clone();
            let attempts = row.attempts;
            let id = row.id.clone();
            match outcome {
                Ok(()) => {
                    blocking(state, move |c| rows::mark_sent(c, &id, &cid, db::now())).await?;
                    report.sent += 1;
                }
                Err(SendError::Transient(e)) if attempts < MAX_ATTEMPTS => {
                    let wait = backoff(attempts, base);
                    tracing::warn!(outbox_id = %row.id, kind = %row.kind, attempts, retry_in = wait, error = %e, "not delivered; will retry");
                    blocking(state, move |c| {
                        rows::mark_retry(c, &id, &cid, db::now() + wait, &e)
                    })
                    .await?;
                    report.retrying += 1;
                }
                Err(SendError::Transient(e) | SendError::Permanent(e)) => {
                    tracing::error!(outbox_id = %row.id, kind = %row.kind, attempts, error = %e, "delivery given up");
                    blocking(state, move |c| {
                        rows::mark_failed(c, &id, &cid, db::now(), &e)
                    })
                    .await?;
                    report.failed += 1;
                }
            }
        }
        if !claimed_any {
            // Everything due is someone else's now.
            return Ok(report);
        }
    }
}

/// Removes rows finished more than `KEEP_FINISHED` ago and account tokens long expired.
pub fn prune(state: &AppState) -> Result<usize, String> {
    let mut conn = state.pool.get().map_err(|e| e.to_string())?;
    let now = db::now();
    let a =
        rows::delete_finished_before(&mut conn, now - KEEP_FINISHED).map_err(|e| e.to_string())?;
    let b = crate::db::models::account_tokens::delete_expired(&mut conn, now - KEEP_FINISHED)
        .map_err(|e| e.to_string())?;
    Ok(a + b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_interval_up_to_an_hour() {
        assert_eq!(backoff(1, 5), 5);
        assert_eq!(backoff(2, 5), 10);
        assert_eq!(backoff(3, 5), 20);
        assert_eq!(backoff(11, 5), 3600);
        assert_eq!(backoff(50, 5), 3600);
        assert_eq!(backoff(0, 1), 1);
    }
}
