//! Issue 23: what a certifying tester found (OpenID Connect Core, RFC 6749, RFC 7592, RFC 8628,
//! Dynamic Registration), each through real HTTP.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use crate::helpers::{
    consent_action, location, pkce_pair, query_param, spawn_app, spawn_app_on, test_db, TestApp,
    TestClient,
};

const USER: (&str, &str) = ("alice", "alice's password");

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

struct ClientKey {
    pair: EcdsaKeyPair,
    kid: String,
}

impl ClientKey {
    fn new(kid: &str) -> ClientKey {
        let rng = SystemRandom::new();
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).expect("key");
        ClientKey {
            pair: EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
                .expect("pair"),
            kid: kid.to_owned(),
        }
    }

    fn jwk(&self) -> Value {
        let p = self.pair.public_key().as_ref();
        json!({
            "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": self.kid,
            "x": URL_SAFE_NO_PAD.encode(&p[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&p[33..65]),
        })
    }

    fn assertion(&self, client_id: &str, aud: &str) -> String {
        let now = ostiary::db::now();
        let claims = json!({
            "iss": client_id, "sub": client_id, "aud": aud,
            "iat": now, "exp": now + 60,
            "jti": ostiary::random::token::<16>(),
        });
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

// --- item 6: the challenge of a failed client authentication -----------------------------------

/// Every endpoint that authenticates clients, with a form it would otherwise accept.
const CLIENT_ENDPOINTS: &[(&str, &[(&str, &str)])] = &[
    ("/token", &[("grant_type", "client_credentials")]),
    ("/revoke", &[("token", "nothing")]),
    ("/introspect", &[("token", "nothing")]),
    (
        "/par",
        &[
            ("response_type", "code"),
            ("redirect_uri", crate::helpers::REDIRECT),
        ],
    ),
    ("/device_authorization", &[("scope", "openid")]),
];

async fn challenge_of(
    app: &TestApp,
    path: &str,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> (u16, Option<String>, Option<String>) {
    let mut req = reqwest::Client::new().post(app.url(path));
    if let Some((id, secret)) = basic {
        req = req.basic_auth(id, Some(secret));
    }
    let res = req.form(form).send().await.expect("post");
    let status = res.status().as_u16();
    let challenge = res
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body: Value = res.json().await.unwrap_or(Value::Null);
    (status, body["error"].as_str().map(str::to_owned), challenge)
}

/// RFC 6749 §5.2: the challenge of a 401 names the scheme the client used. A client that
/// authenticated in the body (client_secret_post, private_key_jwt) gets `invalid_client`
/// without a Basic challenge at every client-authenticated endpoint; one that used Basic still
/// gets the challenge.
#[tokio::test]
async fn invalid_client_challenges_basic_only_when_the_client_used_basic() {
    let app = spawn_app().await;
    let grants = [
        "--grant-type",
        "client_credentials",
        "--grant-type",
        "authorization_code",
        "--grant-type",
        "urn:ietf:params:oauth:grant-type:device_code",
    ];
    let mut post_args = vec!["--auth-method", "client_secret_post"];
    post_args.extend(grants);
    let post = app.client(&post_args).await;
    let key = ClientKey::new("k1");
    let stranger = ClientKey::new("k1");
    let jwks = json!({ "keys": [key.jwk()] }).to_string();
    let mut jwt_args = vec!["--auth-method", "private_key_jwt", "--jwks", &jwks];
    jwt_args.extend(grants);
    let jwt = app.client(&jwt_args).await;
    let basic = app.client(&grants).await;

    for (path, form) in CLIENT_ENDPOINTS {
        // client_secret_post with a wrong secret.
        let mut f = form.to_vec();
        f.extend([
            ("client_id", post.id.as_str()),
            ("client_secret", "ost_wrong"),
        ]);
        let (status, error, challenge) = challenge_of(&app, path, &f, None).await;
        assert_eq!(
            (status, error.as_deref(), challenge.as_deref()),
            (401, Some("invalid_client"), None),
            "{path}: client_secret_post"
        );
        // private_key_jwt signed by a key the client never registered.
        let assertion = stranger.assertion(&jwt.id, &app.address);
        let mut f = form.to_vec();
        f.extend([
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", assertion.as_str()),
        ]);
        let (status, error, challenge) = challenge_of(&app, path, &f, None).await;
        assert_eq!(
            (status, error.as_deref(), challenge.as_deref()),
            (401, Some("invalid_client"), None),
            "{path}: private_key_jwt"
        );
        // No authentication at all.
        let (status, error, challenge) = challenge_of(&app, path, form, None).await;
        assert_eq!(
            (status, error.as_deref(), challenge.as_deref()),
            (401, Some("invalid_client"), None),
            "{path}: no authentication"
        );
        // Basic with a wrong secret: challenged with Basic.
        let (status, error, challenge) =
            challenge_of(&app, path, form, Some((&basic.id, "ost_wrong"))).await;
        assert_eq!(
            (status, error.as_deref()),
            (401, Some("invalid_client")),
            "{path}: Basic"
        );
        assert!(
            challenge.as_deref().is_some_and(|c| c.starts_with("Basic")),
            "{path}: Basic without a challenge: {challenge:?}"
        );
    }
    // The right credentials still work in each way (the refusals above were the credentials').
    let assertion = key.assertion(&jwt.id, &app.address);
    let (status, _, _) = challenge_of(
        &app,
        "/token",
        &[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", assertion.as_str()),
        ],
        None,
    )
    .await;
    assert_eq!(status, 200);
}

// --- item 7: redirect_uri at /token; methods at the registration endpoints ---------------------

async fn app_with_user() -> TestApp {
    let app = spawn_app().await;
    app.user(USER.0, USER.1).await;
    app
}

/// A code from a consented authorization request, with or without `redirect_uri` in it.
async fn code_for(app: &TestApp, client: &TestClient, with_redirect: bool) -> (String, String) {
    let (verifier, challenge) = pkce_pair();
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", client.id.as_str()),
        ("scope", "openid"),
        ("state", "st"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    if with_redirect {
        params.push(("redirect_uri", client.redirect_uri.as_str()));
    }
    let url = app.code_flow(client, &params, USER).await;
    (query_param(&url, "code").expect("code"), verifier)
}

async fn redeem(
    app: &TestApp,
    client: &TestClient,
    code: &str,
    verifier: &str,
    redirect_uri: Option<&str>,
) -> (u16, Value) {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("code_verifier", verifier),
    ];
    if let Some(r) = redirect_uri {
        form.push(("redirect_uri", r));
    }
    let res = app.token(client, &form).await;
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// RFC 6749 §4.1.3: `redirect_uri` is required at /token only if the authorization request
/// included it, and must then be identical. A client with one registered redirect URI may leave
/// it out of both.
#[tokio::test]
async fn token_request_may_omit_redirect_uri_when_the_authorization_request_did() {
    let app = app_with_user().await;
    let client = app.client(&[]).await;

    // Omitted at /authorize: omitted at /token too, and the tokens are issued.
    let (code, verifier) = code_for(&app, &client, false).await;
    let (status, body) = redeem(&app, &client, &code, &verifier, None).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["id_token"].is_string());

    // Omitted at /authorize, a different one at /token: refused.
    let (code, verifier) = code_for(&app, &client, false).await;
    let (status, body) = redeem(
        &app,
        &client,
        &code,
        &verifier,
        Some("http://127.0.0.1:9/other"),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    // Included at /authorize: still required at /token…
    let (code, verifier) = code_for(&app, &client, true).await;
    let (status, body) = redeem(&app, &client, &code, &verifier, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request")),
        "{body}"
    );
    // …and must be identical; the identical one works (the refusal did not spend the code).
    let (status, body) = redeem(
        &app,
        &client,
        &code,
        &verifier,
        Some("http://127.0.0.1:9/callback/"),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (code, verifier) = code_for(&app, &client, true).await;
    let (status, _) = redeem(&app, &client, &code, &verifier, None).await;
    assert_eq!(status, 400);
    let (status, body) = redeem(&app, &client, &code, &verifier, Some(&client.redirect_uri)).await;
    assert_eq!(status, 200, "{body}");

    // Another client cannot lean on the omission to redeem someone else's code.
    let other = app.client(&[]).await;
    let (code, verifier) = code_for(&app, &client, false).await;
    let (status, _) = redeem(&app, &other, &code, &verifier, None).await;
    assert_eq!(status, 400);
}

/// RFC 7592 §2 / RFC 9110 §15.5.6: a method a registration resource does not support is 405
/// with `Allow` and a JSON error body (POST to a `registration_client_uri` in particular).
#[tokio::test]
async fn unsupported_methods_at_the_registration_endpoints_are_405_with_allow() {
    let app = spawn_app().await;
    let http = reqwest::Client::new();
    let cases = [
        (
            reqwest::Method::POST,
            "/register/some-client",
            "GET, PUT, DELETE",
        ),
        (
            reqwest::Method::PATCH,
            "/register/some-client",
            "GET, PUT, DELETE",
        ),
        (reqwest::Method::GET, "/register", "POST"),
        (reqwest::Method::PUT, "/register", "POST"),
        (reqwest::Method::DELETE, "/register", "POST"),
    ];
    for (method, path, allow) in cases {
        let res = http
            .request(method.clone(), app.url(path))
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), 405, "{method} {path}");
        assert_eq!(
            res.headers().get("allow").and_then(|v| v.to_str().ok()),
            Some(allow),
            "{method} {path}"
        );
        let body: Value = res.json().await.expect("json body");
        assert!(body["error"].is_string(), "{method} {path}: {body}");
    }
}

// --- item 3: POST at the authorization endpoint ---------------------------------------------

async fn post_authorize(app: &TestApp, query: &str, form: &[(&str, &str)]) -> reqwest::Response {
    let path = if query.is_empty() {
        "/authorize".to_owned()
    } else {
        format!("/authorize?{query}")
    };
    app.client
        .post(app.url(&path))
        .form(form)
        .send()
        .await
        .expect("POST /authorize")
}

/// OIDC Core 3.1.2.1: the authorization endpoint supports POST, its parameters form-encoded in
/// the body and read by the same rules as GET's query: the login redirect, prompt=none's
/// error, the consent page, the code (which redeems), and a parameter both in the query and
/// in the body refused as a repeated one.
#[tokio::test]
async fn oidcc_ensure_post_request_succeeds() {
    let app = app_with_user().await;
    let client = app.client(&[]).await;
    let (verifier, challenge) = pkce_pair();
    let request = [
        ("response_type", "code"),
        ("client_id", client.id.as_str()),
        ("redirect_uri", client.redirect_uri.as_str()),
        ("scope", "openid"),
        ("state", "st"),
        ("nonce", "n-0S6"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];

    // prompt=none without a session: login_required, redirected to the client.
    let mut none = request.to_vec();
    none.push(("prompt", "none"));
    let res = post_authorize(&app, "", &none).await;
    assert_eq!(res.status(), 302);
    let loc = url::Url::parse(&location(&res)).expect("redirect to the client");
    assert!(loc.as_str().starts_with(&client.redirect_uri), "{loc}");
    assert_eq!(
        query_param(&loc, "error").as_deref(),
        Some("login_required")
    );
    assert_eq!(query_param(&loc, "state").as_deref(), Some("st"));

    // Without a session: the login page, as for GET.
    let res = post_authorize(&app, "", &request).await;
    assert_eq!(res.status(), 302);
    let login = location(&res);
    assert!(login.starts_with("/login"), "{login}");
    let signed_in = app.login(&login, USER.0, USER.1).await;
    assert_eq!(signed_in.status(), 303);
    // The resumed request asks for consent; the decision goes to the interaction.
    let res = app
        .client
        .get(app.url(&location(&signed_in)))
        .send()
        .await
        .expect("resume");
    assert_eq!(res.status(), 200);
    let html = res.text().await.expect("consent");
    let csrf = TestApp::csrf_of(&html);
    let res = app
        .client
        .post(app.url(&consent_action(&html)))
        .form(&[("csrf_token", csrf.as_str()), ("decision", "allow")])
        .send()
        .await
        .expect("consent");
    assert_eq!(res.status(), 302);
    let first = url::Url::parse(&location(&res)).expect("code redirect");
    assert!(query_param(&first, "code").is_some(), "{first}");

    // Signed in and consented: a POST is answered with the code directly; it redeems.
    let res = post_authorize(&app, "", &request).await;
    assert_eq!(res.status(), 302);
    let loc = url::Url::parse(&location(&res)).expect("code redirect");
    assert_eq!(query_param(&loc, "state").as_deref(), Some("st"));
    let code = query_param(&loc, "code").expect("code");
    let (status, body) = redeem(&app, &client, &code, &verifier, Some(&client.redirect_uri)).await;
    assert_eq!(status, 200, "{body}");

    // A parameter in both the query and the body is repeated: answered as GET answers a
    // repeated parameter.
    let mut twice = request.to_vec();
    twice.push(("state", "other"));
    let by_get = app.authorize(&twice).await;
    let by_post = post_authorize(&app, "state=other", &request).await;
    assert_eq!(by_post.status(), by_get.status());
    let (get_loc, post_loc) = (location(&by_get), location(&by_post));
    assert!(!post_loc.contains("code="), "{post_loc}");
    assert_eq!(
        get_loc.split('?').next(),
        post_loc.split('?').next(),
        "GET {get_loc} / POST {post_loc}"
    );
    let error_of = |l: &str| {
        url::Url::parse(l)
            .ok()
            .and_then(|u| query_param(&u, "error"))
    };
    assert_eq!(error_of(&post_loc), error_of(&get_loc));

    // A body that is not a form is refused on a page, never redirected.
    let res = app
        .client
        .post(app.url("/authorize"))
        .header("content-type", "application/json")
        .body(json!({"client_id": client.id}).to_string())
        .send()
        .await
        .expect("json post");
    assert_eq!(res.status(), 400);
    assert!(res.headers().get("location").is_none());
}

// --- item 5: the device grant's slow_down ---------------------------------------------------

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

async fn device_poll(app: &TestApp, client: &TestClient, device_code: &str) -> String {
    let res = reqwest::Client::new()
        .post(app.url("/token"))
        .form(&[
            ("grant_type", DEVICE_GRANT),
            ("device_code", device_code),
            ("client_id", client.id.as_str()),
        ])
        .send()
        .await
        .expect("poll");
    let body: Value = res.json().await.expect("json");
    body["error"].as_str().unwrap_or("").to_owned()
}

/// Moves the device code's last poll `secs` into the past: the next poll comes that much later
/// (instead of sleeping).
fn wait_as_if(app: &TestApp, secs: i64) {
    use diesel::prelude::*;
    let mut conn = app.db.conn();
    diesel::sql_query(format!(
        "UPDATE device_codes SET last_polled_at = last_polled_at - {}",
        secs * 1000
    ))
    .execute(&mut conn)
    .expect("age the last poll");
}

/// RFC 8628 §3.5 with a client that missed slow_downs (two raw polls too fast, then a client
/// such as openid-client that waits its interval and adds 5 s per slow_down it sees): it is
/// told slow_down once more, then it is in step; before, the interval grew by 5 s on every
/// early poll and stayed one step ahead of it forever.
#[tokio::test]
async fn device_poll_after_missed_slow_down_converges() {
    let app = spawn_app_on(test_db(), |a| {
        a.device_poll_interval = Some(1);
    })
    .await;
    let client = app
        .client(&["--public", "--grant-type", DEVICE_GRANT])
        .await;
    let (status, d) = {
        let res = reqwest::Client::new()
            .post(app.url("/device_authorization"))
            .form(&[("client_id", client.id.as_str()), ("scope", "openid")])
            .send()
            .await
            .expect("device authorization");
        (
            res.status().as_u16(),
            res.json::<Value>().await.expect("json"),
        )
    };
    assert_eq!(status, 200, "{d}");
    let interval = d["interval"].as_i64().expect("interval");
    assert_eq!(interval, 1);
    let code = d["device_code"].as_str().expect("device_code").to_owned();

    assert_eq!(
        device_poll(&app, &client, &code).await,
        "authorization_pending"
    );
    // Two raw polls at once: slow_down each (answers the client below never saw).
    assert_eq!(device_poll(&app, &client, &code).await, "slow_down");
    assert_eq!(device_poll(&app, &client, &code).await, "slow_down");

    // The client polls at the interval it was told; one slow_down, it adds 5 s, in step.
    let mut told = interval;
    let mut slow_downs = 0;
    for _ in 0..4 {
        wait_as_if(&app, told);
        match device_poll(&app, &client, &code).await.as_str() {
            "slow_down" => {
                slow_downs += 1;
                told += 5;
            }
            "authorization_pending" => break,
            other => panic!("unexpected answer {other}"),
        }
    }
    assert_eq!(slow_downs, 1, "told slow_down {slow_downs} times");
    // And stays in step at that interval; polling early again is slow_down again, and the
    // interval grows by 5 s over what that poll waited (RFC 8628 §3.5).
    wait_as_if(&app, told);
    assert_eq!(
        device_poll(&app, &client, &code).await,
        "authorization_pending"
    );
    assert_eq!(device_poll(&app, &client, &code).await, "slow_down");
    assert!(app.count(&format!("device_codes WHERE poll_interval >= {told}")) == 1);
}

// --- item 4: RFC 7592 responses carry a new registration access token ------------------------

async fn registered(app: &TestApp, metadata: &Value) -> Value {
    let out = app
        .cli(&["registration", "token", "create", "--json"], None)
        .await;
    assert!(out.ok(), "{}", out.stderr);
    let v: Value = serde_json::from_str(out.stdout.trim()).expect("json");
    let initial = v["token"].as_str().expect("token").to_owned();
    let res = reqwest::Client::new()
        .post(app.url("/register"))
        .bearer_auth(&initial)
        .json(metadata)
        .send()
        .await
        .expect("register");
    assert_eq!(res.status(), 201);
    res.json().await.expect("json")
}

async fn manage(
    app: &TestApp,
    method: reqwest::Method,
    uri: &str,
    token: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .request(method, uri)
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(b);
    }
    let res = req.send().await.expect("manage");
    let status = res.status().as_u16();
    let _ = app;
    (status, res.json().await.unwrap_or(Value::Null))
}

/// RFC 7592 §3: the read and update responses carry `registration_access_token` with
/// `registration_client_uri`. Tokens are stored hashed, so each read and update issues a new
/// one and the old one stops working; concurrent reads with one token leave one valid token.
#[tokio::test]
async fn rfc7592_read_and_update_answer_with_a_new_registration_access_token() {
    let app = spawn_app().await;
    let metadata =
        json!({"client_name": "Self-made App", "redirect_uris": ["http://127.0.0.1:9/dcr"]});
    let created = registered(&app, &metadata).await;
    let uri = created["registration_client_uri"]
        .as_str()
        .expect("registration_client_uri")
        .to_owned();
    let first = created["registration_access_token"]
        .as_str()
        .expect("token")
        .to_owned();

    // Read: a new token, the old one ends, the new one works.
    let (status, read) = manage(&app, reqwest::Method::GET, &uri, &first, None).await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(read["registration_client_uri"], uri.as_str());
    let second = read["registration_access_token"]
        .as_str()
        .expect("read response carries registration_access_token")
        .to_owned();
    assert_ne!(second, first);
    let (status, _) = manage(&app, reqwest::Method::GET, &uri, &first, None).await;
    assert_eq!(status, 401, "the old token still reads");

    // Update: the same.
    let mut changed = metadata.clone();
    changed["client_name"] = json!("Self-made App 2");
    changed["client_id"] = created["client_id"].clone();
    let (status, updated) = manage(&app, reqwest::Method::PUT, &uri, &second, Some(&changed)).await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["registration_client_uri"], uri.as_str());
    let third = updated["registration_access_token"]
        .as_str()
        .expect("update response carries registration_access_token")
        .to_owned();
    assert_ne!(third, second);
    let (status, _) = manage(&app, reqwest::Method::PUT, &uri, &second, Some(&changed)).await;
    assert_eq!(status, 401, "the old token still updates");
    let (status, _) = manage(&app, reqwest::Method::GET, &uri, &second, None).await;
    assert_eq!(status, 401, "the old token still reads");

    // Concurrent reads with one token: one wins, one valid token remains.
    let reads = (0..6).map(|_| manage(&app, reqwest::Method::GET, &uri, &third, None));
    let answers = futures_util::future::join_all(reads).await;
    let winners: Vec<String> = answers
        .iter()
        .filter(|(s, _)| *s == 200)
        .map(|(_, b)| {
            b["registration_access_token"]
                .as_str()
                .expect("token")
                .to_owned()
        })
        .collect();
    assert_eq!(winners.len(), 1, "{answers:?}");
    assert!(
        answers.iter().all(|(s, _)| *s == 200 || *s == 401),
        "{answers:?}"
    );
    let (status, _) = manage(&app, reqwest::Method::GET, &uri, &third, None).await;
    assert_eq!(status, 401);
    let (status, last) = manage(&app, reqwest::Method::GET, &uri, &winners[0], None).await;
    assert_eq!(status, 200);
    let sha = ostiary::random::sha256_hex;
    let current = last["registration_access_token"].as_str().expect("token");
    assert_eq!(
        app.count(&format!(
            "clients WHERE registration_token_hash = '{}'",
            sha(current)
        )),
        1
    );
    // And the current token deletes.
    let (status, _) = manage(&app, reqwest::Method::DELETE, &uri, current, None).await;
    assert_eq!(status, 204);
}

// --- item 9: policy_uri and tos_uri on the login and consent pages --------------------------

/// The links a page shows by their visible text: (text, href, rel).
fn links_in(html: &str) -> Vec<(String, String, String)> {
    let doc = scraper::Html::parse_document(html);
    let sel = scraper::Selector::parse("a").expect("selector");
    doc.select(&sel)
        .map(|a| {
            (
                a.text().collect::<String>().trim().to_owned(),
                a.value().attr("href").unwrap_or("").to_owned(),
                a.value().attr("rel").unwrap_or("").to_owned(),
            )
        })
        .collect()
}

fn shows(html: &str, text: &str, href: &str) -> bool {
    links_in(html)
        .iter()
        .any(|(t, h, rel)| t == text && h == href && rel == "noopener noreferrer")
}

/// OIDC Dynamic Client Registration §2: the provider SHOULD show the client's `policy_uri` and
/// `tos_uri` to the person signing in. Registered over HTTP, they are links on the login page
/// and on the consent page; they must be https URLs (http only on loopback).
#[tokio::test]
async fn policy_and_terms_links_are_shown_on_the_login_and_consent_pages() {
    let app = app_with_user().await;
    const POLICY: &str = "https://app.example/privacy";
    const TERMS: &str = "https://app.example/terms";
    let created = registered(
        &app,
        &json!({
            "client_name": "Linked App",
            "redirect_uris": ["http://127.0.0.1:9/linked"],
            "policy_uri": POLICY,
            "tos_uri": TERMS,
        }),
    )
    .await;
    assert_eq!(created["policy_uri"], POLICY);
    assert_eq!(created["tos_uri"], TERMS);
    let client = TestClient {
        id: created["client_id"].as_str().expect("id").to_owned(),
        secret: created["client_secret"].as_str().map(str::to_owned),
        redirect_uri: "http://127.0.0.1:9/linked".to_owned(),
    };
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
    assert_eq!(res.status(), 302);
    let login = location(&res);
    let login_page = app.html(&app.client, &login).await;
    assert!(login_page.contains("Linked App"), "{login_page}");
    assert!(shows(&login_page, "Privacy policy", POLICY), "{login_page}");
    assert!(
        shows(&login_page, "Terms of service", TERMS),
        "{login_page}"
    );

    let signed_in = app.login(&login, USER.0, USER.1).await;
    assert_eq!(signed_in.status(), 303);
    let consent = app.html(&app.client, &location(&signed_in)).await;
    assert!(
        consent.contains("wants to access your account"),
        "{consent}"
    );
    assert!(shows(&consent, "Privacy policy", POLICY), "{consent}");
    assert!(shows(&consent, "Terms of service", TERMS), "{consent}");

    // A client without them shows neither.
    let plain = app.client(&[]).await;
    let res = app
        .authorize(&[
            ("response_type", "code"),
            ("client_id", plain.id.as_str()),
            ("redirect_uri", plain.redirect_uri.as_str()),
            ("scope", "openid"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ])
        .await;
    let consent = res.text().await.expect("consent");
    assert!(
        consent.contains("wants to access your account"),
        "{consent}"
    );
    assert!(!consent.contains("Privacy policy") && !consent.contains("Terms of service"));

    // Only https (or loopback http) URLs are admitted, at /register and by the CLI.
    let out = app
        .cli(&["registration", "token", "create", "--json"], None)
        .await;
    let v: Value = serde_json::from_str(out.stdout.trim()).expect("json");
    let initial = v["token"].as_str().expect("token");
    for (field, bad) in [
        ("policy_uri", "http://app.example/privacy"),
        ("tos_uri", "javascript:alert(1)"),
    ] {
        let res = reqwest::Client::new()
            .post(app.url("/register"))
            .bearer_auth(initial)
            .json(&json!({"client_name": "Bad Links", "redirect_uris": ["http://127.0.0.1:9/bad"], field: bad}))
            .send()
            .await
            .expect("register");
        assert_eq!(res.status(), 400, "{field} {bad}");
        let body: Value = res.json().await.expect("json");
        assert_eq!(body["error"], "invalid_client_metadata");
    }
    let refused = app
        .cli(
            &[
                "client",
                "add",
                "--name",
                "Bad Links",
                "--redirect-uri",
                "http://127.0.0.1:9/cb",
                "--policy-uri",
                "http://app.example/privacy",
            ],
            None,
        )
        .await;
    assert!(!refused.ok(), "{}", refused.stdout);

    // The CLI sets them, export shows them, and the consent page links them.
    let cli_client = app
        .client(&["--policy-uri", POLICY, "--tos-uri", TERMS])
        .await;
    let export = app.cli(&["export"], None).await;
    assert!(export.ok(), "{}", export.stderr);
    assert!(
        export.stdout.contains(POLICY) && export.stdout.contains(TERMS),
        "{}",
        export.stdout
    );
    let res = app
        .authorize(&[
            ("response_type", "code"),
            ("client_id", cli_client.id.as_str()),
            ("redirect_uri", cli_client.redirect_uri.as_str()),
            ("scope", "openid"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ])
        .await;
    let consent = res.text().await.expect("consent");
    assert!(shows(&consent, "Privacy policy", POLICY), "{consent}");
    assert!(shows(&consent, "Terms of service", TERMS), "{consent}");
}
