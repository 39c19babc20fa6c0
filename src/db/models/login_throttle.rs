//! Failure counters for password checks, one row per (scope, subject): scope `account` with the
//! prepared username (existing or not), scope `address` with the client address. A counter whose
//! last failure is older than the window starts again from one.

use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error};

use crate::db::schema::login_throttle as lt;
use crate::db::DbConn;

pub const ACCOUNT_SCOPE: &str = "account";
pub const ADDRESS_SCOPE: &str = "address";

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = lt)]
pub struct Counter {
    pub scope: String,
    pub subject: String,
    pub failures: i64,
    pub last_failure_at: i64,
}

pub fn get(conn: &mut DbConn, scope: &str, subject: &str) -> QueryResult<Option<Counter>> {
    lt::table
        .find((scope, subject))
        .select(Counter::as_select())
        .first(conn)
        .optional()
}

/// The account's counter and, if given, the address's, in one query.
pub fn get_pair(
    conn: &mut DbConn,
    account: &str,
    address: Option<&str>,
) -> QueryResult<Vec<Counter>> {
    let by_account = lt::scope.eq(ACCOUNT_SCOPE).and(lt::subject.eq(account));
    let q = lt::table.select(Counter::as_select());
    match address {
        Some(a) => q
            .filter(by_account.or(lt::scope.eq(ADDRESS_SCOPE).and(lt::subject.eq(a))))
            .load(conn),
        None => q.filter(by_account).load(conn),
    }
}

/// Counts one failure and returns the count now stored. Each statement is atomic on its own (no
/// ON CONFLICT in the MultiConnection): an increment of a fresh row, else a restart, and when two
/// requests race to insert, the loser increments the winner's row.
pub fn record_failure(
    conn: &mut DbConn,
    scope: &str,
    subject: &str,
    now: i64,
    window: i64,
) -> QueryResult<i64> {
    let fresh = lt::table
        .find((scope, subject))
        .filter(lt::last_failure_at.ge(now - window));
    let bump = |c: &mut DbConn| {
        diesel::update(fresh)
            .set((
                lt::failures.eq(lt::failures + 1),
                lt::last_failure_at.eq(now),
            ))
            .execute(c)
    };
    if bump(conn)? == 0 {
        diesel::delete(lt::table.find((scope, subject))).execute(conn)?;
        let inserted = diesel::insert_into(lt::table)
            .values((
                lt::scope.eq(scope),
                lt::subject.eq(subject),
                lt::failures.eq(1i64),
                lt::last_failure_at.eq(now),
            ))
            .execute(conn);
        match inserted {
            Ok(_) => return Ok(1),
            Err(Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
                bump(conn)?;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(get(conn, scope, subject)?.map_or(1, |c| c.failures))
}

/// Forgets the failures of one subject (a successful login, or an administrator's unlock).
pub fn clear(conn: &mut DbConn, scope: &str, subject: &str) -> QueryResult<usize> {
    diesel::delete(lt::table.find((scope, subject))).execute(conn)
}

/// Subjects of `scope` whose last failure is at or after `since`, most recent first.
pub fn recent(conn: &mut DbConn, scope: &str, since: i64, limit: i64) -> QueryResult<Vec<Counter>> {
    lt::table
        .filter(lt::scope.eq(scope))
        .filter(lt::last_failure_at.ge(since))
        .order(lt::last_failure_at.desc())
        .limit(limit)
        .select(Counter::as_select())
        .load(conn)
}
