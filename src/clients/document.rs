//! Clients described by a Client ID Metadata Document (`oauth::metadata_document` fetches and
//! validates; this stores): before `/authorize` runs, [`resolve`] makes sure the row of a URL
//! `client_id` is current.

use super::{write, Client, StoreError};
use crate::authn::admission::Buckets;
use crate::db::models::clients::{self as rows, ORIGIN_DOCUMENT};
use crate::db::{DbConn, Pool};
use crate::oauth::metadata_document::{fetch, stored, DocumentError, Stored};
use crate::outbound::Outbound;

/// Stores a freshly validated document client, in one transaction: a new row, or the refreshed
/// one (`Tx::replace_registration`: what an administrator set kept, consents ended when the
/// redirect hosts or scopes grew). A row registered otherwise is
/// never replaced. A concurrent request (or replica) may have stored it first; then this one
/// updates.
pub fn save(conn: &mut DbConn, client: &Client) -> Result<(), DocumentError> {
    use diesel::result::{DatabaseErrorKind, Error};
    match save_once(conn, client) {
        Err(DocumentError::Storage(e))
            if matches!(
                e.downcast_ref::<Error>(),
                Some(Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _))
            ) =>
        {
            save_once(conn, client)
        }
        other => other,
    }
}

fn save_once(conn: &mut DbConn, client: &Client) -> Result<(), DocumentError> {
    let id = &client.row.client_id;
    write(conn, |tx| {
        // A write first: SQLite's write lock is taken before the row is read.
        if rows::touch(tx.conn(), id, client.row.updated_at)? == 0 {
            tx.insert(client).map_err(refused)?;
            return Ok(());
        }
        match rows::by_id(tx.conn(), id)? {
            Some(existing) if existing.row.origin != ORIGIN_DOCUMENT => Err(DocumentError::Taken),
            Some(existing) => {
                let mut refreshed = client.clone();
                refreshed.row.secret_hash = None;
                refreshed.row.registration_token_hash = None;
                tx.replace_registration(&existing, &mut refreshed)
                    .map_err(refused)?;
                Ok(())
            }
            None => {
                tx.insert(client).map_err(refused)?;
                Ok(())
            }
        }
    })
}

/// A write the store refused, as the authorization error page says it: a name that would pass
/// for another client's is an invalid document; a database failure stays one (`save` retries
/// a lost insert race by its unique violation).
fn refused(e: StoreError) -> DocumentError {
    match e {
        StoreError::Storage(e) => DocumentError::Storage(Box::new(e)),
        StoreError::Invalid(errors) => DocumentError::Invalid(
            crate::oauth::registration::from_field_errors(errors)
                .description()
                .to_owned(),
        ),
        other => DocumentError::Invalid(other.to_string()),
    }
}

/// What [`resolve`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolution {
    /// The stored row is current (or not a document client): nothing fetched.
    Cached,
    /// The document was fetched and stored.
    Fetched,
}

/// Makes the client row for a URL `client_id` current, fetching its document when there is
/// none or it has expired; the document must fit the deployment's registration limits
/// (`settings.registration`). Call only when the setting is on and
/// `metadata_document::is_url_client_id` holds.
pub async fn resolve(
    pool: &Pool,
    admission: &Buckets,
    settings: &crate::config::Settings,
    client_id: &str,
    address: Option<std::net::IpAddr>,
) -> Result<Resolution, DocumentError> {
    let first = pool.clone();
    let id = client_id.to_owned();
    let now = crate::db::now();
    let found = blocking(move || {
        let mut conn = first
            .get()
            .map_err(|e| DocumentError::Storage(Box::new(e)))?;
        Ok(stored(&mut conn, &id, now)?)
    })
    .await?;
    if found == Stored::Current {
        return Ok(Resolution::Cached);
    }
    // Each fetch makes us reach out on someone's behalf: admitted per client address.
    let subject = address
        .map(crate::authn::throttle::address_subject)
        .unwrap_or_else(|| "unknown".into());
    if let Err(wait) = admission.take(&subject) {
        return Err(DocumentError::TooMany {
            retry_after: wait.as_secs().max(1),
        });
    }
    let outbound = Outbound::new(&settings.outbound_allow);
    let client = match fetch(&outbound, client_id, &settings.registration, now).await {
        Ok(c) => c,
        Err(e) => {
            tracing::info!(client_id, error = %e, refetch = (found == Stored::Expired), "client metadata document refused");
            return Err(e);
        }
    };
    let pool = pool.clone();
    blocking(move || {
        let mut conn = pool
            .get()
            .map_err(|e| DocumentError::Storage(Box::new(e)))?;
        save(&mut conn, &client)
    })
    .await?;
    tracing::info!(client_id, "client metadata document fetched");
    Ok(Resolution::Fetched)
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, DocumentError> + Send + 'static,
) -> Result<T, DocumentError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| DocumentError::Storage(Box::new(e)))?
}
