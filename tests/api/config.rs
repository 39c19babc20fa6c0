//! Bad settings stop start-up with one line that names the setting.

use crate::helpers::{cli_command, test_db, TestDb};

async fn start_with(env: &[(&str, &str)]) -> (i32, String) {
    let db = test_db();
    let mut cmd = cli_command(&db);
    cmd.arg("serve").env("OSTIARY_BIND", "127.0.0.1:0");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = tokio::time::timeout(std::time::Duration::from_secs(30), cmd.output())
        .await
        .expect("start-up must fail fast, not hang")
        .expect("run ostiary");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code().unwrap_or(-1), stderr)
}

#[tokio::test]
async fn a_plain_http_issuer_off_loopback_is_refused() {
    let (code, err) = start_with(&[("OSTIARY_ISSUER", "http://id.example.com")]).await;
    assert_ne!(code, 0);
    assert!(err.contains("OSTIARY_ISSUER"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one clear line: {err}");
}

#[tokio::test]
async fn an_unsupported_database_url_is_refused() {
    let (code, err) = start_with(&[("OSTIARY_DATABASE_URL", "mysql://localhost/x")]).await;
    assert_ne!(code, 0);
    assert!(err.contains("OSTIARY_DATABASE_URL"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[tokio::test]
async fn a_malformed_key_encryption_key_is_refused() {
    let (code, err) = start_with(&[("OSTIARY_KEY_ENCRYPTION_KEY", "too-short")]).await;
    assert_ne!(code, 0);
    assert!(err.contains("OSTIARY_KEY_ENCRYPTION_KEY"), "{err}");
    assert!(
        !err.contains("too-short"),
        "the key itself is never echoed: {err}"
    );
}

#[tokio::test]
async fn an_unreadable_key_file_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A directory where the key file should be: unreadable as a file even for root.
    std::fs::create_dir_all(dir.path().join("kek")).expect("mkdir");
    let keys = dir.path().display().to_string();
    let (code, err) = start_with(&[
        ("OSTIARY_KEY_ENCRYPTION_KEY", ""),
        ("OSTIARY_KEYS_DIR", &keys),
    ])
    .await;
    assert_ne!(code, 0);
    assert!(err.contains("kek"), "names the file: {err}");
}

#[tokio::test]
async fn a_wrong_key_encryption_key_fails_at_start_not_at_first_login() {
    let other = "b3RoZXIta2V5LWVuY3J5cHRpb24ta2V5LTMyLWJ5dGU=";
    let (code, err) = start_with(&[("OSTIARY_KEY_ENCRYPTION_KEY", other)]).await;
    assert_ne!(code, 0);
    assert!(err.contains("could not be decrypted"), "{err}");
}

/// A URL that parses but leads to no usable database is refused before any pool retries: one
/// line naming the setting, the password hidden, exit 2 (as every invalid setting).
#[tokio::test]
async fn a_database_that_cannot_be_opened_is_one_line_naming_the_setting() {
    let missing_dir = tempfile::tempdir().expect("tempdir");
    let sqlite = format!(
        "sqlite://{}",
        missing_dir.path().join("nonexistent/dir/o.db").display()
    );
    let postgres = "postgres://nobody:s3cret@127.0.0.1:5432/test";
    for url in [sqlite.as_str(), postgres] {
        let (code, err) = start_with(&[("OSTIARY_DATABASE_URL", url)]).await;
        assert_eq!(code, 2, "{err}");
        assert_eq!(
            err.trim().lines().count(),
            1,
            "one line, no pool noise: {err}"
        );
        assert!(
            err.contains("invalid setting OSTIARY_DATABASE_URL"),
            "{err}"
        );
        assert!(!err.contains("s3cret"), "password shown: {err}");
    }
}

/// Every command opens the database, so every one refuses such a URL the same way.
#[tokio::test]
async fn commands_refuse_a_database_that_cannot_be_opened_the_same_way() {
    let db = test_db();
    for args in [
        &["migrate"][..],
        &["user", "list"],
        &["gc"],
        &["keys", "list"],
    ] {
        let out = cli_command(&db)
            .args(args)
            .env(
                "OSTIARY_DATABASE_URL",
                "postgres://nobody:s3cret@127.0.0.1:5432/test",
            )
            .output()
            .await
            .expect("run ostiary");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains("OSTIARY_DATABASE_URL"), "{args:?}: {err}");
        assert!(!err.contains("s3cret"), "{args:?}: {err}");
    }
}

/// The first URL in `line` that contains `needle`, up to the next space or quote.
fn url_in(line: &str, needle: &str) -> Option<String> {
    let at = line.find(needle)?;
    let start = line[..at].rfind("http")?;
    let end = line[start..]
        .find(|c: char| c.is_whitespace() || c == '"')
        .map_or(line.len(), |n| start + n);
    Some(line[start..end].to_owned())
}

/// `ostiary serve` over a fresh database with `env`; the log lines up to the setup link, and the
/// link (logged once the server is prepared; no user exists yet). The database is returned so it
/// outlives the server (a PostgreSQL test database is dropped with it).
async fn serve_until_setup_link(
    env: &[(&str, String)],
) -> (tokio::process::Child, Vec<String>, String, TestDb) {
    use tokio::io::AsyncBufReadExt;
    let db = test_db();
    let mut cmd = cli_command(&db);
    cmd.arg("serve")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().expect("serve");
    let mut lines = tokio::io::BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut seen = Vec::new();
    let read = async {
        while let Some(line) = lines.next_line().await.expect("read stderr") {
            if let Some(link) = url_in(&line, "/setup?token=") {
                return link;
            }
            seen.push(line);
        }
        panic!("no setup link logged: {seen:?}")
    };
    let link = tokio::time::timeout(std::time::Duration::from_secs(60), read)
        .await
        .expect("setup link logged");
    (child, seen, link, db)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// Changing only the port: the setup link and discovery name the address the server listens on.
#[tokio::test]
async fn without_an_issuer_a_loopback_bind_is_the_issuer() {
    crate::helpers::install_tls_provider();
    let port = free_port();
    let (mut child, _, link, _db) =
        serve_until_setup_link(&[("OSTIARY_BIND", format!("127.0.0.1:{port}"))]).await;
    let base = format!("http://127.0.0.1:{port}");
    assert!(link.starts_with(&format!("{base}/setup?token=")), "{link}");
    let http = reqwest::Client::new();
    let page = http.get(&link).send().await.expect("setup page");
    assert_eq!(page.status(), 200);
    let meta: serde_json::Value = http
        .get(format!("{base}/.well-known/openid-configuration"))
        .send()
        .await
        .expect("discovery")
        .json()
        .await
        .expect("json");
    assert_eq!(meta["issuer"], base.as_str());
    assert_eq!(meta["authorization_endpoint"], format!("{base}/authorize"));
    child.kill().await.expect("stop server");
}

/// A configured issuer that names another address than a loopback bind is warned about once.
#[tokio::test]
async fn an_issuer_other_than_a_loopback_bind_is_warned_about_once() {
    let port = free_port();
    let (mut child, before, link, _db) = serve_until_setup_link(&[
        ("OSTIARY_BIND", format!("127.0.0.1:{port}")),
        ("OSTIARY_ISSUER", "https://id.example.com".to_owned()),
    ])
    .await;
    assert!(
        link.starts_with("https://id.example.com/setup?token="),
        "{link}"
    );
    let warnings = before
        .iter()
        .filter(|l| l.contains("WARN") && l.contains("OSTIARY_ISSUER names another address"))
        .count();
    assert_eq!(warnings, 1, "{before:?}");
    child.kill().await.expect("stop server");
}
