//! Operations: /metrics read by a real Prometheus parser, refused to other addresses.

use serde_json::Value;

use crate::helpers::{
    browser, browser_from, pkce_pair, query_param, spawn_app_on, test_db, TestApp,
};

/// /metrics parsed by prometheus_client (Python), as JSON: family → sample → value.
async fn scrape(app: &TestApp) -> Value {
    let text = app.get("/metrics").await.text().await.expect("metrics");
    let py = tokio::task::spawn_blocking(crate::rp::rp_python)
        .await
        .expect("venv")
        .clone();
    let mut child = tokio::process::Command::new(py)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/rp/metrics_parse.py"
        ))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python");
    {
        use tokio::io::AsyncWriteExt;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(text.as_bytes()).await.expect("write");
    }
    let out = child.wait_with_output().await.expect("parse");
    assert!(
        out.status.success(),
        "prometheus_client refused the exposition: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

fn sample(m: &Value, family: &str, key: &str) -> f64 {
    m[family][key]
        .as_f64()
        .unwrap_or_else(|| panic!("{family} has no sample {key}: {}", m[family]))
}

#[tokio::test]
async fn metrics_are_valid_prometheus_text_and_count_what_happens() {
    let app = spawn_app_on(test_db(), |_| {}).await;
    app.user("mo", "mo's password").await;
    // A good login, a bad one.
    assert_eq!(
        app.login_with(&browser(), "mo", "mo's password")
            .await
            .status(),
        303
    );
    assert_eq!(
        app.login_with(&browser(), "mo", "wrong").await.status(),
        200
    );
    // client_credentials, and a code flow whose refresh token is then reused.
    let cc = app.client(&["--grant-type", "client_credentials"]).await;
    let res = app
        .token(&cc, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(res.status(), 200);
    let client = app.client(&[]).await;
    let (verifier, challenge) = pkce_pair();
    let url = app
        .code_flow(
            &client,
            &[
                ("response_type", "code"),
                ("client_id", client.id.as_str()),
                ("redirect_uri", client.redirect_uri.as_str()),
                ("scope", "openid"),
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "S256"),
            ],
            ("mo", "mo's password"),
        )
        .await;
    let code = query_param(&url, "code").expect("code");
    let tokens: Value = app
        .token(
            &client,
            &[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", client.redirect_uri.as_str()),
                ("code_verifier", verifier.as_str()),
            ],
        )
        .await
        .json()
        .await
        .expect("tokens");
    let rt = tokens["refresh_token"].as_str().expect("rt").to_owned();
    for _ in 0..2 {
        app.token(
            &client,
            &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
        )
        .await;
    }

    let m = scrape(&app).await;
    assert!(sample(&m, "ostiary_logins", "ostiary_logins_total{outcome=ok}") >= 2.0);
    assert!(
        sample(
            &m,
            "ostiary_logins",
            "ostiary_logins_total{outcome=bad_credentials}"
        ) >= 1.0
    );
    for outcome in ["throttled", "locked", "mfa_required"] {
        sample(
            &m,
            "ostiary_logins",
            &format!("ostiary_logins_total{{outcome={outcome}}}"),
        );
    }
    assert!(
        sample(
            &m,
            "ostiary_tokens_issued",
            "ostiary_tokens_issued_total{grant_type=client_credentials}"
        ) >= 1.0
    );
    assert!(
        sample(
            &m,
            "ostiary_tokens_issued",
            "ostiary_tokens_issued_total{grant_type=authorization_code}"
        ) >= 1.0
    );
    assert!(
        sample(
            &m,
            "ostiary_refresh_token_reuse",
            "ostiary_refresh_token_reuse_total{}"
        ) >= 1.0
    );
    assert!(
        sample(
            &m,
            "ostiary_http_requests",
            "ostiary_http_requests_total{method=POST,route=/token,status_class=2xx}"
        ) >= 2.0
    );
    assert!(
        sample(
            &m,
            "ostiary_http_requests",
            "ostiary_http_requests_total{method=POST,route=/token,status_class=4xx}"
        ) >= 1.0
    );
    assert!(
        sample(
            &m,
            "ostiary_http_request_duration_seconds",
            "ostiary_http_request_duration_seconds_count{route=/token}"
        ) >= 3.0
    );
    assert!(
        sample(
            &m,
            "ostiary_password_hash_wait_seconds",
            "ostiary_password_hash_wait_seconds_count{}"
        ) >= 2.0
    );
    sample(
        &m,
        "ostiary_password_hash_in_flight",
        "ostiary_password_hash_in_flight{}",
    );
    assert!(
        sample(
            &m,
            "ostiary_db_pool_wait_seconds",
            "ostiary_db_pool_wait_seconds_count{}"
        ) >= 1.0
    );
    assert!(
        sample(
            &m,
            "ostiary_db_pool_connections",
            "ostiary_db_pool_connections{state=idle}"
        ) + sample(
            &m,
            "ostiary_db_pool_connections",
            "ostiary_db_pool_connections{state=in_use}"
        ) >= 1.0
    );
    for kind in ["mail", "backchannel_logout"] {
        sample(
            &m,
            "ostiary_outbox_backlog",
            &format!("ostiary_outbox_backlog{{kind={kind}}}"),
        );
    }
}

/// client_credentials tokens and introspection are answered from memory once the caches are
/// warm, and /metrics says so (`ostiary_cached_requests_total`).
#[tokio::test]
async fn cached_answers_are_counted() {
    let app = spawn_app_on(test_db(), |_| {}).await;
    let cc = app.client(&["--grant-type", "client_credentials"]).await;
    let key = |endpoint: &str, answered: &str| {
        format!("ostiary_cached_requests_total{{answered={answered},endpoint={endpoint}}}")
    };
    let before = scrape(&app).await;
    let memory_before = |e: &str| sample(&before, "ostiary_cached_requests", &key(e, "memory"));
    // The first requests may find the caches cold (or not yet checked): poll, bounded.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let token: Value = app
            .token(&cc, &[("grant_type", "client_credentials")])
            .await
            .json()
            .await
            .expect("json");
        let at = token["access_token"].as_str().expect("at");
        assert_eq!(app.introspect(&cc, at).await["active"], true);
        let m = scrape(&app).await;
        let grew =
            |e: &str| sample(&m, "ostiary_cached_requests", &key(e, "memory")) > memory_before(e);
        if grew("token") && grew("introspect") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never answered from memory: {}",
            m["ostiary_cached_requests"]
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn metrics_are_refused_outside_the_allowed_addresses() {
    let app = spawn_app_on(test_db(), |a| a.metrics_allow = Some("127.0.0.1/32".into())).await;
    let other = browser_from("127.0.0.2");
    let res = other
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics");
    assert_eq!(res.status(), 403);
    // Even when a proxy says the client is allowed: only the TCP peer counts.
    let res = other
        .get(app.url("/metrics"))
        .header("X-Forwarded-For", "127.0.0.1")
        .send()
        .await
        .expect("metrics");
    assert_eq!(res.status(), 403);
    assert_eq!(app.get("/metrics").await.status(), 200);
}

#[tokio::test]
async fn migrate_dry_run_lists_pending_migrations_and_applies_none() {
    let db = crate::helpers::empty_db();
    let out = crate::helpers::run_cli(&db, &["migrate", "--dry-run"], None).await;
    assert!(out.ok(), "{}", out.stderr);
    assert!(
        out.stdout.contains("would apply 2026-11-22-000001_initial"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("would apply 2026-12-05-000002_protocol_surface"),
        "{}",
        out.stdout
    );
    // Nothing was applied: the same list again.
    let again = crate::helpers::run_cli(&db, &["migrate", "--dry-run"], None).await;
    assert_eq!(again.stdout, out.stdout);
    assert!(crate::helpers::run_cli(&db, &["migrate"], None).await.ok());
    let done = crate::helpers::run_cli(&db, &["migrate", "--dry-run"], None).await;
    assert!(done.stdout.contains("up to date"), "{}", done.stdout);
}

/// Runs a login, a code exchange and two refreshes for `user` with `client`.
async fn one_round(app: &TestApp, client: &crate::helpers::TestClient, user: (&str, &str)) {
    let b = browser();
    assert_eq!(app.login_with(&b, user.0, user.1).await.status(), 303);
    let (verifier, challenge) = pkce_pair();
    let res = b
        .get(app.url("/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", client.id.as_str()),
            ("redirect_uri", client.redirect_uri.as_str()),
            ("scope", "openid"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await
        .expect("authorize");
    let location = crate::helpers::location(&res);
    let code = query_param(&url::Url::parse(&location).expect("url"), "code").expect("code");
    let tokens: Value = app
        .token(
            client,
            &[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", client.redirect_uri.as_str()),
                ("code_verifier", verifier.as_str()),
            ],
        )
        .await
        .json()
        .await
        .expect("tokens");
    let mut rt = tokens["refresh_token"].as_str().expect("rt").to_owned();
    for _ in 0..2 {
        let t: Value = app
            .token(
                client,
                &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
            )
            .await
            .json()
            .await
            .expect("refresh");
        rt = t["refresh_token"].as_str().expect("rt").to_owned();
    }
}

#[tokio::test]
async fn the_janitor_keeps_the_database_from_growing_under_steady_load() {
    let app = spawn_app_on(test_db(), |_| {}).await;
    app.user("jan", "jan's password").await;
    let client = app.client(&[]).await;
    // Consent once, so every round is a plain login and code flow.
    one_round_with_consent(&app, &client).await;
    let tables = [
        "sessions",
        "authorization_codes",
        "refresh_families",
        "refresh_tokens",
        "interactions",
    ];
    let mut after_gc = Vec::new();
    for _ in 0..4 {
        for _ in 0..3 {
            one_round(&app, &client, ("jan", "jan's password")).await;
        }
        // Time passes: everything made so far has outlived its use (a clock setting, not a sleep).
        {
            use diesel::prelude::*;
            let mut conn = app.db.conn();
            for sql in [
                "UPDATE sessions SET expires_at = 0",
                "UPDATE authorization_codes SET expires_at = 0",
                "UPDATE refresh_families SET expires_at = 0",
                "UPDATE interactions SET expires_at = 0",
            ] {
                diesel::sql_query(sql).execute(&mut conn).expect("age rows");
            }
        }
        let out = app.cli(&["gc"], None).await;
        assert!(out.ok(), "{}", out.stderr);
        let counts: Vec<i64> = tables.iter().map(|t| app.count(t)).collect();
        after_gc.push(counts);
    }
    // Level: after every pass the same (empty) tables, however many rounds came before.
    for counts in &after_gc {
        assert_eq!(counts, &after_gc[0], "{after_gc:?}");
        assert!(counts.iter().all(|n| *n == 0), "{tables:?} {counts:?}");
    }
}

/// The first code flow of a user with a client: login, consent.
async fn one_round_with_consent(app: &TestApp, client: &crate::helpers::TestClient) {
    let (_, challenge) = pkce_pair();
    app.code_flow(
        client,
        &[
            ("response_type", "code"),
            ("client_id", client.id.as_str()),
            ("redirect_uri", client.redirect_uri.as_str()),
            ("scope", "openid"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ],
        ("jan", "jan's password"),
    )
    .await;
}

/// The rule for migrations (README, "Upgrading"): additive only — new tables, new nullable or
/// defaulted columns, new indexes — so the previous release keeps serving while replicas are
/// upgraded one by one. What makes that work on the code's side is that every query names its
/// columns; this proves it: after an additive migration the server runs as before.
#[tokio::test]
async fn a_server_keeps_working_on_a_schema_one_additive_migration_ahead() {
    let app = spawn_app_on(test_db(), |_| {}).await;
    app.user("nia", "nia's password").await;
    {
        use diesel::connection::SimpleConnection;
        let mut conn = app.db.conn();
        conn.batch_execute(
            "ALTER TABLE clients ADD COLUMN next_release_flag BOOLEAN NOT NULL DEFAULT FALSE;
             ALTER TABLE sessions ADD COLUMN next_release_note TEXT;
             ALTER TABLE users ADD COLUMN next_release_locale TEXT;
             ALTER TABLE refresh_families ADD COLUMN next_release_hint TEXT;
             CREATE TABLE next_release_things (id TEXT PRIMARY KEY NOT NULL, at BIGINT NOT NULL);",
        )
        .expect("an additive migration");
    }
    let client = app.client(&[]).await;
    one_round_with_consent_for(&app, &client, ("nia", "nia's password")).await;
    one_round(&app, &client, ("nia", "nia's password")).await;
    assert!(app.cli(&["user", "list"], None).await.ok());
    assert!(app.cli(&["client", "list"], None).await.ok());
    assert!(app.cli(&["gc"], None).await.ok());
}

async fn one_round_with_consent_for(
    app: &TestApp,
    client: &crate::helpers::TestClient,
    user: (&str, &str),
) {
    let (_, challenge) = pkce_pair();
    app.code_flow(
        client,
        &[
            ("response_type", "code"),
            ("client_id", client.id.as_str()),
            ("redirect_uri", client.redirect_uri.as_str()),
            ("scope", "openid"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ],
        user,
    )
    .await;
}

/// Runs the CLI with an extra environment variable (for `secret = { env = … }`).
async fn cli_with_env(
    app: &TestApp,
    args: &[&str],
    var: (&str, &str),
) -> crate::helpers::CliOutput {
    let mut cmd = crate::helpers::cli_command(&app.db);
    cmd.args(args).env(var.0, var.1);
    cmd.output().await.expect("ostiary").into()
}

#[tokio::test]
async fn clients_and_policies_round_trip_through_export_and_apply() {
    let app = spawn_app_on(test_db(), |_| {}).await;
    let kept = app.client(&["--scope", "openid"]).await;
    let dropped = app.client(&[]).await;
    let out = app.cli(&["export"], None).await;
    assert!(out.ok(), "{}", out.stderr);
    assert!(out.stdout.contains(&kept.id));
    assert!(
        !out.stdout.contains("secret_hash") && !out.stdout.contains("ost_"),
        "no secrets"
    );
    let exported: toml::Table = out.stdout.parse().expect("valid TOML");
    assert_eq!(exported["policies"]["registration"].as_str(), Some("token"));

    // The desired state: `kept` renamed, `dropped` gone, a new client, open registration.
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("ostiary.toml");
    let mut desired = out
        .stdout
        .replace("name = \"Test App\"", "name = \"Renamed\"");
    let start = desired
        .find(&format!("client_id = \"{}\"", dropped.id))
        .expect("dropped");
    let block_start = desired[..start].rfind("[[clients]]").expect("block");
    let block_end = desired[start..]
        .find("[[clients]]")
        .map(|i| start + i)
        .unwrap_or(desired.len());
    desired.replace_range(block_start..block_end, "");
    desired = desired.replace("registration = \"token\"", "registration = \"open\"");
    desired.push_str(
        "\n[[clients]]\nclient_id = \"from-git\"\nname = \"From Git\"\n\
         grant_types = [\"client_credentials\"]\nscopes = [\"openid\"]\n\
         secret = { env = \"FROM_GIT_SECRET\" }\n",
    );
    std::fs::write(&file, &desired).expect("write");
    let path = file.display().to_string();
    let secret = ("FROM_GIT_SECRET", "a secret kept outside the file");

    let plan = cli_with_env(&app, &["apply", &path, "--dry-run"], secret).await;
    assert!(plan.ok(), "{}", plan.stderr);
    assert!(
        plan.stdout.contains("create client from-git"),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout
            .contains(&format!("update client {}: name", kept.id)),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout
            .contains(&format!("delete client {}", dropped.id)),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout.contains("set registration policy open"),
        "{}",
        plan.stdout
    );
    assert_eq!(
        app.count("clients WHERE client_id = 'from-git'"),
        0,
        "a dry run changes nothing"
    );

    let applied = cli_with_env(&app, &["apply", &path], secret).await;
    assert!(applied.ok(), "{}", applied.stderr);
    assert_eq!(
        app.count(&format!("clients WHERE client_id = '{}'", dropped.id)),
        0
    );
    assert_eq!(app.count("clients WHERE name = 'Renamed'"), 1);
    let created = crate::helpers::TestClient {
        id: "from-git".into(),
        secret: Some(secret.1.into()),
        redirect_uri: String::new(),
    };
    let res = app
        .token(&created, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(res.status(), 200, "the secret came from the environment");
    // The kept client still has its secret (none was named for it).
    let res = app
        .token(
            &kept,
            &[
                ("grant_type", "authorization_code"),
                ("code", "x"),
                ("redirect_uri", &kept.redirect_uri),
            ],
        )
        .await;
    assert_ne!(res.status(), 401);
    // Applying again: nothing to do.
    let again = cli_with_env(&app, &["apply", &path], secret).await;
    assert!(
        again.stdout.contains("nothing to change"),
        "{}",
        again.stdout
    );

    // Inline secrets are refused.
    std::fs::write(
        &file,
        "[[clients]]\nclient_id = \"x\"\nname = \"X\"\nsecret = \"hunter2\"\n",
    )
    .expect("write");
    let refused = app.cli(&["apply", &path], None).await;
    assert!(!refused.ok());
    assert!(
        refused.stderr.contains("inline secrets are refused"),
        "{}",
        refused.stderr
    );
}

#[tokio::test]
async fn json_logs_carry_request_id_route_client_outcome_and_duration() {
    let db = test_db();
    let (id, secret) = service_client(&db, "Logged").await;
    let env = [
        ("OSTIARY_LOG", "info".to_owned()),
        ("OSTIARY_LOG_FORMAT", "json".to_owned()),
    ];
    let (base, child) = serve(&db, &env).await;
    let http = reqwest::Client::new();
    let ok = http
        .post(format!("{base}/token"))
        .basic_auth(&id, Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token");
    assert_eq!(ok.status(), 200);
    let refused = http
        .post(format!("{base}/token"))
        .basic_auth(&id, Some("wrong"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token");
    assert_eq!(refused.status(), 401);
    // A graceful stop (SIGTERM, as an orchestrator sends) flushes the buffered log lines.
    let pid = child.id().expect("pid").to_string();
    let term = tokio::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .expect("kill");
    assert!(term.success());
    let output = tokio::time::timeout(std::time::Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("stopped within 30 s")
        .expect("output");
    let lines: Vec<Value> = String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|v: &Value| v["target"] == "ostiary::access" && v["route"] == "/token")
        .collect();
    assert_eq!(lines.len(), 2, "one access line per request: {lines:?}");
    for (line, outcome) in lines.iter().zip(["ok", "invalid_client"]) {
        assert_eq!(line["client_id"], id.as_str(), "{line}");
        assert_eq!(line["outcome"], outcome, "{line}");
        assert!(line["duration_ms"].as_f64().is_some(), "{line}");
        assert!(
            line["span"]["request_id"]
                .as_str()
                .is_some_and(|r| !r.is_empty()),
            "{line}"
        );
        assert!(!line.to_string().contains(&secret), "no secret in logs");
    }
}

/// Stops a server the way an orchestrator does (SIGTERM, which flushes the buffered log lines)
/// and returns its JSON log lines.
async fn stop_and_read_json_logs(child: tokio::process::Child) -> Vec<Value> {
    let pid = child.id().expect("pid").to_string();
    let term = tokio::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .expect("kill");
    assert!(term.success());
    let output = tokio::time::timeout(std::time::Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("stopped within 30 s")
        .expect("output");
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// A 404 (an unknown path, or a handler's "not found" error) and a login redirect are the
/// client's business: no WARN or ERROR line, the access line at DEBUG; a refusal at INFO; and
/// durations print as milliseconds with at most three decimals.
#[tokio::test]
async fn client_errors_log_below_warn_and_durations_have_three_decimals() {
    let db = test_db();
    let (id, _) = service_client(&db, "Levels").await;
    let env = [
        ("OSTIARY_LOG", "info,ostiary::access=debug".to_owned()),
        ("OSTIARY_LOG_FORMAT", "json".to_owned()),
    ];
    let (base, child) = serve(&db, &env).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    for (path, status) in [
        ("/no-such-page", 404),
        ("/setup?token=not-a-token", 404),
        ("/admin/clients/x", 303),
    ] {
        let res = http.get(format!("{base}{path}")).send().await.expect(path);
        assert_eq!(res.status(), status, "{path}");
    }
    let refused = http
        .post(format!("{base}/token"))
        .basic_auth(&id, Some("wrong"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token");
    assert_eq!(refused.status(), 401);
    let lines = stop_and_read_json_logs(child).await;
    let in_request = |v: &&Value| v["span"]["request_id"].is_string();
    for line in lines.iter().filter(in_request) {
        assert!(
            !matches!(line["level"].as_str(), Some("WARN" | "ERROR")),
            "a client error logged at WARN or above: {line}"
        );
    }
    let access: Vec<&Value> = lines
        .iter()
        .filter(|v| v["target"] == "ostiary::access")
        .collect();
    let level_of = |route: &str, status: u64| {
        access
            .iter()
            .find(|v| v["route"] == route && v["status"] == status)
            .map(|v| v["level"].as_str().unwrap_or("").to_owned())
            .unwrap_or_else(|| panic!("no access line for {route} {status}: {access:?}"))
    };
    assert_eq!(level_of("unmatched", 404), "DEBUG");
    assert_eq!(level_of("/setup", 404), "DEBUG");
    assert_eq!(level_of("/admin/clients/{id}", 303), "INFO");
    assert_eq!(level_of("/token", 401), "INFO");
    for line in &access {
        let printed = line["duration_ms"].to_string();
        let decimals = printed.split_once('.').map_or(0, |(_, d)| d.len());
        assert!(
            line["duration_ms"].is_number() && decimals <= 3,
            "duration_ms {printed}: {line}"
        );
    }
}

/// Accepts HTTP requests on loopback and keeps their bodies (an OTLP/HTTP collector stand-in).
async fn collector() -> (u16, std::sync::Arc<std::sync::Mutex<Vec<Vec<u8>>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let bodies: std::sync::Arc<std::sync::Mutex<Vec<Vec<u8>>>> = Default::default();
    let keep = bodies.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let keep = keep.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                loop {
                    let n = sock.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
                    let len = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    if buf.len() < end + 4 + len {
                        continue;
                    }
                    keep.lock()
                        .expect("lock")
                        .push(buf[end + 4..end + 4 + len].to_vec());
                    buf.drain(..end + 4 + len);
                    let _ = sock
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                        .await;
                }
            });
        }
    });
    (port, bodies)
}

#[tokio::test]
async fn request_spans_are_exported_over_otlp_with_client_and_outcome() {
    let (collector_port, bodies) = collector().await;
    let db = test_db();
    let (id, secret) = service_client(&db, "Traced").await;
    let env = [
        (
            "OSTIARY_OTLP_ENDPOINT",
            format!("http://127.0.0.1:{collector_port}/v1/traces"),
        ),
        // Export within a fraction of a second instead of the default five.
        ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
    ];
    let (base, _child) = serve(&db, &env).await;
    let res = reqwest::Client::new()
        .post(format!("{base}/token"))
        .basic_auth(&id, Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token");
    assert_eq!(res.status(), 200);
    // The span arrives as protobuf; its string attributes are plain bytes inside.
    let contains = |b: &[u8], s: &str| b.windows(s.len()).any(|w| w == s.as_bytes());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let got = bodies.lock().expect("lock").clone();
        if got
            .iter()
            .any(|b| contains(b, &id) && contains(b, "/token") && contains(b, "client_id"))
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no span for the token request reached the collector ({} exports)",
            got.len()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// A `client_credentials` client made with the CLI: (id, secret).
/// A confidential client_credentials client made by the CLI: (id, secret).
pub(crate) async fn service_client(db: &crate::helpers::TestDb, name: &str) -> (String, String) {
    let out = crate::helpers::run_cli(
        db,
        &[
            "client",
            "add",
            "--name",
            name,
            "--grant-type",
            "client_credentials",
            "--json",
        ],
        None,
    )
    .await;
    assert!(out.ok(), "{}", out.stderr);
    let v: Value = serde_json::from_str(out.stdout.trim()).expect("json");
    (
        v["client_id"].as_str().expect("id").to_owned(),
        v["client_secret"].as_str().expect("secret").to_owned(),
    )
}

/// `ostiary serve` over `db` on a free port with `env` (stderr piped), once it answers.
async fn serve(
    db: &crate::helpers::TestDb,
    env: &[(&str, String)],
) -> (String, tokio::process::Child) {
    crate::helpers::install_tls_provider();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let mut cmd = crate::helpers::cli_command(db);
    cmd.arg("serve")
        .env("OSTIARY_BIND", format!("127.0.0.1:{port}"))
        .env("OSTIARY_ISSUER", &base)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().expect("serve");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while reqwest::get(format!("{base}/healthz")).await.is_err() {
        assert!(std::time::Instant::now() < deadline, "server did not start");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    (base, child)
}

/// PostgreSQL refuses a NUL byte in text: identifiers carrying one are unknown, not a 500.
#[tokio::test]
async fn nul_bytes_in_identifiers_are_refused_cleanly() {
    let app = spawn_app_on(test_db(), |_| {}).await;
    let res = app
        .get("/authorize?response_type=code&client_id=%00&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb")
        .await;
    assert_eq!(res.status(), 400);
    let res = app.login_with(&browser(), "ann\u{0}", "a password").await;
    assert_eq!(res.status(), 200, "a failed login, not an error");
    let res = reqwest::Client::new()
        .post(app.url("/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "x\u{0}y"),
        ])
        .send()
        .await
        .expect("token");
    assert_eq!(res.status(), 401);
    let res = reqwest::Client::new()
        .post(app.url("/device_authorization"))
        .form(&[("client_id", "\u{0}")])
        .send()
        .await
        .expect("device");
    assert_eq!(res.status(), 401);
}
