//! OIDC Back-Channel Logout, the database side: when sessions end, every client holding tokens
//! from them (a refresh family or an authorization code) that registered a
//! `backchannel_logout_uri` gets an outbox row, and the sessions' refresh tokens are revoked —
//! in the transaction that ends the sessions. `crate::backchannel` signs and delivers.

use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::db::models::outbox;
use crate::db::schema::{authorization_codes, clients, refresh_families};
use crate::db::DbConn;
use crate::random;

/// The outbox kind of a logout token delivery.
pub const KIND: &str = "backchannel_logout";

/// What a delivery needs; the token itself is signed when it is sent.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Notice {
    pub client_id: String,
    pub uri: String,
    /// The user (`sub`).
    pub user_id: String,
    /// The session's id hash (its `sid` is derived from it, as in id_tokens).
    pub session: String,
    pub jti: String,
}

/// The clients the sessions `ending` (lineages, as codes and families name them) signed into:
/// (session, client_id, user_id) for every refresh family or authorization code issued in them,
/// each once. Back-channel notices and front-channel frames (`oidc::frontchannel`) both go to
/// these clients.
pub fn signed_into(
    conn: &mut DbConn,
    ending: &[String],
) -> QueryResult<Vec<(String, String, String)>> {
    let mut holders: Vec<(Option<String>, String, Option<String>)> = refresh_families::table
        .filter(refresh_families::session_id.eq_any(ending))
        .select((
            refresh_families::session_id,
            refresh_families::client_id,
            refresh_families::user_id,
        ))
        .load(conn)?;
    let codes: Vec<(Option<String>, String, String)> = authorization_codes::table
        .filter(authorization_codes::session_id.eq_any(ending))
        .select((
            authorization_codes::session_id,
            authorization_codes::client_id,
            authorization_codes::user_id,
        ))
        .load(conn)?;
    holders.extend(codes.into_iter().map(|(s, c, u)| (s, c, Some(u))));
    let mut pairs: Vec<(String, String, String)> = holders
        .into_iter()
        .filter_map(|(s, c, u)| Some((s?, c, u?)))
        .collect();
    pairs.sort();
    pairs.dedup();
    Ok(pairs)
}

/// Notices (and revocations) for sessions `ending` (id hashes); returns the notices queued.
pub fn sessions_ending(conn: &mut DbConn, ending: &[String], now: i64) -> QueryResult<usize> {
    if ending.is_empty() {
        return Ok(0);
    }
    let mut queued = 0;
    for (session, client_id, user_id) in signed_into(conn, ending)? {
        let uri: Option<Option<String>> = clients::table
            .find(&client_id)
            .filter(clients::disabled.eq(false))
            .select(clients::backchannel_logout_uri)
            .first(conn)
            .optional()?;
        let Some(Some(uri)) = uri else { continue };
        let notice = Notice {
            client_id,
            uri: uri.clone(),
            user_id,
            session,
            jti: random::token::<16>(),
        };
        let payload = serde_json::to_string(&notice)
            .map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?;
        outbox::queue(conn, KIND, &uri, payload, now)?;
        queued += 1;
    }
    // The session's refresh tokens die with it — except offline_access ones, which were asked
    // for to outlive the session (Back-Channel Logout §2.7) — and its unredeemed codes with them.
    diesel::update(
        refresh_families::table
            .filter(refresh_families::session_id.eq_any(ending))
            .filter(refresh_families::revoked_at.is_null())
            .filter(refresh_families::scope.not_like("%offline_access%")),
    )
    .set(refresh_families::revoked_at.eq(Some(now)))
    .execute(conn)?;
    diesel::update(
        authorization_codes::table
            .filter(authorization_codes::session_id.eq_any(ending))
            .filter(authorization_codes::consumed_at.is_null()),
    )
    .set(authorization_codes::consumed_at.eq(Some(now)))
    .execute(conn)?;
    Ok(queued)
}
