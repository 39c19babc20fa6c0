//! What the oxide-auth primitives of one request share: a pooled connection, the settings, the
//! signing keys, and a record of what happened that the protocol layer turns into precise
//! errors (oxide-auth's own errors are coarser than RFC 6749 wants).

use std::cell::{Cell, RefCell, RefMut};
use std::sync::Arc;

use crate::cache::Caches;
use crate::config::Settings;
use crate::crypto::keys::{KeyRing, KeySet};
use crate::db::models::clients::Client;
use crate::db::models::codes::CodeRow;
use crate::db::models::users::User;
use crate::db::{Pool, PooledConn};
use crate::oauth::errors::{ErrorCode, ProtocolError};
use crate::oauth::tokens::{Issued, SuccessorKey};

/// What a protocol request borrows from the server's shared state: the composition root
/// (`AppState::protocol`) lends it, so the protocol layer never sees the whole state.
#[derive(Clone, Copy)]
pub struct Server<'a> {
    pub settings: &'a Arc<Settings>,
    pub pool: &'a Pool,
    pub keys: &'a KeyRing,
    pub caches: &'a Arc<Caches>,
    pub successor_key: &'a SuccessorKey,
}

/// A context without a database connection, for serving from the caches on an async worker:
/// `None` when the caches or the signing keys are not fresh. Whatever needs the database then
/// fails and marks the context (`needed_database`); the caller runs the request again on the
/// blocking pool with `open`. Only for requests that change nothing before they first read.
pub fn inline(state: Server<'_>) -> Option<Ctx> {
    if !state.caches.fresh() {
        return None;
    }
    let keys = state.keys.cached()?;
    Some(Ctx::new(state, keys, None, crate::db::now()))
}

/// Runs `f` in an `inline` context: its result when the caches held everything it read,
/// `None` when the request must run again on the blocking pool (caches not fresh, or `f` needed
/// the database). Counted per `endpoint` in `ostiary_cached_requests_total`.
pub fn try_inline<T>(
    state: Server<'_>,
    endpoint: &str,
    f: impl FnOnce(&mut Ctx) -> T,
) -> Option<T> {
    let served = inline(state).and_then(|mut ctx| {
        let result = f(&mut ctx);
        (!ctx.needed_database()).then_some(result)
    });
    crate::metrics::cached_request(endpoint, served.is_some());
    served
}

/// A context with a pooled connection, or "temporarily unavailable".
pub fn pooled(state: Server<'_>) -> Result<Ctx, ProtocolError> {
    let (conn, keys) = open(state)?;
    Ok(Ctx::new(state, keys, Some(conn), crate::db::now()))
}

/// A pooled connection and the current signing keys, or "temporarily unavailable".
pub fn open(state: Server<'_>) -> Result<(PooledConn, Arc<KeySet>), ProtocolError> {
    let busy = || {
        ProtocolError::new(
            ErrorCode::TemporarilyUnavailable,
            "the server is busy; retry shortly",
        )
    };
    let waited = std::time::Instant::now();
    let mut conn = state.pool.get().map_err(|e| {
        tracing::error!(error = %e, "no database connection");
        busy()
    })?;
    crate::metrics::db_wait(waited.elapsed());
    let keys = state
        .keys
        .current(&mut conn)
        .map_err(ProtocolError::server_error)?;
    Ok((conn, keys))
}

/// Failures noticed inside the primitives, for error mapping after the flow returns.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum Noted {
    #[default]
    Nothing,
    /// A requested scope is not allowed for the client.
    ScopeNotAllowed,
    /// The authorization code was unknown, expired or already used.
    BadCode,
    /// PKCE verification failed or its verifier was missing.
    PkceFailed,
    /// A public client asked without a PKCE challenge.
    PkceRequired,
    /// The refresh token was unknown, expired, revoked or reused.
    BadRefreshToken,
    /// The authorization request has no response_type.
    ResponseTypeMissing,
    /// The database failed.
    Storage,
    /// The database could not be reached (answered 503, like a pool timeout).
    Unavailable,
}

