//! The client store: every way a client comes to exist or change goes through here — the
//! console, the CLI, `ostiary apply`, `/register` and RFC 7592 (`registration`), and Client ID
//! Metadata Documents (`document`).
//!
//! - **Reads** go through the in-process cache (`cache::Caches::load_client`) where the caller
//!   has one (the server); the CLI reads the database.
//! - **Writes** are functions of [`Tx`], which only [`write`] hands out: one transaction, and
//!   once it has ended this process's client write counter (`db::writes`) is bumped, so a read
//!   of this process that raced the commit is not kept by the cache (`cache::Table::put`) and
//!   what was cached before is dropped. Other processes see the change through the
//!   `cache_generations` triggers. `db::models::clients` holds the rows and one-statement
//!   primitives and knows nothing of caches or rules.
//! - **One policy.** Every client is admitted by `oauth::client_policy::admit`, which knows who
//!   registers it (an administrator, the client itself, a metadata document) and what each may
//!   do. When anyone but an administrator replaces a registration (RFC 7592, a refreshed
//!   document), [`keep_admin_fields`] keeps what an administrator set (the least `acr`, the
//!   token-exchange audiences, disabling, verifying) and [`Tx::replace_registration`] ends what
//!   the change must end (remembered consents when codes could go somewhere new).
//!
//! Never call [`write`] inside a transaction of your own (the counter would move before that
//! outer commit): do the other writes on [`Tx::conn`] instead.

pub mod document;
pub mod names;
pub mod registration;
pub mod sector;

use std::sync::Arc;

use diesel::{Connection, QueryResult};

use crate::cache::Caches;
use crate::db::models::clients as rows;
pub use crate::db::models::clients::{Client, ClientRow, ORIGIN_ADMIN};
use crate::db::DbConn;
use crate::oauth::client_policy::{self, ClientSpec, FieldError, Registrant};
use crate::random;

/// Why a write was refused.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldError>),
    #[error("no such client")]
    NotFound,
    #[error("a public client has no secret")]
    Public,
    #[error(transparent)]
    Storage(#[from] diesel::result::Error),
}

/// The client, enabled or not: through the cache when there is one.
pub fn get(
    caches: Option<&Caches>,
    conn: &mut DbConn,
    client_id: &str,
) -> QueryResult<Option<Arc<Client>>> {
    match caches {
        Some(c) => c.load_client(conn, client_id),
        None => Ok(rows::by_id(conn, client_id)?.map(Arc::new)),
    }
}

/// Every client's row, by name.
pub fn list(conn: &mut DbConn) -> QueryResult<Vec<ClientRow>> {
    rows::list(conn)
}

/// A transaction of the store (see the module comment); made only by [`write`].
pub struct Tx<'c> {
    conn: &'c mut DbConn,
}

/// Runs `f` in one transaction; afterwards (committed or rolled back) this process's caches of
/// clients forget what they hold and any read that raced the commit.
pub fn write<T, E>(conn: &mut DbConn, f: impl FnOnce(&mut Tx<'_>) -> Result<T, E>) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    let result = conn.transaction(|c| f(&mut Tx { conn: c }));
    crate::db::writes::note_client_write();
    result
}

/// A client an administrator registers (console, CLI, `ostiary apply`).
#[derive(Debug, Default)]
pub struct NewClient<'a> {
    pub spec: ClientSpec,
    /// `None`: a fresh random id.
    pub client_id: Option<&'a str>,
    /// The secret of a client that authenticates with one; `None`: a fresh random one.
    pub secret: Option<&'a str>,
    pub disabled: bool,
}

/// A client just stored, with its secret when the store made one (shown once).
#[derive(Debug)]
pub struct Created {
    pub client: Client,
    pub secret: Option<String>,
}

/// What an administrator's registration stores (the plan of `ostiary apply` shows the same).
pub fn new_by_admin(new: &NewClient<'_>, now: i64) -> Result<Created, Vec<FieldError>> {
    let id = new
        .client_id
        .map(str::to_owned)
        .unwrap_or_else(random::client_id);
    let mut client = client_policy::admit(&new.spec, &id, Registrant::Admin, now)?;
    let secret = match new.secret {
        Some(s) => Some(s.to_owned()),
        None => Some(random::client_secret()),
    }
    .filter(|_| client_policy::uses_secret(&client.row.auth_method));
    client.row.secret_hash = secret.as_deref().map(random::sha256_hex);
    client.row.disabled = new.disabled;
    let generated = secret.filter(|_| new.secret.is_none());
    Ok(Created {
        client,
        secret: generated,
    })
}

