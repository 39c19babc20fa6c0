use diesel::prelude::*;

use crate::db::schema::{client_redirect_uris, clients};
use crate::db::DbConn;

/// `client_redirect_uris.kind` for URIs that receive authorization responses.
pub const KIND_LOGIN: &str = "login";
/// `client_redirect_uris.kind` for RP-initiated logout's `post_logout_redirect_uri`.
pub const KIND_POST_LOGOUT: &str = "post_logout";

/// `clients.origin`: who put the client there.
pub const ORIGIN_ADMIN: &str = "admin";
/// Registered itself over HTTP (RFC 7591).
pub const ORIGIN_DYNAMIC: &str = "dynamic";
/// Described by a Client ID Metadata Document fetched from its `client_id` URL.
pub const ORIGIN_DOCUMENT: &str = "metadata_document";

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = clients)]
pub struct ClientRow {
    pub client_id: String,
    pub name: String,
    /// SHA-256 hex of the secret; `None` for public clients.
    pub secret_hash: Option<String>,
    pub is_public: bool,
    pub auth_method: String,
    /// Space-separated RFC 6749 grant type names.
    pub grant_types: String,
    /// Space-separated scopes the client may be granted.
    pub scopes: String,
    pub id_token_alg: String,
    pub logo_uri: Option<String>,
    pub homepage_uri: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// `admin`, `dynamic` or `metadata_document` (see the ORIGIN_ constants).
    pub origin: String,
    /// Vouched for by an administrator (always, for clients an administrator registered).
    pub verified: bool,
    /// A disabled client is treated as unknown by every protocol endpoint.
    pub disabled: bool,
    /// `web` or `native` (OpenID Connect Dynamic Client Registration §2).
    pub application_type: String,
    /// Registered metadata without a column of its own, as a JSON object.
    pub metadata: Option<String>,
    /// SHA-256 of the RFC 7592 registration access token, for self-registered clients.
    pub registration_token_hash: Option<String>,
    /// For clients described by a metadata document: when to fetch it again.
    pub metadata_expires_at: Option<i64>,
    /// The least authentication context class (`authn::acr`) this client accepts; `None`: any.
    pub minimum_acr: Option<String>,
    /// RFC 9126: this client's authorization requests must be pushed first.
    pub require_par: bool,
    /// OIDC Back-Channel Logout: where logout tokens are posted.
    pub backchannel_logout_uri: Option<String>,
    pub backchannel_logout_session_required: bool,
    pub frontchannel_logout_uri: Option<String>,
    pub frontchannel_logout_session_required: bool,
    /// RFC 8693: audiences this client may exchange tokens for, space-separated.
    pub token_exchange_audiences: Option<String>,
}

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = client_redirect_uris)]
pub struct RedirectUriRow {
    pub client_id: String,
    pub kind: String,
    pub uri: String,
}

/// A client with its registered URIs.
#[derive(Clone, Debug)]
pub struct Client {
    pub row: ClientRow,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
}

impl Client {
    pub fn grant_types(&self) -> impl Iterator<Item = &str> {
        self.row.grant_types.split_ascii_whitespace()
    }

    pub fn allows_grant(&self, grant: &str) -> bool {
        self.grant_types().any(|g| g == grant)
    }

    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.row.scopes.split_ascii_whitespace()
    }

    /// Whether what users see of the client (name, logo, site, where codes go) differs from
    /// `other`'s: an administrator's verification covered the old one only.
    pub fn presentation_differs(&self, other: &Client) -> bool {
        self.row.name != other.row.name
            || self.row.logo_uri != other.row.logo_uri
            || self.row.homepage_uri != other.row.homepage_uri
            || self.redirect_uris != other.redirect_uris
    }

    /// A URL kept in the extra metadata (`policy_uri`, `tos_uri`, `jwks_uri`), if set.
    pub fn metadata_url(&self, key: &str) -> Option<String> {
        self.metadata()
            .get(key)
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    }

    /// The extra registered metadata (policy_uri, tos_uri, contacts, jwks, jwks_uri…).
    pub fn metadata(&self) -> serde_json::Map<String, serde_json::Value> {
        self.row
            .metadata
            .as_deref()
            .and_then(|m| serde_json::from_str(m).ok())
            .unwrap_or_default()
    }
}

