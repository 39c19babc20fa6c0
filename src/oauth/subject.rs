//! The `sub` a client sees (OIDC Core §8): the user's id for `public` clients, and for
//! `pairwise` ones `base64url(SHA-256(sector ‖ 0x00 ‖ user_id ‖ 0x00 ‖ salt))`, the sector being
//! the host of the client's `sector_identifier_uri`, else of its redirect URIs (§8.1; the client
//! policy makes sure there is one). The salt is server-wide, random, created once in the
//! database (never the key-encryption key). Every pairwise sub given out is remembered
//! (`pairwise_subjects`), so a sub a client hands back finds its user ([`user_of`]).

use aws_lc_rs::digest;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error};

use crate::db::models::clients::Client;
use crate::db::models::server_settings;
use crate::db::schema::pairwise_subjects as ps;
use crate::db::DbConn;

pub const PUBLIC: &str = "public";
pub const PAIRWISE: &str = "pairwise";
pub const SUPPORTED: [&str; 2] = [PUBLIC, PAIRWISE];

/// The server_settings row holding the salt.
const SALT: &str = "pairwise_salt";

/// The client's sector when it is pairwise; `None` for public clients.
pub fn sector(client: &Client) -> Option<String> {
    // Every token issued asks this: a client whose stored metadata does not even mention
    // "pairwise" (nearly all) is public without parsing its JSON.
    if !client
        .row
        .metadata
        .as_deref()
        .is_some_and(|m| m.contains(PAIRWISE))
    {
        return None;
    }
    let m = client.metadata();
    if m.get("subject_type").and_then(|v| v.as_str()) != Some(PAIRWISE) {
        return None;
    }
    let host = |u: &str| {
        url::Url::parse(u)
            .ok()
            .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
    };
    match m.get("sector_identifier_uri").and_then(|v| v.as_str()) {
        Some(u) => host(u),
        None => client.redirect_uris.first().and_then(|u| host(u)),
    }
}

pub fn is_pairwise(client: &Client) -> bool {
    sector(client).is_some()
}

/// The `sub` `client` sees for `user_id`. Touches the database only for pairwise clients.
pub fn for_client(conn: &mut DbConn, client: &Client, user_id: &str) -> QueryResult<String> {
    let Some(sector) = sector(client) else {
        return Ok(user_id.to_owned());
    };
    let salt = salt(conn)?;
    let mut input = Vec::with_capacity(sector.len() + user_id.len() + salt.len() + 2);
    input.extend_from_slice(sector.as_bytes());
    input.push(0);
    input.extend_from_slice(user_id.as_bytes());
    input.push(0);
    input.extend_from_slice(salt.as_bytes());
    let sub = URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, &input));
    let known: Option<String> = ps::table
        .find((&sector, &sub))
        .select(ps::user_id)
        .first(conn)
        .optional()?;
    if known.is_none() {
        insert_if_absent(conn, |c| {
            diesel::insert_into(ps::table)
                .values((
                    ps::sector.eq(&sector),
                    ps::sub.eq(&sub),
                    ps::user_id.eq(user_id),
                ))
                .execute(c)
                .map(|_| ())
        })?;
    }
    Ok(sub)
}

/// The user a `sub` that `client` was given names: the sub itself for public clients, the
/// remembered one for pairwise clients (`None`: not a sub this server gave this sector).
pub fn user_of(conn: &mut DbConn, client: &Client, sub: &str) -> QueryResult<Option<String>> {
    let Some(sector) = sector(client) else {
        return Ok(Some(sub.to_owned()));
    };
    ps::table
        .find((&sector, sub))
        .select(ps::user_id)
        .first(conn)
        .optional()
}

/// The server-wide salt, created on first use: several replicas may race to create it, the
/// first insert wins and everyone reads that one.
fn salt(conn: &mut DbConn) -> QueryResult<String> {
    if let Some(s) = server_settings::get(conn, SALT)? {
        return Ok(s);
    }
    let fresh = crate::random::token::<32>();
    insert_if_absent(conn, |c| {
        diesel::insert_into(crate::db::schema::server_settings::table)
            .values((
                crate::db::schema::server_settings::name.eq(SALT),
                crate::db::schema::server_settings::value.eq(&fresh),
                crate::db::schema::server_settings::updated_at.eq(crate::db::now()),
            ))
            .execute(c)
            .map(|_| ())
    })?;
    server_settings::get(conn, SALT)?.ok_or(Error::NotFound)
}

/// Runs an insert in a savepoint (a nested transaction, so a lost race does not abort an
/// enclosing PostgreSQL transaction); a unique violation means another writer was first.
fn insert_if_absent(
    conn: &mut DbConn,
    insert: impl FnOnce(&mut DbConn) -> QueryResult<()>,
) -> QueryResult<()> {
    match conn.transaction(insert) {
        Ok(()) | Err(Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// The user an access token names: its `sub` resolved through the client it was issued to
/// (`None`: no user; client_credentials tokens name their client, which no user id equals).
/// Reads the caches first; the database only for pairwise clients or an uncached client.
pub fn user_of_token(
    conn: Option<&mut DbConn>,
    caches: &crate::cache::Caches,
    claims: &crate::domain::claims::AccessClaims,
) -> QueryResult<Option<String>> {
    let client = caches.client(&claims.client_id);
    if client.as_deref().is_some_and(|c| !is_pairwise(c)) {
        return Ok(Some(claims.sub.clone()));
    }
    let conn = conn.ok_or_else(crate::cache::needs_database)?;
    let client = match client {
        Some(c) => Some(c),
        None => caches.load_client(conn, &claims.client_id)?,
    };
    match client {
        Some(c) => user_of(conn, &c, &claims.sub),
        None => Ok(Some(claims.sub.clone())),
    }
}
