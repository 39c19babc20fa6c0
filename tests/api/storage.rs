use std::collections::BTreeSet;
use std::path::PathBuf;

use diesel::prelude::*;
use ostiary::db::schema::clients;

use crate::helpers::{run_cli, test_db};

fn migration_names(backend: &str) -> BTreeSet<String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    std::fs::read_dir(&dir)
        .expect("migrations dir")
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn both_backends_have_the_same_migrations() {
    let sqlite = migration_names("sqlite");
    let postgres = migration_names("postgres");
    assert!(!sqlite.is_empty());
    assert_eq!(sqlite, postgres);
    for name in &sqlite {
        for backend in ["sqlite", "postgres"] {
            for file in ["up.sql", "down.sql"] {
                let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                    .join("migrations")
                    .join(backend)
                    .join(name)
                    .join(file);
                assert!(p.is_file(), "{} missing", p.display());
            }
        }
    }
}

#[tokio::test]
async fn client_secret_is_stored_only_as_its_sha256() {
    let db = test_db();
    let out = run_cli(
        &db,
        &[
            "client",
            "add",
            "--name",
            "Hashed",
            "--redirect-uri",
            "https://app.example/cb",
            "--json",
        ],
        None,
    )
    .await;
    assert!(out.ok(), "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).expect("json");
    let id = v["client_id"].as_str().expect("client_id");
    let secret = v["client_secret"].as_str().expect("client_secret");
    assert!(secret.starts_with("ost_") && secret.len() >= 47);

    let mut conn = db.conn();
    let (stored, public): (Option<String>, bool) = clients::table
        .find(id)
        .select((clients::secret_hash, clients::is_public))
        .first(&mut conn)
        .expect("row");
    let stored = stored.expect("confidential clients have a hash");
    assert!(!public);
    assert_ne!(stored, secret, "never the secret itself");
    assert_eq!(stored, ostiary::random::sha256_hex(secret));
    // No column anywhere in the row holds the secret.
    let row = ostiary::db::models::clients::by_id(&mut conn, id)
        .expect("q")
        .expect("row");
    assert!(!format!("{row:?}").contains(secret));
}

#[tokio::test]
async fn signing_keys_are_encrypted_at_rest() {
    let db = test_db();
    let mut conn = db.conn();
    let keys = ostiary::db::models::signing_keys::all(&mut conn).expect("keys");
    assert_eq!(keys.len(), 3);
    let kek = ostiary::crypto::kek::Kek::parse(crate::helpers::TEST_KEK).expect("kek");
    for k in keys {
        // The stored blob opens only with the KEK and only for its own kid.
        let der = kek
            .open(&k.kid, &k.private_key_enc)
            .expect("opens with the kek");
        assert!(der.len() > 32);
        assert!(kek.open("another-kid", &k.private_key_enc).is_err());
        let jwk: serde_json::Value = serde_json::from_str(&k.public_jwk).expect("jwk");
        assert_eq!(jwk["kid"], k.kid);
        assert!(jwk.get("d").is_none(), "no private part in the JWK");
    }
}

/// A first start in an empty directory leaves the database, its WAL files, the keys directory
/// and the generated key file readable by the service user alone, whatever the umask.
#[cfg(unix)]
#[tokio::test]
async fn a_first_start_creates_the_database_and_keys_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let db_path = dir.path().join("ostiary.db");
    let keys = dir.path().join("keys");
    let run = |args: &'static [&'static str]| {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_ostiary"));
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env(
                "OSTIARY_DATABASE_URL",
                format!("sqlite://{}", db_path.display()),
            )
            .env("OSTIARY_KEYS_DIR", &keys)
            .env("OSTIARY_LOG", "warn")
            .args(args)
            .kill_on_drop(true);
        cmd
    };
    let out = run(&["migrate"]).output().await.expect("migrate");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // No configured key-encryption key: `keys list` generates keys/kek.
    let out = run(&["keys", "list"]).output().await.expect("keys list");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mode = |p: &std::path::Path| {
        std::fs::metadata(p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(&db_path), 0o600, "database file");
    assert_eq!(mode(&keys), 0o700, "keys directory");
    assert_eq!(mode(&keys.join("kek")), 0o600, "key file");
    // The WAL and shared-memory files exist while a connection is open and has written.
    let url =
        ostiary::config::DbUrl::parse(&format!("sqlite://{}", db_path.display())).expect("url");
    use diesel::connection::SimpleConnection;
    let mut conn = ostiary::db::establish(&url).expect("open");
    conn.batch_execute("CREATE TABLE mode_probe (x INTEGER); INSERT INTO mode_probe VALUES (1);")
        .expect("write");
    for suffix in ["-wal", "-shm"] {
        let p = dir.path().join(format!("ostiary.db{suffix}"));
        assert_eq!(mode(&p), 0o600, "{}", p.display());
    }
}