/// What an administrator's edit of `existing` stores: every field of the spec (an application
/// type it leaves out stays as it was); the secret stays only while the client authenticates
/// with one (switching to keys or to public retires it); the stored extra metadata stays, with
/// the keys (`jwks`, `jwks_uri`), the privacy policy and terms (`policy_uri`, `tos_uri`), the
/// signed-userinfo algorithm and the request-object metadata as the spec has them; origin,
/// creation, verification,
/// disabling and the registration access token stay as they are.
pub fn edited_by_admin(
    existing: &Client,
    spec: &ClientSpec,
    now: i64,
) -> Result<Client, Vec<FieldError>> {
    let mut spec = spec.clone();
    if spec.application_type.is_none() {
        spec.application_type = Some(existing.row.application_type.clone());
    }
    let mut client = client_policy::admit(&spec, &existing.row.client_id, Registrant::Admin, now)?;
    let r = &existing.row;
    client.row.secret_hash = r
        .secret_hash
        .clone()
        .filter(|_| client_policy::uses_secret(&client.row.auth_method));
    client.row.created_at = r.created_at;
    client.row.origin = r.origin.clone();
    client.row.verified = r.verified;
    client.row.disabled = r.disabled;
    client.row.registration_token_hash = r.registration_token_hash.clone();
    let mut metadata = existing.metadata();
    let edited = client.metadata();
    for key in [
        "jwks",
        "jwks_uri",
        "policy_uri",
        "tos_uri",
        "userinfo_signed_response_alg",
        "subject_type",
        "sector_identifier_uri",
    ]
    .into_iter()
    .chain(crate::oauth::request_object::METADATA)
    {
        match edited.get(key) {
            Some(v) => metadata.insert(key.to_owned(), v.clone()),
            None => metadata.remove(key),
        };
    }
    client.row.metadata =
        (!metadata.is_empty()).then(|| serde_json::Value::Object(metadata).to_string());
    Ok(client)
}

/// The administrator's exceptions, in one place: when anyone but an administrator replaces a
/// client's registration (the client itself by RFC 7592, its metadata document), what an
/// administrator decided stays — the least `acr`, the token-exchange audiences, disabling, the
/// origin and creation time — and a verification stays only while what users see of the client
/// (name, logo, site, redirect URIs) is unchanged.
pub fn keep_admin_fields(existing: &Client, client: &mut Client) {
    let r = &existing.row;
    client.row.minimum_acr = r.minimum_acr.clone();
    client.row.token_exchange_audiences = r.token_exchange_audiences.clone();
    client.row.disabled = r.disabled;
    client.row.origin = r.origin.clone();
    client.row.created_at = r.created_at;
    client.row.verified = r.verified && !client.presentation_differs(existing);
}

/// Whether users' remembered consents still stand when `existing` becomes `client`: a user
/// consented to codes going to the hosts of its redirect URIs, for its scopes. A redirect URI on
/// a host (scheme, host and port) it did not have, or a scope it did not have, and they do not:
/// else a leaked registration access token (or a taken-over document host) could move the
/// redirect and silently collect codes from everyone who consented before.
pub fn consents_survive(existing: &Client, client: &Client) -> bool {
    fn hosts(c: &Client) -> std::collections::BTreeSet<String> {
        c.redirect_uris
            .iter()
            .map(|u| match url::Url::parse(u) {
                Ok(p) => format!(
                    "{}://{}:{}",
                    p.scheme(),
                    p.host_str().unwrap_or(""),
                    p.port_or_known_default().unwrap_or(0)
                ),
                // Never stored (every URI is parsed when admitted); compared whole.
                Err(_) => u.clone(),
            })
            .collect()
    }
    let scopes_kept = client.scopes().all(|s| existing.scopes().any(|e| e == s));
    scopes_kept && hosts(client).is_subset(&hosts(existing))
}

