//! A user's email address: finding accounts by address, marking an address verified, changing
//! it. Addresses compare by `domain::email::email_key` (lower-cased, IDNA domain); they are
//! unique by rule (`in_use` before every write, for a friendly message) and by a
//! unique index on `users.email_key` (for the race between two writes).

use diesel::prelude::*;

use crate::db::models::users::User;
use crate::db::schema::users;
use crate::db::DbConn;

diesel::define_sql_function!(fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text);

/// Users whose address is `key`, oldest first (at most a few).
pub fn users_with_email(conn: &mut DbConn, key: &str) -> QueryResult<Vec<User>> {
    users::table
        .filter(lower(users::email).eq(key))
        .order(users::created_at.asc())
        .limit(5)
        .select(User::as_select())
        .load(conn)
}

/// Whether an account uses the address `key` (`domain::email::email_key`).
pub fn in_use(conn: &mut DbConn, key: &str) -> QueryResult<bool> {
    users_with_email(conn, key).map(|u| !u.is_empty())
}

/// Whether an account other than `user_id` uses the address `key`.
pub fn in_use_by_other(conn: &mut DbConn, key: &str, user_id: &str) -> QueryResult<bool> {
    users_with_email(conn, key).map(|u| u.iter().any(|u| u.id != user_id))
}

/// Marks the user's address verified, if it still is `key`: one conditional UPDATE, so a link
/// mailed to an address the account has since left verifies nothing. True when it did.
pub fn mark_verified(conn: &mut DbConn, user_id: &str, key: &str, now: i64) -> QueryResult<bool> {
    let n = diesel::update(
        users::table
            .find(user_id)
            .filter(lower(users::email).eq(key)),
    )
    .set((users::email_verified.eq(true), users::updated_at.eq(now)))
    .execute(conn)?;
    Ok(n == 1)
}

/// Sets a new address, verified (it was just proven by a mailed link).
pub fn set_verified_email(
    conn: &mut DbConn,
    user_id: &str,
    email: &str,
    now: i64,
) -> QueryResult<usize> {
    diesel::update(users::table.find(user_id))
        .set((
            users::email.eq(email),
            users::email_key.eq(Some(crate::domain::email::email_key(email))),
            users::email_verified.eq(true),
            users::updated_at.eq(now),
        ))
        .execute(conn)
}
