//! What Ostiary fetches from other servers for federation and client keys (`src/fetched.rs`),
//! and what a stranger can make it fetch: issuer exactness (OIDC Discovery §4.3), an issuer
//! change dropping links, the upstream login throttle, a down upstream remembered (negative
//! cache), keys for another use never selected.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::federation::{federated_login, person, setup, PW};
use crate::helpers::{browser, spawn_app, spawn_app_on, test_db, TestApp};
use crate::protocol::{assertion_claims, cc_with_assertion, ClientKey};

/// `ostiary upstream add ID --issuer ISSUER` at `down` (no secret: a public client).
async fn add(down: &TestApp, id: &str, issuer: &str, extra: &[&str]) -> crate::helpers::CliOutput {
    let mut args = vec![
        "upstream",
        "add",
        id,
        "--name",
        "Corp SSO",
        "--issuer",
        issuer,
        "--client-id",
        "x",
    ];
    args.extend_from_slice(extra);
    down.cli(&args, None).await
}

fn allow_loopback(a: &mut ostiary::config::SettingsArgs) {
    a.outbound_allow = Some("127.0.0.0/8".into());
}

#[tokio::test]
async fn an_issuer_configured_with_a_slash_its_upstream_does_not_have_is_an_issuer_mismatch() {
    let up = spawn_app().await;
    let down = spawn_app_on(test_db(), allow_loopback).await;
    // The upstream's issuer has no trailing '/'; the operator wrote one.
    let out = add(&down, "corp", &format!("{}/", up.address), &[]).await;
    assert!(out.ok(), "{}", out.stderr);
    let list = down.cli(&["upstream", "list", "--json"], None).await;
    assert!(
        list.stdout.contains(&format!("\"{}/\"", up.address)),
        "stored as configured: {}",
        list.stdout
    );
    let res = browser()
        .get(down.url("/login/upstream/corp?return_to=/"))
        .send()
        .await
        .expect("start");
    assert_eq!(res.status(), 400);
    let html = res.text().await.expect("page");
    assert!(html.contains("issuer mismatch"), "{html}");
    assert!(html.contains("href=\"/login"), "a way back: {html}");
    // Written exactly, the same upstream is fine.
    let out = add(&down, "exact", &up.address, &[]).await;
    assert!(out.ok(), "{}", out.stderr);
    let res = browser()
        .get(down.url("/login/upstream/exact?return_to=/"))
        .send()
        .await
        .expect("start");
    assert_eq!(res.status(), 303);
}

#[tokio::test]
async fn changing_a_providers_issuer_drops_its_links_with_audit_entries() {
    let s = setup(&["--policy", "create"], |_| {}).await;
    s.up.user("alice", PW).await;
    federated_login(&s, &person(), "alice").await;
    assert_eq!(s.down.count("upstream_links"), 1);
    // The same issuer with a trailing '/' added is not another issuer: links stay.
    let same = format!("{}/", s.up.address);
    let out = add(&s.down, "corp", &same, &["--replace"]).await;
    assert!(out.ok(), "{}", out.stderr);
    assert_eq!(s.down.count("upstream_links"), 1);
    // Another issuer: the secret given to the old one is never sent to it — asked again.
    let out = add(&s.down, "corp", "https://other.example", &["--replace"]).await;
    assert!(!out.ok(), "{}", out.stdout);
    assert!(
        out.stderr.contains("give the client secret again"),
        "{}",
        out.stderr
    );
    assert_eq!(s.down.count("upstream_links"), 1, "nothing changed");
    // Its subjects are other people; the links go, each audited.
    let secret = std::env::temp_dir().join(format!("ostiary-secret-{}", std::process::id()));
    std::fs::write(&secret, "another secret").expect("secret file");
    let secret_arg = secret.to_string_lossy().into_owned();
    let out = add(
        &s.down,
        "corp",
        "https://other.example",
        &["--replace", "--client-secret-file", &secret_arg],
    )
    .await;
    let _ = std::fs::remove_file(&secret);
    assert!(out.ok(), "{}", out.stderr);
    assert!(
        out.stdout.contains("1 account link(s) dropped"),
        "{}",
        out.stdout
    );
    assert_eq!(s.down.count("upstream_links"), 0);
    assert_eq!(
        s.down.count(
            "audit_events WHERE action = 'upstream.unlink' AND detail LIKE '%issuer or endpoints changed%'"
        ),
        1
    );
    assert_eq!(s.down.count("users"), 1, "the account itself stays");
}

