//! User passwords: argon2id on a bounded pool off the async executor.
//!
//! Hashing is deliberately slow and memory-hungry, so it must neither block actix workers nor
//! queue without bound under a login flood: at most `concurrency` hashes run at once, at most
//! `queue` wait, and anything beyond is refused at once (the web layer answers 503 + Retry-After).

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::config::Argon2Settings;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("argon2 parameters are invalid: {0}")]
    Params(String),
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("too many password checks in progress")]
    Busy,
}

fn argon2(settings: Argon2Settings) -> Result<Argon2<'static>, PasswordError> {
    let params = Params::new(
        settings.memory_kib,
        settings.iterations,
        settings.parallelism,
        None,
    )
    .map_err(|e| PasswordError::Params(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes synchronously (CLI and the pool's worker threads).
pub fn hash_blocking(settings: Argon2Settings, password: &str) -> Result<String, PasswordError> {
    let salt_bytes = crate::random::bytes::<16>();
    let salt =
        SaltString::encode_b64(&salt_bytes).map_err(|e| PasswordError::Hash(e.to_string()))?;
    argon2(settings)?
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

thread_local! {
    /// argon2's working memory, kept per thread and reused: verification then allocates
    /// nothing, so resident memory stays at one block array per hashing thread.
    static BLOCKS: std::cell::RefCell<Vec<argon2::Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Verifies synchronously, with the parameters recorded in the hash itself, so raising the
/// defaults later keeps old hashes valid.
pub fn verify_blocking(password: &str, encoded: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(encoded) else {
        return false;
    };
    let (Ok(params), Ok(alg)) = (
        Params::try_from(&parsed),
        Algorithm::try_from(parsed.algorithm),
    ) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from) {
        None => Version::V0x13,
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let (Some(expected), Some(salt)) = (parsed.hash, parsed.salt) else {
        return false;
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    let computed = BLOCKS.with(|cell| {
        let mut blocks = cell.borrow_mut();
        let need = params.block_count();
        if blocks.len() < need {
            blocks.resize(need, argon2::Block::default());
        }
        Argon2::new(alg, version, params)
            .hash_password_into_with_memory(
                password.as_bytes(),
                salt,
                &mut out,
                &mut blocks[..need],
            )
            .is_ok()
    });
    computed && aws_lc_rs::constant_time::verify_slices_are_equal(&out, expected.as_bytes()).is_ok()
}

type Job = Box<dyn FnOnce() + Send + 'static>;

/// Gives an admission back when a job ends, however it ends.
struct Release(Arc<std::sync::atomic::AtomicUsize>);

impl Drop for Release {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// The niceness of the hashing threads: they take what CPU the request workers leave. Against a
/// busy worker (niceness 0) a thread at 10 gets about a tenth of a core, so a login flood that
/// keeps every hashing thread busy slows logins, not token issuance or introspection; on an
/// otherwise idle machine hashing still has every core.
pub const HASHING_NICENESS: i32 = 10;

/// Lowers the calling thread's scheduling priority to `HASHING_NICENESS` (Linux keeps a
/// niceness per thread). Failing leaves it as it was: hashing is then only less polite.
fn yield_to_requests() {
    use thread_priority::{ThreadPriority, ThreadPriorityValue};
    // thread-priority maps 0..=99 linearly onto niceness 19..=-20 for normal scheduling.
    let value = ((19 - HASHING_NICENESS) * 99 / 39) as u8;
    let set = ThreadPriorityValue::try_from(value)
        .map_err(|e| e.to_string())
        .and_then(|v| {
            thread_priority::set_current_thread_priority(ThreadPriority::Crossplatform(v))
                .map_err(|e| e.to_string())
        });
    if let Err(e) = set {
        tracing::debug!(error = %e, "could not lower the hashing thread's priority");
    }
}

/// The bounded hashing pool shared by the server's workers: `concurrency` dedicated threads fed
/// by a bounded queue. Dedicated threads (not the general blocking pool) keep argon2's large
/// working memory in a few reused allocations instead of one per transient thread.
pub struct PasswordPool {
    settings: Argon2Settings,
    queue: std::sync::mpsc::Sender<Job>,
    /// Jobs running or waiting, and how many may be.
    admitted: Arc<std::sync::atomic::AtomicUsize>,
    limit: usize,
    /// A real hash of a random password, verified against when the user does not exist so that
    /// unknown and known usernames cost the same.
    dummy_hash: String,
}

impl PasswordPool {
    pub fn new(
        settings: Argon2Settings,
        concurrency: usize,
        max_waiting: usize,
    ) -> Result<Self, PasswordError> {
        let dummy_hash = hash_blocking(settings, &crate::random::token::<16>())?;
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let rx = Arc::new(std::sync::Mutex::new(rx));
        for i in 0..concurrency.max(1) {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || {
                    yield_to_requests();
                    loop {
                        let job = match rx.lock() {
                            Ok(guard) => guard.recv(),
                            Err(_) => return,
                        };
                        match job {
                            // A panicking job must not take the worker with it.
                            Ok(job) => {
                                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                            }
                            // The pool was dropped: the thread ends with it.
                            Err(_) => return,
                        }
                    }
                })
                .map_err(|e| PasswordError::Hash(e.to_string()))?;
        }
        Ok(PasswordPool {
            settings,
            queue: tx,
            admitted: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
            limit: concurrency.max(1) + max_waiting,
            dummy_hash,
        })
    }

    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PasswordError> {
        use std::sync::atomic::Ordering;
        if self.admitted.fetch_add(1, Ordering::AcqRel) >= self.limit {
            self.admitted.fetch_sub(1, Ordering::AcqRel);
            return Err(PasswordError::Busy);
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        let admitted = self.admitted.clone();
        let queued = std::time::Instant::now();
        let boxed: Job = Box::new(move || {
            crate::metrics::METRICS
                .hash_wait
                .observe(queued.elapsed().as_secs_f64());
            let release = Release(admitted);
            let out = job();
            // The slot is free before anyone hears the answer, so a caller that got its result
            // is never refused by its own finished job.
            drop(release);
            let _ = tx.send(out);
        });
        if self.queue.send(boxed).is_err() {
            self.admitted.fetch_sub(1, Ordering::AcqRel);
            return Err(PasswordError::Hash("password workers stopped".into()));
        }
        rx.await
            .map_err(|_| PasswordError::Hash("password worker failed".into()))
    }

    /// Hashes running or waiting now.
    pub fn in_flight(&self) -> usize {
        self.admitted.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub async fn hash(&self, password: String) -> Result<String, PasswordError> {
        let settings = self.settings;
        self.run(move || hash_blocking(settings, &password)).await?
    }

    /// Checks `password` against `stored`, or against the dummy hash when there is no user, so
    /// the time taken does not reveal whether the username exists.
    pub async fn verify(
        &self,
        password: String,
        stored: Option<String>,
    ) -> Result<bool, PasswordError> {
        let exists = stored.is_some();
        let encoded = stored.unwrap_or_else(|| self.dummy_hash.clone());
        let ok = self
            .run(move || verify_blocking(&password, &encoded))
            .await?;
        Ok(ok && exists)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast() -> Argon2Settings {
        Argon2Settings {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        }
    }

    #[test]
    fn hashes_are_argon2id_and_verify() {
        let h = hash_blocking(fast(), "correct horse").expect("hash");
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_blocking("correct horse", &h));
        assert!(!verify_blocking("wrong", &h));
        assert!(!verify_blocking("correct horse", "not a hash"));
    }

    /// Hashing threads yield to request workers (Linux: niceness 10, read back from /proc).
    #[tokio::test]
    async fn hashing_threads_run_at_a_lower_priority() {
        let pool = PasswordPool::new(fast(), 1, 1).expect("pool");
        let stat = pool
            .run(|| std::fs::read_to_string("/proc/thread-self/stat"))
            .await
            .expect("run")
            .expect("stat");
        // Field 19 is the niceness; the command name (field 2) has no spaces here.
        let nice: i32 = stat
            .rsplit(')')
            .next()
            .and_then(|rest| rest.split_whitespace().nth(16))
            .and_then(|n| n.parse().ok())
            .expect("niceness");
        assert_eq!(nice, HASHING_NICENESS, "{stat}");
    }

    #[tokio::test]
    async fn unknown_users_never_verify() {
        let pool = PasswordPool::new(fast(), 1, 4).expect("pool");
        assert!(!pool.verify("anything".into(), None).await.expect("verify"));
        let h = pool.hash("pw".into()).await.expect("hash");
        assert!(pool.verify("pw".into(), Some(h)).await.expect("verify"));
    }

    #[tokio::test]
    async fn a_full_queue_is_refused_not_queued() {
        let pool = Arc::new(PasswordPool::new(fast(), 1, 0).expect("pool"));
        // The one worker holds a job until we let it go: no timing assumptions.
        let (release, held) = std::sync::mpsc::channel::<()>();
        let busy = pool.clone();
        let running = tokio::spawn(async move {
            busy.run(move || {
                let _ = held.recv();
            })
            .await
        });
        for _ in 0..2000 {
            if pool.admitted.load(std::sync::atomic::Ordering::Acquire) == 1 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        assert!(matches!(
            pool.hash("pw".into()).await,
            Err(PasswordError::Busy)
        ));
        release.send(()).expect("release the worker");
        assert!(running.await.expect("join").is_ok());
        assert!(
            pool.hash("pw".into()).await.is_ok(),
            "free again afterwards"
        );
    }
}
