use diesel::prelude::*;

use crate::db::cached::Cached;

use crate::db::schema::authorization_codes as codes;
use crate::db::DbConn;

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = codes)]
pub struct CodeRow {
    /// SHA-256 of the code; the code itself is never stored.
    pub code_hash: String,
    pub client_id: String,
    pub user_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub session_id: Option<String>,
    pub auth_time: i64,
    /// oxide-auth grant extensions (PKCE data), serialised.
    pub extensions: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub consumed_at: Option<i64>,
    /// What was issued from the code, so a replay can revoke it.
    pub family_id: Option<String>,
    pub access_jti: Option<String>,
    /// RFC 8176 methods of the login the code was issued in, space-separated.
    pub amr: Option<String>,
    /// Whether the authorization request carried `redirect_uri` (then the token request must
    /// repeat it, RFC 6749 §4.1.3).
    pub redirect_uri_given: bool,
    /// The OIDC `claims` request released with the code (JSON), if any.
    pub claims: Option<String>,
}

pub fn insert(conn: &mut DbConn, row: &CodeRow) -> QueryResult<()> {
    crate::execute_prepared!(
        conn,
        diesel::insert_into(codes::table).values(row),
        codes::code_hash,
        String
    )
    .map(|_| ())
}

/// What redeeming a code found.
#[derive(Debug)]
pub enum Redeem {
    /// This caller won the single use.
    Fresh(CodeRow),
    /// The code was already used: the caller must revoke what it produced.
    Replayed(CodeRow),
    /// Unknown or expired.
    Invalid,
}

/// Marks the code used with one conditional UPDATE, so of two concurrent redemptions exactly
/// one sees `Fresh`. On PostgreSQL the winner gets the row back from the UPDATE itself.
pub fn redeem(conn: &mut DbConn, code_hash: &str, now: i64) -> QueryResult<Redeem> {
    let unspent = codes::table
        .find(code_hash)
        .filter(codes::consumed_at.is_null())
        .filter(codes::expires_at.gt(now));
    let consume = diesel::update(unspent).set(codes::consumed_at.eq(Some(now)));
    let won = match conn {
        DbConn::Pg(pg) => {
            if let Some(row) = Cached(consume.returning(CodeRow::as_returning()))
                .get_result(pg)
                .optional()?
            {
                return Ok(Redeem::Fresh(row));
            }
            0
        }
        _ => consume.execute(conn)?,
    };
    let row = codes::table
        .find(code_hash)
        .select(CodeRow::as_select())
        .first(conn)
        .optional()?;
    Ok(match (won, row) {
        (1, Some(row)) => Redeem::Fresh(row),
        (_, Some(row)) if row.consumed_at.is_some() => Redeem::Replayed(row),
        _ => Redeem::Invalid,
    })
}

/// The redirect URI a live code was issued for and whether the authorization request named
/// it, without spending the code (the token request's `redirect_uri` rule, RFC 6749 §4.1.3).
pub fn redirect_of(
    conn: &mut DbConn,
    code_hash: &str,
    now: i64,
) -> QueryResult<Option<(String, String, bool)>> {
    codes::table
        .find(code_hash)
        .filter(codes::consumed_at.is_null())
        .filter(codes::expires_at.gt(now))
        .select((
            codes::client_id,
            codes::redirect_uri,
            codes::redirect_uri_given,
        ))
        .first(conn)
        .optional()
}

/// Remembers what the code produced (for revocation on replay).
pub fn record_issued(
    conn: &mut DbConn,
    code_hash: &str,
    family_id: Option<&str>,
    access_jti: &str,
) -> QueryResult<usize> {
    crate::execute_prepared!(
        conn,
        diesel::update(codes::table.find(code_hash)).set((
            codes::family_id.eq(family_id),
            codes::access_jti.eq(Some(access_jti)),
        )),
        codes::code_hash,
        String
    )
}