// Writes: one statement each (the URIs, one per row), run inside the transaction of
// `crate::clients`, the store, which is the only caller and which tells the caches after the
// commit. Nothing here knows the caches or the rules of who may set what.

/// Inserts the client's row (its URIs are `insert_uris`).
pub fn insert_row(conn: &mut DbConn, row: &ClientRow) -> QueryResult<()> {
    diesel::insert_into(clients::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

/// Inserts the client's URIs, one INSERT per URI: the multi-backend connection has no batch
/// insert.
pub fn insert_uris(conn: &mut DbConn, client: &Client) -> QueryResult<()> {
    for row in uri_rows(client) {
        diesel::insert_into(client_redirect_uris::table)
            .values(&row)
            .execute(conn)?;
    }
    Ok(())
}

/// Deletes the client's URIs (before `insert_uris` writes the new list).
pub fn delete_uris(conn: &mut DbConn, client_id: &str) -> QueryResult<usize> {
    diesel::delete(
        client_redirect_uris::table.filter(client_redirect_uris::client_id.eq(client_id)),
    )
    .execute(conn)
}

fn uri_rows(client: &Client) -> Vec<RedirectUriRow> {
    let id = &client.row.client_id;
    let mut uris: Vec<RedirectUriRow> = Vec::new();
    for (kind, list) in [
        (KIND_LOGIN, &client.redirect_uris),
        (KIND_POST_LOGOUT, &client.post_logout_redirect_uris),
    ] {
        for uri in list {
            if !uris.iter().any(|u| u.kind == kind && &u.uri == uri) {
                uris.push(RedirectUriRow {
                    client_id: id.clone(),
                    kind: kind.to_owned(),
                    uri: uri.clone(),
                });
            }
        }
    }
    uris
}

/// Sets `updated_at` and nothing else: the first statement of a transaction that reads the row
/// and then writes it, so SQLite takes its write lock up front (see `refresh::rotate`). 0: no
/// such client.
pub fn touch(conn: &mut DbConn, client_id: &str, now: i64) -> QueryResult<usize> {
    diesel::update(clients::table.find(client_id))
        .set(clients::updated_at.eq(now))
        .execute(conn)
}

/// Replaces a client's registration access token (its hash) by one conditional UPDATE, only
/// while it is still `old_hash`: of two requests presenting the same token, one rotates it
/// (RFC 7592 §3). Returns the rows changed (0: another request rotated it first).
pub fn rotate_registration_token(
    conn: &mut DbConn,
    client_id: &str,
    old_hash: &str,
    new_hash: &str,
    now: i64,
) -> QueryResult<usize> {
    diesel::update(
        clients::table
            .find(client_id)
            .filter(clients::registration_token_hash.eq(old_hash)),
    )
    .set((
        clients::registration_token_hash.eq(Some(new_hash)),
        clients::updated_at.eq(now),
    ))
    .execute(conn)
}

/// Replaces every column of the row but its id, origin and creation time.
pub fn update_row(conn: &mut DbConn, r: &ClientRow) -> QueryResult<usize> {
    diesel::update(clients::table.find(&r.client_id))
        .set((
            (
                clients::name.eq(&r.name),
                clients::secret_hash.eq(&r.secret_hash),
                clients::is_public.eq(r.is_public),
                clients::auth_method.eq(&r.auth_method),
                clients::grant_types.eq(&r.grant_types),
                clients::scopes.eq(&r.scopes),
                clients::id_token_alg.eq(&r.id_token_alg),
                clients::logo_uri.eq(&r.logo_uri),
                clients::homepage_uri.eq(&r.homepage_uri),
                clients::updated_at.eq(r.updated_at),
                clients::verified.eq(r.verified),
                clients::disabled.eq(r.disabled),
            ),
            (
                clients::application_type.eq(&r.application_type),
                clients::metadata.eq(&r.metadata),
                clients::registration_token_hash.eq(&r.registration_token_hash),
                clients::metadata_expires_at.eq(r.metadata_expires_at),
                clients::minimum_acr.eq(&r.minimum_acr),
                clients::require_par.eq(r.require_par),
                clients::backchannel_logout_uri.eq(&r.backchannel_logout_uri),
                clients::backchannel_logout_session_required
                    .eq(r.backchannel_logout_session_required),
                clients::frontchannel_logout_uri.eq(&r.frontchannel_logout_uri),
                clients::frontchannel_logout_session_required
                    .eq(r.frontchannel_logout_session_required),
                clients::token_exchange_audiences.eq(&r.token_exchange_audiences),
            ),
        ))
        .execute(conn)
}

pub fn by_id(conn: &mut DbConn, client_id: &str) -> QueryResult<Option<Client>> {
    let Some(row) = clients::table
        .find(client_id)
        .select(ClientRow::as_select())
        .first(conn)
        .optional()?
    else {
        return Ok(None);
    };
    let uris: Vec<RedirectUriRow> = client_redirect_uris::table
        .filter(client_redirect_uris::client_id.eq(client_id))
        .order(client_redirect_uris::uri.asc())
        .select(RedirectUriRow::as_select())
        .load(conn)?;
    let pick = |kind: &str| {
        uris.iter()
            .filter(|u| u.kind == kind)
            .map(|u| u.uri.clone())
            .collect()
    };
    Ok(Some(Client {
        redirect_uris: pick(KIND_LOGIN),
        post_logout_redirect_uris: pick(KIND_POST_LOGOUT),
        row,
    }))
}

/// Whether the client exists and is not disabled.
pub fn is_active(conn: &mut DbConn, client_id: &str) -> QueryResult<bool> {
    let n: i64 = clients::table
        .find(client_id)
        .filter(clients::disabled.eq(false))
        .count()
        .get_result(conn)?;
    Ok(n == 1)
}

pub fn list(conn: &mut DbConn) -> QueryResult<Vec<ClientRow>> {
    clients::table
        .order(clients::name.asc())
        .select(ClientRow::as_select())
        .load(conn)
}

/// Deletes the client; codes, tokens, consents and URIs go with it (ON DELETE CASCADE).
pub fn remove(conn: &mut DbConn, client_id: &str) -> QueryResult<usize> {
    diesel::delete(clients::table.find(client_id)).execute(conn)
}

/// An administrator vouches for a self-registered client (or withdraws that).
pub fn set_verified(
    conn: &mut DbConn,
    client_id: &str,
    verified: bool,
    now: i64,
) -> QueryResult<usize> {
    diesel::update(clients::table.find(client_id))
        .set((clients::verified.eq(verified), clients::updated_at.eq(now)))
        .execute(conn)
}

/// Disables a client (every endpoint then treats it as unknown), or enables it again.
pub fn set_disabled(
    conn: &mut DbConn,
    client_id: &str,
    disabled: bool,
    now: i64,
) -> QueryResult<usize> {
    diesel::update(clients::table.find(client_id))
        .set((clients::disabled.eq(disabled), clients::updated_at.eq(now)))
        .execute(conn)
}

pub fn set_secret_hash(
    conn: &mut DbConn,
    client_id: &str,
    secret_hash: &str,
    now: i64,
) -> QueryResult<usize> {
    diesel::update(
        clients::table
            .find(client_id)
            .filter(clients::is_public.eq(false)),
    )
    .set((
        clients::secret_hash.eq(Some(secret_hash)),
        clients::updated_at.eq(now),
    ))
    .execute(conn)
}
