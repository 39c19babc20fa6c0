//! PostgreSQL over TLS, as managed services require: the test makes its own CA and a server
//! certificate for `localhost`, installs them in the local cluster (`ALTER SYSTEM` + reload;
//! the cluster is this machine's), then runs Ostiary with `sslmode=verify-full` and the CA file.

use std::path::Path;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::Bool;
use ostiary::config::DbUrl;
use ostiary::db;

use crate::helpers::{pg_db, spawn_app_on, LOCAL_POSTGRES};

const DIR: &str = "/var/lib/postgresql/ostiary-test-tls";

fn sh(cmd: &str) {
    let ok = std::process::Command::new("sh")
        .args(["-c", cmd])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "{cmd}");
}

/// A CA and a `localhost` server certificate signed by it, readable by the postgres server.
fn make_certificates(dir: &Path) {
    std::fs::create_dir_all(dir).expect("tls dir");
    let d = dir.display();
    sh(&format!(
        "cd {d} && openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj '/CN=Ostiary test CA' \
         -keyout ca.key -out ca.pem 2>/dev/null && \
         openssl req -newkey rsa:2048 -nodes -subj '/CN=localhost' -keyout server.key \
         -out server.csr 2>/dev/null && \
         printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > san.ext && \
         openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
         -extfile san.ext -out server.pem 2>/dev/null && \
         openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj '/CN=Someone else' \
         -keyout other.key -out other.pem 2>/dev/null && \
         chown postgres:postgres server.key server.pem && chmod 600 server.key && \
         chmod 755 {d}"
    ));
}

fn is_tls(url: &str) -> Result<bool, String> {
    let mut conn = diesel::PgConnection::establish(url).map_err(|e| e.to_string())?;
    #[derive(QueryableByName)]
    struct Ssl {
        #[diesel(sql_type = Bool)]
        ssl: bool,
    }
    diesel::sql_query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .get_result::<Ssl>(&mut conn)
        .map(|r| r.ssl)
        .map_err(|e| e.to_string())
}

fn tls_url(plain: &str, root: &str, mode: &str) -> String {
    let mut u = url::Url::parse(plain).expect("url");
    u.set_host(Some("localhost")).expect("host");
    u.query_pairs_mut()
        .append_pair("sslmode", mode)
        .append_pair("sslrootcert", root);
    u.to_string()
}

#[tokio::test]
async fn ostiary_reaches_postgresql_over_tls_with_verify_full() {
    let dir = Path::new(DIR);
    make_certificates(dir);
    {
        let admin =
            ostiary::db::testing::postgres_admin_url().unwrap_or_else(|| LOCAL_POSTGRES.to_owned());
        let mut conn = diesel::PgConnection::establish(&admin)
            .unwrap_or_else(|e| panic!("this test needs PostgreSQL at {admin}: {e}"));
        use diesel::connection::SimpleConnection;
        // One statement at a time: ALTER SYSTEM refuses to run inside a multi-statement block.
        for sql in [
            "ALTER SYSTEM SET ssl = on".to_owned(),
            format!("ALTER SYSTEM SET ssl_cert_file = '{DIR}/server.pem'"),
            format!("ALTER SYSTEM SET ssl_key_file = '{DIR}/server.key'"),
            "SELECT pg_reload_conf()".to_owned(),
        ] {
            conn.batch_execute(&sql).expect("install the certificate");
        }
    }
    let db = pg_db();
    let ca = format!("{DIR}/ca.pem");
    let verified = tls_url(&db.url, &ca, "verify-full");
    // The reload is asynchronous: wait (bounded) until the new certificate is served.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match is_tls(&verified) {
            Ok(true) => break,
            other => assert!(
                Instant::now() < deadline,
                "no verified TLS connection: {other:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A certificate from another CA is refused under verify-full; require still encrypts.
    let wrong = tls_url(&db.url, &format!("{DIR}/other.pem"), "verify-full");
    assert!(is_tls(&wrong).is_err(), "verify-full must check the CA");
    assert_eq!(is_tls(&tls_url(&db.url, &ca, "require")), Ok(true));

    // Ostiary itself, on that URL: ready, and serving tokens.
    let through = verified.clone();
    let app = spawn_app_on(db, move |a| a.database_url = Some(through)).await;
    assert_eq!(app.get("/readyz").await.status(), 200);
    let client = app.client(&["--grant-type", "client_credentials"]).await;
    let res = app
        .token(&client, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(res.status(), 200);
    // The URL's TLS settings survive parsing (and its password would be redacted in logs).
    assert!(matches!(DbUrl::parse(&verified), Ok(DbUrl::Postgres(_))));
    let _ = db::redact_url(&verified);
}
