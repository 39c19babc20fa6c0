//! Process-wide write generations of the tables `cache` mirrors (clients, users, the access-token
//! deny-list): the client store (`crate::clients::write`) bumps the clients' counter after its
//! transaction, the model functions that write users and the deny-list bump theirs once they are
//! done, and the caches compare it with the generation they filled at (`cache::Table`). A storage primitive
//! that the cache layer reads; `db` knows nothing of the caches themselves.

use std::sync::atomic::{AtomicU64, Ordering};

/// Process-wide counts of writes to cached tables (see the module comment).
pub static CLIENT_WRITES: AtomicU64 = AtomicU64::new(0);
pub static USER_WRITES: AtomicU64 = AtomicU64::new(0);
pub static DENY_WRITES: AtomicU64 = AtomicU64::new(0);

/// Bumps this process's write counter for a cached table when dropped: at the end of the model
/// function that wrote it, so after its statement (and its own transaction) committed. A reader
/// that read the old row before that commit cannot then keep what it read (`Table::put`), and
/// the deny-list is not marked current by a read that missed an uncommitted revocation. Callers
/// that wrap such a function in a transaction of their own call the matching `note_*` again
/// once theirs committed.
pub struct Written(&'static AtomicU64);

impl Written {
    pub fn users() -> Self {
        Written(&USER_WRITES)
    }

    pub fn denylist() -> Self {
        Written(&DENY_WRITES)
    }
}

impl Drop for Written {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::AcqRel);
    }
}

/// Called by the client store once its transaction ended (see `Written` for why after).
pub fn note_client_write() {
    CLIENT_WRITES.fetch_add(1, Ordering::AcqRel);
}

/// As `note_client_write`, for `users`.
pub fn note_user_write() {
    USER_WRITES.fetch_add(1, Ordering::AcqRel);
}

/// As `note_client_write`, for the access-token deny-list.
pub fn note_deny_write() {
    DENY_WRITES.fetch_add(1, Ordering::AcqRel);
}
