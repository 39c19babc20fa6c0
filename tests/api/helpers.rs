#![allow(dead_code)]
//! Test harness: a real server on port 0 over a real database (a fresh SQLite file per test, or a
//! fresh PostgreSQL database per test when OSTIARY_TEST_DATABASE_URL is set), cloned from a
//! template that is migrated and keyed once per run.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

use ostiary::config::DbUrl;
use ostiary::config::{Settings, SettingsArgs};
use ostiary::crypto::kek::Kek;
use ostiary::db::testing::{self, PgTestDatabase};
use ostiary::db::{self, DbConn};
use ostiary::startup::Application;
use ostiary::state::AppState;
use tempfile::TempDir;

/// The key-encryption key every test database's signing keys are sealed with.
pub const TEST_KEK: &str = "dGVzdC1rZXktZW5jcnlwdGlvbi1rZXktMzItYnl0ZXM=";

pub fn is_postgres() -> bool {
    testing::postgres_admin_url().is_some()
}

/// A database for one test; removed when dropped.
pub struct TestDb {
    pub url: String,
    pub dir: TempDir,
    _pg: Option<PgTestDatabase>,
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Identifies the schema: a template is reused only by runs with the same migrations — names
/// (diesel records the version) and contents.
fn schema_fingerprint() -> String {
    let mut all = String::new();
    let mut dirs: Vec<_> = std::fs::read_dir(manifest_dir().join("migrations/postgres"))
        .expect("migrations/postgres")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    dirs.sort();
    for d in dirs {
        all.push_str(&d.file_name().unwrap_or_default().to_string_lossy());
        all.push_str(&std::fs::read_to_string(d.join("up.sql")).unwrap_or_default());
    }
    all.push_str(TEST_KEK);
    ostiary::random::sha256_hex(&all)[..12].to_owned()
}

fn prepare_template(conn: &mut DbConn) {
    db::run_migrations(conn).expect("template migrations");
    let kek = Kek::parse(TEST_KEK).expect("test kek");
    ostiary::crypto::keys::ensure_keys(conn, &kek).expect("template keys");
}

/// The SQLite template file, made once per test process.
fn sqlite_template() -> &'static Path {
    static TEMPLATE: OnceLock<(TempDir, PathBuf)> = OnceLock::new();
    let (_, path) = TEMPLATE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("template.db");
        {
            let mut conn = db::establish(&DbUrl::Sqlite(path.display().to_string()))
                .expect("open sqlite template");
            prepare_template(&mut conn);
            use diesel::connection::SimpleConnection;
            conn.batch_execute("PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode = DELETE;")
                .expect("checkpoint template");
        }
        (dir, path)
    });
    path
}

/// The PostgreSQL template database, made once per schema and reused across runs.
fn postgres_template(admin: &str) -> &'static str {
    static TEMPLATE: OnceLock<String> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let name = format!("ostiary_tpl_{}", schema_fingerprint());
        let exists = testing::database_exists(admin, &name).unwrap_or_else(|e| {
            panic!(
                "{} is set but PostgreSQL cannot be reached: {e}",
                testing::TEST_DATABASE_ENV
            )
        });
        if !exists {
            let fresh = PgTestDatabase::create(admin, None).expect("create template database");
            {
                let mut conn =
                    db::establish(&DbUrl::Postgres(fresh.url.clone())).expect("open template");
                prepare_template(&mut conn);
            }
            // Another test process may have published it meanwhile; theirs is as good as ours.
            if fresh.persist_as(&name).is_err() {
                assert!(testing::database_exists(admin, &name).unwrap_or(false));
            }
        }
        name
    })
}

/// A migrated database with signing keys, private to the calling test.
pub fn test_db() -> TestDb {
    let dir = tempfile::tempdir().expect("tempdir");
    match testing::postgres_admin_url() {
        Some(admin) => {
            let template = postgres_template(&admin);
            let pg = PgTestDatabase::create(&admin, Some(template)).unwrap_or_else(|e| {
                panic!(
                    "{} is set but PostgreSQL cannot be used: {e}",
                    testing::TEST_DATABASE_ENV
                )
            });
            TestDb {
                url: pg.url.clone(),
                dir,
                _pg: Some(pg),
            }
        }
        None => {
            let path = dir.path().join("ostiary.db");
            std::fs::copy(sqlite_template(), &path).expect("copy template");
            TestDb {
                url: format!("sqlite://{}", path.display()),
                dir,
                _pg: None,
            }
        }
    }
}

