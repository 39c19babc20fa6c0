//! A bounded map whose entries are dropped together: when the generation of its table changed
//! (another process wrote it) or when this process wrote it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;

pub struct Table<V> {
    map: RwLock<HashMap<String, V>>,
    /// Bumped by every `clear`: a value loaded before a clear is not put after it.
    epoch: AtomicU64,
    /// This process's write counter for the table, and the value last followed.
    writes: &'static AtomicU64,
    followed: AtomicU64,
    cap: usize,
}

/// Taken before reading the database, so what was read is kept only if nothing was cleared
/// (or written by this process) meanwhile.
#[derive(Clone, Copy, Debug)]
pub struct Ticket {
    epoch: u64,
    writes: u64,
}

impl<V: Clone> Table<V> {
    pub fn new(writes: &'static AtomicU64, cap: usize) -> Self {
        Table {
            map: RwLock::new(HashMap::new()),
            epoch: AtomicU64::new(0),
            writes,
            followed: AtomicU64::new(writes.load(Ordering::Acquire)),
            cap,
        }
    }

    fn follow_writes(&self) {
        let now = self.writes.load(Ordering::Acquire);
        if self.followed.load(Ordering::Acquire) != now {
            self.clear();
            self.followed.store(now, Ordering::Release);
        }
    }

    pub fn get(&self, key: &str) -> Option<V> {
        self.follow_writes();
        self.map.read().ok()?.get(key).cloned()
    }

    pub fn ticket(&self) -> Ticket {
        self.follow_writes();
        Ticket {
            epoch: self.epoch.load(Ordering::Acquire),
            writes: self.writes.load(Ordering::Acquire),
        }
    }

    /// Keeps what was read under `ticket`, unless the table was cleared or written since.
    pub fn put(&self, ticket: Ticket, key: &str, value: V) {
        let Ok(mut map) = self.map.write() else {
            return;
        };
        // Checked under the write lock: `clear` bumps the epoch under it too.
        if self.epoch.load(Ordering::Acquire) != ticket.epoch
            || self.writes.load(Ordering::Acquire) != ticket.writes
        {
            return;
        }
        if map.len() >= self.cap && !map.contains_key(key) {
            // Bounded memory: start over rather than track recency on every read.
            map.clear();
        }
        map.insert(key.to_owned(), value);
    }

    pub fn clear(&self) {
        if let Ok(mut map) = self.map.write() {
            self.epoch.fetch_add(1, Ordering::AcqRel);
            map.clear();
        }
    }

    pub fn len(&self) -> usize {
        self.map.read().map(|m| m.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static WRITES: AtomicU64 = AtomicU64::new(0);

    #[test]
    fn a_clear_or_a_local_write_voids_what_was_being_read() {
        let t: Table<u32> = Table::new(&WRITES, 2);
        let ticket = t.ticket();
        t.put(ticket, "a", 1);
        assert_eq!(t.get("a"), Some(1));
        let stale = t.ticket();
        t.clear();
        t.put(stale, "b", 2);
        assert_eq!(t.get("b"), None, "read before the clear, put after it");
        let before_write = t.ticket();
        WRITES.fetch_add(1, Ordering::AcqRel);
        t.put(before_write, "c", 3);
        assert_eq!(t.get("c"), None, "read before this process wrote the table");
        let ticket = t.ticket();
        t.put(ticket, "d", 4);
        t.put(ticket, "e", 5);
        t.put(ticket, "f", 6);
        assert!(t.len() <= 2, "bounded");
        assert_eq!(t.get("f"), Some(6));
    }
}
