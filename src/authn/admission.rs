//! Admission before hashing: token buckets per client address and per account, so one source
//! gets at most its share of this process's argon2 workers however many requests it sends. They
//! guard a local resource (this replica's CPU), so they live in this process; the lockout
//! counters that must agree across replicas live in the database (`throttle`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Beyond this many tracked subjects, full buckets are forgotten; if a spray of sources keeps
/// the map above it even then, it is cleared (the database lockout still applies).
const MAX_TRACKED: usize = 100_000;

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The buckets this process keeps (one set per replica, held by `AppState`).
pub struct Admission {
    pub addresses: Buckets,
    pub accounts: Buckets,
    /// Open dynamic registration, per client address.
    pub registrations: Buckets,
    /// Password-reset requests, per client address (per hour).
    pub resets: Buckets,
    /// Self-service sign-ups, per client address.
    pub signups: Buckets,
    /// Authorization requests that need a login or consent (each stores an interaction).
    pub interactions: Buckets,
    /// Client ID Metadata Document fetches a client address can cause.
    pub documents: Buckets,
    /// Unknown device user codes typed from one client address (RFC 8628 §5.1).
    pub user_codes: Buckets,
    /// Upstream logins (starts and callbacks: each an outbound fetch, a start also a row), per
    /// client address.
    pub upstream_logins: Buckets,
}

pub struct Buckets {
    per_second: f64,
    burst: f64,
    map: Mutex<HashMap<String, Bucket>>,
}

impl Buckets {
    /// `per_hour` events with a burst of a tenth of that (at least 3); 0 admits everything.
    pub fn per_hour(per_hour: u32) -> Self {
        Buckets {
            per_second: f64::from(per_hour) / 3600.0,
            burst: (f64::from(per_hour) / 10.0).max(3.0),
            map: Mutex::new(HashMap::new()),
        }
    }

    /// `per_minute` checks, with a burst of a sixth of that (at least 5: a person who mistypes
    /// twice, then signs in and confirms an action, is never slowed); 0 admits everything.
    pub fn new(per_minute: u32) -> Self {
        Buckets {
            per_second: f64::from(per_minute) / 60.0,
            burst: (f64::from(per_minute) / 6.0).max(5.0),
            map: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `subject`, or says how long until one is there.
    pub fn take(&self, subject: &str) -> Result<(), Duration> {
        if self.per_second <= 0.0 {
            return Ok(());
        }
        let now = Instant::now();
        let Ok(mut map) = self.map.lock() else {
            return Ok(());
        };
        if map.len() >= MAX_TRACKED && !map.contains_key(subject) {
            let (rate, burst) = (self.per_second, self.burst);
            map.retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * rate < burst);
            if map.len() >= MAX_TRACKED {
                map.clear();
            }
        }
        let b = map.entry(subject.to_owned()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        b.tokens =
            (b.tokens + now.duration_since(b.at).as_secs_f64() * self.per_second).min(self.burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - b.tokens) / self.per_second))
        }
    }
}

impl Buckets {
    /// Gives back the token a successful check took: the buckets slow down guessing, not people
    /// who know their password (an office behind one address, a user on many devices).
    pub fn refund(&self, subject: &str) {
        if let Ok(mut map) = self.map.lock() {
            if let Some(b) = map.get_mut(subject) {
                b.tokens = (b.tokens + 1.0).min(self.burst);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_refusals_with_a_retry_time_and_subjects_apart() {
        let b = Buckets::new(60);
        for _ in 0..10 {
            assert!(b.take("a").is_ok());
        }
        let wait = b.take("a").expect_err("empty");
        assert!(wait <= Duration::from_secs(1), "{wait:?}");
        assert!(b.take("b").is_ok(), "another subject has its own bucket");
        assert!(Buckets::new(0).take("a").is_ok());
    }
}
