//! Clients that register themselves (RFC 7591) and manage their registration (RFC 7592), and
//! the initial access tokens of the `token` policy. The metadata rules are
//! `oauth::registration` (through `client_policy::validate`); storing is here.

use diesel::QueryResult;
use serde_json::Value;

use super::{write, Client, StoreError, Tx};
use crate::config::RegistrationSettings;
use crate::db::models::clients::{self as rows, ORIGIN_DYNAMIC};
use crate::db::models::initial_access_tokens::{self, InitialAccessToken};
use crate::db::DbConn;
use crate::oauth::registration::{self as rules, RegistrationError};
use crate::random;

/// Why a registration write failed.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// RFC 7591 §3.2.2: the metadata is refused.
    #[error("{}", .0.description())]
    Invalid(RegistrationError),
    /// The initial or registration access token is unknown, expired, revoked or used up.
    #[error("the access token is not valid")]
    Unauthorized,
    #[error(transparent)]
    Storage(#[from] diesel::result::Error),
}

/// `/register`: validates `metadata` within the deployment's policy, uses up one use of the
/// initial access token (when the policy asks for one) and stores the client, in one
/// transaction: a refused registration keeps the token's use, a used-up token stores nothing.
pub fn register(
    conn: &mut DbConn,
    metadata: &Value,
    sector: Option<Result<Vec<String>, String>>,
    policy: &RegistrationSettings,
    initial_token: Option<&str>,
    now: i64,
) -> Result<rules::Registered, RegisterError> {
    let registered =
        rules::register(metadata, sector, policy, now).map_err(RegisterError::Invalid)?;
    write(conn, |tx| {
        if let Some(t) = initial_token {
            if !initial_access_tokens::consume(tx.conn(), &random::sha256_hex(t), now)? {
                return Err(RegisterError::Unauthorized);
            }
        }
        tx.insert(&registered.client).map_err(refused)?;
        Ok(registered)
    })
}

/// Whether `token` is the registration access token of `client` (a self-registered, enabled
/// client); the same answer for every other case.
pub fn token_fits(client: &Client, token: &str) -> bool {
    client.row.origin == ORIGIN_DYNAMIC
        && !client.row.disabled
        && client
            .row
            .registration_token_hash
            .as_deref()
            .is_some_and(|h| random::verify_sha256_hex(token, h))
}

/// The self-registered client whose registration access token `token` is, read from the
/// database (RFC 7592 reads must see the token just rotated).
pub fn authorized(conn: &mut DbConn, client_id: &str, token: &str) -> QueryResult<Option<Client>> {
    Ok(rows::by_id(conn, client_id)?.filter(|c| token_fits(c, token)))
}

/// RFC 7592 §2.1 and §3: the client reads its registration, answered with a new registration
/// access token (tokens are stored hashed, so the one presented cannot be shown again; §3
/// allows issuing a new one with any response, and the client must then use it). The old token
/// ends in the same transaction, by one conditional write: of two reads racing with one token,
/// one gets a new token and the other a 401, never two valid tokens.
pub fn read(
    conn: &mut DbConn,
    client_id: &str,
    token: &str,
    now: i64,
) -> Result<(Client, String), RegisterError> {
    write(conn, |tx| {
        let mut client = owned(tx, client_id, token, now)?;
        let old = client
            .row
            .registration_token_hash
            .clone()
            .ok_or(RegisterError::Unauthorized)?;
        let fresh = random::registration_token();
        let hash = random::sha256_hex(&fresh);
        if rows::rotate_registration_token(tx.conn(), client_id, &old, &hash, now)? != 1 {
            return Err(RegisterError::Unauthorized);
        }
        client.row.registration_token_hash = Some(hash);
        Ok((client, fresh))
    })
}

/// A registration replaced (RFC 7592 §2.2): the client as stored, its new secret when it got one,
/// and its new registration access token.
pub struct Replaced {
    pub client: Client,
    pub secret: Option<String>,
    pub registration_token: String,
}

/// RFC 7592 §2.2: the client's registration replaced by `metadata`, with a new registration
/// access token; what an administrator set stays and consents end when redirect hosts or scopes
/// grow (`Tx::replace_registration`). The token is checked
/// again inside the transaction, so two updates racing with one token cannot both succeed.
pub fn replace(
    conn: &mut DbConn,
    client_id: &str,
    token: &str,
    metadata: &Value,
    sector: Option<Result<Vec<String>, String>>,
    policy: &RegistrationSettings,
    now: i64,
) -> Result<Replaced, RegisterError> {
    write(conn, |tx| {
        let existing = owned(tx, client_id, token, now)?;
        let (mut client, secret) = rules::replace(&existing, metadata, sector, policy, now)
            .map_err(RegisterError::Invalid)?;
        let registration_token = random::registration_token();
        client.row.registration_token_hash = Some(random::sha256_hex(&registration_token));
        tx.replace_registration(&existing, &mut client)
            .map_err(refused)?;
        Ok(Replaced {
            client,
            secret,
            registration_token,
        })
    })
}

