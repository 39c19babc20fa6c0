use diesel::prelude::*;

use crate::db::schema::consents;
use crate::db::DbConn;

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = consents)]
pub struct ConsentRow {
    pub user_id: String,
    pub client_id: String,
    /// Space-separated, sorted: every scope the user has allowed this client.
    pub scope: String,
    pub created_at: i64,
    pub updated_at: i64,
}

pub fn get(conn: &mut DbConn, user_id: &str, client_id: &str) -> QueryResult<Option<ConsentRow>> {
    consents::table
        .find((user_id, client_id))
        .select(ConsentRow::as_select())
        .first(conn)
        .optional()
}

/// Records that the user allowed `scope` (merged with what was allowed before). Two first
/// consents of one user to one client can race (two tabs, two flows in flight): both see no row
/// and both insert; the loser's transaction (a savepoint when nested) is rolled back and run again,
/// when it finds the winner's row and merges into it.
pub fn grant(
    conn: &mut DbConn,
    user_id: &str,
    client_id: &str,
    scope: &[&str],
    now: i64,
) -> QueryResult<()> {
    use diesel::result::{DatabaseErrorKind, Error};
    match conn.transaction(|c| grant_once(c, user_id, client_id, scope, now)) {
        Err(Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
            conn.transaction(|c| grant_once(c, user_id, client_id, scope, now))
        }
        other => other,
    }
}

fn grant_once(
    c: &mut DbConn,
    user_id: &str,
    client_id: &str,
    scope: &[&str],
    now: i64,
) -> QueryResult<()> {
    // Write first (see refresh::rotate): touching the row takes SQLite's write lock.
    diesel::update(consents::table.find((user_id, client_id)))
        .set(consents::updated_at.eq(now))
        .execute(c)?;
    let existing = get(c, user_id, client_id)?;
    let mut all: Vec<String> = existing
        .as_ref()
        .map(|e| {
            e.scope
                .split_ascii_whitespace()
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    all.extend(scope.iter().map(|s| s.to_string()));
    all.sort();
    all.dedup();
    let joined = all.join(" ");
    if existing.is_some() {
        diesel::update(consents::table.find((user_id, client_id)))
            .set((consents::scope.eq(&joined), consents::updated_at.eq(now)))
            .execute(c)?;
    } else {
        diesel::insert_into(consents::table)
            .values(&ConsentRow {
                user_id: user_id.to_owned(),
                client_id: client_id.to_owned(),
                scope: joined,
                created_at: now,
                updated_at: now,
            })
            .execute(c)?;
    }
    Ok(())
}

pub fn for_user(conn: &mut DbConn, user_id: &str) -> QueryResult<Vec<ConsentRow>> {
    consents::table
        .filter(consents::user_id.eq(user_id))
        .order(consents::created_at.asc())
        .select(ConsentRow::as_select())
        .load(conn)
}

pub fn revoke(conn: &mut DbConn, user_id: &str, client_id: &str) -> QueryResult<usize> {
    diesel::delete(consents::table.find((user_id, client_id))).execute(conn)
}

/// Forgets every user's consent to `client_id` (each user is asked again).
pub fn revoke_all_for_client(conn: &mut DbConn, client_id: &str) -> QueryResult<usize> {
    diesel::delete(consents::table.filter(consents::client_id.eq(client_id))).execute(conn)
}
