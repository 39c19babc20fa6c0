//! The store on a real SQLite file: one transaction per write, the cache told after it.

use super::*;
use crate::config::DbUrl;
use crate::db;

fn sqlite() -> (DbConn, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store.db").display().to_string();
    let mut conn = db::establish(&DbUrl::Sqlite(path)).expect("sqlite");
    db::run_migrations(&mut conn).expect("migrate");
    (conn, dir)
}

fn spec(name: &str) -> ClientSpec {
    ClientSpec {
        name: name.into(),
        redirect_uris: vec!["https://a.example/cb".into()],
        ..Default::default()
    }
}

fn create(conn: &mut DbConn) -> Created {
    let new = NewClient {
        spec: spec("Before"),
        ..Default::default()
    };
    write(conn, |tx| tx.create(&new, 5)).expect("create")
}

#[test]
fn a_transaction_that_fails_half_way_leaves_the_client_unchanged() {
    let (mut conn, _dir) = sqlite();
    let created = create(&mut conn);
    let id = created.client.row.client_id.clone();
    let mut edited = spec("After");
    edited.redirect_uris = vec!["https://b.example/cb".into()];
    edited.minimum_acr = Some("urn:ostiary:acr:2fa".into());
    let failed = write(&mut conn, |tx| {
        tx.update(&id, &edited, 6)?;
        tx.set_disabled("no such client", true, 6)
    });
    assert!(matches!(failed, Err(StoreError::NotFound)));
    let stored = get(None, &mut conn, &id).expect("q").expect("found");
    assert_eq!(stored.row.name, "Before");
    assert_eq!(stored.redirect_uris, vec!["https://a.example/cb"]);
    assert_eq!(stored.row.minimum_acr, None);
    assert_eq!(stored.row.secret_hash, created.client.row.secret_hash);
}

#[test]
fn a_read_that_raced_a_write_is_not_kept_by_the_cache() {
    let (mut conn, _dir) = sqlite();
    let id = create(&mut conn).client.row.client_id;
    let caches = Caches::new(1000);
    // A reader takes its ticket and reads the row as it was…
    let ticket = caches.clients.ticket();
    let old = rows::by_id(&mut conn, &id).expect("q").expect("found");
    // …a write commits…
    write(&mut conn, |tx| tx.update(&id, &spec("After"), 6)).expect("update");
    // …and what the reader read is not kept.
    caches.clients.put(ticket, &id, Arc::new(old));
    assert!(caches.clients.get(&id).is_none());
}

#[test]
fn an_invalid_edit_is_refused_by_the_one_policy_and_writes_nothing() {
    let (mut conn, _dir) = sqlite();
    let id = create(&mut conn).client.row.client_id;
    let mut bad = spec("After");
    bad.redirect_uris = vec!["http://not-loopback.example/cb".into()];
    let refused = write(&mut conn, |tx| tx.update(&id, &bad, 6));
    assert!(matches!(refused, Err(StoreError::Invalid(_))));
    let stored = get(None, &mut conn, &id).expect("q").expect("found");
    assert_eq!(stored.row.name, "Before");
    assert_eq!(stored.row.updated_at, 5, "not even touched");
}

#[test]
fn a_replacement_by_anyone_but_an_administrator_keeps_the_administrators_fields() {
    let (mut conn, _dir) = sqlite();
    let id = create(&mut conn).client.row.client_id;
    let mut admin = spec("Before");
    admin.minimum_acr = Some("urn:ostiary:acr:2fa".into());
    let existing = write(&mut conn, |tx| tx.update(&id, &admin, 6)).expect("update");
    let mut by_client =
        client_policy::admit(&spec("Renamed"), &id, client_policy::Registrant::Admin, 7)
            .expect("valid");
    keep_admin_fields(&existing, &mut by_client);
    assert_eq!(
        by_client.row.minimum_acr.as_deref(),
        Some("urn:ostiary:acr:2fa")
    );
    assert!(
        !by_client.row.verified,
        "a changed name loses the verification"
    );
    let mut same = client_policy::admit(&spec("Before"), &id, client_policy::Registrant::Admin, 7)
        .expect("valid");
    keep_admin_fields(&existing, &mut same);
    assert!(same.row.verified);
}

/// The metadata an administrator's form edits (presentation links, keys, signed userinfo,
/// request objects) is set and cleared by an edit; other stored metadata stays.
#[test]
fn an_administrators_edit_sets_and_clears_the_metadata_the_form_holds() {
    let (mut conn, _dir) = sqlite();
    let id = create(&mut conn).client.row.client_id;
    let mut edited = spec("Before");
    edited.userinfo_signed_response_alg = Some("ES256".into());
    edited.policy_uri = Some("https://a.example/privacy".into());
    write(&mut conn, |tx| tx.update(&id, &edited, 6)).expect("update");
    let stored = get(None, &mut conn, &id).expect("q").expect("found");
    assert_eq!(stored.metadata()["userinfo_signed_response_alg"], "ES256");
    assert_eq!(stored.metadata()["policy_uri"], "https://a.example/privacy");
    write(&mut conn, |tx| tx.update(&id, &spec("Before"), 7)).expect("update");
    let stored = get(None, &mut conn, &id).expect("q").expect("found");
    assert!(!stored
        .metadata()
        .contains_key("userinfo_signed_response_alg"));
    assert!(!stored.metadata().contains_key("policy_uri"));
}
