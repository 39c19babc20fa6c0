//! Groups and their members. A membership's `source` is `None` when an administrator manages
//! it, or the upstream provider whose logins replace it (`federation::accounts`).

use diesel::prelude::*;

use crate::db::schema::{group_members as gm, groups as g};
use crate::db::DbConn;

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = g)]
pub struct GroupRow {
    pub id: String,
    pub name: String,
    pub description: String,
    pub created_at: i64,
}

pub fn insert(conn: &mut DbConn, row: &GroupRow) -> QueryResult<()> {
    diesel::insert_into(g::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

/// Inserts the group unless one of that name exists (`ON CONFLICT DO NOTHING` on either
/// backend, which the `MultiConnection` does not offer): of two logins making the same group at
/// once, the second neither fails nor aborts its transaction; it reads the first's row after.
pub fn insert_if_absent(conn: &mut DbConn, row: &GroupRow) -> QueryResult<usize> {
    let q = diesel::insert_into(g::table).values(row);
    match conn {
        DbConn::Pg(pg) => q.on_conflict_do_nothing().execute(pg),
        DbConn::Sqlite(lite) => q.on_conflict_do_nothing().execute(lite),
    }
}

pub fn by_name(conn: &mut DbConn, name: &str) -> QueryResult<Option<GroupRow>> {
    g::table
        .filter(g::name.eq(name))
        .select(GroupRow::as_select())
        .first(conn)
        .optional()
}

pub fn list(conn: &mut DbConn) -> QueryResult<Vec<GroupRow>> {
    g::table
        .order(g::name.asc())
        .select(GroupRow::as_select())
        .load(conn)
}

/// The names of the groups `user_id` is a member of (whatever the source), sorted, once each.
pub fn names_of(conn: &mut DbConn, user_id: &str) -> QueryResult<Vec<String>> {
    let mut names: Vec<String> = gm::table
        .inner_join(g::table)
        .filter(gm::user_id.eq(user_id))
        .select(g::name)
        .load(conn)?;
    names.sort();
    names.dedup();
    Ok(names)
}

/// Whether the membership exists with exactly this source.
pub fn is_member(
    conn: &mut DbConn,
    group_id: &str,
    user_id: &str,
    source: Option<&str>,
) -> QueryResult<bool> {
    let q = gm::table
        .filter(gm::group_id.eq(group_id))
        .filter(gm::user_id.eq(user_id))
        .into_boxed();
    let q = match source {
        Some(s) => q.filter(gm::source.eq(s)),
        None => q.filter(gm::source.is_null()),
    };
    q.count().get_result::<i64>(conn).map(|n| n > 0)
}

pub fn add_member(
    conn: &mut DbConn,
    group_id: &str,
    user_id: &str,
    source: Option<&str>,
    now: i64,
) -> QueryResult<()> {
    // Already a member (an administrator added them, or a concurrent login did): kept as is.
    let q = diesel::insert_into(gm::table).values((
        gm::group_id.eq(group_id),
        gm::user_id.eq(user_id),
        gm::source.eq(source),
        gm::created_at.eq(now),
    ));
    match conn {
        DbConn::Pg(pg) => q.on_conflict_do_nothing().execute(pg),
        DbConn::Sqlite(lite) => q.on_conflict_do_nothing().execute(lite),
    }
    .map(|_| ())
}

pub fn remove_member(
    conn: &mut DbConn,
    group_id: &str,
    user_id: &str,
    source: Option<&str>,
) -> QueryResult<usize> {
    let q = gm::table
        .filter(gm::group_id.eq(group_id))
        .filter(gm::user_id.eq(user_id));
    match source {
        Some(s) => diesel::delete(q.filter(gm::source.eq(s))).execute(conn),
        None => diesel::delete(q.filter(gm::source.is_null())).execute(conn),
    }
}

/// Removes every membership of `user_id` that `source` manages.
pub fn remove_sourced(conn: &mut DbConn, user_id: &str, source: &str) -> QueryResult<usize> {
    diesel::delete(
        gm::table
            .filter(gm::user_id.eq(user_id))
            .filter(gm::source.eq(source)),
    )
    .execute(conn)
}

/// Removes every membership that `source` manages, whoever the member.
pub fn remove_all_sourced(conn: &mut DbConn, source: &str) -> QueryResult<usize> {
    diesel::delete(gm::table.filter(gm::source.eq(source))).execute(conn)
}
