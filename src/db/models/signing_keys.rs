use diesel::prelude::*;

use crate::db::schema::signing_keys;
use crate::db::DbConn;

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = signing_keys)]
pub struct SigningKeyRow {
    pub kid: String,
    pub alg: String,
    pub public_jwk: String,
    /// AES-256-GCM under the key-encryption key, bound to `kid`.
    pub private_key_enc: String,
    pub created_at: i64,
    /// The key signs from this moment; it is published in JWKS from `created_at`.
    pub activate_at: i64,
    /// Published until then; `None` while it may still sign.
    pub publish_until: Option<i64>,
}

pub fn insert(conn: &mut DbConn, row: &SigningKeyRow) -> QueryResult<()> {
    diesel::insert_into(signing_keys::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn all(conn: &mut DbConn) -> QueryResult<Vec<SigningKeyRow>> {
    signing_keys::table
        .order((signing_keys::alg.asc(), signing_keys::activate_at.asc()))
        .select(SigningKeyRow::as_select())
        .load(conn)
}

/// Keys that are still published at `now`.
pub fn published(conn: &mut DbConn, now: i64) -> QueryResult<Vec<SigningKeyRow>> {
    signing_keys::table
        .filter(
            signing_keys::publish_until
                .is_null()
                .or(signing_keys::publish_until.gt(now)),
        )
        .order((signing_keys::alg.asc(), signing_keys::activate_at.asc()))
        .select(SigningKeyRow::as_select())
        .load(conn)
}

/// Schedules every still-open key of `alg` other than `except` to leave JWKS at `until`.
pub fn schedule_retirement(
    conn: &mut DbConn,
    alg: &str,
    except: &str,
    until: i64,
) -> QueryResult<usize> {
    diesel::update(
        signing_keys::table
            .filter(signing_keys::alg.eq(alg))
            .filter(signing_keys::kid.ne(except))
            .filter(signing_keys::publish_until.is_null()),
    )
    .set(signing_keys::publish_until.eq(Some(until)))
    .execute(conn)
}
