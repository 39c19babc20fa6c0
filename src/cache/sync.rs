//! Keeps the caches honest (see `crate::cache`): every `cache_sync_ms`, one read of
//! `cache_generations`; the caches whose table changed are emptied and the deny-list is read
//! again when it changed.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use diesel::prelude::*;

use super::Caches;
use crate::config::DbUrl;
use crate::db::schema::{access_token_denylist, cache_generations};
use crate::db::DbConn;

/// The counters last seen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Generations {
    clients: i64,
    users: i64,
    denylist: i64,
}

fn read(conn: &mut DbConn) -> QueryResult<Generations> {
    let rows: Vec<(String, i64)> = cache_generations::table
        .select((cache_generations::name, cache_generations::generation))
        .load(conn)?;
    let mut g = Generations::default();
    for (name, n) in rows {
        match name.as_str() {
            "clients" => g.clients = n,
            "users" => g.users = n,
            "access_token_denylist" => g.denylist = n,
            _ => {}
        }
    }
    Ok(g)
}

/// One check. `seen` is what the previous successful check read (`None`: the first).
pub fn once(
    caches: &Caches,
    conn: &mut DbConn,
    seen: Option<Generations>,
    now: i64,
) -> QueryResult<Generations> {
    let started = Instant::now();
    let writes_before = caches.denied.writes_now();
    let g = read(conn)?;
    let changed = |f: fn(&Generations) -> i64| seen.as_ref().map(f) != Some(f(&g));
    if changed(|s| s.clients) {
        caches.clients.clear();
    }
    if changed(|s| s.users) {
        caches.users.clear();
    }
    if changed(|s| s.denylist) || caches.denied.denied_here_since_read() {
        let jtis: Vec<String> = access_token_denylist::table
            .filter(access_token_denylist::expires_at.gt(now))
            .select(access_token_denylist::jti)
            .limit(super::denylist::MAX_HELD as i64 + 1)
            .load(conn)?;
        let held: Option<HashSet<String>> =
            (jtis.len() <= super::denylist::MAX_HELD).then(|| jtis.into_iter().collect());
        caches.denied.replace(held, writes_before);
    }
    caches.synced(started);
    Ok(g)
}

/// Runs `once` every `cache_sync_ms` for as long as the server runs (nothing when caching is
/// off), on a connection of its own: on the request pool the check would queue behind the very
/// requests that fall back to the database while the caches are untrusted, and keep them so
/// (seen with two replicas on one machine: a stale replica's fallbacks were its slowest 1 %).
pub fn spawn(caches: Arc<Caches>, db_url: DbUrl) {
    let Some(every) = caches.every() else {
        return;
    };
    tokio::spawn(async move {
        let own: Arc<std::sync::Mutex<Option<DbConn>>> = Arc::default();
        let mut seen = None;
        let mut failing = false;
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let caches = caches.clone();
            let db_url = db_url.clone();
            let own = own.clone();
            let result = tokio::task::spawn_blocking(move || {
                let mut slot = own
                    .lock()
                    .map_err(|_| "cache check lock poisoned".to_owned())?;
                if slot.is_none() {
                    *slot = Some(crate::db::establish(&db_url).map_err(|e| e.to_string())?);
                }
                let conn = slot.as_mut().ok_or("no connection")?;
                let result = once(&caches, conn, seen, crate::db::now());
                if result.is_err() {
                    // Opened again on the next tick: the error may have been the connection's.
                    *slot = None;
                }
                result.map_err(|e| e.to_string())
            })
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r);
            match result {
                Ok(g) => {
                    if failing {
                        tracing::info!("cache check works again");
                    }
                    failing = false;
                    seen = Some(g);
                }
                // Logged once per outage: the caches stop being used by themselves.
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!(error = %e, "cache check failed; requests read the database");
                }
                Err(_) => {}
            }
        }
    });
}
