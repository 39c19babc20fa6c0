//! User passwords: argon2id on a bounded pool off the async executor.
//!
//! Hashing is deliberately slow and memory-hungry, so it must neither block actix workers nor
//! queue without bound under a login flood: at most `concurrency` hashes run at once, at most
//! `queue` wait, and anything beyond is refused at once (the web layer answers 503 + Retry-After).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

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

/// The bounded hashing pool shared by the server's workers.
pub struct PasswordPool {
    settings: Argon2Settings,
    permits: Arc<Semaphore>,
    waiting: AtomicUsize,
    max_waiting: usize,
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
        Ok(PasswordPool {
            settings,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            waiting: AtomicUsize::new(0),
            max_waiting,
            dummy_hash,
        })
    }

    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PasswordError> {
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(PasswordError::Busy);
        }
        let permit = self.permits.clone().acquire_owned().await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        let permit = permit.map_err(|_| PasswordError::Busy)?;
        let out = tokio::task::spawn_blocking(move || {
            let out = job();
            drop(permit);
            out
        })
        .await
        .map_err(|e| PasswordError::Hash(e.to_string()))?;
        Ok(out)
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
        assert!(matches!(
            pool.hash("pw".into()).await,
            Err(PasswordError::Busy)
        ));
    }
}
