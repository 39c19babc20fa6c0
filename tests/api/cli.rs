use diesel::prelude::*;
use ostiary::db::schema::{client_redirect_uris, clients, users};

use crate::helpers::{add_user, run_cli, spawn_app, test_db};

#[tokio::test]
async fn user_add_then_list_shows_the_user() {
    let db = test_db();
    add_user(&db, "Alice", "correct horse battery", true).await;
    let out = run_cli(&db, &["user", "list"], None).await;
    assert!(out.ok(), "{}", out.stderr);
    assert!(
        out.stdout.contains("alice"),
        "usernames are stored lower-case: {}",
        out.stdout
    );
    assert!(out.stdout.contains("Alice@example.test"));
    assert!(out.stdout.contains("admin"));
    // The password is stored as an argon2id hash.
    let mut conn = db.conn();
    let hash: String = users::table
        .filter(users::username.eq("alice"))
        .select(users::password_hash)
        .first(&mut conn)
        .expect("row");
    assert!(hash.starts_with("$argon2id$"));
    assert!(!hash.contains("correct horse"));
}

#[tokio::test]
async fn a_duplicate_username_fails_with_one_line_and_writes_nothing() {
    let db = test_db();
    add_user(&db, "bob", "password one", false).await;
    let out = run_cli(
        &db,
        &[
            "user",
            "add",
            "BOB",
            "--email",
            "other@example.test",
            "--password-stdin",
        ],
        Some("password two\n"),
    )
    .await;
    assert!(!out.ok());
    assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
    assert!(out.stderr.contains("taken"), "{}", out.stderr);
    let mut conn = db.conn();
    let n: i64 = users::table.count().get_result(&mut conn).expect("count");
    assert_eq!(n, 1);
}

#[tokio::test]
async fn user_add_refuses_bad_input() {
    let db = test_db();
    let short = run_cli(
        &db,
        &[
            "user",
            "add",
            "carol",
            "--email",
            "carol@example.test",
            "--password-stdin",
        ],
        Some("short\n"),
    )
    .await;
    assert!(
        !short.ok() && short.stderr.contains("at least"),
        "{}",
        short.stderr
    );
    let common = run_cli(
        &db,
        &[
            "user",
            "add",
            "carol",
            "--email",
            "carol@example.test",
            "--password-stdin",
        ],
        Some("password123\n"),
    )
    .await;
    assert!(
        !common.ok() && common.stderr.contains("list of common passwords"),
        "{}",
        common.stderr
    );
    let email = run_cli(
        &db,
        &[
            "user",
            "add",
            "carol",
            "--email",
            "not-an-email",
            "--password-stdin",
        ],
        Some("long enough pw\n"),
    )
    .await;
    assert!(
        !email.ok() && email.stderr.contains("email"),
        "{}",
        email.stderr
    );
    // Without a terminal and without --password-stdin there is nobody to ask.
    let no_tty = run_cli(
        &db,
        &["user", "add", "carol", "--email", "c@example.test"],
        None,
    )
    .await;
    assert!(
        !no_tty.ok() && no_tty.stderr.contains("--password-stdin"),
        "{}",
        no_tty.stderr
    );
    let mut conn = db.conn();
    let n: i64 = users::table.count().get_result(&mut conn).expect("count");
    assert_eq!(n, 0);
}

#[tokio::test]
async fn user_disable_enable_and_set_password() {
    let db = test_db();
    add_user(&db, "dave", "first password", false).await;
    assert!(run_cli(&db, &["user", "disable", "dave"], None).await.ok());
    let out = run_cli(&db, &["user", "list"], None).await;
    assert!(out.stdout.contains("disabled"), "{}", out.stdout);
    assert!(run_cli(&db, &["user", "enable", "dave"], None).await.ok());
    let before = current_hash(&db, "dave");
    let out = run_cli(
        &db,
        &["user", "set-password", "dave", "--password-stdin"],
        Some("second password\n"),
    )
    .await;
    assert!(out.ok(), "{}", out.stderr);
    let after = current_hash(&db, "dave");
    assert_ne!(before, after);
    assert!(ostiary::crypto::password::verify_blocking(
        "second password",
        &after
    ));
    let missing = run_cli(&db, &["user", "disable", "nobody"], None).await;
    assert!(
        !missing.ok() && missing.stderr.contains("no user"),
        "{}",
        missing.stderr
    );
}

