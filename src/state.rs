//! What every request handler shares: settings, the database pool, signing keys, password pool.

use std::sync::Arc;
use std::time::Duration;

use crate::authn::admission::Buckets;
use crate::config::Settings;
use crate::crypto::kek::Kek;
use crate::crypto::keys::{self, KeyRing};
use crate::crypto::password::PasswordPool;
use crate::crypto::random::MacKey;
use crate::db::{self, Pool};
use crate::oauth::tokens::SuccessorKey;

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
    /// Clients' fetched `jwks_uri` documents (private_key_jwt), per process.
    pub client_keys: crate::oauth::client_assertion::KeyCache,
    /// The discovery document, rendered once (it depends on the settings only).
    pub discovery: actix_web::web::Bytes,
    /// Clients, user status, the deny-list and verified tokens held in memory (`crate::cache`).
    pub caches: Arc<crate::cache::Caches>,
}

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
                resets: Buckets::per_hour(settings.mail.reset_requests_per_address),
            },
            // Re-read keys well within the activation delay, so every replica knows a key before
            // it signs.
            keys: KeyRing::new(kek, Duration::from_secs(settings.key_cache_ttl)),
            outbox: crate::outbox::Waker::default(),
            webauthn: crate::authn::passkey::relying_party(&settings.issuer),
            client_keys: Default::default(),
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
