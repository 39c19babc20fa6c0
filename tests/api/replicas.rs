//! Two `ostiary serve` processes on one database (PostgreSQL in CI), as behind a load balancer:
//! a login on A is redeemed on B, refreshed on A, revoked on B and inactive on A; a key rotated
//! through A verifies on B; a refresh token raced on A and B has one outcome; lockouts are
//! shared; a client disabled on A is refused by B. What each replica caches (clients, the
//! deny-list, user status) follows changes made on the other within the documented bound.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::{
    add_user, cli_command, location, pkce_pair, query_param, run_cli, test_db, TestApp, TestDb,
    REDIRECT,
};
use crate::ops::service_client;

/// `OSTIARY_CACHE_SYNC_MS` for these replicas, and the bound it gives (twice that): a change
/// committed on one replica is seen by every request that starts that long after on another.
const CACHE_SYNC_MS: u64 = 200;
const CACHE_BOUND: Duration = Duration::from_millis(2 * CACHE_SYNC_MS);

/// Waits out the bound after a change whose response arrived at `changed` (the change was
/// committed before its response): the bound is what the test checks, so no poll here.
async fn past_the_bound(changed: Instant) {
    tokio::time::sleep_until((changed + CACHE_BOUND).into()).await;
}

struct Replica {
    base: String,
    _child: tokio::process::Child,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port")
}