pub struct Ctx {
    pub settings: Arc<Settings>,
    pub keys: Arc<KeySet>,
    /// `None` on the inline path (`inline`).
    conn: RefCell<Option<PooledConn>>,
    /// Set when something needed the database on the inline path.
    needed_database: Cell<bool>,
    caches: Arc<Caches>,
    pub now: i64,
    /// The client this request is about, loaded once.
    pub client: RefCell<Option<Arc<Client>>>,
    /// The client authenticated at the token endpoint (by `client_auth`), if any.
    pub authenticated_client: Option<String>,
    /// For a `private_key_jwt` request: the client's keys and the audiences its assertion may
    /// name, resolved (and fetched, for a `jwks_uri`) before this blocking section began.
    pub assertion_keys: Option<AssertionKeys>,
    pub noted: RefCell<Noted>,
    /// The code redeemed by this request, for linking what gets issued to it.
    pub redeemed_code: RefCell<Option<CodeRow>>,
    /// What the issuer produced.
    pub issued: RefCell<Option<Issued>>,
    /// The user the grant is for, loaded once per request.
    user: RefCell<Option<User>>,
    /// Authorization-request data the Authorizer stores with the code.
    pub code_context: RefCell<CodeContext>,
}

/// What verifying a client assertion needs from outside the blocking section.
#[derive(Clone, Debug)]
pub struct AssertionKeys {
    pub keys: serde_json::Value,
    pub audiences: Vec<String>,
}

/// OIDC and session data carried from the authorization request through the code.
#[derive(Clone, Debug, Default)]
pub struct CodeContext {
    pub nonce: Option<String>,
    pub session_id: Option<String>,
    pub auth_time: i64,
    /// RFC 8176 methods of the session's login, space-separated.
    pub amr: Option<String>,
    /// Whether the authorization request carried `redirect_uri` (RFC 6749 §4.1.3).
    pub redirect_uri_given: bool,
    /// The `claims` request the client may be answered (`claims_request`), as stored.
    pub claims: Option<String>,
}

impl Ctx {
    pub fn new(state: Server<'_>, keys: Arc<KeySet>, conn: Option<PooledConn>, now: i64) -> Self {
        Ctx {
            settings: state.settings.clone(),
            keys,
            conn: RefCell::new(conn),
            needed_database: Cell::new(false),
            caches: state.caches.clone(),
            now,
            client: RefCell::new(None),
            authenticated_client: None,
            assertion_keys: None,
            noted: RefCell::new(Noted::Nothing),
            redeemed_code: RefCell::new(None),
            issued: RefCell::new(None),
            code_context: RefCell::new(CodeContext::default()),
            user: RefCell::new(None),
        }
    }

