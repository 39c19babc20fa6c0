//! Killing the server with SIGKILL while the CLI writes loses nothing the CLI reported as done.

use std::time::Duration;

use crate::helpers::{cli_command, run_cli, test_db};

#[tokio::test]
async fn sigkill_of_the_server_loses_no_reported_user() {
    let db = test_db();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let start_server = || {
        let mut cmd = cli_command(&db);
        cmd.arg("serve")
            .env("OSTIARY_BIND", format!("127.0.0.1:{port}"))
            .env("OSTIARY_ISSUER", format!("http://127.0.0.1:{port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        cmd.spawn().expect("spawn server")
    };
    let wait_ready = || async {
        let client = reqwest::Client::new();
        for _ in 0..200 {
            if let Ok(r) = client
                .get(format!("http://127.0.0.1:{port}/readyz"))
                .send()
                .await
            {
                if r.status() == 200 {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("server did not become ready");
    };

    let mut server = start_server();
    wait_ready().await;
    // The CLI adds users in the background while the server is killed part-way through.
    let adder = {
        let url = db.url.clone();
        let keys = db.keys_dir();
        tokio::spawn(async move {
            let mut reported = Vec::new();
            for i in 0..12 {
                let name = format!("user{i}");
                let email = format!("{name}@example.test");
                let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_ostiary"));
                cmd.env("OSTIARY_DATABASE_URL", &url)
                    .env("OSTIARY_KEYS_DIR", &keys)
                    .env("OSTIARY_KEY_ENCRYPTION_KEY", crate::helpers::TEST_KEK)
                    .env("OSTIARY_ARGON2_MEMORY_KIB", "4096")
                    .env("OSTIARY_ARGON2_ITERATIONS", "1")
                    .args(["user", "add", &name, "--email", &email, "--password-stdin"])
                    .stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped());
                let mut child = cmd.spawn().expect("spawn cli");
                if let Some(mut pipe) = child.stdin.take() {
                    use tokio::io::AsyncWriteExt;
                    pipe.write_all(b"a good password\n").await.expect("stdin");
                }
                let out = child.wait_with_output().await.expect("cli");
                if out.status.success() {
                    reported.push(name);
                }
            }
            reported
        })
    };
    tokio::time::sleep(Duration::from_millis(150)).await;
    server.start_kill().expect("SIGKILL");
    let _ = server.wait().await;
    let reported = adder.await.expect("adder task");
    assert_eq!(reported.len(), 12, "every add succeeded");

    // The server starts again on the same database and every reported user is there.
    let mut server = start_server();
    wait_ready().await;
    let list = run_cli(&db, &["user", "list"], None).await;
    for name in &reported {
        assert!(
            list.stdout.contains(name.as_str()),
            "{name} lost: {}",
            list.stdout
        );
    }
    server.start_kill().expect("kill");
    let _ = server.wait().await;
}
