//! Lockout policy over the shared failure counters (`login_throttle`): every replica sees the
//! same counts, and the decision is taken before any password is hashed.
//!
//! Per subject (an account, or a client address): the first half of `threshold` failures are
//! free; each further failure doubles a wait, from 1 s up to 60 s; at `threshold` the subject is
//! locked for `lockout_duration`. Failures older than `lockout_duration` are forgotten.

use std::net::IpAddr;

use crate::config::ThrottleSettings;
use crate::db::models::login_throttle::{self, Counter};
use crate::db::DbConn;

pub use crate::db::models::login_throttle::{ACCOUNT_SCOPE as ACCOUNT, ADDRESS_SCOPE as ADDRESS};
const MAX_WAIT: i64 = 60;

/// How a client address is counted: IPv4 as is, IPv6 by its /64 (one host usually owns a whole
/// /64, so counting single IPv6 addresses would be trivially evaded).
pub fn address_subject(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// Seconds until the subject may try again, or `None` when it may try now.
pub fn wait(counter: Option<&Counter>, threshold: i64, duration: i64, now: i64) -> Option<i64> {
    let c = counter?;
    if threshold <= 0 || now - c.last_failure_at > duration {
        return None;
    }
    let free = threshold / 2;
    let until = if c.failures >= threshold {
        c.last_failure_at + duration
    } else if c.failures >= free {
        let exp = (c.failures - free).min(6) as u32;
        c.last_failure_at + (1i64 << exp).min(MAX_WAIT)
    } else {
        return None;
    };
    (until > now).then(|| (until - now).max(1))
}

/// Whether a subject is locked out (not merely slowed down).
pub fn locked(counter: &Counter, threshold: i64, duration: i64, now: i64) -> bool {
    threshold > 0 && counter.failures >= threshold && now - counter.last_failure_at <= duration
}

/// What the counters say about a password check for `account` from `address`.
#[derive(Debug, Default)]
pub struct Standing {
    /// Seconds to wait before trying again, if any.
    pub wait: Option<i64>,
    /// Whether the account has failures on record (a success must clear them).
    pub account_has_failures: bool,
}

/// Reads both counters in one query and decides.
pub fn check(
    conn: &mut DbConn,
    settings: &ThrottleSettings,
    account: &str,
    address: Option<IpAddr>,
    now: i64,
) -> diesel::QueryResult<Standing> {
    let d = settings.lockout_duration;
    let address = address.map(address_subject);
    let rows = login_throttle::get_pair(conn, account, address.as_deref())?;
    let by_account = rows.iter().find(|c| c.scope == ACCOUNT);
    let by_address = rows.iter().find(|c| c.scope == ADDRESS);
    Ok(Standing {
        wait: wait(by_account, settings.account_threshold, d, now).max(wait(
            by_address,
            settings.address_threshold,
            d,
            now,
        )),
        account_has_failures: by_account.is_some(),
    })
}

/// What a failure changed: whether it just locked the account or the address.
#[derive(Debug, Default)]
pub struct Recorded {
    pub account_locked: bool,
    pub address_locked: bool,
}

pub fn record_failure(
    conn: &mut DbConn,
    settings: &ThrottleSettings,
    account: &str,
    address: Option<IpAddr>,
    now: i64,
) -> diesel::QueryResult<Recorded> {
    let d = settings.lockout_duration;
    let n = login_throttle::record_failure(conn, ACCOUNT, account, now, d)?;
    let mut out = Recorded {
        account_locked: settings.account_threshold > 0 && n == settings.account_threshold,
        address_locked: false,
    };
    if let Some(ip) = address {
        let n = login_throttle::record_failure(conn, ADDRESS, &address_subject(ip), now, d)?;
        out.address_locked = settings.address_threshold > 0 && n == settings.address_threshold;
    }
    Ok(out)
}

/// A successful check clears the account's failures; the address keeps its count, so that an
/// attacker's own valid account cannot reset the address between guesses.
pub fn record_success(conn: &mut DbConn, account: &str) -> diesel::QueryResult<()> {
    login_throttle::clear(conn, ACCOUNT, account).map(|_| ())
}

/// An administrator lifts a lockout (console or CLI).
pub fn unlock(conn: &mut DbConn, scope: &str, subject: &str) -> diesel::QueryResult<usize> {
    login_throttle::clear(conn, scope, subject)
}

/// Subjects of `scope` that are locked or slowed down now.
pub fn restricted(
    conn: &mut DbConn,
    settings: &ThrottleSettings,
    scope: &str,
    now: i64,
) -> diesel::QueryResult<Vec<Counter>> {
    let threshold = if scope == ACCOUNT {
        settings.account_threshold
    } else {
        settings.address_threshold
    };
    Ok(
        login_throttle::recent(conn, scope, now - settings.lockout_duration, 500)?
            .into_iter()
            .filter(|c| wait(Some(c), threshold, settings.lockout_duration, now).is_some())
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(failures: i64, last: i64) -> Counter {
        Counter {
            scope: ACCOUNT.into(),
            subject: "x".into(),
            failures,
            last_failure_at: last,
        }
    }

    #[test]
    fn free_failures_then_doubling_waits_then_a_lockout() {
        let now = 1000;
        assert_eq!(wait(None, 10, 900, now), None);
        assert_eq!(wait(Some(&c(4, now)), 10, 900, now), None);
        assert_eq!(wait(Some(&c(5, now)), 10, 900, now), Some(1));
        assert_eq!(wait(Some(&c(7, now)), 10, 900, now), Some(4));
        assert_eq!(wait(Some(&c(7, now - 4)), 10, 900, now), None);
        assert_eq!(wait(Some(&c(10, now)), 10, 900, now), Some(900));
        assert_eq!(wait(Some(&c(10, now - 899)), 10, 900, now), Some(1));
        assert_eq!(wait(Some(&c(10, now - 901)), 10, 900, now), None);
        assert_eq!(
            wait(Some(&c(100, now)), 0, 900, now),
            None,
            "0 turns it off"
        );
    }

    #[test]
    fn ipv6_addresses_count_by_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().expect("ip");
        assert_eq!(address_subject(a), address_subject(b));
        let v4: IpAddr = "::ffff:192.0.2.1".parse().expect("ip");
        assert_eq!(address_subject(v4), "192.0.2.1");
    }
}
