//! Model and key-store tests, run on SQLite always and on PostgreSQL when
//! OSTIARY_TEST_DATABASE_URL is set (failing, not skipping, when it cannot be reached).

use super::{clients, signing_keys, users};
use crate::config::DbUrl;
use crate::crypto::kek::Kek;
use crate::crypto::keys::{self, KeySet, KeyState};
use crate::db::testing::{postgres_admin_url, PgTestDatabase};
use crate::db::{self, DbConn};
use crate::domain::signing::SigningAlg;
use crate::oauth::client_policy::{build_client, ClientSpec};
use crate::random;

/// A migrated connection per backend, with whatever keeps its database alive.
fn backends() -> Vec<(DbConn, Box<dyn std::any::Any>)> {
    let mut out: Vec<(DbConn, Box<dyn std::any::Any>)> = Vec::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("unit.db").display().to_string();
    let mut conn = db::establish(&DbUrl::Sqlite(path)).expect("sqlite");
    db::run_migrations(&mut conn).expect("migrate sqlite");
    out.push((conn, Box::new(dir)));
    if let Some(admin) = postgres_admin_url() {
        let pg = PgTestDatabase::create(&admin, None).expect("PostgreSQL must be reachable");
        let mut conn = db::establish(&DbUrl::Postgres(pg.url.clone())).expect("postgres");
        db::run_migrations(&mut conn).expect("migrate postgres");
        out.push((conn, Box::new(pg)));
    }
    out
}

fn user(name: &str) -> users::User {
    users::User {
        id: random::token::<16>(),
        username: crate::account_policy::prepare_username(name).expect("valid name"),
        email: format!("{name}@example.test"),
        email_verified: false,
        name: None,
        given_name: None,
        family_name: None,
        password_hash: "$argon2id$placeholder".into(),
        is_admin: false,
        disabled: false,
        created_at: 1,
        updated_at: 1,
        email_key: Some(format!("{}@example.test", name.to_lowercase())),
        username_skeleton: None,
        profile_claims: None,
    }
}

#[test]
fn users_insert_find_update_and_unique_names() {
    for (mut conn, _guard) in backends() {
        let u = user("Zoe");
        users::insert(&mut conn, &u).expect("insert");
        let key = crate::account_policy::login_key("ZOE");
        let found = users::by_username(&mut conn, &key)
            .expect("q")
            .expect("found");
        assert_eq!(found.id, u.id);
        let dup = user("zoe");
        let err = users::insert(&mut conn, &dup).expect_err("duplicate");
        assert!(crate::cli::is_unique_violation(&err));
        users::set_disabled(&mut conn, &u.id, true, 2).expect("disable");
        users::set_admin(&mut conn, &u.id, true, 2).expect("admin");
        let again = users::by_id(&mut conn, &u.id).expect("q").expect("found");
        assert!(again.disabled && again.is_admin);
        assert_eq!(users::count(&mut conn).expect("count"), 1);
        users::insert(&mut conn, &user("adam")).expect("insert");
        let page = users::list(&mut conn, Some("zo"), 10, 0).expect("list");
        assert_eq!(page.len(), 1);
        let all = users::list(&mut conn, None, 1, 1).expect("list");
        assert_eq!(all.len(), 1, "limit/offset work");
        assert_eq!(all[0].username, "zoe");
    }
}

#[test]
fn clients_round_trip_with_uris_and_cascade_on_remove() {
    for (mut conn, _guard) in backends() {
        let spec = ClientSpec {
            name: "Round trip".into(),
            redirect_uris: vec!["https://a.example/cb".into(), "https://b.example/cb".into()],
            post_logout_redirect_uris: vec!["https://a.example/bye".into()],
            ..Default::default()
        };
        let (client, secret) = build_client(&spec, 5).expect("valid");
        clients::insert_row(&mut conn, &client.row).expect("insert");
        clients::insert_uris(&mut conn, &client).expect("uris");
        let loaded = clients::by_id(&mut conn, &client.row.client_id)
            .expect("q")
            .expect("found");
        assert_eq!(loaded.redirect_uris.len(), 2);
        assert_eq!(
            loaded.post_logout_redirect_uris,
            vec!["https://a.example/bye"]
        );
        let secret = secret.expect("confidential");
        assert!(random::verify_sha256_hex(
            &secret,
            loaded.row.secret_hash.as_deref().expect("hash")
        ));
        let mut edited = loaded.clone();
        edited.redirect_uris = vec!["https://c.example/cb".into()];
        edited.row.name = "Edited".into();
        assert_eq!(
            clients::update_row(&mut conn, &edited.row).expect("update"),
            1
        );
        clients::delete_uris(&mut conn, &edited.row.client_id).expect("uris");
        clients::insert_uris(&mut conn, &edited).expect("uris");
        let reloaded = clients::by_id(&mut conn, &client.row.client_id)
            .expect("q")
            .expect("found");
        assert_eq!(reloaded.redirect_uris, vec!["https://c.example/cb"]);
        assert_eq!(reloaded.row.name, "Edited");
        assert_eq!(
            clients::remove(&mut conn, &client.row.client_id).expect("rm"),
            1
        );
        assert!(clients::by_id(&mut conn, &client.row.client_id)
            .expect("q")
            .is_none());
    }
}

