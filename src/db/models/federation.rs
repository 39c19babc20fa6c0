//! Upstream identity providers, the links from their subjects to local accounts, and the round
//! trips to them under way (`federation` decides; these are the rows).

use diesel::prelude::*;

use crate::db::schema::{upstream_links as ul, upstream_providers as up, upstream_states as us};
use crate::db::DbConn;

#[derive(Clone, Debug, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = up)]
// A replaced provider loses what its new spec leaves out (an icon, a groups claim): `None`
// writes NULL, not "unchanged".
#[diesel(treat_none_as_null = true)]
pub struct ProviderRow {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub issuer: Option<String>,
    pub client_id: String,
    /// Sealed under the KEK with the provider id as context.
    pub client_secret_enc: Option<String>,
    pub scopes: String,
    pub account_policy: String,
    pub trusted_email: bool,
    pub trusted_acr: bool,
    pub username_claim: String,
    pub claim_map: Option<String>,
    pub groups_claim: Option<String>,
    pub upstream_logout: bool,
    pub enabled: bool,
    pub authorization_endpoint: Option<String>,
    pub token_endpoint: Option<String>,
    pub userinfo_endpoint: Option<String>,
    pub claim_paths: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// A plain OAuth 2.0 provider's preset (`github`), whose login reads more than userinfo.
    pub preset: Option<String>,
    /// A small image for the login page's button: a `data:` PNG or SVG URL (`providers::check`).
    pub icon: Option<String>,
    /// Whether name, given and family name are refreshed from the upstream at every login.
    pub sync_claims: bool,
}

pub fn insert(conn: &mut DbConn, row: &ProviderRow) -> QueryResult<()> {
    diesel::insert_into(up::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn replace(conn: &mut DbConn, row: &ProviderRow) -> QueryResult<bool> {
    diesel::update(up::table.find(&row.id))
        .set(row)
        .execute(conn)
        .map(|n| n == 1)
}

pub fn get(conn: &mut DbConn, id: &str) -> QueryResult<Option<ProviderRow>> {
    up::table
        .find(id)
        .select(ProviderRow::as_select())
        .first(conn)
        .optional()
}

pub fn list(conn: &mut DbConn) -> QueryResult<Vec<ProviderRow>> {
    up::table
        .order(up::id.asc())
        .select(ProviderRow::as_select())
        .load(conn)
}

/// Writes provider `id`'s row unchanged (a write first, so SQLite takes its write lock before a
/// transaction reads); the number of rows touched.
pub fn touch(conn: &mut DbConn, id: &str) -> QueryResult<usize> {
    diesel::update(up::table.find(id))
        .set(up::updated_at.eq(up::updated_at))
        .execute(conn)
}

pub fn delete(conn: &mut DbConn, id: &str) -> QueryResult<bool> {
    diesel::delete(up::table.find(id))
        .execute(conn)
        .map(|n| n == 1)
}

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = ul)]
pub struct LinkRow {
    pub provider_id: String,
    pub subject: String,
    pub user_id: String,
    pub created_at: i64,
}

pub fn link_of(conn: &mut DbConn, provider: &str, subject: &str) -> QueryResult<Option<LinkRow>> {
    ul::table
        .find((provider, subject))
        .select(LinkRow::as_select())
        .first(conn)
        .optional()
}

pub fn links_of_user(conn: &mut DbConn, user_id: &str) -> QueryResult<Vec<LinkRow>> {
    ul::table
        .filter(ul::user_id.eq(user_id))
        .order(ul::provider_id.asc())
        .select(LinkRow::as_select())
        .load(conn)
}

pub fn links_of_provider(conn: &mut DbConn, provider: &str) -> QueryResult<Vec<LinkRow>> {
    ul::table
        .filter(ul::provider_id.eq(provider))
        .order(ul::user_id.asc())
        .select(LinkRow::as_select())
        .load(conn)
}

pub fn insert_link(conn: &mut DbConn, row: &LinkRow) -> QueryResult<()> {
    diesel::insert_into(ul::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn delete_link(conn: &mut DbConn, provider: &str, user_id: &str) -> QueryResult<usize> {
    diesel::delete(
        ul::table
            .filter(ul::provider_id.eq(provider))
            .filter(ul::user_id.eq(user_id)),
    )
    .execute(conn)
}

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = us)]
pub struct StateRow {
    pub state_hash: String,
    pub provider_id: String,
    pub browser_hash: String,
    pub payload: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

pub fn insert_state(conn: &mut DbConn, row: &StateRow) -> QueryResult<()> {
    diesel::insert_into(us::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

/// The unspent, unexpired round trip with this state.
pub fn pending_state(conn: &mut DbConn, hash: &str, now: i64) -> QueryResult<Option<StateRow>> {
    us::table
        .find(hash)
        .filter(us::used_at.is_null())
        .filter(us::expires_at.gt(now))
        .select(StateRow::as_select())
        .first(conn)
        .optional()
}

/// Spends a state: one conditional UPDATE, so of two callbacks carrying it only one goes on.
pub fn spend_state(conn: &mut DbConn, hash: &str, now: i64) -> QueryResult<bool> {
    diesel::update(
        us::table
            .find(hash)
            .filter(us::used_at.is_null())
            .filter(us::expires_at.gt(now)),
    )
    .set(us::used_at.eq(now))
    .execute(conn)
    .map(|n| n == 1)
}
