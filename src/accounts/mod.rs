//! What people do with their own account by mail: verify their address, reset a forgotten
//! password, change their address. Each is a service over single-use mailed tokens
//! (`tokens`), called by thin handlers in `web/` (and by sign-up for the first verification).
//! Mails are put in the outbox in the same transaction as the token they carry. No actix types.

pub mod email_change;
pub mod reset;
pub mod tokens;
pub mod verification;

/// A mail that could not be rendered, as the database error type the services return (the
/// transaction that would have stored it is rolled back).
pub(crate) fn render_error(e: askama::Error) -> diesel::result::Error {
    diesel::result::Error::SerializationError(Box::new(e))
}