/// Starts `ostiary serve` on `port` over `db`, all replicas naming the same issuer.
async fn replica(db: &TestDb, port: u16, issuer: &str) -> Replica {
    let mut cmd = cli_command(db);
    cmd.arg("serve")
        .env("OSTIARY_BIND", format!("127.0.0.1:{port}"))
        .env("OSTIARY_ISSUER", issuer)
        .env("OSTIARY_KEY_CACHE_TTL", "1")
        // Longer than the key cache (plus a second of rounding): a replica knows a key before any
        // replica signs with it.
        .env("OSTIARY_KEY_ACTIVATION_DELAY", "3")
        .env("OSTIARY_ACCOUNT_LOCKOUT_THRESHOLD", "4")
        .env("OSTIARY_PASSWORD_CHECKS_PER_ADDRESS", "0")
        .env("OSTIARY_PASSWORD_CHECKS_PER_ACCOUNT", "0")
        .env("OSTIARY_DB_POOL_SIZE", "4")
        .env("OSTIARY_WORKERS", "1")
        .env("OSTIARY_CACHE_SYNC_MS", CACHE_SYNC_MS.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let child = cmd.spawn().expect("ostiary serve");
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = reqwest::get(format!("{base}/readyz")).await {
            if r.status() == 200 {
                break;
            }
        }
        assert!(Instant::now() < deadline, "replica on {port} did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Replica {
        base,
        _child: child,
    }
}

impl Replica {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

fn cookie_browser() -> reqwest::Client {
    crate::helpers::browser()
}

async fn login(
    r: &Replica,
    b: &reqwest::Client,
    login_path: &str,
    user: &str,
    pw: &str,
) -> reqwest::Response {
    let html = b
        .get(r.url(login_path))
        .send()
        .await
        .expect("login page")
        .text()
        .await
        .expect("html");
    let csrf = TestApp::csrf_of(&html);
    let return_to = url::form_urlencoded::parse(
        login_path
            .split_once('?')
            .map(|(_, q)| q)
            .unwrap_or("")
            .as_bytes(),
    )
    .find(|(k, _)| k == "return_to")
    .map(|(_, v)| v.into_owned())
    .unwrap_or_else(|| "/".into());
    b.post(r.url("/login"))
        .form(&[
            ("username", user),
            ("password", pw),
            ("csrf_token", csrf.as_str()),
            ("return_to", return_to.as_str()),
        ])
        .send()
        .await
        .expect("login")
}

/// The CSRF token of a page the browser (signed in) gets from `r`.
async fn page_csrf(r: &Replica, b: &reqwest::Client, path: &str) -> String {
    let page = b
        .get(r.url(path))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    TestApp::csrf_of(&page)
}

async fn form_post(
    r: &Replica,
    client: &(String, String),
    path: &str,
    form: &[(&str, &str)],
) -> (u16, Value) {
    let res = reqwest::Client::new()
        .post(r.url(path))
        .basic_auth(&client.0, Some(&client.1))
        .form(form)
        .send()
        .await
        .expect("post");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn two_replicas_on_one_database_behave_as_one_server() {
    crate::helpers::install_tls_provider();
    let db = test_db();
    add_user(&db, "rea", "rea's password", true).await;
    let out = run_cli(
        &db,
        &[
            "client",
            "add",
            "--name",
            "Two",
            "--redirect-uri",
            REDIRECT,
            "--json",
        ],
        None,
    )
    .await;
    assert!(out.ok(), "{}", out.stderr);
    let v: Value = serde_json::from_str(out.stdout.trim()).expect("json");
    let client = (
        v["client_id"].as_str().expect("id").to_owned(),
        v["client_secret"].as_str().expect("secret").to_owned(),
    );
    let cc = service_client(&db, "Service").await;
    let (pa, pb) = (free_port(), free_port());
    let issuer = format!("http://127.0.0.1:{pa}");
    let a = replica(&db, pa, &issuer).await;
    let b = replica(&db, pb, &issuer).await;

    // Log in on A; consent and the code on B (one browser: its cookies go to both).
    let browser = cookie_browser();
    let (verifier, challenge) = pkce_pair();
    let res = browser
        .get(a.url("/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", client.0.as_str()),
            ("redirect_uri", REDIRECT),
            ("scope", "openid"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await
        .expect("authorize");
    let res = login(&a, &browser, &location(&res), "rea", "rea's password").await;
    assert_eq!(res.status(), 303);
    let res = browser
        .get(b.url(&location(&res)))
        .send()
        .await
        .expect("resume on B");
    assert_eq!(res.status(), 200, "B sees A's session and interaction");
    let html = res.text().await.expect("consent");
    let csrf = TestApp::csrf_of(&html);
    let action = crate::helpers::consent_action(&html);
    let res = browser
        .post(b.url(&action))
        .form(&[("csrf_token", csrf.as_str()), ("decision", "allow")])
        .send()
        .await
        .expect("consent on B");
    let code = query_param(&url::Url::parse(&location(&res)).expect("url"), "code").expect("code");
    let (status, tokens) = form_post(
        &b,
        &client,
        "/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier.as_str()),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    // Refresh on A; revoke on B; inactive on A.
    let rt = tokens["refresh_token"].as_str().expect("rt").to_owned();
    let (status, refreshed) = form_post(
        &a,
        &client,
        "/token",
        &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
    )
    .await;
    assert_eq!(status, 200, "{refreshed}");
    let at = refreshed["access_token"].as_str().expect("at").to_owned();
    let (status, _) = form_post(&b, &client, "/revoke", &[("token", at.as_str())]).await;
    assert_eq!(status, 200);
    past_the_bound(Instant::now()).await;
    let (_, intro) = form_post(&a, &client, "/introspect", &[("token", at.as_str())]).await;
    assert_eq!(intro["active"], false, "revoked on B, inactive on A");

    // One refresh token raced on A and B: one outcome.
    let rt2 = refreshed["refresh_token"].as_str().expect("rt").to_owned();
    let raced = [
        ("grant_type", "refresh_token"),
        ("refresh_token", rt2.as_str()),
    ];
    let race_a = form_post(&a, &client, "/token", &raced);
    let race_b = form_post(&b, &client, "/token", &raced);
    let ((sa, _), (sb, _)) = tokio::join!(race_a, race_b);
    let mut outcomes = [sa, sb];
    outcomes.sort_unstable();
    assert_eq!(outcomes, [200, 400], "exactly one replica rotated it");

    // A key rotated through A's console signs on A and verifies on B within the cache TTL.
    let kid_of = |jwt: &str| {
        jsonwebtoken::decode_header(jwt)
            .ok()
            .and_then(|h| h.kid)
            .unwrap_or_default()
    };
    let (status, first) =
        form_post(&a, &cc, "/token", &[("grant_type", "client_credentials")]).await;
    assert_eq!(status, 200);
    let old_kid = kid_of(first["access_token"].as_str().expect("at"));
    let admin = cookie_browser();
    assert_eq!(
        login(&a, &admin, "/login", "rea", "rea's password")
            .await
            .status(),
        303
    );
    let csrf = page_csrf(&a, &admin, "/admin/keys").await;
    let res = admin
        .post(a.url("/admin/keys/rotate"))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .expect("rotate");
    assert!(
        res.status().is_redirection() || res.status().is_success(),
        "{}",
        res.status()
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    let rotated = loop {
        let (status, t) =
            form_post(&a, &cc, "/token", &[("grant_type", "client_credentials")]).await;
        assert_eq!(status, 200);
        let at = t["access_token"].as_str().expect("at").to_owned();
        if kid_of(&at) != old_kid {
            break at;
        }
        assert!(
            Instant::now() < deadline,
            "A never signed with the rotated key"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let (_, intro) = form_post(&b, &cc, "/introspect", &[("token", rotated.as_str())]).await;
    assert_eq!(
        intro["active"], true,
        "B verifies a token signed with the key rotated on A"
    );

    // Lockouts are shared: wrong passwords on A lock the account on B too.
    for _ in 0..4 {
        let br = cookie_browser();
        login(&a, &br, "/login", "rea", "wrong").await;
    }
    let res = login(&b, &cookie_browser(), "/login", "rea", "rea's password").await;
    assert_eq!(res.status(), 429, "B knows about A's failures");

    // A client disabled through A's console is unknown to B within the bound.
    let res = admin
        .post(a.url(&format!("/admin/clients/{}/state/disable", cc.0)))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .expect("disable");
    assert!(res.status().is_redirection(), "{}", res.status());
    past_the_bound(Instant::now()).await;
    let (status, body) =
        form_post(&b, &cc, "/token", &[("grant_type", "client_credentials")]).await;
    assert_eq!(status, 401, "{body}");
    // The code is spent everywhere (and its replay revokes what it issued).
    let (status, _) = form_post(
        &a,
        &client,
        "/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier.as_str()),
        ],
    )
    .await;
    assert_eq!(status, 400);
}

/// B answers token and introspection requests from its caches (issue 14); a token revoked, a
/// secret rotated and a client deleted on A are refused by B once the bound has passed.
#[tokio::test]
async fn changes_on_one_replica_reach_the_others_caches_within_the_bound() {
    crate::helpers::install_tls_provider();
    let db = test_db();
    add_user(&db, "rib", "rib's password", true).await;
    let service = service_client(&db, "Service").await;
    let resource = service_client(&db, "Resource server").await;
    let (pa, pb) = (free_port(), free_port());
    let issuer = format!("http://127.0.0.1:{pa}");
    let a = replica(&db, pa, &issuer).await;
    let b = replica(&db, pb, &issuer).await;
    let cc = [("grant_type", "client_credentials")];

    // B learns both clients, the token and the deny-list; asked again, it answers from memory.
    let (status, issued) = form_post(&b, &service, "/token", &cc).await;
    assert_eq!(status, 200, "{issued}");
    let at = issued["access_token"].as_str().expect("at").to_owned();
    for _ in 0..3 {
        let (status, intro) =
            form_post(&b, &resource, "/introspect", &[("token", at.as_str())]).await;
        assert_eq!(status, 200);
        assert_eq!(intro["active"], true, "{intro}");
    }

    // Revoked on A: inactive on B.
    let (status, _) = form_post(&a, &service, "/revoke", &[("token", at.as_str())]).await;
    assert_eq!(status, 200);
    past_the_bound(Instant::now()).await;
    let (_, intro) = form_post(&b, &resource, "/introspect", &[("token", at.as_str())]).await;
    assert_eq!(
        intro["active"], false,
        "revoked on A, still active on B: {intro}"
    );

    // The secret rotated through A's console: the old one is refused by B.
    let (status, _) = form_post(&b, &service, "/token", &cc).await;
    assert_eq!(status, 200);
    let admin = cookie_browser();
    let res = login(&a, &admin, "/login", "rib", "rib's password").await;
    assert_eq!(res.status(), 303);
    let csrf = page_csrf(&a, &admin, "/admin/clients").await;
    let res = admin
        .post(a.url(&format!("/admin/clients/{}/rotate-secret", service.0)))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .expect("rotate");
    assert!(
        res.status().is_success() || res.status().is_redirection(),
        "{}",
        res.status()
    );
    past_the_bound(Instant::now()).await;
    let (status, body) = form_post(&b, &service, "/token", &cc).await;
    assert_eq!(status, 401, "B still takes the rotated-out secret: {body}");

    // Deleted through A's console: unknown to B.
    let (status, issued) = form_post(&b, &resource, "/token", &cc).await;
    assert_eq!(status, 200);
    let own = issued["access_token"].as_str().expect("at").to_owned();
    let (_, intro) = form_post(&b, &resource, "/introspect", &[("token", own.as_str())]).await;
    assert_eq!(intro["active"], true);
    let res = admin
        .post(a.url(&format!("/admin/clients/{}/delete", resource.0)))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .expect("delete");
    assert!(res.status().is_redirection(), "{}", res.status());
    past_the_bound(Instant::now()).await;
    let (status, body) = form_post(&b, &resource, "/token", &cc).await;
    assert_eq!(status, 401, "B still knows the client deleted on A: {body}");
    let (status, _) = form_post(&b, &resource, "/introspect", &[("token", own.as_str())]).await;
    assert_eq!(status, 401);
}
