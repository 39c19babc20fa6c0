//! Rows and the queries on them, one file per table group. Plain diesel DSL that both backends
//! of the `MultiConnection` accept: no RETURNING, no ON CONFLICT, no batch insert; atomicity
//! comes from conditional UPDATE/DELETE and their affected-row counts.

pub mod account_tokens;
pub mod audit;
pub mod backchannel;
pub mod client_assertions;
pub mod clients;
pub mod codes;
pub mod consents;
pub mod denylist;
pub mod device_codes;
pub mod factors;
pub mod federation;
pub mod groups;
pub mod initial_access_tokens;
pub mod interactions;
pub mod login_throttle;
pub mod outbox;
pub mod pushed_requests;
pub mod refresh;
pub mod server_settings;
pub mod sessions;
pub mod setup;
pub mod signing_keys;
pub mod signup_invites;
pub mod user_email;
pub mod users;

#[cfg(test)]
mod tests;
