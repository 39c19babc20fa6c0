//! What the web pages, the admin console and the CLI share about people proving who they are:
//! the one password check (admission, lockout, argon2, records), second factors (TOTP, passkeys,
//! recovery codes), the methods and classes a login reaches (`acr`), and the rules behind them.
//! Below `web/` and `cli/` (and below `oauth/`/`oidc/`, which use `acr`), above `db/` and
//! `crypto/`; knows no actix types, nor `AppState`: the services take what they need through
//! `Server`, which the composition root implements.

pub mod acr;
pub mod admission;
pub mod interaction;
pub mod journey;
pub mod login;
pub mod passkey;
pub mod password;
pub mod recovery;
pub mod requirement;
pub mod second_factor;
pub mod throttle;
pub mod totp;

use crate::config::Settings;
use crate::crypto::kek::Kek;
use crate::crypto::password::PasswordPool;
use crate::db::Pool;

/// What the login services need of the running server: its settings, the database pool, the
/// password-hash pool, this process's admission buckets, the key-encryption key (TOTP secrets)
/// and the outbox sender's waker. `AppState` provides it.
pub trait Server: Send + Sync + 'static {
    fn settings(&self) -> &Settings;
    fn pool(&self) -> &Pool;
    fn passwords(&self) -> &PasswordPool;
    fn admission(&self) -> &admission::Admission;
    fn kek(&self) -> &Kek;
    fn outbox(&self) -> &crate::outbox::Waker;
}
