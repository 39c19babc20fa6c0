//! The rest of the protocol surface through real HTTP: the device grant (RFC 8628), pushed
//! authorization requests (RFC 9126), private_key_jwt (RFC 7523), back-channel logout and
//! token exchange (RFC 8693) — each success and each refusal.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{
    browser, location, pkce_pair, query_param, spawn_app_on, test_db, TestApp, TestClient,
};

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
const EXCHANGE_GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

async fn post_form(app: &TestApp, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let res = reqwest::Client::new()
        .post(app.url(path))
        .form(form)
        .send()
        .await
        .expect("post");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

// --- device authorization grant ---------------------------------------------------------------

async fn device_app() -> TestApp {
    spawn_app_on(test_db(), |a| {
        a.device_poll_interval = Some(1);
        a.device_code_ttl = Some(60);
    })
    .await
}

async fn start_device(app: &TestApp, client: &TestClient) -> Value {
    let (status, body) = post_form(
        app,
        "/device_authorization",
        &[
            ("client_id", client.id.as_str()),
            ("scope", "openid profile"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn poll(app: &TestApp, client: &TestClient, device_code: &str) -> (u16, Value) {
    post_form(
        app,
        "/token",
        &[
            ("grant_type", DEVICE_GRANT),
            ("device_code", device_code),
            ("client_id", client.id.as_str()),
        ],
    )
    .await
}

/// The form that decides a device approval: its action (the approval's resume path) and CSRF.
fn device_form(html: &str) -> (String, String) {
    let doc = scraper::Html::parse_document(html);
    let sel = scraper::Selector::parse("form[method=post]").expect("sel");
    let action = doc
        .select(&sel)
        .find_map(|f| {
            f.value()
                .attr("action")
                .filter(|a| a.starts_with("/device/resume?interaction="))
        })
        .expect("confirmation form")
        .to_owned();
    (action, TestApp::csrf_of(html))
}

/// GET /device?user_code=…: the code becomes an interaction, the browser sent on to its resume
/// path (which no longer carries the code).
async fn open_code(app: &TestApp, b: &reqwest::Client, typed: &str) -> String {
    let res = b
        .get(app.url("/device"))
        .query(&[("user_code", typed)])
        .send()
        .await
        .expect("device page");
    assert_eq!(res.status(), 302);
    let resume = location(&res);
    assert!(
        resume.starts_with("/device/resume?interaction="),
        "{resume}"
    );
    let bare = typed.replace('-', "").to_uppercase();
    assert!(
        !resume.to_uppercase().contains(&bare),
        "no user code in {resume}"
    );
    resume
}

async fn post_decision(
    app: &TestApp,
    b: &reqwest::Client,
    action: &str,
    csrf: &str,
    decision: &str,
) -> reqwest::Response {
    b.post(app.url(action))
        .form(&[("csrf_token", csrf), ("decision", decision)])
        .send()
        .await
        .expect("decide")
}

/// Signs `who` in with a fresh browser and decides on the device request `user_code` (as typed).
async fn decide(app: &TestApp, who: (&str, &str), typed: &str, decision: &str) -> u16 {
    let b = browser();
    let res = app.login_with(&b, who.0, who.1).await;
    assert_eq!(res.status(), 303);
    let resume = open_code(app, &b, typed).await;
    let page = b.get(app.url(&resume)).send().await.expect("confirmation");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    assert!(html.contains("Test App"), "the client's name is shown");
    let (action, csrf) = device_form(&html);
    assert_eq!(action, resume, "the decision posts against the interaction");
    post_decision(app, &b, &action, &csrf, decision)
        .await
        .status()
        .as_u16()
}

/// A person not signed in types the code: the approval is an interaction, the login within it
/// is recorded on it, the browser comes back to it, allows, and the device gets its tokens.
#[tokio::test]
async fn a_device_approval_through_login_resumes_its_interaction_and_the_device_gets_tokens() {
    let app = device_app().await;
    app.user("tv", "tv's password").await;
    let client = app
        .client(&["--public", "--grant-type", DEVICE_GRANT])
        .await;
    let d = start_device(&app, &client).await;
    let device_code = d["device_code"].as_str().expect("dc").to_owned();
    let typed = d["user_code"].as_str().expect("uc").to_owned();

    let b = browser();
    let resume = open_code(&app, &b, &typed).await;
    assert_eq!(
        app.count("interactions WHERE kind = 'device' AND device_code_hash IS NOT NULL"),
        1
    );
    let res = b.get(app.url(&resume)).send().await.expect("resume");
    assert_eq!(res.status(), 302);
    let login_at = location(&res);
    assert!(login_at.starts_with("/login?"), "{login_at}");
    let return_to = url::Url::parse(&app.url(&login_at))
        .expect("url")
        .query_pairs()
        .find(|(k, _)| k == "return_to")
        .map(|(_, v)| v.into_owned())
        .expect("return_to");
    assert_eq!(return_to, resume, "login returns to the interaction");

    let login = app
        .login_towards(&b, ("tv", "tv's password"), &return_to)
        .await;
    assert_eq!(login.status(), 303);
    assert_eq!(location(&login), resume);
    assert_eq!(
        app.count("interactions WHERE kind = 'device' AND user_id IS NOT NULL"),
        1,
        "the login is recorded on the approval"
    );
    let page = b.get(app.url(&resume)).send().await.expect("confirmation");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    assert!(html.contains("Test App"));
    assert!(html.contains(&typed), "the page shows the code to compare");
    let (action, csrf) = device_form(&html);
    let res = post_decision(&app, &b, &action, &csrf, "allow").await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        app.count("interactions WHERE kind = 'device' AND completed_at IS NOT NULL"),
        1
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, tokens) = poll(&app, &client, &device_code).await;
    assert_eq!(status, 200, "{tokens}");
    assert!(tokens["access_token"].is_string());
}

/// The approval answers only to the browser that typed the code: another browser holding its
/// link — signed in as someone else, or as the same person — gets the "started in another
/// browser" page, and the device stays pending; the first browser still approves it.
#[tokio::test]
async fn another_browser_holding_a_device_approval_link_cannot_approve_it() {
    let app = device_app().await;
    app.user("alice", "alice's password").await;
    app.user("mallory", "mallory's password").await;
    let client = app
        .client(&["--public", "--grant-type", DEVICE_GRANT])
        .await;
    let d = start_device(&app, &client).await;
    let device_code = d["device_code"].as_str().expect("dc").to_owned();
    let typed = d["user_code"].as_str().expect("uc").to_owned();

    let victim = browser();
    let resume = open_code(&app, &victim, &typed).await;

    let mallory = browser();
    let login = app
        .login_towards(&mallory, ("mallory", "mallory's password"), &resume)
        .await;
    assert_eq!(login.status(), 303);
    assert_eq!(
        app.count("interactions WHERE user_id IS NOT NULL"),
        0,
        "mallory's login is not recorded on the victim's approval"
    );
    let res = mallory.get(app.url(&resume)).send().await.expect("resume");
    assert_eq!(res.status(), 403);
    let html = res.text().await.expect("html");
    assert!(html.contains("started in another browser"), "{html}");
    assert!(!html.contains(&typed), "nothing of the request is shown");
    let csrf = TestApp::csrf_of(&app.html(&mallory, "/login").await);
    let res = post_decision(&app, &mallory, &resume, &csrf, "allow").await;
    assert_eq!(res.status(), 403);
    assert!(res
        .text()
        .await
        .expect("html")
        .contains("started in another browser"));
    assert_eq!(app.count("device_codes WHERE status = 'pending'"), 1);
    assert_eq!(app.count("interactions WHERE completed_at IS NOT NULL"), 0);
    let (_, body) = poll(&app, &client, &device_code).await;
    assert_eq!(body["error"], "authorization_pending");

    // The victim's own approval is untouched, and it is the victim's.
    let login = app
        .login_towards(&victim, ("alice", "alice's password"), &resume)
        .await;
    assert_eq!(login.status(), 303);
    let html = app.html(&victim, &resume).await;
    assert!(html.contains("alice"), "{html}");
    let (action, csrf) = device_form(&html);
    let res = post_decision(&app, &victim, &action, &csrf, "allow").await;
    assert_eq!(res.status(), 200);
    let alice = {
        use diesel::prelude::*;
        #[derive(diesel::QueryableByName)]
        struct Id {
            #[diesel(sql_type = diesel::sql_types::Text)]
            id: String,
        }
        let mut conn = app.db.conn();
        diesel::sql_query("SELECT id FROM users WHERE username = 'alice'")
            .get_result::<Id>(&mut conn)
            .expect("alice")
            .id
    };
    assert_eq!(
        app.count(&format!(
            "device_codes WHERE status = 'approved' AND user_id = '{alice}'"
        )),
        1
    );
}

/// A client's minimum class is asked through the same rule within the approval: a user
/// without a factor is sent to set one up, returning to the interaction (not to the code).
#[tokio::test]
async fn a_device_approval_for_a_two_factor_client_sends_the_user_to_enrol_and_back() {
    let app = device_app().await;
    app.user("tv", "tv's password").await;
    let client = app
        .client(&[
            "--public",
            "--grant-type",
            DEVICE_GRANT,
            "--minimum-acr",
            "urn:ostiary:acr:2fa",
        ])
        .await;
    let d = start_device(&app, &client).await;
    let typed = d["user_code"].as_str().expect("uc").to_owned();
    let b = browser();
    assert_eq!(
        app.login_with(&b, "tv", "tv's password").await.status(),
        303
    );
    let resume = open_code(&app, &b, &typed).await;
    let res = b.get(app.url(&resume)).send().await.expect("resume");
    assert_eq!(res.status(), 302);
    let to = location(&res);
    assert!(to.starts_with("/account/security?"), "{to}");
    assert!(to.contains("needed=factor"), "{to}");
    let return_to = url::Url::parse(&app.url(&to))
        .expect("url")
        .query_pairs()
        .find(|(k, _)| k == "return_to")
        .map(|(_, v)| v.into_owned())
        .expect("return_to");
    assert_eq!(return_to, resume);
    // Allowing without it is refused; the device stays pending.
    let csrf = TestApp::csrf_of(&app.html(&b, "/login").await);
    let res = post_decision(&app, &b, &resume, &csrf, "allow").await;
    assert_eq!(res.status(), 400);
    assert!(res.text().await.expect("html").contains("stronger sign-in"));
    assert_eq!(app.count("device_codes WHERE status = 'pending'"), 1);
}

/// An approval completes once: the decision replayed, or a second approval of the same code
/// (typed twice, in two tabs) answered after the first, changes nothing.
#[tokio::test]
async fn a_device_approval_completes_once() {
    let app = device_app().await;
    app.user("tv", "tv's password").await;
    let client = app
        .client(&["--public", "--grant-type", DEVICE_GRANT])
        .await;
    let d = start_device(&app, &client).await;
    let device_code = d["device_code"].as_str().expect("dc").to_owned();
    let typed = d["user_code"].as_str().expect("uc").to_owned();

    let b = browser();
    assert_eq!(
        app.login_with(&b, "tv", "tv's password").await.status(),
        303
    );
    let first = open_code(&app, &b, &typed).await;
    let second = open_code(&app, &b, &typed).await;
    assert_ne!(first, second);
    let (action, csrf) = device_form(&app.html(&b, &first).await);
    let (other_action, _) = device_form(&app.html(&b, &second).await);

    let res = post_decision(&app, &b, &action, &csrf, "allow").await;
    assert_eq!(res.status(), 200);
    // Replayed: ended.
    let res = post_decision(&app, &b, &action, &csrf, "allow").await;
    assert_eq!(res.status(), 400);
    assert!(res.text().await.expect("html").contains("used already"));
    // The other tab cannot turn it into a denial.
    let res = post_decision(&app, &b, &other_action, &csrf, "deny").await;
    assert_eq!(res.status(), 400);
    assert_eq!(app.count("device_codes WHERE status = 'approved'"), 1);
    // Nor can the code be opened again.
    let res = b
        .get(app.url("/device"))
        .query(&[("user_code", typed.as_str())])
        .send()
        .await
        .expect("device page");
    assert_eq!(res.status(), 400);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, tokens) = poll(&app, &client, &device_code).await;
    assert_eq!(status, 200, "{tokens}");
}

#[tokio::test]
async fn the_device_grant_polls_pending_slows_down_then_gets_tokens_once() {
    let app = device_app().await;
    app.user("tv", "tv's password").await;
    let client = app
        .client(&[
            "--public",
            "--grant-type",
            DEVICE_GRANT,
            "--grant-type",
            "refresh_token",
        ])
        .await;
    let d = start_device(&app, &client).await;
    let user_code = d["user_code"].as_str().expect("user_code").to_owned();
    assert!(
        user_code.len() == 9 && user_code.as_bytes()[4] == b'-',
        "{user_code}"
    );
    assert!(user_code
        .chars()
        .all(|c| c == '-' || "BCDFGHJKLMNPQRSTVWXZ".contains(c)));
    assert_eq!(d["verification_uri"], app.url("/device"));
    assert!(d["verification_uri_complete"]
        .as_str()
        .expect("complete")
        .ends_with(&user_code));
    assert_eq!(d["interval"], 1);
    let device_code = d["device_code"].as_str().expect("device_code").to_owned();

    let (status, body) = poll(&app, &client, &device_code).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("authorization_pending"))
    );

    // Typed in lower case without the dash.
    let typed = user_code.replace('-', "").to_lowercase();
    assert_eq!(
        decide(&app, ("tv", "tv's password"), &typed, "allow").await,
        200
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, tokens) = poll(&app, &client, &device_code).await;
    assert_eq!(status, 200, "{tokens}");
    assert!(tokens["access_token"].is_string());
    assert!(tokens["id_token"].is_string(), "openid was asked for");
    assert!(tokens["refresh_token"].is_string());
    // One successful poll per approval.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, body) = poll(&app, &client, &device_code).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    // The approval shows as the app's consent on the account page.
    assert_eq!(app.count("consents"), 1);
}

#[tokio::test]
async fn a_denied_an_expired_and_another_clients_device_code_are_refused() {
    let app = device_app().await;
    app.user("tv", "tv's password").await;
    let client = app
        .client(&["--public", "--grant-type", DEVICE_GRANT])
        .await;
    let other = app
        .client(&["--public", "--grant-type", DEVICE_GRANT])
        .await;

    let d = start_device(&app, &client).await;
    let code = d["device_code"].as_str().expect("dc").to_owned();
    let uc = d["user_code"].as_str().expect("uc").to_owned();
    assert_eq!(
        decide(&app, ("tv", "tv's password"), &uc, "deny").await,
        200
    );
    let (_, body) = poll(&app, &client, &code).await;
    assert_eq!(body["error"], "access_denied");

    // Polling faster than the interval: slow_down, and the interval grows by 5 s for good.
    let d = start_device(&app, &client).await;
    let code = d["device_code"].as_str().expect("dc").to_owned();
    let (_, body) = poll(&app, &client, &code).await;
    assert_eq!(body["error"], "authorization_pending");
    let (_, body) = poll(&app, &client, &code).await;
    assert_eq!(body["error"], "slow_down");
    assert_eq!(app.count("device_codes WHERE poll_interval = 6"), 1);

    let (_, body) = poll(&app, &other, &code).await;
    assert_eq!(
        body["error"], "invalid_grant",
        "bound to the client that asked"
    );
    {
        use diesel::prelude::*;
        let mut conn = app.db.conn();
        diesel::sql_query("UPDATE device_codes SET expires_at = expires_at - 120")
            .execute(&mut conn)
            .expect("expire");
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (_, body) = poll(&app, &client, &code).await;
    assert_eq!(body["error"], "expired_token");

    // A client without the grant may not start one; an unknown user code gets the form again.
    let plain = app.client(&[]).await;
    let res = reqwest::Client::new()
        .post(app.url("/device_authorization"))
        .basic_auth(&plain.id, plain.secret.as_deref())
        .form(&[("scope", "openid")])
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["error"], "unauthorized_client");
    let b = browser();
    app.login_with(&b, "tv", "tv's password").await;
    let res = b
        .get(app.url("/device?user_code=BCDF-GHJK"))
        .send()
        .await
        .expect("page");
    assert_eq!(res.status(), 400);
    assert!(res
        .text()
        .await
        .expect("html")
        .contains("unknown or has expired"));
}

// --- pushed authorization requests ------------------------------------------------------------

async fn push(app: &TestApp, client: &TestClient, extra: &[(&str, &str)]) -> (u16, Value) {
    let (_, challenge) = pkce_pair();
    let mut form = vec![
        ("response_type", "code"),
        ("redirect_uri", client.redirect_uri.as_str()),
        ("scope", "openid"),
        ("state", "s1"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    form.extend_from_slice(extra);
    let res = reqwest::Client::new()
        .post(app.url("/par"))
        .basic_auth(&client.id, client.secret.as_deref())
        .form(&form)
        .send()
        .await
        .expect("par");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn pushed_requests_are_single_use_short_lived_and_bound_to_their_client() {
    let app = spawn_app_on(test_db(), |_| {}).await;
    app.user("pam", "pam's password").await;
    let client = app.client(&["--require-par"]).await;
    let other = app.client(&[]).await;

    // Required but absent: an error page, nothing redirected.
    let (_, challenge) = pkce_pair();
    let res = app
        .authorize(&[
            ("response_type", "code"),
            ("client_id", client.id.as_str()),
            ("redirect_uri", client.redirect_uri.as_str()),
            ("scope", "openid"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ])
        .await;
    assert_eq!(res.status(), 400);
    assert!(res.text().await.expect("html").contains("PAR"));

    let (status, body) = push(&app, &client, &[]).await;
    assert_eq!(status, 201, "{body}");
    let uri = body["request_uri"]
        .as_str()
        .expect("request_uri")
        .to_owned();
    assert!(uri.starts_with("urn:ietf:params:oauth:request_uri:"));
    assert_eq!(body["expires_in"], 60);

    // Another client's request_uri is unknown to this one.
    let res = app
        .authorize(&[
            ("client_id", other.id.as_str()),
            ("request_uri", uri.as_str()),
        ])
        .await;
    assert_eq!(res.status(), 400);
    // Its own: the login follows, the request resumes from what was pushed.
    let res = app
        .authorize(&[
            ("client_id", client.id.as_str()),
            ("request_uri", uri.as_str()),
        ])
        .await;
    assert_eq!(res.status(), 302);
    assert!(location(&res).starts_with("/login?"));
    // Used once: the same request_uri again is refused.
    let res = app
        .authorize(&[
            ("client_id", client.id.as_str()),
            ("request_uri", uri.as_str()),
        ])
        .await;
    assert_eq!(res.status(), 400);

    // Expired.
    let (_, body) = push(&app, &client, &[]).await;
    let uri = body["request_uri"]
        .as_str()
        .expect("request_uri")
        .to_owned();
    {
        use diesel::prelude::*;
        let mut conn = app.db.conn();
        diesel::sql_query("UPDATE pushed_requests SET expires_at = expires_at - 120")
            .execute(&mut conn)
            .expect("expire");
    }
    let res = app
        .authorize(&[
            ("client_id", client.id.as_str()),
            ("request_uri", uri.as_str()),
        ])
        .await;
    assert_eq!(res.status(), 400);

    // What the endpoint refuses: an unregistered redirect URI, a pushed request_uri, bad auth.
    let (status, body) = push(
        &app,
        &client,
        &[("redirect_uri", "https://evil.example/cb")],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    let (status, _) = push(&app, &client, &[("request_uri", "urn:x")]).await;
    assert_eq!(status, 400);
    let res = reqwest::Client::new()
        .post(app.url("/par"))
        .basic_auth(&client.id, Some("wrong"))
        .form(&[("response_type", "code")])
        .send()
        .await
        .expect("par");
    assert_eq!(res.status(), 401);

    let meta: Value = app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        meta["pushed_authorization_request_endpoint"],
        app.url("/par")
    );
    assert_eq!(meta["require_pushed_authorization_requests"], false);
    assert_eq!(
        meta["device_authorization_endpoint"],
        app.url("/device_authorization")
    );
}

#[tokio::test]
async fn a_global_par_requirement_refuses_plain_requests() {
    let app = spawn_app_on(test_db(), |a| a.require_par = Some(true)).await;
    let client = app.client(&[]).await;
    let (_, challenge) = pkce_pair();
    let res = app
        .authorize(&[
            ("response_type", "code"),
            ("client_id", client.id.as_str()),
            ("redirect_uri", client.redirect_uri.as_str()),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ])
        .await;
    assert_eq!(res.status(), 400);
    let meta: Value = app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(meta["require_pushed_authorization_requests"], true);
}

// --- private_key_jwt ------------------------------------------------------------------------------

pub(crate) struct ClientKey {
    pair: EcdsaKeyPair,
    kid: String,
}

impl ClientKey {
    pub(crate) fn new(kid: &str) -> ClientKey {
        let rng = SystemRandom::new();
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).expect("key");
        ClientKey {
            pair: EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
                .expect("pair"),
            kid: kid.to_owned(),
        }
    }

    pub(crate) fn jwk(&self) -> Value {
        let p = self.pair.public_key().as_ref();
        json!({
            "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": self.kid,
            "x": URL_SAFE_NO_PAD.encode(&p[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&p[33..65]),
        })
    }

    pub(crate) fn sign(&self, claims: &Value) -> String {
        let header = json!({ "alg": "ES256", "typ": "JWT", "kid": self.kid });
        let msg = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let sig = self
            .pair
            .sign(&SystemRandom::new(), msg.as_bytes())
            .expect("sign");
        format!("{msg}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
    }
}

pub(crate) fn assertion_claims(client_id: &str, aud: &str, exp_in: i64) -> Value {
    let now = ostiary::db::now();
    json!({
        "iss": client_id, "sub": client_id, "aud": aud,
        "iat": now, "exp": now + exp_in,
        "jti": ostiary::random::token::<16>(),
    })
}

pub(crate) async fn cc_with_assertion(app: &TestApp, assertion: &str) -> (u16, Value) {
    post_form(
        app,
        "/token",
        &[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", assertion),
        ],
    )
    .await
}

#[tokio::test]
async fn private_key_jwt_refuses_wrong_aud_expired_replayed_and_unknown_keys() {
    let app = spawn_app_on(test_db(), |_| {}).await;
    let key = ClientKey::new("k1");
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
    let id = client.id.as_str();

    // The issuer, the token endpoint: both fine as aud.
    for aud in [app.address.clone(), app.url("/token")] {
        let (status, body) =
            cc_with_assertion(&app, &key.sign(&assertion_claims(id, &aud, 60))).await;
        assert_eq!(status, 200, "{aud}: {body}");
    }
    // Replayed jti.
    let once = key.sign(&assertion_claims(id, &app.address, 60));
    assert_eq!(cc_with_assertion(&app, &once).await.0, 200);
    let (status, body) = cc_with_assertion(&app, &once).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    // Wrong audience.
    let (status, _) = cc_with_assertion(
        &app,
        &key.sign(&assertion_claims(id, "https://elsewhere.example", 60)),
    )
    .await;
    assert_eq!(status, 401);
    // A non-integer exp would dodge the lifetime bound: refused.
    let mut float = assertion_claims(id, &app.address, 60);
    float["exp"] = json!(ostiary::db::now() as f64 + 3600.5);
    let (status, _) = cc_with_assertion(&app, &key.sign(&float)).await;
    assert_eq!(status, 401);
    // Expired, and living too long.
    let (status, _) =
        cc_with_assertion(&app, &key.sign(&assertion_claims(id, &app.address, -120))).await;
    assert_eq!(status, 401);
    let (status, _) =
        cc_with_assertion(&app, &key.sign(&assertion_claims(id, &app.address, 3600))).await;
    assert_eq!(status, 401);
    // A key the client never registered (same kid, other key; and another kid).
    let stranger = ClientKey::new("k1");
    let (status, _) = cc_with_assertion(
        &app,
        &stranger.sign(&assertion_claims(id, &app.address, 60)),
    )
    .await;
    assert_eq!(status, 401);
    let unknown = ClientKey::new("k2");
    let (status, _) =
        cc_with_assertion(&app, &unknown.sign(&assertion_claims(id, &app.address, 60))).await;
    assert_eq!(status, 401);
    // An assertion with a secret as well: one method only.
    let res = reqwest::Client::new()
        .post(app.url("/token"))
        .basic_auth(id, Some("x"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", ASSERTION_TYPE),
            (
                "client_assertion",
                &key.sign(&assertion_claims(id, &app.address, 60)),
            ),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), 400);
    // Introspection and revocation accept it too.
    let token = cc_with_assertion(&app, &key.sign(&assertion_claims(id, &app.address, 60)))
        .await
        .1["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let (status, body) = post_form(
        &app,
        "/introspect",
        &[
            ("token", token.as_str()),
            ("client_assertion_type", ASSERTION_TYPE),
            (
                "client_assertion",
                &key.sign(&assertion_claims(id, &app.url("/introspect"), 60)),
            ),
        ],
    )
    .await;
    assert_eq!((status, body["active"].as_bool()), (200, Some(true)));
    let (status, _) = post_form(
        &app,
        "/revoke",
        &[
            ("token", token.as_str()),
            ("client_assertion_type", ASSERTION_TYPE),
            (
                "client_assertion",
                &key.sign(&assertion_claims(id, &app.address, 60)),
            ),
        ],
    )
    .await;
    assert_eq!(status, 200);
}

/// A tiny HTTP server on loopback: serves `body` for GET, records POST bodies; counts requests.
/// (Also the conformance logout modules' back- and front-channel receiver.)
pub(crate) struct Receiver {
    pub(crate) port: u16,
    posts: Arc<Mutex<Vec<String>>>,
    gets: Arc<Mutex<usize>>,
    body: Arc<Mutex<String>>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    pub(crate) async fn start_on(port: u16, body: String) -> Receiver {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let posts = Arc::new(Mutex::new(Vec::new()));
        let gets = Arc::new(Mutex::new(0));
        let body = Arc::new(Mutex::new(body));
        let (p, g, b) = (posts.clone(), gets.clone(), body.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let (p, g, b) = (p.clone(), g.clone(), b.clone());
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    let (head_end, length) = loop {
                        let n = sock.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&buf[..i]).to_lowercase();
                            let length = head
                                .lines()
                                .find_map(|l| l.strip_prefix("content-length:"))
                                .and_then(|v| v.trim().parse::<usize>().ok())
                                .unwrap_or(0);
                            break (i + 4, length);
                        }
                    };
                    while buf.len() < head_end + length {
                        let n = sock.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            break;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                    }
                    let is_post = buf.starts_with(b"POST");
                    let reply = if is_post {
                        let body = String::from_utf8_lossy(&buf[head_end..]).into_owned();
                        p.lock().expect("lock").push(body);
                        "HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                            .to_owned()
                    } else {
                        *g.lock().expect("lock") += 1;
                        let json = b.lock().expect("lock").clone();
                        format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{json}",
                            json.len()
                        )
                    };
                    let _ = sock.write_all(reply.as_bytes()).await;
                });
            }
        });
        Receiver {
            port,
            posts,
            gets,
            body,
            task,
        }
    }

    pub(crate) fn stop(&self) {
        self.task.abort();
    }
}

