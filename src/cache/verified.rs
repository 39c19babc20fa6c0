//! Access tokens whose signature this process already checked, by the SHA-256 of the token,
//! until they expire: a resource server introspecting the same token again costs a hash, not a
//! P-256 verification. Everything else (expiry, the deny-list, the client, the user) is still
//! checked on every use.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use aws_lc_rs::digest;

use crate::domain::claims::AccessClaims;

#[derive(Clone)]
pub struct Entry {
    /// The key that signed it: a key withdrawn from the key set voids the entry.
    pub kid: String,
    pub claims: Arc<AccessClaims>,
}

pub struct Verified {
    map: RwLock<HashMap<[u8; 32], Entry>>,
    cap: usize,
}

fn key(token: &str) -> [u8; 32] {
    let d = digest::digest(&digest::SHA256, token.as_bytes());
    let mut k = [0u8; 32];
    k.copy_from_slice(d.as_ref());
    k
}

impl Verified {
    pub fn new(cap: usize) -> Self {
        Verified {
            map: RwLock::new(HashMap::new()),
            cap,
        }
    }

    /// The claims of a token verified earlier that has not expired at `now`.
    pub fn get(&self, token: &str, now: i64) -> Option<Entry> {
        let map = self.map.read().ok()?;
        map.get(&key(token)).filter(|e| e.claims.exp > now).cloned()
    }

    pub fn put(&self, token: &str, entry: Entry) {
        let Ok(mut map) = self.map.write() else {
            return;
        };
        if map.len() >= self.cap {
            // Bounded: drop the expired first, and everything if that is not enough.
            let now = crate::db::now();
            map.retain(|_, e| e.claims.exp > now);
            if map.len() >= self.cap {
                map.clear();
            }
        }
        map.insert(key(token), entry);
    }
}