#[tokio::test]
async fn upstream_logins_are_throttled_per_address_before_any_fetch() {
    let down = spawn_app_on(test_db(), |a| {
        allow_loopback(a);
        a.upstream_logins_per_address = Some(1);
    })
    .await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let out = add(&down, "gone", &format!("http://127.0.0.1:{closed}"), &[]).await;
    assert!(out.ok(), "{}", out.stderr);
    let b = browser();
    // The burst (at least 5) is admitted...
    for _ in 0..5 {
        let res = b
            .get(down.url("/login/upstream/gone?return_to=/"))
            .send()
            .await
            .expect("start");
        assert_eq!(res.status(), 502);
    }
    // ...then starts and callbacks from this address get a plain 429 page.
    for path in [
        "/login/upstream/gone?return_to=/",
        "/login/upstream/callback?state=x&code=y",
    ] {
        let res = b.get(down.url(path)).send().await.expect("throttled");
        assert_eq!(res.status(), 429, "{path}");
        assert!(res.headers().get("retry-after").is_some());
        let html = res.text().await.expect("page");
        assert!(html.contains("Too many sign-ins"), "{html}");
    }
}

#[tokio::test]
async fn a_down_upstream_is_remembered_and_the_login_page_never_waits_for_it() {
    let down = spawn_app_on(test_db(), allow_loopback).await;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let out = add(&down, "gone", &format!("http://127.0.0.1:{port}"), &[]).await;
    assert!(out.ok(), "{}", out.stderr);
    let b = browser();
    // The login page shows the button without asking the upstream anything.
    let began = Instant::now();
    let html = down.html(&b, "/login").await;
    assert!(html.contains("/login/upstream/gone"), "{html}");
    assert!(began.elapsed() < Duration::from_secs(2));
    // First start: refused connection, a page.
    let res = b
        .get(down.url("/login/upstream/gone?return_to=/"))
        .send()
        .await
        .expect("start");
    assert_eq!(res.status(), 502);
    // The port now has a listener that never answers: a second fetch would hang to the 5 s
    // limit. The failure is remembered instead: the same page at once, no connection made.
    let silent = std::net::TcpListener::bind(("127.0.0.1", port)).expect("rebind");
    silent.set_nonblocking(true).expect("nonblocking");
    let began = Instant::now();
    let res = b
        .get(down.url("/login/upstream/gone?return_to=/"))
        .send()
        .await
        .expect("start");
    assert_eq!(res.status(), 502);
    assert!(
        res.text()
            .await
            .expect("page")
            .contains("could not be reached"),
        "the remembered failure"
    );
    assert!(
        began.elapsed() < Duration::from_secs(2),
        "{:?}",
        began.elapsed()
    );
    assert!(silent.accept().is_err(), "the upstream was not asked again");
}

#[tokio::test]
async fn a_client_key_registered_for_encryption_or_another_algorithm_never_verifies() {
    let app = spawn_app_on(test_db(), |_| {}).await;
    let key = ClientKey::new("k1");
    for (field, value) in [("use", "enc"), ("alg", "RS256")] {
        let mut jwk = key.jwk();
        jwk[field] = json!(value);
        let jwks = json!({ "keys": [jwk] }).to_string();
        let client = app
            .client(&[
                "--auth-method",
                "private_key_jwt",
                "--jwks",
                &jwks,
                "--grant-type",
                "client_credentials",
            ])
            .await;
        let assertion = key.sign(&assertion_claims(&client.id, &app.address, 60));
        let (status, body) = cc_with_assertion(&app, &assertion).await;
        assert_eq!(status, 401, "{field}={value}: {body}");
    }
    // Registered for signatures, the same key verifies.
    let jwks = json!({ "keys": [key.jwk()] }).to_string();
    let client = app
        .client(&[
            "--auth-method",
            "private_key_jwt",
            "--jwks",
            &jwks,
            "--grant-type",
            "client_credentials",
        ])
        .await;
    let assertion = key.sign(&assertion_claims(&client.id, &app.address, 60));
    assert_eq!(cc_with_assertion(&app, &assertion).await.0, 200);
}
