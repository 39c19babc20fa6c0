//! User passwords: argon2id on a bounded pool off the async executor.
//!
//! Hashing is deliberately slow and memory-hungry, so it must neither block actix workers nor
//! queue without bound under a login flood: at most `concurrency` hashes run at once, at most
//! `queue` wait, and anything beyond is refused at once (the web layer answers 503 + Retry-After).

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

#[derive(Clone, Copy, Debug)]
pub struct Argon2Settings {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for Argon2Settings {
    fn default() -> Self {
        Argon2Settings {
            memory_kib: 19456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

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
    let salt_bytes = super::random::bytes::<16>();
    let salt =
        SaltString::encode_b64(&salt_bytes).map_err(|e| PasswordError::Hash(e.to_string()))?;
    argon2(settings)?
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Verifies synchronously, with the parameters recorded in the hash itself, so raising the
/// defaults later keeps old hashes valid.
pub fn verify_blocking(password: &str, encoded: &str) -> bool {
    match PasswordHash::new(encoded) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

type Job = Box<dyn FnOnce() + Send + 'static>;

/// The bounded hashing pool shared by the server's workers: `concurrency` dedicated threads fed
/// by a bounded queue. Dedicated threads (not the general blocking pool) keep argon2's large
/// working memory in a few reused allocations instead of one per transient thread.
pub struct PasswordPool {
    settings: Argon2Settings,
    queue: std::sync::mpsc::SyncSender<Job>,
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
        let dummy_hash = hash_blocking(settings, &super::random::token::<16>())?;
        let (tx, rx) = std::sync::mpsc::sync_channel::<Job>(max_waiting);
        let rx = Arc::new(std::sync::Mutex::new(rx));
        for i in 0..concurrency.max(1) {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || loop {
                    let job = match rx.lock() {
                        Ok(guard) => guard.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        // The pool was dropped: the thread ends with it.
                        Err(_) => return,
                    }
                })
                .map_err(|e| PasswordError::Hash(e.to_string()))?;
        }
        Ok(PasswordPool {
            settings,
            queue: tx,
            dummy_hash,
        })
    }

    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PasswordError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let boxed: Job = Box::new(move || {
            let _ = tx.send(job());
        });
        match self.queue.try_send(boxed) {
            Ok(()) => {}
            Err(std::sync::mpsc::TrySendError::Full(_)) => return Err(PasswordError::Busy),
            Err(std::sync::mpsc::TrySendError::Disconnected(_)) => {
                return Err(PasswordError::Hash("password workers stopped".into()))
            }
        }
        rx.await
            .map_err(|_| PasswordError::Hash("password worker failed".into()))
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
        let busy = pool.clone();
        let running = tokio::spawn(async move {
            busy.run(|| std::thread::sleep(std::time::Duration::from_millis(300)))
                .await
        });
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert!(matches!(
            pool.hash("pw".into()).await,
            Err(PasswordError::Busy)
        ));
        assert!(running.await.expect("join").is_ok());
        assert!(
            pool.hash("pw".into()).await.is_ok(),
            "free again afterwards"
        );
    }
}
