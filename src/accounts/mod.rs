//! What people do with their own account by mail: verify their address, reset a forgotten
//! password, change their address. Each is a service over single-use mailed tokens
//! (`tokens`), called by thin handlers in `web/`; and sign-up (`signup`: policy, invitations,
//! account creation with its first verification mail).
//! Mails are put in the outbox in the same transaction as the token they carry. No actix types.

pub mod create;
pub mod email_change;
pub mod manage;
pub mod profile;
pub mod reset;
pub mod signup;
pub mod tokens;
pub mod verification;