    /// The request's connection; on the inline path an error (and the context remembers that
    /// the request must go to the blocking pool).
    pub fn conn(&self) -> diesel::QueryResult<RefMut<'_, PooledConn>> {
        RefMut::filter_map(self.conn.borrow_mut(), Option::as_mut).map_err(|_| {
            self.needed_database.set(true);
            crate::cache::needs_database()
        })
    }

    /// The connection when there is one (none on the inline path), for readers that try the
    /// caches first; pass what they return through `checked`.
    pub fn conn_if_any(&self) -> Option<RefMut<'_, PooledConn>> {
        RefMut::filter_map(self.conn.borrow_mut(), Option::as_mut).ok()
    }

    /// Passes a result through, remembering when it failed for want of a connection.
    pub fn checked<T>(&self, r: diesel::QueryResult<T>) -> diesel::QueryResult<T> {
        if let Err(e) = &r {
            if crate::cache::is_needs_database(e) {
                self.needed_database.set(true);
            }
        }
        r
    }

    /// Runs `f` as one transaction on PostgreSQL, where every commit waits for a WAL flush: a
    /// code exchange makes three (consume, issue, link) where one will do, and atomically, so a
    /// replay can no longer see the code consumed but not yet linked to what it issued. On SQLite
    /// (no flush per commit in WAL mode) statements commit one by one as before: a deferred
    /// transaction that read first could not take the write lock later. A protocol refusal
    /// keeps what it wrote (a consumed code stays consumed); a storage failure rolls back.
    pub fn one_commit<T>(
        &self,
        f: impl FnOnce() -> Result<T, ProtocolError>,
    ) -> Result<T, ProtocolError> {
        use diesel::connection::{AnsiTransactionManager, TransactionManager};
        let began = match self.conn_if_any().as_deref_mut().map(|c| &mut **c) {
            Some(crate::db::DbConn::Pg(pg)) => {
                AnsiTransactionManager::begin_transaction(pg)?;
                true
            }
            _ => false,
        };
        if !began {
            return f();
        }
        let result = f();
        let mut conn = self.conn()?;
        let crate::db::DbConn::Pg(pg) = &mut **conn else {
            return result;
        };
        // A statement that failed unnoticed (a swallowed error) aborted the transaction, and
        // PostgreSQL would turn the COMMIT into a ROLLBACK without an error: diesel tracks
        // libpq's transaction status after every statement.
        use diesel::connection::TransactionManagerStatus;
        let aborted = match AnsiTransactionManager::transaction_manager_status_mut(pg) {
            TransactionManagerStatus::InError => true,
            TransactionManagerStatus::Valid(v) => v
                .in_transaction
                .as_ref()
                .is_none_or(|t| t.requires_rollback_maybe_up_to_top_level),
        };
        if aborted || matches!(self.noted(), Noted::Storage | Noted::Unavailable) {
            AnsiTransactionManager::rollback_transaction(pg)?;
            // Nothing of what `f` wrote stays, so nothing it issued may go out.
            return Err(self
                .storage_failure()
                .unwrap_or_else(|| ProtocolError::server_error("a statement failed")));
        }
        AnsiTransactionManager::commit_transaction(pg)?;
        // What a model function inside noted as written is committed only now (see `cache`).
        crate::db::writes::note_deny_write();
        result
    }

    pub fn caches(&self) -> &crate::cache::Caches {
        &self.caches
    }

    /// Whether this (inline) context met something only the database could answer.
    pub fn needed_database(&self) -> bool {
        self.needed_database.get()
    }

    pub fn note(&self, n: Noted) {
        *self.noted.borrow_mut() = n;
    }

    pub fn noted(&self) -> Noted {
        *self.noted.borrow()
    }

    /// Notes a failed statement: the database away, or another storage failure.
    pub fn note_storage(&self, e: &diesel::result::Error) {
        self.note(if crate::db::is_unavailable(e) {
            Noted::Unavailable
        } else {
            Noted::Storage
        });
    }

    /// The answer for a storage failure noted during this request, if there was one: 503 when
    /// the database was away, else 500.
    pub fn storage_failure(&self) -> Option<ProtocolError> {
        match self.noted() {
            Noted::Storage => Some(ProtocolError::server_error("storage failure")),
            Noted::Unavailable => Some(ProtocolError::new(
                ErrorCode::TemporarilyUnavailable,
                "the server is busy; retry shortly",
            )),
            _ => None,
        }
    }

    /// The user with this id, loaded once per request (the grant checks it is enabled, the
    /// id_token reads its claims).
    pub fn user(&self, user_id: &str) -> diesel::QueryResult<Option<User>> {
        if let Some(u) = self.user.borrow().as_ref() {
            if u.id == user_id {
                return Ok(Some(u.clone()));
            }
        }
        let loaded = {
            let mut conn = self.conn()?;
            crate::db::models::users::by_id(&mut conn, user_id)?
        };
        self.user.borrow_mut().clone_from(&loaded);
        Ok(loaded)
    }

    /// The client with this id, loaded once per request.
    pub fn client(&self, client_id: &str) -> Option<Arc<Client>> {
        if let Some(c) = self.client.borrow().as_ref() {
            if c.row.client_id == client_id {
                return Some(c.clone());
            }
        }
        // No client id has control characters; PostgreSQL refuses a NUL byte in text outright
        // (a 500 from a malformed request): such an id is simply unknown.
        if client_id.is_empty() || client_id.len() > 2048 || client_id.chars().any(char::is_control)
        {
            return None;
        }
        if let Some(c) = self.caches.client(client_id) {
            *self.client.borrow_mut() = Some(c.clone());
            return Some(c);
        }
        let loaded = self.conn().and_then(|mut conn| {
            // A disabled client is unknown to every protocol endpoint.
            self.caches
                .load_client(&mut conn, client_id)
                .map(|c| c.filter(|c| !c.row.disabled))
        });
        if self.needed_database() {
            return None;
        }
        match loaded {
            Ok(found) => {
                *self.client.borrow_mut() = found.clone();
                found
            }
            Err(e) => {
                tracing::error!(error = %e, "loading client failed");
                self.note_storage(&e);
                None
            }
        }
    }
}
