//! Pure types and rules that every layer may use: no I/O, no database, no settings. The bottom
//! of the dependency graph beside `config` (which may use it) and `random`.

pub mod audit;
pub mod claims;
pub mod email;
pub mod grants;
pub mod ids;
pub mod net;
pub mod signing;
pub mod text;
pub mod time;
pub mod username;
