use diesel::prelude::*;

use crate::db::schema::users;
use crate::db::DbConn;

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
pub struct User {
    /// Stable, never reassigned: the OIDC `sub`.
    pub id: String,
    pub username: String,
    pub email: String,
    pub email_verified: bool,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub password_hash: String,
    pub is_admin: bool,
    pub disabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
    /// `domain::email::email_key(email)`, unique (a database constraint).
    pub email_key: Option<String>,
    /// `domain::username::Username::skeleton` of `username`, unique (a database constraint);
    /// `None` only on rows written before it existed, until `fill_skeletons` has run.
    pub username_skeleton: Option<String>,
    /// The other standard claims, JSON (`accounts::profile::Profile`); `None`: none filled in.
    pub profile_claims: Option<String>,
}

pub fn insert(conn: &mut DbConn, user: &User) -> QueryResult<()> {
    let _written = crate::db::writes::Written::users();
    diesel::insert_into(users::table)
        .values(user)
        .execute(conn)
        .map(|_| ())
}

/// The user with this username, which must already be prepared
/// (`account_policy::prepare_username`): names are stored prepared, so equality is exact.
pub fn by_username(conn: &mut DbConn, username: &str) -> QueryResult<Option<User>> {
    users::table
        .filter(users::username.eq(username))
        .select(User::as_select())
        .first(conn)
        .optional()
}

/// The user whose name has the confusable skeleton `skeleton`
/// (`domain::username::Username::skeleton`).
pub fn by_skeleton(conn: &mut DbConn, skeleton: &str) -> QueryResult<Option<User>> {
    users::table
        .filter(users::username_skeleton.eq(skeleton))
        .select(User::as_select())
        .first(conn)
        .optional()
}

/// Gives every row written before usernames had skeletons its skeleton (SQL cannot compute one,
/// so `db::run_migrations` calls this after migrating, on every start). Oldest first: of two
/// look-alike names an earlier version let in, the older keeps the skeleton and the younger
/// stays `None` (still usable, but no third look-alike gets past the one holding it). Each row
/// is one conditional UPDATE outside any transaction, so a racing replica or a new account that
/// took the skeleton first only makes this row stay `None`. Returns how many rows were filled.
pub fn fill_skeletons(conn: &mut DbConn) -> QueryResult<usize> {
    use diesel::result::{DatabaseErrorKind, Error};
    let missing: Vec<(String, String)> = users::table
        .filter(users::username_skeleton.is_null())
        .order((users::created_at.asc(), users::id.asc()))
        .select((users::id, users::username))
        .load(conn)?;
    let mut filled = 0;
    for (id, username) in missing {
        let skeleton = crate::domain::username::skeleton_of(&username);
        let taken = users::table
            .filter(users::username_skeleton.eq(&skeleton))
            .count()
            .get_result::<i64>(conn)?
            > 0;
        if taken {
            continue;
        }
        match diesel::update(
            users::table
                .find(&id)
                .filter(users::username_skeleton.is_null()),
        )
        .set(users::username_skeleton.eq(&skeleton))
        .execute(conn)
        {
            Ok(n) => filled += n,
            Err(Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

pub fn by_id(conn: &mut DbConn, id: &str) -> QueryResult<Option<User>> {
    users::table
        .find(id)
        .select(User::as_select())
        .first(conn)
        .optional()
}

pub fn list(
    conn: &mut DbConn,
    search: Option<&str>,
    limit: i64,
    offset: i64,
) -> QueryResult<Vec<User>> {
    let mut q = users::table.select(User::as_select()).into_boxed();
    if let Some(s) = search.filter(|s| !s.is_empty()) {
        let pattern = format!("%{}%", s.replace(['%', '_'], ""));
        q = q.filter(
            users::username
                .like(pattern.clone())
                .or(users::email.like(pattern)),
        );
    }
    q.order(users::username.asc())
        .limit(limit)
        .offset(offset)
        .load(conn)
}

pub fn count(conn: &mut DbConn) -> QueryResult<i64> {
    users::table.count().get_result(conn)
}

/// Disables or enables a user; disabling also ends their browser sessions, whichever path
/// (CLI or admin console) does it.
/// Marks the account disabled or enabled (what that ends is `accounts::manage`'s).
pub fn set_disabled(conn: &mut DbConn, id: &str, disabled: bool, now: i64) -> QueryResult<usize> {
    let _written = crate::db::writes::Written::users();
    diesel::update(users::table.find(id))
        .set((users::disabled.eq(disabled), users::updated_at.eq(now)))
        .execute(conn)
}

pub fn set_admin(conn: &mut DbConn, id: &str, is_admin: bool, now: i64) -> QueryResult<usize> {
    diesel::update(users::table.find(id))
        .set((users::is_admin.eq(is_admin), users::updated_at.eq(now)))
        .execute(conn)
}

/// A person's profile columns (`accounts::profile` checks them first).
pub struct ProfileColumns<'a> {
    pub name: Option<&'a str>,
    pub given_name: Option<&'a str>,
    pub family_name: Option<&'a str>,
    pub claims: Option<&'a str>,
}

pub fn set_profile(
    conn: &mut DbConn,
    id: &str,
    p: ProfileColumns<'_>,
    now: i64,
) -> QueryResult<usize> {
    diesel::update(users::table.find(id))
        .set((
            users::name.eq(p.name),
            users::given_name.eq(p.given_name),
            users::family_name.eq(p.family_name),
            users::profile_claims.eq(p.claims),
            users::updated_at.eq(now),
        ))
        .execute(conn)
}

/// Stores a new password hash (what that ends is `accounts::manage`'s).
pub fn set_password_hash(conn: &mut DbConn, id: &str, hash: &str, now: i64) -> QueryResult<usize> {
    diesel::update(users::table.find(id))
        .set((users::password_hash.eq(hash), users::updated_at.eq(now)))
        .execute(conn)
}
