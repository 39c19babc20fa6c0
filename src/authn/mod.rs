//! What the web pages, the admin console and the CLI share about people proving who they are:
//! the one password check (admission, lockout, argon2, records), second factors (TOTP, passkeys,
//! recovery codes), the methods and classes a login reaches (`acr`), and the rules behind them.
//! Below `web/` and `cli/`, above `db/` and `crypto/`; knows no actix types.

pub mod acr;
pub mod admission;
pub mod interaction;
pub mod login;
pub mod passkey;
pub mod password;
pub mod recovery;
pub mod requirement;
pub mod second_factor;
pub mod signup;
pub mod throttle;
pub mod totp;
