//! What every request handler shares: settings, the database pool, signing keys, password pool.

use std::sync::Arc;
use std::time::Duration;

use crate::authn::admission::{Admission, Buckets};
use crate::config::Settings;
use crate::crypto::kek::Kek;
use crate::crypto::keys::{self, KeyRing};
use crate::crypto::password::PasswordPool;
use crate::db::{self, Pool};
use crate::oauth::tokens::SuccessorKey;
use crate::random::MacKey;

pub struct AppState {
    pub settings: Arc<Settings>,
    pub pool: Pool,
    pub keys: KeyRing,
    pub passwords: PasswordPool,
    /// Derives refresh-token successors; the same on every replica sharing the KEK.
    pub successor_key: SuccessorKey,
    /// Binds anonymous visitors' CSRF tokens to their cookie; the same on every replica.
    pub csrf_key: MacKey,
    /// Token buckets admitting password checks per address and per account (this process).
    pub admission: Admission,
    /// Wakes this process's outbox sender after a transaction queued mail (`crate::outbox`).
    pub outbox: crate::outbox::Waker,
    /// The WebAuthn relying party (passkeys); `None` when the issuer's host is not a domain.
    pub webauthn: Option<webauthn_rs::prelude::Webauthn>,
    /// Documents fetched from other servers (clients' `jwks_uri`, upstream providers'
    /// discovery documents and JWKS), per process.
    pub fetched: crate::fetched::Fetched,
    /// The discovery document, rendered once (it depends on the settings only).
    pub discovery: actix_web::web::Bytes,
    /// Clients, user status, the deny-list and verified tokens held in memory (`crate::cache`).
    pub caches: Arc<crate::cache::Caches>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Db(#[from] db::DbError),
    #[error("{0}")]
    Kek(#[from] crate::crypto::kek::KekError),
    #[error("{0}")]
    Keys(#[from] keys::KeyError),
    #[error("{0}")]
    Password(#[from] crate::crypto::password::PasswordError),
}

impl AppState {
    pub fn settings_arc(&self) -> Arc<Settings> {
        self.settings.clone()
    }

    /// The parts of the state a protocol request uses (`oauth::context`).
    pub fn protocol(&self) -> crate::oauth::context::Server<'_> {
        crate::oauth::context::Server {
            settings: &self.settings,
            pool: &self.pool,
            keys: &self.keys,
            caches: &self.caches,
            successor_key: &self.successor_key,
        }
    }

    /// Opens the database, applies migrations, loads the key-encryption key and makes sure
    /// signing keys exist. Blocking: call from a blocking context.
    pub fn prepare(settings: Settings) -> Result<AppState, StartError> {
        let pool = db::build_pool_with(
            &settings.db,
            settings.db_pool_size,
            Duration::from_secs(settings.db_timeout),
        )?;
        let mut conn = pool.get().map_err(db::DbError::Pool)?;
        let applied = db::run_migrations(&mut conn)?;
        if applied > 0 {
            tracing::info!(applied, "database migrations applied");
        }
        let kek = Kek::load_or_create(settings.key_encryption_key.as_deref(), &settings.keys_dir)?;
        let created = keys::ensure_keys(&mut conn, &kek)?;
        for k in &created {
            tracing::info!(kid = %k.kid, alg = %k.alg, "signing key generated");
        }
        drop(conn);
        let passwords = PasswordPool::new(
            settings.argon2,
            settings.password_hash_concurrency,
            settings.password_hash_queue,
        )?;
        Ok(AppState {
            successor_key: SuccessorKey::derive(&kek.derive_subkey(b"refresh-successor")),
            csrf_key: MacKey::derive(&kek.derive_subkey(b"csrf"), b"ostiary anonymous csrf v1"),
            admission: Admission {
                addresses: Buckets::new(settings.throttle.checks_per_address),
                accounts: Buckets::new(settings.throttle.checks_per_account),
                registrations: Buckets::per_hour(settings.registration.per_address_per_hour),
                signups: Buckets::per_hour(settings.signup.per_address_per_hour),
                interactions: Buckets::new(120),
                documents: Buckets::new(30),
                user_codes: Buckets::new(20),
                upstream_logins: Buckets::new(settings.throttle.upstream_logins_per_address),
                resets: Buckets::per_hour(settings.mail.reset_requests_per_address),
            },
            // Re-read keys well within the activation delay, so every replica knows a key before
            // it signs.
            keys: KeyRing::new(kek, Duration::from_secs(settings.key_cache_ttl)),
            outbox: crate::outbox::Waker::default(),
            webauthn: crate::authn::passkey::relying_party(&settings.issuer),
            fetched: crate::fetched::Fetched::new(Duration::from_secs(settings.keys_refetch_pause)),
            caches: Arc::new(crate::cache::Caches::new(settings.cache_sync_ms)),
            discovery: crate::oidc::discovery::metadata(&settings.issuer, &settings)
                .to_string()
                .into(),
            settings: Arc::new(settings),
            pool,
            passwords,
        })
    }
}

/// What the login services (`authn`) use of the state.
impl crate::authn::Server for AppState {
    fn settings(&self) -> &Settings {
        &self.settings
    }

    fn pool(&self) -> &Pool {
        &self.pool
    }

    fn passwords(&self) -> &PasswordPool {
        &self.passwords
    }

    fn admission(&self) -> &Admission {
        &self.admission
    }

    fn kek(&self) -> &Kek {
        self.keys.kek()
    }

    fn outbox(&self) -> &crate::outbox::Waker {
        &self.outbox
    }
}