#[test]
fn key_store_generates_encrypts_rotates_and_signs() {
    for (mut conn, _guard) in backends() {
        let kek = Kek::from_bytes(random::bytes::<32>());
        let created = keys::ensure_keys(&mut conn, &kek).expect("ensure");
        assert_eq!(created.len(), 3);
        assert!(keys::ensure_keys(&mut conn, &kek)
            .expect("again")
            .is_empty());
        let wrong = Kek::from_bytes(random::bytes::<32>());
        assert!(
            keys::ensure_keys(&mut conn, &wrong).is_err(),
            "wrong KEK detected"
        );

        let now = db::now();
        let set = KeySet::load(&mut conn, &kek, now).expect("load");
        let header_for = |alg: SigningAlg, set: &KeySet| {
            let k = set.signer(alg, now).expect("signer");
            let mut h = jsonwebtoken::Header::new(alg.jwt());
            h.kid = Some(k.kid.clone());
            let token = jsonwebtoken::encode(
                &h,
                &serde_json::json!({"sub": "x", "exp": now + 60}),
                &k.encoding,
            )
            .expect("sign");
            (k.kid.clone(), token)
        };
        let mut old = Vec::new();
        for alg in keys::ALGORITHMS {
            old.push((alg, header_for(alg, &set)));
        }

        // Rotate with immediate activation: new keys sign, old ones stay published.
        keys::rotate(&mut conn, &kek, 0, 600).expect("rotate");
        let now = db::now();
        let set2 = KeySet::load(&mut conn, &kek, now).expect("reload");
        assert_eq!(set2.jwks(now)["keys"].as_array().map(Vec::len), Some(6));
        for (alg, (old_kid, token)) in &old {
            let new_kid = &set2.signer(*alg, now).expect("signer").kid;
            assert_ne!(new_kid, old_kid, "{alg} signs with the new key");
            let old_key = set2.by_kid(old_kid).expect("old key still published");
            let mut v = jsonwebtoken::Validation::new(alg.jwt());
            v.validate_aud = false;
            jsonwebtoken::decode::<serde_json::Value>(token, &old_key.decoding, &v)
                .expect("old token verifies after rotation");
        }
        let rows = signing_keys::all(&mut conn).expect("rows");
        let states = keys::states(&rows, now);
        assert_eq!(states.iter().filter(|s| **s == KeyState::Active).count(), 3);
        assert_eq!(
            states.iter().filter(|s| **s == KeyState::Retired).count(),
            3
        );
        // After the retirement horizon the old keys leave the JWKS.
        let later = now + 601;
        let set3 = KeySet::load(&mut conn, &kek, later).expect("load later");
        assert_eq!(set3.jwks(later)["keys"].as_array().map(Vec::len), Some(3));

        // A delayed rotation publishes first and signs later.
        keys::rotate(&mut conn, &kek, 3600, 600).expect("rotate delayed");
        let rows = signing_keys::all(&mut conn).expect("rows");
        let states = keys::states(&rows, db::now());
        assert_eq!(states.iter().filter(|s| **s == KeyState::Next).count(), 3);
        assert_eq!(states.iter().filter(|s| **s == KeyState::Active).count(), 3);
    }
}

#[test]
fn an_email_address_belongs_to_one_account_by_constraint() {
    for (mut conn, _guard) in backends() {
        let first = user("Ann");
        users::insert(&mut conn, &first).expect("insert");
        // Same key (what account_policy::email_key gives for Ann@Example.test), other name.
        let mut second = user("bea");
        second.email = "ANN@example.test".into();
        second.email_key = first.email_key.clone();
        let err = users::insert(&mut conn, &second).expect_err("one address, one account");
        assert!(crate::cli::is_unique_violation(&err));
        // Rows without a key (shared before the constraint existed) are not in the way.
        let mut legacy = user("cyd");
        legacy.email_key = None;
        let mut legacy2 = user("dee");
        legacy2.email_key = None;
        users::insert(&mut conn, &legacy).expect("legacy 1");
        users::insert(&mut conn, &legacy2).expect("legacy 2");
    }
}