fn current_hash(db: &crate::helpers::TestDb, username: &str) -> String {
    let mut conn = db.conn();
    users::table
        .filter(users::username.eq(username))
        .select(users::password_hash)
        .first(&mut conn)
        .expect("row")
}

#[tokio::test]
async fn client_add_json_prints_id_and_secret_and_repeats_flags() {
    let db = test_db();
    let out = run_cli(
        &db,
        &[
            "client",
            "add",
            "--name",
            "Dashboard",
            "--redirect-uri",
            "https://dash.example/cb",
            "--redirect-uri",
            "http://127.0.0.1:8000/cb",
            "--grant-type",
            "authorization_code",
            "--grant-type",
            "refresh_token",
            "--grant-type",
            "client_credentials",
            "--scope",
            "openid",
            "--scope",
            "email",
            "--auth-method",
            "client_secret_post",
            "--json",
        ],
        None,
    )
    .await;
    assert!(out.ok(), "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).expect("json");
    let id = v["client_id"].as_str().expect("id").to_owned();
    assert!(v["client_secret"].as_str().is_some());

    let show = run_cli(&db, &["client", "show", &id, "--json"], None).await;
    assert!(show.ok(), "{}", show.stderr);
    let s: serde_json::Value = serde_json::from_str(show.stdout.trim()).expect("json");
    assert_eq!(s["client_name"], "Dashboard");
    assert_eq!(s["token_endpoint_auth_method"], "client_secret_post");
    assert_eq!(s["scope"], "email openid");
    assert_eq!(s["grant_types"].as_array().map(Vec::len), Some(3));
    assert_eq!(s["redirect_uris"].as_array().map(Vec::len), Some(2));
    assert!(!show
        .stdout
        .contains(v["client_secret"].as_str().unwrap_or("-")));

    let list = run_cli(&db, &["client", "list"], None).await;
    assert!(list.stdout.contains(&id) && list.stdout.contains("Dashboard"));
}

#[tokio::test]
async fn a_public_client_gets_no_secret() {
    let db = test_db();
    let out = run_cli(
        &db,
        &[
            "client",
            "add",
            "--name",
            "SPA",
            "--public",
            "--redirect-uri",
            "http://localhost:3000/cb",
            "--json",
        ],
        None,
    )
    .await;
    assert!(out.ok(), "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).expect("json");
    assert!(v["client_secret"].is_null());
    let rotate = run_cli(
        &db,
        &[
            "client",
            "rotate-secret",
            v["client_id"].as_str().unwrap_or(""),
        ],
        None,
    )
    .await;
    assert!(
        !rotate.ok() && rotate.stderr.contains("public"),
        "{}",
        rotate.stderr
    );
}

#[tokio::test]
async fn bad_client_registrations_fail_cleanly_and_store_nothing() {
    let db = test_db();
    for (args, needle) in [
        (
            vec!["--redirect-uri", "https://app.example/cb#frag"],
            "fragment",
        ),
        (vec!["--redirect-uri", "http://app.example/cb"], "https"),
        (vec!["--redirect-uri", "https://*.example/cb"], "wildcard"),
        (vec![], "redirect URI"),
        (
            vec![
                "--redirect-uri",
                "https://a.example/cb",
                "--grant-type",
                "password",
            ],
            "password",
        ),
        (
            vec![
                "--redirect-uri",
                "https://a.example/cb",
                "--public",
                "--grant-type",
                "client_credentials",
            ],
            "confidential",
        ),
    ] {
        let mut full = vec!["client", "add", "--name", "Bad"];
        full.extend(args.iter().copied());
        let out = run_cli(&db, &full, None).await;
        assert!(!out.ok(), "{args:?} should fail");
        assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
        assert!(out.stderr.contains(needle), "{args:?}: {}", out.stderr);
    }
    let mut conn = db.conn();
    let n: i64 = clients::table.count().get_result(&mut conn).expect("count");
    let m: i64 = client_redirect_uris::table
        .count()
        .get_result(&mut conn)
        .expect("count");
    assert_eq!((n, m), (0, 0));
}

#[tokio::test]
async fn unknown_clients_are_reported_not_crashed_on() {
    let db = test_db();
    for args in [
        vec!["client", "show", "nope"],
        vec!["client", "remove", "nope"],
        vec!["client", "rotate-secret", "nope"],
    ] {
        let out = run_cli(&db, &args, None).await;
        assert!(!out.ok());
        assert!(out.stderr.contains("no client"), "{}", out.stderr);
        assert!(!out.stderr.contains("panicked"));
    }
}

#[tokio::test]
async fn rotate_secret_replaces_the_hash_and_remove_deletes_everything() {
    let db = test_db();
    let out = run_cli(
        &db,
        &[
            "client",
            "add",
            "--name",
            "R",
            "--redirect-uri",
            "https://r.example/cb",
            "--json",
        ],
        None,
    )
    .await;
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).expect("json");
    let id = v["client_id"].as_str().expect("id").to_owned();
    let first = v["client_secret"].as_str().expect("secret").to_owned();
    let rot = run_cli(&db, &["client", "rotate-secret", &id, "--json"], None).await;
    assert!(rot.ok(), "{}", rot.stderr);
    let r: serde_json::Value = serde_json::from_str(rot.stdout.trim()).expect("json");
    let second = r["client_secret"].as_str().expect("secret");
    assert_ne!(first, second);
    let mut conn = db.conn();
    let stored: Option<String> = clients::table
        .find(&id)
        .select(clients::secret_hash)
        .first(&mut conn)
        .expect("row");
    assert_eq!(stored, Some(ostiary::random::sha256_hex(second)));

    assert!(run_cli(&db, &["client", "remove", &id], None).await.ok());
    let n: i64 = client_redirect_uris::table
        .count()
        .get_result(&mut conn)
        .expect("count");
    assert_eq!(n, 0, "redirect URIs go with the client");
}

#[tokio::test]
async fn keys_list_and_rotate() {
    let db = test_db();
    let list = run_cli(&db, &["keys", "list"], None).await;
    assert!(list.ok(), "{}", list.stderr);
    assert_eq!(list.stdout.matches("active").count(), 3, "{}", list.stdout);
    let rot = run_cli(&db, &["keys", "rotate", "--activate-in", "0"], None).await;
    assert!(rot.ok(), "{}", rot.stderr);
    let list = run_cli(&db, &["keys", "list"], None).await;
    assert_eq!(list.stdout.matches("active").count(), 3, "{}", list.stdout);
    assert_eq!(list.stdout.matches("retired").count(), 3, "{}", list.stdout);
    let rot = run_cli(&db, &["keys", "rotate", "--activate-in", "3600"], None).await;
    assert!(rot.ok());
    let list = run_cli(&db, &["keys", "list"], None).await;
    assert_eq!(list.stdout.matches("next").count(), 3, "{}", list.stdout);
}

#[tokio::test]
async fn every_command_has_help() {
    let db = test_db();
    for args in [
        vec!["--help"],
        vec!["user", "add", "--help"],
        vec!["client", "add", "--help"],
        vec!["keys", "rotate", "--help"],
        vec!["migrate", "--help"],
    ] {
        let out = run_cli(&db, &args, None).await;
        assert!(out.ok(), "{args:?}");
        assert!(out.stdout.contains("Usage"), "{args:?}: {}", out.stdout);
    }
    let out = run_cli(&db, &["client", "add", "--help"], None).await;
    let text = out.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        text.contains("--redirect-uri") && text.contains("shown only this once"),
        "{text}"
    );
}

