//! Rows and the queries on them, one file per table group. Plain diesel DSL that both backends
//! of the `MultiConnection` accept: no RETURNING, no ON CONFLICT; atomicity comes from
//! conditional UPDATE/DELETE and their affected-row counts.

pub mod audit;
pub mod clients;
pub mod signing_keys;
#[cfg(test)]
mod tests;
pub mod users;
