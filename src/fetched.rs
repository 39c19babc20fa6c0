//! JSON documents fetched from other servers and kept a while, per process (each replica fetches
//! for itself): upstream providers' discovery documents and JWKS (`federation`), clients'
//! `jwks_uri` key sets (`oauth::client_assertion`). One cache, one set of rules:
//!
//! - A document is used for `FRESH_FOR`, then fetched again.
//! - A key set is fetched again early when a token names a `kid` it does not hold (the other side
//!   rotated), but not twice within the refetch pause (`keys_refetch_pause`), so tokens naming
//!   made-up kids cannot make us fetch per request.
//! - A failed fetch is remembered for `FAILED_FOR`: a down server is not asked again per request
//!   (its callers get the remembered failure at once). What was fetched before it failed still
//!   serves meanwhile (a short outage does not stop logins whose keys we hold).
//! - At most `MAX_ENTRIES` URLs: beyond, stale entries go first, then the oldest.
//!
//! Every fetch goes through `outbound` (SSRF rules, size and time limits). Below `federation`
//! and `oauth`, above `outbound`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::outbound::{FetchError, Limits, Outbound};

/// How long a fetched document is used before it is fetched again.
pub const FRESH_FOR: Duration = Duration::from_secs(300);
/// How long a failed fetch is remembered (and answered from memory).
pub const FAILED_FOR: Duration = Duration::from_secs(10);
/// How many URLs are kept.
pub const MAX_ENTRIES: usize = 1_000;

#[derive(Clone)]
struct Entry {
    /// The last document fetched, and when.
    good: Option<(Instant, Arc<Value>)>,
    /// The last fetch, when it failed: when, and why.
    failed: Option<(Instant, Arc<FetchError>)>,
}

/// Why no document could be had.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct Unavailable(pub Arc<FetchError>);

/// What a caller needs of a document at a URL.
#[derive(Clone, Copy, Debug)]
enum Want<'a> {
    /// The document as it is.
    Document,
    /// A JWK Set (only its `keys` are kept) holding `kid`, when given.
    Keys(Option<&'a str>),
}

/// The cache (one per process, held by `AppState`).
pub struct Fetched {
    entries: Mutex<HashMap<String, Entry>>,
    /// The shortest time between two fetches of one key set for unknown kids.
    pause: Duration,
}

impl Default for Fetched {
    fn default() -> Self {
        Fetched::new(Duration::from_secs(5))
    }
}

fn has_kid(keys: &Value, kid: &str) -> bool {
    keys["keys"]
        .as_array()
        .is_some_and(|k| k.iter().any(|j| j["kid"].as_str() == Some(kid)))
}

impl Fetched {
    /// A cache whose key sets are fetched again for an unknown kid at most every `pause`.
    pub fn new(pause: Duration) -> Self {
        Fetched {
            entries: Mutex::new(HashMap::new()),
            pause,
        }
    }

    fn get(&self, url: &str) -> Option<Entry> {
        self.entries.lock().ok()?.get(url).cloned()
    }

    fn put(&self, url: &str, entry: Entry) {
        let Ok(mut m) = self.entries.lock() else {
            return;
        };
        if m.len() >= MAX_ENTRIES && !m.contains_key(url) {
            let fresh = |e: &Entry| {
                e.good
                    .as_ref()
                    .is_some_and(|(at, _)| at.elapsed() < FRESH_FOR)
            };
            m.retain(|_, e| fresh(e));
            while m.len() >= MAX_ENTRIES {
                let oldest = m
                    .iter()
                    .min_by_key(|(_, e)| e.good.as_ref().map(|(at, _)| *at))
                    .map(|(k, _)| k.clone());
                match oldest {
                    Some(k) => m.remove(&k),
                    None => break,
                };
            }
        }
        m.insert(url.to_owned(), entry);
    }

    /// The document at `url` (JSON), fetched within `limits` unless held fresh.
    pub async fn document(
        &self,
        outbound: &Outbound,
        url: &str,
        limits: Limits,
    ) -> Result<Arc<Value>, Unavailable> {
        self.fetch(outbound, url, limits, Want::Document).await
    }

    /// The JWK Set at `url` (`{"keys": [...]}`, nothing else kept), fetched again when stale, or
    /// when `kid` is not in it and the last fetch is older than the refetch pause.
    pub async fn key_set(
        &self,
        outbound: &Outbound,
        url: &str,
        limits: Limits,
        kid: Option<&str>,
    ) -> Result<Arc<Value>, Unavailable> {
        self.fetch(outbound, url, limits, Want::Keys(kid)).await
    }