/// A command's help is its own arguments and the few settings every command uses (with their
/// defaults); the server's settings are under `serve --help` only (`user add --help` was 192
/// lines, every server setting repeated under every command).
#[tokio::test]
async fn a_commands_help_is_its_own_arguments_and_server_settings_stay_under_serve() {
    let db = test_db();
    let user_add = run_cli(&db, &["user", "add", "--help"], None).await.stdout;
    assert!(user_add.lines().count() < 40, "{user_add}");
    for wanted in ["--password-stdin", "--email", "--database-url", "--config"] {
        assert!(user_add.contains(wanted), "{wanted} missing: {user_add}");
    }
    assert!(user_add.contains("sqlite://ostiary.db"), "{user_add}");
    for server_only in [
        "--bind",
        "--access-token-ttl",
        "--smtp-url",
        "OSTIARY_WORKERS",
    ] {
        assert!(!user_add.contains(server_only), "{server_only}: {user_add}");
    }

    let top = run_cli(&db, &["--help"], None).await.stdout;
    assert!(top.lines().count() < 40, "{top}");
    assert!(!top.contains("--access-token-ttl"), "{top}");
    assert!(top.contains("serve --help"), "{top}");

    let serve = run_cli(&db, &["serve", "--help"], None).await.stdout;
    for wanted in [
        "--bind",
        "OSTIARY_BIND",
        "--issuer",
        "--access-token-ttl",
        "--smtp-url",
        "--database-url",
        "--config",
    ] {
        assert!(serve.contains(wanted), "{wanted} missing: {serve}");
    }

    // Every grant type and authentication method the policy accepts, from its own lists.
    let client_add = run_cli(&db, &["client", "add", "--help"], None)
        .await
        .stdout;
    let text = client_add.split_whitespace().collect::<Vec<_>>().join(" ");
    for value in ostiary::domain::grants::SUPPORTED_GRANTS
        .iter()
        .chain(ostiary::oauth::client_policy::SUPPORTED_AUTH_METHODS.iter())
        .chain(["RS256", "ES256", "EdDSA"].iter())
    {
        assert!(text.contains(value), "{value} missing: {text}");
    }
}

