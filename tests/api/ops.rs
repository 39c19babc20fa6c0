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