/// RFC 7592 §2.3: the client deletes its registration.
pub fn remove(conn: &mut DbConn, client_id: &str, token: &str) -> Result<(), RegisterError> {
    write(conn, |tx| {
        owned(tx, client_id, token, crate::db::now())?;
        tx.remove(client_id).map_err(unauthorized)
    })
}

/// The client `token` is the registration access token of, locked for this transaction.
fn owned(tx: &mut Tx<'_>, client_id: &str, token: &str, now: i64) -> Result<Client, RegisterError> {
    let client = tx.locked(client_id, now).map_err(unauthorized)?;
    if token_fits(&client, token) {
        Ok(client)
    } else {
        Err(RegisterError::Unauthorized)
    }
}

/// A write the store refused (a name that would pass for another client's, `names`) as
/// RFC 7591 §3.2.2 answers it: `invalid_client_metadata`, fields named as RFC 7591 names them.
fn refused(e: StoreError) -> RegisterError {
    match e {
        StoreError::Invalid(errors) => RegisterError::Invalid(rules::from_field_errors(errors)),
        other => unauthorized(other),
    }
}

/// A store error as RFC 7592 answers it: an unknown client is an unauthorized token.
fn unauthorized(e: StoreError) -> RegisterError {
    match e {
        StoreError::Storage(e) => RegisterError::Storage(e),
        _ => RegisterError::Unauthorized,
    }
}

/// Whether `token` is an initial access token that could register now (not using it up).
pub fn initial_token_is_live(conn: &mut DbConn, token: &str, now: i64) -> QueryResult<bool> {
    initial_access_tokens::is_live(conn, &random::sha256_hex(token), now)
}

/// Creates an initial access token (RFC 7591 §3): `uses` registrations (None: any number),
/// valid `expires_in` seconds (None: until revoked). Returns the token, shown once; only its
/// hash is stored. The console and the CLI both create them here.
pub fn create_initial_token(
    conn: &mut DbConn,
    uses: Option<i64>,
    expires_in: Option<i64>,
    note: Option<String>,
    now: i64,
) -> QueryResult<(String, InitialAccessToken)> {
    let token = random::initial_access_token();
    let row = InitialAccessToken {
        token_hash: random::sha256_hex(&token),
        uses_left: uses,
        expires_at: expires_in.map(|s| now + s),
        created_at: now,
        revoked_at: None,
        // Shown in the console's list: only what is shown as itself (`domain::text`).
        note: note
            .map(|n| crate::domain::text::without_invisible(&n))
            .filter(|n| !n.is_empty()),
    };
    initial_access_tokens::insert(conn, &row)?;
    Ok((token, row))
}

/// Revokes the initial access token whose id (`token_id`) is `id`; 0: none active.
pub fn revoke_initial_token(conn: &mut DbConn, id: &str, now: i64) -> QueryResult<usize> {
    initial_access_tokens::revoke(conn, id, now)
}

/// What the console and the CLI show as an initial access token's id (never the token).
pub fn token_id(row: &InitialAccessToken) -> &str {
    &row.token_hash[..12]
}

/// An initial access token as the console and the CLI list it.
pub struct TokenInfo {
    pub id: String,
    /// `revoked`, `expired`, `used up` or `active`.
    pub state: &'static str,
    /// `any` or a number.
    pub uses_left: String,
    pub expires_at: Option<i64>,
    pub note: String,
}

/// Every initial access token, newest first, with its state at `now`.
pub fn initial_tokens(conn: &mut DbConn, now: i64) -> QueryResult<Vec<TokenInfo>> {
    Ok(initial_access_tokens::list(conn)?
        .iter()
        .map(|r| TokenInfo {
            id: token_id(r).to_owned(),
            state: if r.revoked_at.is_some() {
                "revoked"
            } else if r.expires_at.is_some_and(|e| e <= now) {
                "expired"
            } else if r.uses_left == Some(0) {
                "used up"
            } else {
                "active"
            },
            uses_left: r.uses_left.map_or("any".into(), |u| u.to_string()),
            expires_at: r.expires_at,
            note: r.note.clone().unwrap_or_default(),
        })
        .collect())
}
