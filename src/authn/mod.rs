//! What the web pages, the admin console and the CLI share about people proving who they are:
//! the one password check (admission, lockout, argon2, records) and the rules behind it.
//! Below `web/` and `cli/`, above `db/` and `crypto/`; knows no actix types.

pub mod admission;
pub mod interaction;
pub mod login;
pub mod password;
pub mod signup;
pub mod throttle;
