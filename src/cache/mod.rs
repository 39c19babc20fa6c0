//! In-process copies of what nearly every protocol request reads and what rarely changes:
//! clients, users' status (name, disabled), the access-token deny-list, and access tokens whose
//! signature was already checked. With them the token endpoint (client_credentials) and
//! introspection answer from memory, on the async workers, without a database round trip.
//!
//! Freshness, across replicas: triggers bump a counter in `cache_generations` in the
//! transaction that changes a cached table, whichever process made the change (another replica,
//! the CLI, `ostiary apply`). Each process reads those counters every `cache_sync_ms`
//! (`sync::run`) and drops what changed; the caches are used only while the last successful
//! read *started* less than `2 × cache_sync_ms` ago. So a change committed anywhere is seen
//! everywhere within [`Caches::bound`]; when the database cannot be read, requests stop trusting
//! the caches and go to the database (and get its 503) instead of serving stale data.
//!
//! Within one process, changes take effect at once: the client store (`clients::write`, after
//! its transaction) and the model functions that write users and the deny-list
//! (`db::writes::Written`) bump a process-wide counter, which empties the matching cache before
//! its next use.

pub mod denylist;
pub mod sync;
pub mod table;
pub mod verified;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::db::models::clients::Client;
use crate::db::writes::{CLIENT_WRITES, DENY_WRITES, USER_WRITES};

pub use table::Table;

const NEEDS_DATABASE: &str = "no database connection on the inline path";

/// The error a read fails with on the inline path (no connection) when the caches do not hold
/// the answer: the request then runs again on the blocking pool.
pub fn needs_database() -> diesel::result::Error {
    diesel::result::Error::DatabaseError(
        diesel::result::DatabaseErrorKind::UnableToSendCommand,
        Box::new(NEEDS_DATABASE.to_owned()),
    )
}

pub fn is_needs_database(e: &diesel::result::Error) -> bool {
    matches!(e, diesel::result::Error::DatabaseError(_, info) if info.message() == NEEDS_DATABASE)
}

/// What introspection needs of a user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserStatus {
    pub username: String,
    pub disabled: bool,
}

pub struct Caches {
    /// `None`: caching is off (`cache_sync_ms = 0`).
    every: Option<Duration>,
    base: Instant,
    /// When the last successful check began, in ms after `base`, plus one (0: never).
    synced_at: AtomicU64,
    pub clients: Table<Arc<Client>>,
    /// `None` values remember ids that are no user (a client_credentials token's subject).
    pub users: Table<Option<UserStatus>>,
    pub denied: denylist::DenyView,
    pub tokens: verified::Verified,
}

impl Caches {
    pub fn new(sync_ms: u64) -> Self {
        Caches {
            every: (sync_ms > 0).then(|| Duration::from_millis(sync_ms)),
            base: Instant::now(),
            synced_at: AtomicU64::new(0),
            clients: Table::new(&CLIENT_WRITES, 10_000),
            users: Table::new(&USER_WRITES, 50_000),
            denied: denylist::DenyView::new(&DENY_WRITES),
            tokens: verified::Verified::new(20_000),
        }
    }

    /// How often `sync::run` checks the generations.
    pub fn every(&self) -> Option<Duration> {
        self.every
    }

    /// The longest a change made by another process can go unseen here.
    pub fn bound(&self) -> Option<Duration> {
        self.every.map(|d| d * 2)
    }

    /// Whether the caches may be used now.
    pub fn fresh(&self) -> bool {
        let Some(bound) = self.bound() else {
            return false;
        };
        let at = self.synced_at.load(Ordering::Acquire);
        if at == 0 {
            return false;
        }
        let age_ms = (self.base.elapsed().as_millis() as u64).saturating_sub(at - 1);
        age_ms < bound.as_millis() as u64
    }

    /// Records a successful check that began at `started`.
    fn synced(&self, started: Instant) {
        let ms = started.saturating_duration_since(self.base).as_millis() as u64;
        self.synced_at.store(ms + 1, Ordering::Release);
    }

    /// The client, when cached and fresh.
    pub fn client(&self, client_id: &str) -> Option<Arc<Client>> {
        if !self.fresh() {
            return None;
        }
        self.clients.get(client_id)
    }

    /// The client, enabled or not: from the cache when it holds it (it holds enabled clients
    /// only), else from the database (and kept, when enabled).
    pub fn load_client(
        &self,
        conn: &mut crate::db::DbConn,
        client_id: &str,
    ) -> diesel::QueryResult<Option<Arc<Client>>> {
        if let Some(c) = self.client(client_id) {
            return Ok(Some(c));
        }
        let ticket = self.clients.ticket();
        let found = crate::db::models::clients::by_id(conn, client_id)?.map(Arc::new);
        if let Some(c) = found.as_ref().filter(|c| !c.row.disabled) {
            self.clients.put(ticket, client_id, c.clone());
        }
        Ok(found)
    }

    /// What is known of the user with this id (`Some(None)`: there is no such user), when
    /// cached and fresh.
    pub fn user(&self, user_id: &str) -> Option<Option<UserStatus>> {
        if !self.fresh() {
            return None;
        }
        self.users.get(user_id)
    }

    /// Whether the jti is on the deny-list, when the whole list is held and fresh.
    pub fn denied(&self, jti: &str) -> Option<bool> {
        if !self.fresh() {
            return None;
        }
        self.denied.contains(jti)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_served_before_a_sync_or_when_off() {
        let off = Caches::new(0);
        off.synced(Instant::now());
        assert!(!off.fresh());
        let c = Caches::new(1000);
        assert!(!c.fresh());
        c.synced(Instant::now());
        assert!(c.fresh());
        assert_eq!(c.bound(), Some(Duration::from_secs(2)));
    }

    #[test]
    fn a_stale_sync_stops_the_caches() {
        let c = Caches::new(10);
        c.synced(Instant::now());
        std::thread::sleep(Duration::from_millis(30));
        assert!(
            !c.fresh(),
            "a check older than twice the interval must not be trusted"
        );
    }
}