impl Tx<'_> {
    /// The connection, for writes to other tables in the same transaction (an audit row, the
    /// registration policy, an initial access token's use).
    pub fn conn(&mut self) -> &mut DbConn {
        self.conn
    }

    /// Audits what this transaction did to `client_id`, in it.
    pub fn audit(
        &mut self,
        actor: &crate::audit::Actor,
        event: crate::audit::Event,
        client_id: &str,
        ip: Option<&str>,
    ) -> diesel::QueryResult<()> {
        let entry = crate::audit::Entry::new(actor, event)
            .target(client_id)
            .ip(ip);
        crate::audit::record(self.conn, &entry)
    }

    /// The stored client, read after taking the write lock (SQLite) so nothing changes it
    /// before this transaction writes.
    fn locked(&mut self, client_id: &str, now: i64) -> Result<Client, StoreError> {
        if rows::touch(self.conn, client_id, now)? == 0 {
            return Err(StoreError::NotFound);
        }
        rows::by_id(self.conn, client_id)?.ok_or(StoreError::NotFound)
    }

    /// Inserts a client validated by the caller's rule (`new_by_admin`, `registration`,
    /// `document`), with its URIs; a client not an administrator's must not pass for another
    /// (`names`, checked after the write: see there why).
    fn insert(&mut self, client: &Client) -> Result<(), StoreError> {
        self.insert_unchecked(client)?;
        names::check_written(self.conn, client)
    }

    fn insert_unchecked(&mut self, client: &Client) -> QueryResult<()> {
        rows::insert_row(self.conn, &client.row)?;
        rows::insert_uris(self.conn, client)
    }

    /// Anyone but an administrator (the client by RFC 7592, its refreshed metadata document)
    /// replaces `existing`'s registration with `client`: what an administrator set stays
    /// ([`keep_admin_fields`]), the name must not pass for another client's (`names`) and,
    /// unless [`consents_survive`], every remembered consent to the client ends, in this
    /// transaction. Returns whether consents ended.
    fn replace_registration(
        &mut self,
        existing: &Client,
        client: &mut Client,
    ) -> Result<bool, StoreError> {
        keep_admin_fields(existing, client);
        self.replace(client)?;
        if consents_survive(existing, client) {
            return Ok(false);
        }
        crate::db::models::consents::revoke_all_for_client(self.conn, &client.row.client_id)?;
        Ok(true)
    }

    /// Replaces the whole stored client (row and URIs) with `client`; a client not an
    /// administrator's must not pass for another (`names`).
    fn replace(&mut self, client: &Client) -> Result<(), StoreError> {
        self.replace_unchecked(client)?;
        names::check_written(self.conn, client)
    }

    /// Replaces the stored client without the name check: for the administrator's edit, whose
    /// names are theirs to choose (of any client).
    fn replace_unchecked(&mut self, client: &Client) -> QueryResult<()> {
        rows::update_row(self.conn, &client.row)?;
        rows::delete_uris(self.conn, &client.row.client_id)?;
        rows::insert_uris(self.conn, client)
    }

    /// An administrator registers a client (see [`new_by_admin`]).
    pub fn create(&mut self, new: &NewClient<'_>, now: i64) -> Result<Created, StoreError> {
        let created = new_by_admin(new, now).map_err(StoreError::Invalid)?;
        self.insert_unchecked(&created.client)?;
        Ok(created)
    }

    /// An administrator edits a client (see [`edited_by_admin`]): settings, redirect URIs,
    /// least `acr` and token-exchange audiences together.
    pub fn update(
        &mut self,
        client_id: &str,
        spec: &ClientSpec,
        now: i64,
    ) -> Result<Client, StoreError> {
        let existing = self.locked(client_id, now)?;
        let client = edited_by_admin(&existing, spec, now).map_err(StoreError::Invalid)?;
        self.replace_unchecked(&client)?;
        Ok(client)
    }

    /// An administrator vouches for a client (or withdraws that).
    pub fn set_verified(
        &mut self,
        client_id: &str,
        verified: bool,
        now: i64,
    ) -> Result<(), StoreError> {
        found(rows::set_verified(self.conn, client_id, verified, now)?)
    }

    /// Disables a client (every endpoint then treats it as unknown), or enables it again.
    pub fn set_disabled(
        &mut self,
        client_id: &str,
        disabled: bool,
        now: i64,
    ) -> Result<(), StoreError> {
        found(rows::set_disabled(self.conn, client_id, disabled, now)?)
    }

    /// The least `acr` the client accepts (`None`: any), checked by the caller
    /// (`authn::acr::Acr::parse`, as `client_policy::validate` does).
    pub fn set_minimum_acr(
        &mut self,
        client_id: &str,
        minimum_acr: Option<&str>,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut client = self.locked(client_id, now)?;
        client.row.minimum_acr = minimum_acr.map(str::to_owned);
        client.row.updated_at = now;
        rows::update_row(self.conn, &client.row)?;
        Ok(())
    }

    /// A new random secret for a confidential client; the old one stops working at once.
    pub fn rotate_secret(&mut self, client_id: &str, now: i64) -> Result<String, StoreError> {
        let secret = random::client_secret();
        self.set_secret(client_id, &secret, now)?;
        Ok(secret)
    }

    /// Sets a confidential client's secret (`ostiary apply` reads it from a file or variable).
    pub fn set_secret(
        &mut self,
        client_id: &str,
        secret: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let client = self.locked(client_id, now)?;
        if client.row.is_public {
            return Err(StoreError::Public);
        }
        rows::set_secret_hash(self.conn, client_id, &random::sha256_hex(secret), now)?;
        Ok(())
    }

    /// Deletes the client; codes, tokens, consents and URIs go with it (ON DELETE CASCADE), and
    /// its access tokens stop verifying.
    pub fn remove(&mut self, client_id: &str) -> Result<(), StoreError> {
        found(rows::remove(self.conn, client_id)?)
    }
}

fn found(n: usize) -> Result<(), StoreError> {
    if n == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests;