#[tokio::test]
async fn a_jwks_uri_is_fetched_cached_and_fetched_again_for_an_unknown_kid() {
    let app = spawn_app_on(test_db(), |a| {
        a.outbound_allow = Some("127.0.0.0/8".into());
        a.keys_refetch_pause = Some(1);
    })
    .await;
    let old = ClientKey::new("old");
    let new = ClientKey::new("new");
    let keys = Receiver::start_on(0, json!({ "keys": [old.jwk()] }).to_string()).await;
    let uri = format!("http://127.0.0.1:{}/jwks.json", keys.port);
    let client = app
        .client(&[
            "--auth-method",
            "private_key_jwt",
            "--jwks-uri",
            &uri,
            "--grant-type",
            "client_credentials",
        ])
        .await;
    let id = client.id.as_str();
    for _ in 0..3 {
        let (status, _) =
            cc_with_assertion(&app, &old.sign(&assertion_claims(id, &app.address, 60))).await;
        assert_eq!(status, 200);
    }
    assert_eq!(
        *keys.gets.lock().expect("lock"),
        1,
        "fetched once, then cached"
    );
    // The client rotates: a new kid makes Ostiary fetch again, but not within the refetch
    // pause (keys_refetch_pause, 1 s here) of the last fetch.
    *keys.body.lock().expect("lock") = json!({ "keys": [new.jwk()] }).to_string();
    let (status, _) =
        cc_with_assertion(&app, &new.sign(&assertion_claims(id, &app.address, 60))).await;
    assert_eq!(status, 401, "an unknown kid within the pause");
    assert_eq!(
        *keys.gets.lock().expect("lock"),
        1,
        "not fetched within the pause"
    );
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let (status, body) =
        cc_with_assertion(&app, &new.sign(&assertion_claims(id, &app.address, 60))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(*keys.gets.lock().expect("lock"), 2);
    keys.stop();
}

// --- back-channel logout --------------------------------------------------------------------

pub(crate) async fn wait_for_posts(r: &Receiver, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = r.posts.lock().expect("lock").clone();
        if got.len() >= n {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "{n} logout token(s) expected, got {}",
            got.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Verifies a logout token with Ostiary's published keys; returns its header and claims.
async fn verify_logout_token(app: &TestApp, body: &str, client_id: &str) -> (Value, Value) {
    let token = url::form_urlencoded::parse(body.as_bytes())
        .find(|(k, _)| k == "logout_token")
        .expect("logout_token")
        .1
        .into_owned();
    let header = jsonwebtoken::decode_header(&token).expect("header");
    let jwks: jsonwebtoken::jwk::JwkSet = app.get("/jwks.json").await.json().await.expect("jwks");
    let jwk = jwks.find(header.kid.as_deref().expect("kid")).expect("key");
    let mut v = jsonwebtoken::Validation::new(header.alg);
    v.set_audience(&[client_id]);
    v.set_issuer(&[app.address.as_str()]);
    let claims = jsonwebtoken::decode::<Value>(
        &token,
        &jsonwebtoken::DecodingKey::from_jwk(jwk).expect("key"),
        &v,
    )
    .expect("a valid logout token")
    .claims;
    (json!({ "typ": header.typ }), claims)
}

async fn login_through(app: &TestApp, client: &TestClient, b: &reqwest::Client) -> Value {
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
    assert_eq!(res.status(), 200, "the consent page (already signed in)");
    let html = res.text().await.expect("html");
    let csrf = TestApp::csrf_of(&html);
    let action = crate::helpers::consent_action(&html);
    let res = b
        .post(app.url(&action))
        .form(&[("csrf_token", csrf.as_str()), ("decision", "allow")])
        .send()
        .await
        .expect("consent");
    let url = url::Url::parse(&location(&res)).expect("redirect");
    let code = query_param(&url, "code").expect("code");
    let res = app
        .token(
            client,
            &[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", client.redirect_uri.as_str()),
                ("code_verifier", verifier.as_str()),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
    res.json().await.expect("tokens")
}

#[tokio::test]
async fn logging_out_sends_a_signed_logout_token_and_revokes_the_sessions_refresh_tokens() {
    let app = spawn_app_on(test_db(), |a| {
        a.outbound_allow = Some("127.0.0.0/8".into());
        a.outbox_interval = Some(1);
    })
    .await;
    app.user("lea", "lea's password").await;
    let rp = Receiver::start_on(0, String::new()).await;
    let uri = format!("http://127.0.0.1:{}/backchannel", rp.port);
    let client = app
        .client(&[
            "--backchannel-logout-uri",
            &uri,
            "--backchannel-logout-session-required",
        ])
        .await;
    let b = browser();
    app.login_with(&b, "lea", "lea's password").await;
    let tokens = login_through(&app, &client, &b).await;
    // Signing in again in the same browser replaces the session; what it issued moves along,
    // so the logout below still reaches it.
    assert_eq!(
        app.login_with(&b, "lea", "lea's password").await.status(),
        303
    );
    let id_claims: Value = {
        let jwt = tokens["id_token"].as_str().expect("id_token");
        serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(jwt.split('.').nth(1).expect("p"))
                .expect("b64"),
        )
        .expect("claims")
    };
    // RP-initiated logout (confirmed on the page).
    let page = app.html(&b, "/logout").await;
    let csrf = TestApp::csrf_of(&page);
    let res = b
        .post(app.url("/logout"))
        .form(&[("csrf_token", csrf.as_str()), ("confirm", "yes")])
        .send()
        .await
        .expect("logout");
    assert!(res.status().is_success() || res.status().is_redirection());
    let posts = wait_for_posts(&rp, 1).await;
    let (header, claims) = verify_logout_token(&app, &posts[0], &client.id).await;
    assert_eq!(header["typ"], "logout+jwt");
    assert_eq!(claims["sub"], id_claims["sub"]);
    assert_eq!(
        claims["sid"], id_claims["sid"],
        "the sid the id_token named, although a new login replaced that session row"
    );
    assert!(claims["events"]["http://schemas.openid.net/event/backchannel-logout"].is_object());
    assert!(claims["jti"].is_string() && claims["iat"].is_i64() && claims["exp"].is_i64());
    assert!(claims.get("nonce").is_none());
    // The session's refresh token is dead.
    let res = app
        .token(
            &client,
            &[
                ("grant_type", "refresh_token"),
                (
                    "refresh_token",
                    tokens["refresh_token"].as_str().expect("rt"),
                ),
            ],
        )
        .await;
    assert_eq!(res.status(), 400);
    rp.stop();
}

#[tokio::test]
async fn a_logout_token_is_retried_until_the_receiver_is_back() {
    let app = spawn_app_on(test_db(), |a| {
        a.outbound_allow = Some("127.0.0.0/8".into());
        a.outbox_interval = Some(1);
    })
    .await;
    app.user("lou", "lou's password").await;
    // A port with nobody listening yet.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let uri = format!("http://127.0.0.1:{port}/backchannel");
    let client = app.client(&["--backchannel-logout-uri", &uri]).await;
    let b = browser();
    app.login_with(&b, "lou", "lou's password").await;
    login_through(&app, &client, &b).await;
    // "Sign out everywhere" from the CLI's password change ends the session too.
    let out = app
        .cli(
            &["user", "set-password", "lou", "--password-stdin"],
            Some("lou's new password\n"),
        )
        .await;
    assert!(out.ok(), "{}", out.stderr);
    // The first attempt fails (connection refused) and is kept for a retry.
    let deadline = Instant::now() + Duration::from_secs(20);
    while app.count("outbox WHERE kind = 'backchannel_logout' AND attempts >= 1") == 0 {
        assert!(Instant::now() < deadline, "no attempt was made");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        app.count(
            "outbox WHERE kind = 'backchannel_logout' AND sent_at IS NULL AND failed_at IS NULL"
        ),
        1
    );
    let rp = Receiver::start_on(port, String::new()).await;
    let posts = wait_for_posts(&rp, 1).await;
    verify_logout_token(&app, &posts[0], &client.id).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.count("outbox WHERE kind = 'backchannel_logout' AND sent_at IS NOT NULL") == 0 {
        assert!(Instant::now() < deadline, "delivery not recorded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    rp.stop();
}

// --- token exchange ---------------------------------------------------------------------------

#[tokio::test]
async fn token_exchange_narrows_and_never_widens() {
    let app = spawn_app_on(test_db(), |_| {}).await;
    app.user("ted", "ted's password").await;
    let frontend = app
        .client(&[
            "--scope", "openid", "--scope", "profile", "--scope", "email",
        ])
        .await;
    let backend = app
        .client(&[
            "--grant-type",
            EXCHANGE_GRANT,
            "--token-exchange-audience",
            "https://api.example",
        ])
        .await;
    let b = browser();
    app.login_with(&b, "ted", "ted's password").await;
    let tokens = login_through(&app, &frontend, &b).await;
    let subject = tokens["access_token"].as_str().expect("at").to_owned();

    let exchange = |scope: Option<&'static str>, audience: &'static str| {
        let app = &app;
        let backend = backend.clone();
        let subject = subject.clone();
        async move {
            let mut form = vec![
                ("grant_type", EXCHANGE_GRANT.to_owned()),
                ("subject_token", subject),
                ("subject_token_type", ACCESS_TOKEN_TYPE.to_owned()),
                ("audience", audience.to_owned()),
            ];
            if let Some(s) = scope {
                form.push(("scope", s.to_owned()));
            }
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let res = app.token(&backend, &form).await;
            let status = res.status().as_u16();
            (status, res.json::<Value>().await.expect("json"))
        }
    };
    // Narrower: allowed, with the audience and an act claim naming the backend.
    let (status, body) = exchange(Some("openid"), "https://api.example").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["issued_token_type"], ACCESS_TOKEN_TYPE);
    assert_eq!(body["scope"], "openid");
    assert!(body.get("refresh_token").is_none());
    let claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(
                body["access_token"]
                    .as_str()
                    .expect("at")
                    .split('.')
                    .nth(1)
                    .expect("p"),
            )
            .expect("b64"),
    )
    .expect("claims");
    assert_eq!(claims["aud"], "https://api.example");
    assert_eq!(claims["act"]["sub"], backend.id);
    assert_eq!(claims["client_id"], backend.id);
    // Wider: refused.
    let (status, body) = exchange(
        Some("openid profile email offline_access"),
        "https://api.example",
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope"))
    );
    // An audience not on the allow-list: refused.
    let (status, body) = exchange(None, "https://other.example").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_target"))
    );
    // A client without the grant: refused.
    let res = app
        .token(
            &frontend,
            &[
                ("grant_type", EXCHANGE_GRANT),
                ("subject_token", subject.as_str()),
                ("subject_token_type", ACCESS_TOKEN_TYPE),
                ("audience", "https://api.example"),
            ],
        )
        .await;
    assert_eq!(res.status(), 400);
    // A revoked subject token: refused.
    let res = reqwest::Client::new()
        .post(app.url("/revoke"))
        .basic_auth(&frontend.id, frontend.secret.as_deref())
        .form(&[("token", subject.as_str())])
        .send()
        .await
        .expect("revoke");
    assert_eq!(res.status(), 200);
    let (status, body) = exchange(None, "https://api.example").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}
