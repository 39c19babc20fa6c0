//! Single-use links mailed to users (email verification, password reset, email change): only the
//! SHA-256 of each 256-bit token is stored, and a token is spent by one conditional UPDATE
//! (`used_at IS NULL AND expires_at > now`), so two clicks, two tabs or two replicas never both
//! use it.

use diesel::prelude::*;

use crate::db::schema::account_tokens;
use crate::db::DbConn;

/// What a token lets its holder do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    VerifyEmail,
    ResetPassword,
    ChangeEmail,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::VerifyEmail => "verify_email",
            Kind::ResetPassword => "reset_password",
            Kind::ChangeEmail => "change_email",
        }
    }
}

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = account_tokens)]
pub struct AccountToken {
    pub token_hash: String,
    pub kind: String,
    pub user_id: String,
    pub email: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

pub fn insert(conn: &mut DbConn, token: &AccountToken) -> QueryResult<()> {
    diesel::insert_into(account_tokens::table)
        .values(token)
        .execute(conn)
        .map(|_| ())
}

/// The token if it is of `kind`, unused and unexpired; nothing is changed (for pages that show
/// a form before the token is spent).
pub fn live(
    conn: &mut DbConn,
    token_hash: &str,
    kind: Kind,
    now: i64,
) -> QueryResult<Option<AccountToken>> {
    account_tokens::table
        .find(token_hash)
        .filter(account_tokens::kind.eq(kind.as_str()))
        .filter(account_tokens::used_at.is_null())
        .filter(account_tokens::expires_at.gt(now))
        .select(AccountToken::as_select())
        .first(conn)
        .optional()
}

/// Spends the token: the one conditional UPDATE decides, then the row is read back. `None` when
/// it is unknown, of another kind, used or expired. Call inside the transaction that does what
/// the token allows, so a failure there leaves the token unspent.
pub fn consume(
    conn: &mut DbConn,
    token_hash: &str,
    kind: Kind,
    now: i64,
) -> QueryResult<Option<AccountToken>> {
    let n = diesel::update(
        account_tokens::table
            .find(token_hash)
            .filter(account_tokens::kind.eq(kind.as_str()))
            .filter(account_tokens::used_at.is_null())
            .filter(account_tokens::expires_at.gt(now)),
    )
    .set(account_tokens::used_at.eq(now))
    .execute(conn)?;
    if n != 1 {
        return Ok(None);
    }
    account_tokens::table
        .find(token_hash)
        .select(AccountToken::as_select())
        .first(conn)
        .optional()
}

/// Spends every unused token of `kind` the user holds (after a reset, the other reset links die).
pub fn retire_for_user(
    conn: &mut DbConn,
    user_id: &str,
    kind: Kind,
    now: i64,
) -> QueryResult<usize> {
    diesel::update(
        account_tokens::table
            .filter(account_tokens::user_id.eq(user_id))
            .filter(account_tokens::kind.eq(kind.as_str()))
            .filter(account_tokens::used_at.is_null()),
    )
    .set(account_tokens::used_at.eq(now))
    .execute(conn)
}

/// Spends every unused token the user holds, of every kind: each was mailed under the
/// account's old address or password (`accounts::manage`'s credential cascade).
pub fn retire_all_for_user(conn: &mut DbConn, user_id: &str, now: i64) -> QueryResult<usize> {
    diesel::update(
        account_tokens::table
            .filter(account_tokens::user_id.eq(user_id))
            .filter(account_tokens::used_at.is_null()),
    )
    .set(account_tokens::used_at.eq(now))
    .execute(conn)
}

/// Tokens of `kind` issued to the user at or after `since` (how many links were mailed lately).
pub fn issued_since(conn: &mut DbConn, user_id: &str, kind: Kind, since: i64) -> QueryResult<i64> {
    account_tokens::table
        .filter(account_tokens::user_id.eq(user_id))
        .filter(account_tokens::kind.eq(kind.as_str()))
        .filter(account_tokens::created_at.ge(since))
        .count()
        .get_result(conn)
}

pub fn delete_expired(conn: &mut DbConn, before: i64) -> QueryResult<usize> {
    diesel::delete(account_tokens::table.filter(account_tokens::expires_at.lt(before)))
        .execute(conn)
}
