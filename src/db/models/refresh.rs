//! Refresh tokens in families. Each rotation is one conditional UPDATE (a compare-and-set on
//! `rotated_at IS NULL`); the successor of a token is derived from the token itself, so a retry
//! inside the (opt-in) grace window recomputes the very successor the first request stored.
//! `liveness` is the one rule that says whether a token may still be used.

use diesel::prelude::*;

use crate::db::schema::{refresh_families as fam, refresh_tokens as tok};
use crate::db::DbConn;

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = fam)]
pub struct FamilyRow {
    pub id: String,
    pub client_id: String,
    pub user_id: Option<String>,
    /// The scope granted with the code; every token of the family carries it (RFC 6749 §6).
    pub scope: String,
    pub auth_time: Option<i64>,
    pub session_id: Option<String>,
    pub created_at: i64,
    /// Absolute end of the family: rotation does not extend it.
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    /// RFC 8176 methods of the login behind the family (for id_tokens on refresh).
    pub amr: Option<String>,
    /// The OIDC `claims` request of the login (JSON), for id_tokens on refresh.
    pub claims: Option<String>,
}

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = tok)]
pub struct TokenRow {
    pub token_hash: String,
    pub family_id: String,
    pub generation: i64,
    pub scope: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub rotated_at: Option<i64>,
    pub successor_hash: Option<String>,
}

pub fn create_family(conn: &mut DbConn, family: &FamilyRow, first: &TokenRow) -> QueryResult<()> {
    crate::db::atomically(conn, |c| {
        crate::execute_prepared!(
            c,
            diesel::insert_into(fam::table).values(family),
            fam::id,
            String
        )?;
        crate::execute_prepared!(
            c,
            diesel::insert_into(tok::table).values(first),
            tok::token_hash,
            String
        )?;
        Ok(())
    })
}

/// The token and its family, whatever their state.
pub fn find(conn: &mut DbConn, token_hash: &str) -> QueryResult<Option<(TokenRow, FamilyRow)>> {
    tok::table
        .inner_join(fam::table)
        .filter(tok::token_hash.eq(token_hash))
        .select((TokenRow::as_select(), FamilyRow::as_select()))
        .first(conn)
        .optional()
}

/// Whether a refresh token can still be used: the one rule behind the token endpoint,
/// introspection and rotation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Liveness {
    Live,
    /// Rotated moments ago and the operator opted into a grace window (`refresh_grace` > 0):
    /// a retry, answered with the same successor.
    RecentlyRotated,
    /// Rotated before: presenting it again is reuse (RFC 9700 §4.14.2), and revokes the family.
    Rotated,
    /// Expired, revoked, or its user is disabled or gone.
    Dead,
}

impl Liveness {
    /// Whether the token may be used (or introspects as active).
    pub fn usable(self) -> bool {
        matches!(self, Liveness::Live | Liveness::RecentlyRotated)
    }
}

/// The liveness of a token judged from its rows alone (the holder is not consulted).
pub fn rows_liveness(row: &TokenRow, family: &FamilyRow, now: i64, grace: i64) -> Liveness {
    if family.revoked_at.is_some() || family.expires_at <= now || row.expires_at <= now {
        return Liveness::Dead;
    }
    match row.rotated_at {
        None => Liveness::Live,
        // A grace of 0 means strict rotation, even within the same second.
        Some(t) if grace > 0 && now - t <= grace => Liveness::RecentlyRotated,
        Some(_) => Liveness::Rotated,
    }
}

/// The liveness of a token: its rows, and whether the user it was issued to may still use it.
pub fn liveness(
    conn: &mut DbConn,
    row: &TokenRow,
    family: &FamilyRow,
    now: i64,
    grace: i64,
) -> QueryResult<Liveness> {
    let by_rows = rows_liveness(row, family, now, grace);
    if by_rows == Liveness::Dead {
        return Ok(by_rows);
    }
    if let Some(uid) = &family.user_id {
        // The holder still exists and is not disabled (read here, not through `users`, which
        // calls into this file when a password change revokes every family).
        let disabled: Option<bool> = crate::db::schema::users::table
            .find(uid)
            .select(crate::db::schema::users::disabled)
            .first(conn)
            .optional()?;
        let holder_ok = disabled == Some(false);
        if !holder_ok {
            return Ok(Liveness::Dead);
        }
    }
    Ok(by_rows)
}

#[derive(Debug, PartialEq, Eq)]
pub enum Rotation {
    /// The successor was stored; this request won the rotation.
    Rotated,
    /// The same token was rotated moments ago to this same successor: answer with it again.
    Retried,
    /// The token was rotated earlier than the grace window allows (or to something else):
    /// treated as theft, and the whole family is now revoked.
    ReuseDetected,
    /// Unknown, expired, or its family was revoked.
    Invalid,
}