/// Two first consents of one user to one client, racing on PostgreSQL: the second insert waits on
/// the first's uncommitted key and then fails with a unique violation, which `grant` must absorb
/// by merging into the winner's row (a 500 at /authorize/resume before). SQLite has no such race:
/// the first UPDATE takes its write lock.
#[test]
fn racing_first_consents_merge_on_postgres() {
    use super::consents;
    use diesel::Connection;
    let Some(admin) = postgres_admin_url() else {
        return;
    };
    let pg = PgTestDatabase::create(&admin, None).expect("PostgreSQL must be reachable");
    let url = DbUrl::Postgres(pg.url.clone());
    let mut a = db::establish(&url).expect("postgres");
    db::run_migrations(&mut a).expect("migrate");
    let ann = user("ann");
    users::insert(&mut a, &ann).expect("user");
    let (client, _) = build_client(
        &ClientSpec {
            name: "Racing".into(),
            redirect_uris: vec!["https://a.example/cb".into()],
            ..Default::default()
        },
        5,
    )
    .expect("valid");
    clients::insert_row(&mut a, &client.row).expect("client");
    let cid = client.row.client_id.clone();

    // Commit only once the second transaction waits on the first's key, so the race is real.
    let second = a
        .transaction(|a| {
            consents::grant(a, &ann.id, &cid, &["openid"], 10)?;
            let (uid, cid2, url2) = (ann.id.clone(), cid.clone(), url.clone());
            let second = std::thread::spawn(move || {
                let mut b = db::establish(&url2).expect("postgres");
                consents::grant(&mut b, &uid, &cid2, &["email"], 11)
            });
            crate::db::testing::wait_until_a_session_waits_on_a_lock(&pg.url)
                .expect("second grant never waited");
            diesel::QueryResult::Ok(second)
        })
        .expect("first grant");
    second
        .join()
        .expect("thread")
        .expect("the losing insert merges instead of failing");
    let row = consents::get(&mut a, &ann.id, &cid)
        .expect("q")
        .expect("row");
    assert_eq!(row.scope, "email openid");
}

/// The pool checks a connection that has rested past the window before handing it out: one the
/// server ended meanwhile is replaced without the caller seeing an error.
#[test]
fn a_rested_connection_the_server_ended_is_replaced_on_checkout() {
    use diesel::pg::PgConnection;
    use diesel::{Connection, RunQueryDsl};
    #[derive(diesel::QueryableByName)]
    struct Pid {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        pid: i32,
    }
    let Some(admin) = postgres_admin_url() else {
        return;
    };
    let pg = PgTestDatabase::create(&admin, None).expect("PostgreSQL must be reachable");
    let pool = db::build_pool_with(
        &DbUrl::Postgres(pg.url.clone()),
        1,
        std::time::Duration::from_secs(5),
    )
    .expect("pool");
    let pid = |pool: &db::Pool| -> i32 {
        let mut conn = pool.get().expect("connection");
        diesel::sql_query("SELECT pg_backend_pid() AS pid")
            .get_result::<Pid>(&mut *conn)
            .expect("pid")
            .pid
    };
    let first = pid(&pool);
    let mut other = PgConnection::establish(&pg.url).expect("admin");
    diesel::sql_query(format!("SELECT pg_terminate_backend({first})"))
        .execute(&mut other)
        .expect("terminate");
    std::thread::sleep(std::time::Duration::from_millis(600));
    let second = pid(&pool);
    assert_ne!(first, second, "a new connection replaced the ended one");
}

/// Rows from before usernames had skeletons get theirs when migrations run (every start): the
/// older of two look-alikes an earlier version let in keeps the skeleton, the younger none, and
/// the unique index then refuses any further account with that skeleton.
#[test]
fn migrating_fills_in_missing_username_skeletons_oldest_first() {
    for (mut conn, _guard) in backends() {
        let mut peace = user("peace");
        peace.created_at = 1;
        let mut look_alike = user("\u{440}\u{435}\u{430}\u{441}\u{435}");
        look_alike.created_at = 2;
        look_alike.email_key = Some("cyrillic@example.test".into());
        let bob = user("bob");
        for u in [&look_alike, &peace, &bob] {
            users::insert(&mut conn, u).expect("legacy row without a skeleton");
        }
        db::run_migrations(&mut conn).expect("migrate again");
        let skeleton = |c: &mut DbConn, id: &str| {
            users::by_id(c, id)
                .expect("q")
                .expect("row")
                .username_skeleton
        };
        assert_eq!(skeleton(&mut conn, &peace.id).as_deref(), Some("peace"));
        assert_eq!(skeleton(&mut conn, &bob.id).as_deref(), Some("bob"));
        assert_eq!(
            skeleton(&mut conn, &look_alike.id),
            None,
            "the younger look-alike"
        );
        assert_eq!(users::fill_skeletons(&mut conn).expect("again"), 0);
        let mut third = user("\u{455}\u{441}\u{43e}\u{440}\u{435}");
        third.username_skeleton = Some("peace".into());
        let err = users::insert(&mut conn, &third).expect_err("one skeleton, one account");
        assert!(crate::cli::is_unique_violation(&err));
    }
}