/// The PostgreSQL server tests use when `OSTIARY_TEST_DATABASE_URL` is not set: every machine
/// of this project has one (tests that need PostgreSQL whatever the suite runs on fail, never
/// skip, without it).
pub const LOCAL_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A migrated PostgreSQL database with signing keys, whichever backend the suite runs on.
pub fn pg_db() -> TestDb {
    let admin = testing::postgres_admin_url().unwrap_or_else(|| LOCAL_POSTGRES.to_owned());
    let template = postgres_template(&admin);
    let pg = PgTestDatabase::create(&admin, Some(template))
        .unwrap_or_else(|e| panic!("this test needs PostgreSQL at {admin}: {e}"));
    TestDb {
        url: pg.url.clone(),
        dir: tempfile::tempdir().expect("tempdir"),
        _pg: Some(pg),
    }
}

/// An empty database (no migrations, no keys): for tests of first start.
pub fn empty_db() -> TestDb {
    let dir = tempfile::tempdir().expect("tempdir");
    match testing::postgres_admin_url() {
        Some(admin) => {
            let pg = PgTestDatabase::create(&admin, None).expect("create database");
            TestDb {
                url: pg.url.clone(),
                dir,
                _pg: Some(pg),
            }
        }
        None => TestDb {
            url: format!("sqlite://{}", dir.path().join("fresh.db").display()),
            dir,
            _pg: None,
        },
    }
}

impl TestDb {
    pub fn conn(&self) -> DbConn {
        db::establish(&DbUrl::parse(&self.url).expect("url")).expect("connect to test db")
    }

    pub fn keys_dir(&self) -> PathBuf {
        self.dir.path().join("keys")
    }
}

/// Settings for a test server over `db`, listening on `port`.
pub fn test_settings_args(db: &TestDb, port: u16) -> SettingsArgs {
    SettingsArgs {
        database_url: Some(db.url.clone()),
        issuer: Some(format!("http://127.0.0.1:{port}")),
        bind: Some(format!("127.0.0.1:{port}")),
        keys_dir: Some(db.keys_dir()),
        key_encryption_key: Some(TEST_KEK.into()),
        log: Some("warn".into()),
        workers: Some(2),
        db_pool_size: Some(4),
        // Cheaper than production so the suite stays quick; the pool and code path are the same.
        argon2_memory_kib: Some(4096),
        argon2_iterations: Some(1),
        ..Default::default()
    }
}

pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub client: reqwest::Client,
    pub db: TestDb,
    pub state: actix_web::web::Data<AppState>,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_on(test_db(), |_| {}).await
}

/// reqwest's rustls is built without a default crypto provider (the binary picks aws-lc-rs
/// explicitly for its outbound client); the tests' own clients use the same one.
pub fn install_tls_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// Starts a server over `db`, letting the test adjust settings first.
pub async fn spawn_app_on(db: TestDb, adjust: impl FnOnce(&mut SettingsArgs)) -> TestApp {
    install_tls_provider();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    let port = listener.local_addr().expect("addr").port();
    let mut args = test_settings_args(&db, port);
    adjust(&mut args);
    let settings = Settings::resolve(args, None).expect("test settings");
    let app = Application::build_with_listener(settings, listener)
        .await
        .expect("build app");
    let state = app.state();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        client: browser(),
        db,
        state,
    }
}

/// A cookie-aware client that does not follow redirects, like a browser under test control.
pub fn browser() -> reqwest::Client {
    install_tls_provider();
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("reqwest client")
}

/// As `browser`, but its connections come from another loopback address (another client, as
/// far as the server can tell: all of 127.0.0.0/8 is local).
pub fn browser_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .local_address(Some(ip.parse().expect("ip")))
        .build()
        .expect("reqwest client")
}

impl TestApp {
    /// GET /login then POST the credentials with `browser` (its own cookies and address).
    pub async fn login_with(
        &self,
        browser: &reqwest::Client,
        username: &str,
        password: &str,
    ) -> reqwest::Response {
        self.login_towards(browser, (username, password), "/").await
    }

    /// As `login_with`, coming back to `return_to` (an interaction's resume path, say).
    pub async fn login_towards(
        &self,
        browser: &reqwest::Client,
        user: (&str, &str),
        return_to: &str,
    ) -> reqwest::Response {
        let html = self.html(browser, "/login").await;
        let csrf = Self::csrf_of(&html);
        browser
            .post(self.url("/login"))
            .form(&[
                ("username", user.0),
                ("password", user.1),
                ("csrf_token", csrf.as_str()),
                ("return_to", return_to),
            ])
            .send()
            .await
            .expect("login post")
    }

