//! The access-token deny-list, held whole in memory while it is small enough (RFC 7009
//! revocations are rare; entries leave once the token would have expired anyway).

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;

/// Past this many unexpired entries the list is not held: every check reads the database.
pub const MAX_HELD: usize = 200_000;

pub struct DenyView {
    jtis: RwLock<Option<HashSet<String>>>,
    writes: &'static AtomicU64,
    /// This process's write count when the held list was read.
    loaded_at_writes: AtomicU64,
}

impl DenyView {
    pub fn new(writes: &'static AtomicU64) -> Self {
        DenyView {
            jtis: RwLock::new(None),
            writes,
            loaded_at_writes: AtomicU64::new(u64::MAX),
        }
    }

    /// `None` when the list is not held, or this process denied a token since it was read.
    pub fn contains(&self, jti: &str) -> Option<bool> {
        if self.writes.load(Ordering::Acquire) != self.loaded_at_writes.load(Ordering::Acquire) {
            return None;
        }
        let held = self.jtis.read().ok()?;
        held.as_ref().map(|set| set.contains(jti))
    }

    /// This process's write count, read before the list is loaded.
    pub fn writes_now(&self) -> u64 {
        self.writes.load(Ordering::Acquire)
    }

    /// Replaces the held list (`None`: too large to hold) with one read after `writes_before`.
    pub fn replace(&self, jtis: Option<HashSet<String>>, writes_before: u64) {
        if let Ok(mut held) = self.jtis.write() {
            *held = jtis;
            self.loaded_at_writes
                .store(writes_before, Ordering::Release);
        }
    }

    /// Whether this process denied a token after the held list was read.
    pub fn denied_here_since_read(&self) -> bool {
        self.writes.load(Ordering::Acquire) != self.loaded_at_writes.load(Ordering::Acquire)
    }

    /// Whether the list is held (not too large).
    pub fn is_held(&self) -> bool {
        self.jtis.read().map(|h| h.is_some()).unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static WRITES: AtomicU64 = AtomicU64::new(0);

    #[test]
    fn a_local_denial_sends_checks_to_the_database_until_reloaded() {
        let v = DenyView::new(&WRITES);
        assert_eq!(v.contains("x"), None, "not loaded yet");
        let before = v.writes_now();
        v.replace(Some(HashSet::from(["x".to_owned()])), before);
        assert_eq!(v.contains("x"), Some(true));
        assert_eq!(v.contains("y"), Some(false));
        WRITES.fetch_add(1, Ordering::AcqRel);
        assert_eq!(v.contains("y"), None);
        v.replace(None, v.writes_now());
        assert_eq!(v.contains("y"), None, "too large to hold");
    }
}