/// Rotates `token_hash` to `successor`, or recognises a retry, or detects reuse.
pub fn rotate(
    conn: &mut DbConn,
    token_hash: &str,
    successor: &TokenRow,
    now: i64,
    grace: i64,
) -> QueryResult<Rotation> {
    conn.transaction(|c| {
        // The write comes first: on SQLite a transaction that reads before it writes can fail
        // with SQLITE_BUSY_SNAPSHOT under concurrency, while a first write simply waits its turn.
        let live_families = fam::table
            .select(fam::id)
            .filter(fam::revoked_at.is_null())
            .filter(fam::expires_at.gt(now));
        let won = diesel::update(
            tok::table
                .find(token_hash)
                .filter(tok::rotated_at.is_null())
                .filter(tok::expires_at.gt(now))
                .filter(tok::family_id.eq_any(live_families)),
        )
        .set((
            tok::rotated_at.eq(Some(now)),
            tok::successor_hash.eq(Some(&successor.token_hash)),
        ))
        .execute(c)?;
        if won == 1 {
            diesel::insert_into(tok::table)
                .values(successor)
                .execute(c)?;
            return Ok(Rotation::Rotated);
        }
        // Not ours to rotate: find out why. What another request stored is committed, since our
        // UPDATE waited for its transaction.
        let Some((current, family)) = find(c, token_hash)? else {
            return Ok(Rotation::Invalid);
        };
        match rows_liveness(&current, &family, now, grace) {
            Liveness::Dead => Ok(Rotation::Invalid),
            Liveness::RecentlyRotated
                if current.successor_hash.as_deref() == Some(&successor.token_hash) =>
            {
                Ok(Rotation::Retried)
            }
            _ => {
                revoke_family(c, &family.id, now)?;
                Ok(Rotation::ReuseDetected)
            }
        }
    })
}

pub fn revoke_family(conn: &mut DbConn, family_id: &str, now: i64) -> QueryResult<usize> {
    diesel::update(fam::table.find(family_id).filter(fam::revoked_at.is_null()))
        .set(fam::revoked_at.eq(Some(now)))
        .execute(conn)
}

/// Revokes every family a user holds for a client (consent withdrawn).
pub fn revoke_for_user_client(
    conn: &mut DbConn,
    user_id: &str,
    client_id: &str,
    now: i64,
) -> QueryResult<usize> {
    diesel::update(
        fam::table
            .filter(fam::user_id.eq(user_id))
            .filter(fam::client_id.eq(client_id))
            .filter(fam::revoked_at.is_null()),
    )
    .set(fam::revoked_at.eq(Some(now)))
    .execute(conn)
}

/// Revokes every family a user holds (password changed).
pub fn revoke_for_user(conn: &mut DbConn, user_id: &str, now: i64) -> QueryResult<usize> {
    diesel::update(
        fam::table
            .filter(fam::user_id.eq(user_id))
            .filter(fam::revoked_at.is_null()),
    )
    .set(fam::revoked_at.eq(Some(now)))
    .execute(conn)
}

/// An app (client) holding live refresh tokens of a user: what the account page lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppHolding {
    pub client_id: String,
    /// Every scope its live families carry, sorted.
    pub scope: String,
    /// When its oldest live family was created (the first sign-in still in use).
    pub since: i64,
    /// When its newest token was issued (the last refresh, or the sign-in).
    pub last_used: i64,
}

/// The apps holding live (not revoked, not expired) refresh families of a user, by client id.
pub fn apps_for_user(conn: &mut DbConn, user_id: &str, now: i64) -> QueryResult<Vec<AppHolding>> {
    use diesel::dsl::max;
    let families: Vec<(String, String, i64)> = fam::table
        .filter(fam::user_id.eq(user_id))
        .filter(fam::revoked_at.is_null())
        .filter(fam::expires_at.gt(now))
        .select((fam::client_id, fam::scope, fam::created_at))
        .load(conn)?;
    let newest: Vec<(String, Option<i64>)> = tok::table
        .inner_join(fam::table)
        .filter(fam::user_id.eq(user_id))
        .filter(fam::revoked_at.is_null())
        .filter(fam::expires_at.gt(now))
        .group_by(fam::client_id)
        .select((fam::client_id, max(tok::created_at)))
        .load(conn)?;
    let mut by_client: std::collections::BTreeMap<String, (Vec<String>, i64, i64)> =
        std::collections::BTreeMap::new();
    for (client_id, scope, created) in families {
        let e = by_client
            .entry(client_id)
            .or_insert_with(|| (Vec::new(), created, created));
        e.0.extend(scope.split_ascii_whitespace().map(str::to_owned));
        e.1 = e.1.min(created);
        e.2 = e.2.max(created);
    }
    for (client_id, last) in newest {
        if let (Some(e), Some(last)) = (by_client.get_mut(&client_id), last) {
            e.2 = e.2.max(last);
        }
    }
    Ok(by_client
        .into_iter()
        .map(|(client_id, (mut scopes, since, last_used))| {
            scopes.sort();
            scopes.dedup();
            AppHolding {
                client_id,
                scope: scopes.join(" "),
                since,
                last_used,
            }
        })
        .collect())
}

/// Takes an app's access away from a user: the one rule behind every "revoke" of an app (the
/// account page's apps list, consent withdrawal). The consent goes, so the app must ask again,
/// and every refresh family the user holds for it is revoked, in one transaction.
pub fn revoke_app(
    conn: &mut DbConn,
    user_id: &str,
    client_id: &str,
    now: i64,
) -> QueryResult<usize> {
    conn.transaction(|c| {
        let families = revoke_for_user_client(c, user_id, client_id, now)?;
        crate::db::models::consents::revoke(c, user_id, client_id)?;
        Ok(families)
    })
}