    /// GETs `path` with `browser` and returns the page.
    pub async fn html(&self, browser: &reqwest::Client, path: &str) -> String {
        browser
            .get(self.url(path))
            .send()
            .await
            .expect("GET page")
            .text()
            .await
            .expect("page body")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("GET request")
    }

    /// `SELECT count(*) FROM <from>`, e.g. `count("refresh_families WHERE revoked_at IS NULL")`.
    pub fn count(&self, from: &str) -> i64 {
        use diesel::prelude::*;
        use diesel::sql_types::BigInt;
        #[derive(QueryableByName)]
        struct N {
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        let mut conn = self.db.conn();
        diesel::sql_query(format!("SELECT count(*) AS n FROM {from}"))
            .get_result::<N>(&mut conn)
            .expect("count")
            .n
    }

    pub async fn cli(&self, args: &[&str], stdin: Option<&str>) -> CliOutput {
        run_cli(&self.db, args, stdin).await
    }
}

pub struct CliOutput {
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl CliOutput {
    pub fn ok(&self) -> bool {
        self.status.success()
    }
}

impl From<Output> for CliOutput {
    fn from(o: Output) -> Self {
        CliOutput {
            status: o.status,
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

pub fn cli_command(db: &TestDb) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_ostiary"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("OSTIARY_DATABASE_URL", &db.url)
        .env("OSTIARY_KEYS_DIR", db.keys_dir())
        .env("OSTIARY_KEY_ENCRYPTION_KEY", TEST_KEK)
        .env("OSTIARY_ARGON2_MEMORY_KIB", "4096")
        .env("OSTIARY_ARGON2_ITERATIONS", "1")
        .env("OSTIARY_LOG", "warn")
        .kill_on_drop(true);
    cmd
}

/// Runs the `ostiary` binary against `db`, feeding `stdin` if given.
pub async fn run_cli(db: &TestDb, args: &[&str], stdin: Option<&str>) -> CliOutput {
    use tokio::io::AsyncWriteExt;
    let mut cmd = cli_command(db);
    cmd.args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("spawn ostiary");
    if let Some(mut pipe) = child.stdin.take() {
        if let Some(input) = stdin {
            pipe.write_all(input.as_bytes()).await.expect("write stdin");
        }
        drop(pipe);
    }
    child
        .wait_with_output()
        .await
        .expect("ostiary output")
        .into()
}

/// Adds a user through the CLI and returns its username.
pub async fn add_user(db: &TestDb, username: &str, password: &str, admin: bool) {
    let email = format!("{username}@example.test");
    let mut args = vec![
        "user",
        "add",
        username,
        "--email",
        &email,
        "--password-stdin",
    ];
    if admin {
        args.push("--admin");
    }
    let out = run_cli(db, &args, Some(&format!("{password}\n"))).await;
    assert!(out.ok(), "user add failed: {}", out.stderr);
}

/// A client registered through the CLI.
#[derive(Clone, Debug)]
pub struct TestClient {
    pub id: String,
    pub secret: Option<String>,
    pub redirect_uri: String,
}

pub const REDIRECT: &str = "http://127.0.0.1:9/callback";

impl TestApp {
    /// Registers a client with the CLI; `extra` are further `client add` flags.
    pub async fn client(&self, extra: &[&str]) -> TestClient {
        let mut args = vec!["client", "add", "--name", "Test App", "--json"];
        if !extra.contains(&"--redirect-uri") {
            args.extend(["--redirect-uri", REDIRECT]);
        }
        args.extend(extra.iter().copied());
        let out = run_cli(&self.db, &args, None).await;
        assert!(out.ok(), "client add: {}", out.stderr);
        let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).expect("json");
        let redirect_uri = extra
            .iter()
            .position(|a| *a == "--redirect-uri")
            .map(|i| extra[i + 1].to_owned())
            .unwrap_or_else(|| REDIRECT.to_owned());
        TestClient {
            id: v["client_id"].as_str().expect("client_id").to_owned(),
            secret: v["client_secret"].as_str().map(str::to_owned),
            redirect_uri,
        }
    }

    pub async fn user(&self, username: &str, password: &str) {
        add_user(&self.db, username, password, false).await;
    }

    /// Adds a user with address `email` through the CLI; `flags` are further `user add` flags
    /// (`--email-verified`, `--admin`).
    pub async fn user_at(&self, username: &str, email: &str, password: &str, flags: &[&str]) {
        let mut args = vec![
            "user",
            "add",
            username,
            "--email",
            email,
            "--password-stdin",
        ];
        args.extend(flags);
        let out = run_cli(&self.db, &args, Some(&format!("{password}\n"))).await;
        assert!(out.ok(), "user add {username}: {}", out.stderr);
    }

    /// Reads the CSRF token from a page.
    pub fn csrf_of(html: &str) -> String {
        let doc = scraper::Html::parse_document(html);
        let sel = scraper::Selector::parse("input[name=csrf_token]").expect("selector");
        doc.select(&sel)
            .next()
            .and_then(|e| e.value().attr("value"))
            .expect("page has a csrf_token")
            .to_owned()
    }

    /// Follows the login redirect: GET the login page, POST the credentials.
    pub async fn login(
        &self,
        login_location: &str,
        username: &str,
        password: &str,
    ) -> reqwest::Response {
        let page = self
            .client
            .get(self.url(login_location))
            .send()
            .await
            .expect("login page");
        assert_eq!(page.status(), 200);
        let html = page.text().await.expect("html");
        let csrf = Self::csrf_of(&html);
        let doc = scraper::Html::parse_document(&html);
        let sel = scraper::Selector::parse("input[name=return_to]").expect("selector");
        let return_to = doc
            .select(&sel)
            .next()
            .and_then(|e| e.value().attr("value"))
            .unwrap_or("/")
            .to_owned();
        self.client
            .post(self.url("/login"))
            .form(&[
                ("username", username),
                ("password", password),
                ("csrf_token", csrf.as_str()),
                ("return_to", return_to.as_str()),
            ])
            .send()
            .await
            .expect("login post")
    }

    pub async fn authorize(&self, params: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .get(self.url("/authorize"))
            .query(params)
            .send()
            .await
            .expect("authorize")
    }

    /// Runs authorize → login (if asked) → consent (allow) and returns the redirect URL.
    pub async fn code_flow(
        &self,
        client: &TestClient,
        params: &[(&str, &str)],
        user: (&str, &str),
    ) -> url::Url {
        let res = self.authorize(params).await;
        let mut res = res;
        if res.status() == 302 && location(&res).starts_with("/login") {
            let login = self.login(&location(&res), user.0, user.1).await;
            assert_eq!(login.status(), 303, "login failed");
            res = self
                .client
                .get(self.url(&location(&login)))
                .send()
                .await
                .expect("resume");
        }
        if res.status() == 200 {
            let html = res.text().await.expect("consent html");
            let csrf = Self::csrf_of(&html);
            let action = consent_action(&html);
            res = self
                .client
                .post(self.url(&action))
                .form(&[("csrf_token", csrf.as_str()), ("decision", "allow")])
                .send()
                .await
                .expect("consent");
        }
        assert_eq!(res.status(), 302, "expected a redirect to the client");
        let loc = location(&res);
        assert!(loc.starts_with(&client.redirect_uri), "{loc}");
        url::Url::parse(&loc).expect("redirect url")
    }

    /// POSTs a form to /token with the client's credentials in a Basic header.
    pub async fn token(&self, client: &TestClient, form: &[(&str, &str)]) -> reqwest::Response {
        let mut req = reqwest::Client::new().post(self.url("/token"));
        let mut form: Vec<(&str, &str)> = form.to_vec();
        match &client.secret {
            Some(secret) => req = req.basic_auth(&client.id, Some(secret)),
            None => form.push(("client_id", client.id.as_str())),
        }
        req.form(&form).send().await.expect("token request")
    }

    /// What /introspect answers the client (Basic auth) about `token`.
    pub async fn introspect(&self, client: &TestClient, token: &str) -> serde_json::Value {
        reqwest::Client::new()
            .post(self.url("/introspect"))
            .basic_auth(&client.id, client.secret.as_deref())
            .form(&[("token", token)])
            .send()
            .await
            .expect("introspect")
            .json()
            .await
            .expect("json")
    }
}

pub fn location(res: &reqwest::Response) -> String {
    res.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

pub fn consent_action(html: &str) -> String {
    let doc = scraper::Html::parse_document(html);
    let sel = scraper::Selector::parse("form").expect("selector");
    doc.select(&sel)
        .find(|f| {
            f.value()
                .attr("action")
                .is_some_and(|a| a.starts_with("/authorize"))
        })
        .and_then(|f| f.value().attr("action"))
        .expect("consent form")
        .to_owned()
}

pub fn query_param(url: &url::Url, key: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// A PKCE verifier and its S256 challenge.
pub fn pkce_pair() -> (String, String) {
    use base64::Engine;
    let verifier = ostiary::random::token::<32>();
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref());
    (verifier, challenge)
}