    async fn fetch(
        &self,
        outbound: &Outbound,
        url: &str,
        limits: Limits,
        want: Want<'_>,
    ) -> Result<Arc<Value>, Unavailable> {
        // A document and a key set at one URL are two entries: a client's `jwks_uri` naming an
        // upstream's discovery document must not replace that document with its keys.
        let key = match want {
            Want::Document => format!("doc {url}"),
            Want::Keys(_) => format!("keys {url}"),
        };
        let entry = self.get(&key).unwrap_or(Entry {
            good: None,
            failed: None,
        });
        if let Some(answer) = self.held(&entry, want) {
            return answer;
        }
        let fetched = outbound
            .get(url, "application/json", limits)
            .await
            .and_then(|r| {
                // Not JSON (or not the shape asked for) is a failed fetch: it never replaces a
                // good document.
                let body: Value = serde_json::from_slice(&r.body).map_err(|_| {
                    FetchError::NotJson(match want {
                        Want::Document => "object",
                        Want::Keys(_) => "JWK Set",
                    })
                })?;
                match want {
                    Want::Document if body.is_object() => Ok(body),
                    Want::Document => Err(FetchError::NotJson("object")),
                    // Only the keys are kept (bounded by the fetch's size limit).
                    Want::Keys(_) => match body["keys"].as_array() {
                        Some(keys) => Ok(serde_json::json!({ "keys": keys })),
                        None => Err(FetchError::NotJson("JWK Set")),
                    },
                }
            });
        match fetched {
            Ok(doc) => {
                let doc = Arc::new(doc);
                self.put(
                    &key,
                    Entry {
                        good: Some((Instant::now(), doc.clone())),
                        failed: None,
                    },
                );
                Ok(doc)
            }
            Err(e) => {
                let e = Arc::new(e);
                self.put(
                    &key,
                    Entry {
                        good: entry.good.clone(),
                        failed: Some((Instant::now(), e.clone())),
                    },
                );
                match entry.good {
                    Some((_, doc)) => Ok(doc),
                    None => Err(Unavailable(e)),
                }
            }
        }
    }

    /// The answer from memory, when no fetch is due.
    fn held(&self, entry: &Entry, want: Want<'_>) -> Option<Result<Arc<Value>, Unavailable>> {
        if let Some((at, e)) = &entry.failed {
            if at.elapsed() < FAILED_FOR {
                return Some(match &entry.good {
                    Some((_, doc)) => Ok(doc.clone()),
                    None => Err(Unavailable(e.clone())),
                });
            }
        }
        let (at, doc) = entry.good.as_ref()?;
        let knows = match want {
            Want::Document | Want::Keys(None) => true,
            Want::Keys(Some(kid)) => has_kid(doc, kid),
        };
        ((at.elapsed() < FRESH_FOR && knows) || at.elapsed() < self.pause).then(|| Ok(doc.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(kids: &[&str]) -> Arc<Value> {
        let keys: Vec<Value> = kids
            .iter()
            .map(|k| serde_json::json!({ "kid": k }))
            .collect();
        Arc::new(serde_json::json!({ "keys": keys }))
    }

    fn good(age: Duration, doc: Arc<Value>) -> Entry {
        Entry {
            good: Some((Instant::now() - age, doc)),
            failed: None,
        }
    }

    #[test]
    fn a_known_kid_is_served_until_stale_an_unknown_one_after_the_pause() {
        let cache = Fetched::new(Duration::from_secs(5));
        let fresh = good(Duration::from_secs(1), keys(&["a"]));
        assert!(cache.held(&fresh, Want::Keys(Some("a"))).is_some());
        // Within the pause an unknown kid does not fetch again; after it, it does.
        assert!(cache.held(&fresh, Want::Keys(Some("b"))).is_some());
        let older = good(Duration::from_secs(6), keys(&["a"]));
        assert!(cache.held(&older, Want::Keys(Some("a"))).is_some());
        assert!(cache.held(&older, Want::Keys(Some("b"))).is_none());
        let stale = good(FRESH_FOR + Duration::from_secs(1), keys(&["a"]));
        assert!(cache.held(&stale, Want::Keys(Some("a"))).is_none());
        assert!(cache.held(&stale, Want::Document).is_none());
        // A pause of 0: an unknown kid always fetches again.
        let eager = Fetched::new(Duration::ZERO);
        assert!(eager.held(&fresh, Want::Keys(Some("b"))).is_none());
        assert!(eager.held(&fresh, Want::Keys(Some("a"))).is_some());
    }

    #[test]
    fn a_failure_is_remembered_for_a_while_and_what_was_fetched_before_still_serves() {
        let cache = Fetched::new(Duration::ZERO);
        let failed = |age: Duration, good: Option<Arc<Value>>| Entry {
            good: good.map(|d| (Instant::now() - FRESH_FOR * 2, d)),
            failed: Some((Instant::now() - age, Arc::new(FetchError::Busy))),
        };
        let recent = failed(Duration::from_secs(1), None);
        assert!(matches!(cache.held(&recent, Want::Document), Some(Err(_))));
        let with_keys = failed(Duration::from_secs(1), Some(keys(&["a"])));
        assert!(matches!(
            cache.held(&with_keys, Want::Keys(Some("b"))),
            Some(Ok(_))
        ));
        let old = failed(FAILED_FOR + Duration::from_secs(1), None);
        assert!(cache.held(&old, Want::Document).is_none(), "tried again");
    }

    #[test]
    fn the_cache_is_bounded_stale_entries_then_the_oldest_go_first() {
        let cache = Fetched::default();
        for i in 0..MAX_ENTRIES {
            let age = if i == 7 {
                FRESH_FOR * 2
            } else {
                Duration::from_secs(1)
            };
            cache.put(&format!("u{i}"), good(age, keys(&[])));
        }
        cache.put("new", good(Duration::ZERO, keys(&[])));
        let m = cache.entries.lock().map(|m| m.len()).unwrap_or_default();
        assert_eq!(m, MAX_ENTRIES);
        assert!(cache.get("u7").is_none(), "the stale entry went");
        cache.put("newer", good(Duration::ZERO, keys(&[])));
        assert!(cache.get("new").is_some() && cache.get("newer").is_some());
        let m = cache.entries.lock().map(|m| m.len()).unwrap_or_default();
        assert_eq!(m, MAX_ENTRIES);
    }
}
