//! Removing rows that have outlived their use, in bounded batches: each batch is one short
//! statement (`DELETE … WHERE key IN (SELECT key … LIMIT n)`), so a large backlog never holds a
//! long lock, and replicas sweeping at the same time only share the work.

use diesel::sql_types::BigInt;
use diesel::RunQueryDsl;

use super::DbConn;

/// Rows deleted per statement.
pub const BATCH: i64 = 500;
/// Batches per table in one pass; what is left waits for the next pass.
pub const MAX_BATCHES: usize = 40;

/// One kind of leftover: rows of `table` (primary key `key`) whose `column` is below a cutoff.
pub struct Sweep {
    pub table: &'static str,
    pub key: &'static str,
    pub column: &'static str,
}

/// Deletes up to `MAX_BATCHES × BATCH` rows of `sweep` with `column < cutoff`.
pub fn sweep(conn: &mut DbConn, s: &Sweep, cutoff: i64) -> diesel::QueryResult<usize> {
    let (t, k, c) = (s.table, s.key, s.column);
    let sql = match conn {
        DbConn::Pg(_) => {
            format!("DELETE FROM {t} WHERE {k} IN (SELECT {k} FROM {t} WHERE {c} < $1 LIMIT $2)")
        }
        DbConn::Sqlite(_) => {
            format!("DELETE FROM {t} WHERE {k} IN (SELECT {k} FROM {t} WHERE {c} < ? LIMIT ?)")
        }
    };
    let mut total = 0;
    for _ in 0..MAX_BATCHES {
        let n = diesel::sql_query(&sql)
            .bind::<BigInt, _>(cutoff)
            .bind::<BigInt, _>(BATCH)
            .execute(conn)?;
        total += n;
        if (n as i64) < BATCH {
            break;
        }
    }
    Ok(total)
}
