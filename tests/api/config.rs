//! Bad settings stop start-up with one line that names the setting.

use crate::helpers::{cli_command, test_db};

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