/// Server settings are flags of `serve` (and of `ostiary` alone, which is `serve`), not of other
/// commands; from the environment they reach every command.
#[tokio::test]
async fn server_settings_are_serve_flags_and_environment_for_every_command() {
    let db = test_db();
    let misplaced = run_cli(&db, &["user", "list", "--bind", "127.0.0.1:1"], None).await;
    assert_eq!(misplaced.status.code(), Some(2), "{}", misplaced.stderr);
    assert!(misplaced.stderr.contains("--bind"), "{}", misplaced.stderr);

    for args in [
        &["serve", "--issuer", "ftp://x"][..],
        &["--issuer", "ftp://x"],
    ] {
        let out = run_cli(&db, args, None).await;
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", out.stderr);
        assert!(
            out.stderr.contains("OSTIARY_ISSUER"),
            "{args:?}: {}",
            out.stderr
        );
    }

    let out = crate::helpers::cli_command(&db)
        .args(["user", "list"])
        .env("OSTIARY_ARGON2_MEMORY_KIB", "1")
        .output()
        .await
        .expect("run ostiary");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("OSTIARY_ARGON2_MEMORY_KIB"), "{err}");

    // The global settings go before or after the command.
    for args in [
        &["--database-url", "mysql://x", "user", "list"][..],
        &["user", "list", "--database-url", "mysql://x"],
    ] {
        let out = run_cli(&db, args, None).await;
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", out.stderr);
        assert!(
            out.stderr.contains("OSTIARY_DATABASE_URL"),
            "{args:?}: {}",
            out.stderr
        );
    }
}

#[tokio::test]
async fn migrate_is_idempotent() {
    let db = test_db();
    let out = run_cli(&db, &["migrate"], None).await;
    assert!(out.ok(), "{}", out.stderr);
    assert!(out.stdout.contains("0 migration"), "{}", out.stdout);
}

#[tokio::test]
async fn a_running_server_sees_cli_changes_at_once() {
    let app = spawn_app().await;
    add_user(&app.db, "erin", "erin's password", false).await;
    // The server's own pool reads the row the CLI just wrote: nothing is cached per process.
    let st = app.state.clone();
    let found = actix_web::web::block(move || {
        let mut conn = st.pool.get().expect("conn");
        ostiary::db::models::users::by_username(&mut conn, "erin").expect("query")
    })
    .await
    .expect("block");
    assert!(found.is_some());
}
