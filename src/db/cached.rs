//! Writes prepared once per PostgreSQL connection, where diesel would parse and plan them anew.
//!
//! diesel never caches an UPDATE, nor an INSERT whose values may be `DEFAULT`: their SQL can
//! change with the values. Its cache is keyed by the SQL text (and bind types) whenever a
//! statement has no static id, as these have not, so another text is simply another entry and
//! reuse stays correct; what diesel guards against is unbounded growth, which cannot happen with
//! the fixed shapes used here. On PostgreSQL each uncached statement was parsed and planned anew:
//! a tenth of the database's CPU in a login and code flow. The override only takes effect where
//! diesel asks the statement itself (its load path; `execute` asks a reference, which walks the
//! statement), so on PostgreSQL `execute_prepared!` runs a write as `… RETURNING key` and counts
//! the rows; SQLite (in-process, no planner round trip) executes it as before.

use diesel::backend::Backend;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::{QueryResult, RunQueryDsl};

/// `Cached(statement)`: the statement, prepared once per connection.
#[derive(Debug, Clone, Copy)]
pub struct Cached<Q>(pub Q);

impl<Q> QueryId for Cached<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<DB: Backend, Q: QueryFragment<DB>> QueryFragment<DB> for Cached<Q> {
    fn walk_ast<'b>(&'b self, pass: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.0.walk_ast(pass)
    }

    fn is_safe_to_cache_prepared(&self, _backend: &DB) -> QueryResult<bool> {
        Ok(true)
    }
}

impl<Q: Query> Query for Cached<Q> {
    type SqlType = Q::SqlType;
}

impl<Q, Conn> RunQueryDsl<Conn> for Cached<Q> {}

/// Executes an INSERT, UPDATE or DELETE (`$stmt`) and returns the number of rows it touched;
/// prepared once per connection on PostgreSQL, where it returns `$key` (of Rust type `$ty`) to
/// count them.
#[macro_export]
macro_rules! execute_prepared {
    ($conn:expr, $stmt:expr, $key:expr, $ty:ty) => {
        match &mut *$conn {
            $crate::db::DbConn::Pg(pg) => $crate::db::cached::Cached($stmt.returning($key))
                .load::<$ty>(pg)
                .map(|rows| rows.len()),
            other => $stmt.execute(other),
        }
    };
}
