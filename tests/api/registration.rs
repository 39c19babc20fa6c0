//! Dynamic Client Registration (RFC 7591) and its management (RFC 7592): every policy, every
//! refusal with nothing stored, secrets and tokens stored only hashed, the unverified-app notice.

use serde_json::{json, Value};

use crate::helpers::{
    browser, location, pkce_pair, query_param, spawn_app, spawn_app_on, test_db, TestApp,
    TestClient,
};

const CB: &str = "http://127.0.0.1:9/dcr-callback";

async fn initial_token(app: &TestApp, extra: &[&str]) -> String {
    let mut args = vec!["registration", "token", "create", "--json"];
    args.extend(extra);
    let out = app.cli(&args, None).await;
    assert!(out.ok(), "{}", out.stderr);
    let v: Value = serde_json::from_str(out.stdout.trim()).expect("json");
    v["token"].as_str().expect("token").to_owned()
}

async fn post_register(
    app: &TestApp,
    token: Option<&str>,
    body: &Value,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut req = reqwest::Client::new().post(app.url("/register")).json(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.expect("register");
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body = res.json().await.unwrap_or(Value::Null);
    (status, body, headers)
}

fn web_app() -> Value {
    json!({"client_name": "Self-made App", "redirect_uris": [CB], "grant_types": ["authorization_code", "refresh_token"], "client_uri": "https://self-made.example/", "x-ignored": "yes"})
}

fn challenge(h: &reqwest::header::HeaderMap) -> String {
    h.get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

#[tokio::test]
async fn an_initial_access_token_registers_one_client_and_stores_only_hashes() {
    let app = spawn_app().await;
    let (status, body, h) = post_register(&app, None, &web_app()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_token"))
    );
    assert!(challenge(&h).starts_with("Bearer") && challenge(&h).contains("invalid_token"));
    let token = initial_token(&app, &["--uses", "1"]).await;
    let (status, body, _) = post_register(&app, Some(&token), &web_app()).await;
    assert_eq!(status, 201, "{body}");
    for k in [
        "client_id",
        "client_secret",
        "client_id_issued_at",
        "registration_access_token",
        "registration_client_uri",
    ] {
        assert!(body.get(k).is_some(), "{k} in {body}");
    }
    assert_eq!(body["client_secret_expires_at"], 0);
    assert_eq!(body["client_name"], "Self-made App");
    assert_eq!(body["client_uri"], "https://self-made.example/");
    assert!(
        body.get("x-ignored").is_none(),
        "unknown metadata is not echoed"
    );
    let id = body["client_id"].as_str().expect("id");
    assert_eq!(
        body["registration_client_uri"],
        format!("{}/register/{id}", app.address)
    );
    let secret = body["client_secret"].as_str().expect("secret");
    let rat = body["registration_access_token"].as_str().expect("rat");
    let sha = ostiary::random::sha256_hex;
    assert_eq!(app.count(&format!("clients WHERE client_id = '{id}' AND secret_hash = '{}' AND registration_token_hash = '{}' AND origin = 'dynamic'", sha(secret), sha(rat))), 1);
    assert_eq!(
        app.count(&format!(
            "initial_access_tokens WHERE token_hash = '{}'",
            sha(&token)
        )),
        1
    );
    // Used up: the same token registers nothing more.
    let (status, body, h) = post_register(&app, Some(&token), &web_app()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_token"))
    );
    assert!(challenge(&h).contains("invalid_token"));
    assert_eq!(app.count("clients"), 1);
}

#[tokio::test]
async fn expired_and_revoked_initial_tokens_register_nothing() {
    let app = spawn_app().await;
    let expired = initial_token(&app, &["--expires", "60"]).await;
    {
        use diesel::prelude::*;
        use ostiary::db::schema::initial_access_tokens as iat;
        diesel::update(iat::table)
            .set(iat::expires_at.eq(Some(ostiary::db::now() - 1)))
            .execute(&mut app.db.conn())
            .expect("expire");
    }
    let (status, _, _) = post_register(&app, Some(&expired), &web_app()).await;
    assert_eq!(status, 401);
    let revoked = initial_token(&app, &[]).await;
    let list = app.cli(&["registration", "token", "list"], None).await;
    let id = list
        .stdout
        .lines()
        .find(|l| l.contains("active"))
        .and_then(|l| l.split_whitespace().next())
        .expect("active token id")
        .to_owned();
    assert!(app
        .cli(&["registration", "token", "revoke", &id], None)
        .await
        .ok());
    let (status, _, _) = post_register(&app, Some(&revoked), &web_app()).await;
    assert_eq!(status, 401);
    let (status, _, _) = post_register(&app, Some("ostiat_made-up"), &web_app()).await;
    assert_eq!(status, 401);
    assert_eq!(app.count("clients"), 0);
}

#[tokio::test]
async fn invalid_metadata_is_refused_with_the_rfc_7591_code_and_keeps_the_token() {
    let app = spawn_app().await;
    let token = initial_token(&app, &["--uses", "1"]).await;
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "plain http redirect",
            json!({"redirect_uris": ["http://app.example/cb"]}),
            "invalid_redirect_uri",
        ),
        (
            "fragment",
            json!({"redirect_uris": ["https://app.example/cb#x"]}),
            "invalid_redirect_uri",
        ),
        (
            "private scheme for a web app",
            json!({"redirect_uris": ["com.example.app:/cb"], "token_endpoint_auth_method": "none"}),
            "invalid_redirect_uri",
        ),
        (
            "no redirect uri for the code grant",
            json!({"client_name": "x"}),
            "invalid_redirect_uri",
        ),
        (
            "redirect_uris not an array",
            json!({"redirect_uris": "https://a.example/cb"}),
            "invalid_client_metadata",
        ),
        (
            "client_credentials not allowed by policy",
            json!({"grant_types": ["client_credentials"]}),
            "invalid_client_metadata",
        ),
        (
            "unsupported auth method",
            json!({"redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "private_key_jwt"}),
            "invalid_client_metadata",
        ),
        (
            "implicit response type",
            json!({"redirect_uris": ["https://a.example/cb"], "response_types": ["token"]}),
            "invalid_client_metadata",
        ),
        (
            "scope beyond policy",
            json!({"redirect_uris": ["https://a.example/cb"], "scope": "openid admin"}),
            "invalid_client_metadata",
        ),
        (
            "unknown id_token alg",
            json!({"redirect_uris": ["https://a.example/cb"], "id_token_signed_response_alg": "none"}),
            "invalid_client_metadata",
        ),
        (
            "jwks and jwks_uri",
            json!({"redirect_uris": ["https://a.example/cb"], "jwks": {"keys": [{"kty": "EC"}]}, "jwks_uri": "https://a.example/jwks"}),
            "invalid_client_metadata",
        ),
        (
            "unknown application type",
            json!({"redirect_uris": ["https://a.example/cb"], "application_type": "desktop"}),
            "invalid_client_metadata",
        ),
        (
            "not an object",
            json!(["https://a.example/cb"]),
            "invalid_client_metadata",
        ),
    ];
    for (name, body, code) in cases {
        let (status, resp, _) = post_register(&app, Some(&token), &body).await;
        assert_eq!(
            (status, resp["error"].as_str()),
            (400, Some(code)),
            "{name}: {resp}"
        );
        assert!(
            resp["error_description"]
                .as_str()
                .is_some_and(|d| !d.is_empty()),
            "{name}"
        );
    }
    let res = reqwest::Client::new()
        .post(app.url("/register"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), 400);
    assert_eq!(app.count("clients"), 0);
    // None of the refusals used the token up.
    let native = json!({"application_type": "native", "token_endpoint_auth_method": "none", "redirect_uris": ["com.example.app:/cb", "http://127.0.0.1/cb"]});
    let (status, body, _) = post_register(&app, Some(&token), &native).await;
    assert_eq!(status, 201, "{body}");
    assert!(
        body.get("client_secret").is_none(),
        "a public client has no secret"
    );
    assert_eq!(body["application_type"], "native");
}

async fn registered(app: &TestApp) -> Value {
    let token = initial_token(app, &["--uses", "1"]).await;
    let (status, body, _) = post_register(app, Some(&token), &web_app()).await;
    assert_eq!(status, 201, "{body}");
    body
}

fn management(app: &TestApp, reg: &Value) -> (String, String) {
    let _ = app;
    (
        reg["registration_client_uri"]
            .as_str()
            .expect("uri")
            .to_owned(),
        reg["registration_access_token"]
            .as_str()
            .expect("rat")
            .to_owned(),
    )
}

#[tokio::test]
async fn the_registration_access_token_reads_replaces_and_deletes() {
    let app = spawn_app().await;
    app.user("ana", "ana's password").await;
    let reg = registered(&app).await;
    let (uri, rat) = management(&app, &reg);
    let http = reqwest::Client::new();
    // Read.
    let res = http.get(&uri).bearer_auth(&rat).send().await.expect("get");
    assert_eq!(res.status(), 200);
    let read: Value = res.json().await.expect("json");
    assert_eq!(read["client_id"], reg["client_id"]);
    assert!(read.get("client_secret").is_none());
    // RFC 7592 §3: the read carries a new registration access token; the client uses it.
    let rat = read["registration_access_token"]
        .as_str()
        .expect("a new rat")
        .to_owned();
    // Wrong, missing, or another client's token: one 401.
    for token in [Some("ostreg_wrong"), None] {
        let mut req = http.get(&uri);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let res = req.send().await.expect("get");
        assert_eq!(res.status(), 401);
        assert!(challenge(res.headers()).contains("error=\"invalid_token\""));
    }
    let admin_client = app.client(&[]).await;
    let res = http
        .get(app.url(&format!("/register/{}", admin_client.id)))
        .bearer_auth(&rat)
        .send()
        .await
        .expect("get");
    assert_eq!(
        res.status(),
        401,
        "admin-registered clients are not managed over RFC 7592"
    );

    // A login with the registered client, so there is something to revoke.
    let client = TestClient {
        id: reg["client_id"].as_str().expect("id").to_owned(),
        secret: reg["client_secret"].as_str().map(str::to_owned),
        redirect_uri: CB.to_owned(),
    };
    let (verifier, challenge_s) = pkce_pair();
    let url = app
        .code_flow(
            &client,
            &[
                ("response_type", "code"),
                ("client_id", client.id.as_str()),
                ("redirect_uri", CB),
                ("scope", "openid"),
                ("code_challenge", challenge_s.as_str()),
                ("code_challenge_method", "S256"),
            ],
            ("ana", "ana's password"),
        )
        .await;
    let code = query_param(&url, "code").expect("code");
    let tokens: Value = app
        .token(
            &client,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CB),
                ("code_verifier", &verifier),
            ],
        )
        .await
        .json()
        .await
        .expect("json");
    let refresh = tokens["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    let access = tokens["access_token"].as_str().expect("access").to_owned();

    // Replace: new redirect URI and name; the secret stays, the registration token rotates.
    let mut update = web_app();
    update["client_id"] = reg["client_id"].clone();
    update["client_name"] = json!("Renamed App");
    update["redirect_uris"] = json!([CB, "https://self-made.example/cb"]);
    let res = http
        .put(&uri)
        .bearer_auth(&rat)
        .json(&update)
        .send()
        .await
        .expect("put");
    assert_eq!(res.status(), 200);
    let replaced: Value = res.json().await.expect("json");
    assert_eq!(replaced["client_name"], "Renamed App");
    assert!(
        replaced.get("client_secret").is_none(),
        "the secret is kept, not re-issued"
    );
    let new_rat = replaced["registration_access_token"]
        .as_str()
        .expect("new rat")
        .to_owned();
    assert_ne!(new_rat, rat);
    assert_eq!(
        http.get(&uri)
            .bearer_auth(&rat)
            .send()
            .await
            .expect("get")
            .status(),
        401
    );
    let res = http
        .get(&uri)
        .bearer_auth(&new_rat)
        .send()
        .await
        .expect("get");
    assert_eq!(res.status(), 200);
    let new_rat = res.json::<Value>().await.expect("json")["registration_access_token"]
        .as_str()
        .expect("rat")
        .to_owned();
    let res = app
        .token(
            &client,
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await;
    assert_eq!(res.status(), 200, "the kept secret still authenticates");
    let rotated: Value = res.json().await.expect("json");
    let refresh = rotated["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    let mut wrong = update.clone();
    wrong["client_id"] = json!("someone-else");
    let res = http
        .put(&uri)
        .bearer_auth(&new_rat)
        .json(&wrong)
        .send()
        .await
        .expect("put");
    assert_eq!(res.status(), 400);

    // Delete: 204, and codes, tokens and consents are gone with it.
    let res = http
        .delete(&uri)
        .bearer_auth(&new_rat)
        .send()
        .await
        .expect("delete");
    assert_eq!(res.status(), 204);
    assert_eq!(
        app.count(&format!("clients WHERE client_id = '{}'", client.id)),
        0
    );
    assert_eq!(
        app.count(&format!("consents WHERE client_id = '{}'", client.id)),
        0
    );
    assert_eq!(
        app.count(&format!(
            "refresh_families WHERE client_id = '{}'",
            client.id
        )),
        0
    );
    let res = app
        .token(
            &client,
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await;
    assert_eq!(res.status(), 401);
    let res = http
        .get(app.url("/userinfo"))
        .bearer_auth(&access)
        .send()
        .await
        .expect("userinfo");
    assert_eq!(res.status(), 401, "its access tokens die with it");
    assert_eq!(
        http.get(&uri)
            .bearer_auth(&new_rat)
            .send()
            .await
            .expect("get")
            .status(),
        401
    );
}

#[tokio::test]
async fn closed_and_open_policies_and_the_open_rate_limit() {
    let app = spawn_app_on(test_db(), |a| {
        a.registration = Some("open".into());
        a.registrations_per_address = Some(30);
    })
    .await;
    // Open: no token; burst of 3 per address (30 an hour), then 429.
    for i in 0..3 {
        let (status, body, _) = post_register(&app, None, &web_app()).await;
        assert_eq!(status, 201, "registration {i}: {body}");
    }
    let (status, body, h) = post_register(&app, None, &web_app()).await;
    assert_eq!(status, 429, "{body}");
    assert!(h.get("retry-after").is_some());
    assert_eq!(app.count("clients"), 3);
    // An administrator closes registration (stored in the database: every replica sees it).
    let out = app.cli(&["registration", "policy", "closed"], None).await;
    assert!(out.ok(), "{}", out.stderr);
    let token = initial_token(&app, &[]).await;
    let (status, body, _) = post_register(&app, Some(&token), &web_app()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("access_denied"))
    );
    assert_eq!(app.count("clients"), 3);
    let out = app.cli(&["registration", "policy"], None).await;
    assert_eq!(out.stdout.trim(), "closed");
}

#[tokio::test]
async fn the_policy_restricts_redirect_hosts_grants_and_scopes() {
    let app = spawn_app_on(test_db(), |a| {
        a.registration = Some("open".into());
        a.registration_redirect_hosts = Some("apps.example".into());
        a.registration_grant_types = Some("authorization_code".into());
        a.registration_scopes = Some("openid".into());
    })
    .await;
    let (status, body, _) = post_register(
        &app,
        None,
        &json!({"redirect_uris": ["https://elsewhere.example/cb"]}),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_redirect_uri"))
    );
    let (status, body, _) = post_register(&app, None, &json!({"redirect_uris": ["https://apps.example/cb"], "grant_types": ["authorization_code", "refresh_token"]})).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_client_metadata"))
    );
    let (status, body, _) = post_register(
        &app,
        None,
        &json!({"redirect_uris": ["https://apps.example/cb"]}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        body["scope"], "openid",
        "no scope asked: the allowed defaults"
    );
}

#[tokio::test]
async fn consent_marks_a_self_registered_client_unverified_until_an_admin_verifies_it() {
    let app = spawn_app().await;
    crate::helpers::add_user(&app.db, "root", "root's password", true).await;
    let reg = registered(&app).await;
    let id = reg["client_id"].as_str().expect("id").to_owned();
    let (_, challenge_s) = pkce_pair();
    let b = browser();
    assert_eq!(
        app.login_with(&b, "root", "root's password").await.status(),
        303
    );
    let consent = |b: reqwest::Client| {
        let url = app.url("/authorize");
        let id = id.clone();
        let challenge_s = challenge_s.clone();
        async move {
            b.get(url)
                .query(&[
                    ("response_type", "code"),
                    ("client_id", id.as_str()),
                    ("redirect_uri", CB),
                    ("scope", "openid"),
                    ("code_challenge", challenge_s.as_str()),
                    ("code_challenge_method", "S256"),
                ])
                .send()
                .await
                .expect("authorize")
                .text()
                .await
                .expect("html")
        }
    };
    let html = consent(b.clone()).await;
    // The notice names where codes go (the redirect URI's host), not the client's own claim.
    let notice = {
        let doc = scraper::Html::parse_document(&html);
        let sel = scraper::Selector::parse("#unverified-app").expect("sel");
        doc.select(&sel)
            .next()
            .map(|e| e.text().collect::<String>())
            .expect("unverified notice")
    };
    assert!(
        notice.contains("127.0.0.1") && !notice.contains("self-made.example"),
        "{notice}"
    );
    let list = app.html(&b, "/admin/clients").await;
    assert!(
        list.contains("self-registered") && list.contains("unverified"),
        "{list}"
    );
    let csrf = TestApp::csrf_of(&list);
    let res = b
        .post(app.url(&format!("/admin/clients/{id}/state/verify")))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .expect("verify");
    assert_eq!(res.status(), 303);
    let html = consent(b.clone()).await;
    assert!(!html.contains("Unverified app"), "{html}");
    // Disabled: the client is unknown everywhere.
    let res = b
        .post(app.url(&format!("/admin/clients/{id}/state/disable")))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .expect("disable");
    assert_eq!(res.status(), 303);
    let res = b
        .get(app.url("/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", id.as_str()),
            ("redirect_uri", CB),
            ("scope", "openid"),
            ("code_challenge", challenge_s.as_str()),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await
        .expect("authorize");
    assert_eq!(res.status(), 400);
    assert!(location(&res).is_empty());
    let client = TestClient {
        id: id.clone(),
        secret: reg["client_secret"].as_str().map(str::to_owned),
        redirect_uri: CB.into(),
    };
    let res = app
        .token(
            &client,
            &[
                ("grant_type", "authorization_code"),
                ("code", "x"),
                ("redirect_uri", CB),
                ("code_verifier", "y"),
            ],
        )
        .await;
    assert_eq!(res.status(), 401);
    assert_eq!(
        app.count(
            "audit_events WHERE action IN ('client.register', 'client.verify', 'client.disable')"
        ),
        3
    );
}

#[tokio::test]
async fn the_admin_console_sets_the_policy_and_manages_initial_tokens() {
    let app = spawn_app().await;
    crate::helpers::add_user(&app.db, "root", "root's password", true).await;
    let b = browser();
    assert_eq!(
        app.login_with(&b, "root", "root's password").await.status(),
        303
    );
    let html = app.html(&b, "/admin/registration").await;
    let csrf = TestApp::csrf_of(&html);
    let res = b
        .post(app.url("/admin/registration/tokens"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("uses", "2"),
            ("expires_hours", "1"),
            ("note", "ci"),
        ])
        .send()
        .await
        .expect("create");
    assert_eq!(res.status(), 200);
    let html = res.text().await.expect("html");
    let doc = scraper::Html::parse_document(&html);
    let token = doc
        .select(&scraper::Selector::parse("#new-token").expect("sel"))
        .next()
        .map(|e| e.text().collect::<String>())
        .expect("token shown once");
    let (status, _, _) = post_register(&app, Some(&token), &web_app()).await;
    assert_eq!(status, 201);
    let html = app.html(&b, "/admin/registration").await;
    assert!(!html.contains(&token), "the token is never shown again");
    assert!(html.contains("ci"));
    let res = b
        .post(app.url("/admin/registration/policy"))
        .form(&[("csrf_token", csrf.as_str()), ("policy", "closed")])
        .send()
        .await
        .expect("policy");
    assert_eq!(res.status(), 303);
    let (status, _, _) = post_register(&app, Some(&token), &web_app()).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn a_changed_registration_loses_its_verification_and_a_disabled_one_cannot_be_managed() {
    let app = spawn_app().await;
    let reg = registered(&app).await;
    let (uri, rat) = management(&app, &reg);
    let id = reg["client_id"].as_str().expect("id").to_owned();
    let set = |col: &str| {
        use diesel::prelude::*;
        diesel::sql_query(format!(
            "UPDATE clients SET {col} = TRUE WHERE client_id = '{id}'"
        ))
        .execute(&mut app.db.conn())
        .expect("update");
    };
    set("verified");
    let mut update = web_app();
    update["client_id"] = reg["client_id"].clone();
    update["client_name"] = json!("Totally Official Bank");
    let http = reqwest::Client::new();
    let res = http
        .put(&uri)
        .bearer_auth(&rat)
        .json(&update)
        .send()
        .await
        .expect("put");
    assert_eq!(res.status(), 200);
    let rat = res.json::<Value>().await.expect("json")["registration_access_token"]
        .as_str()
        .expect("rat")
        .to_owned();
    assert_eq!(
        app.count(&format!(
            "clients WHERE client_id = '{id}' AND verified = FALSE"
        )),
        1,
        "a new name needs a new verification"
    );
    // Turning public drops the secret.
    let mut public = update.clone();
    public["token_endpoint_auth_method"] = json!("none");
    let res = http
        .put(&uri)
        .bearer_auth(&rat)
        .json(&public)
        .send()
        .await
        .expect("put");
    assert_eq!(res.status(), 200);
    let rat = res.json::<Value>().await.expect("json")["registration_access_token"]
        .as_str()
        .expect("rat")
        .to_owned();
    assert_eq!(
        app.count(&format!(
            "clients WHERE client_id = '{id}' AND secret_hash IS NULL"
        )),
        1
    );
    // An administrator disabled it: its registrant cannot manage (or delete) it any more.
    set("disabled");
    assert_eq!(
        http.get(&uri)
            .bearer_auth(&rat)
            .send()
            .await
            .expect("get")
            .status(),
        401
    );
    assert_eq!(
        http.delete(&uri)
            .bearer_auth(&rat)
            .send()
            .await
            .expect("delete")
            .status(),
        401
    );
    assert_eq!(app.count(&format!("clients WHERE client_id = '{id}'")), 1);
}

/// The authorization request of a registered client for `scope`, to `redirect`.
fn code_request<'a>(
    id: &'a str,
    redirect: &'a str,
    scope: &'a str,
    challenge: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("response_type", "code"),
        ("client_id", id),
        ("redirect_uri", redirect),
        ("scope", scope),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ]
}

/// RFC 7592 §2.2 with `changes` applied to `base`; the new registration access token.
async fn put_registration(uri: &str, rat: &str, base: &Value, changes: Value) -> String {
    let mut body = base.clone();
    for (k, v) in changes.as_object().expect("object") {
        body[k] = v.clone();
    }
    let res = reqwest::Client::new()
        .put(uri)
        .bearer_auth(rat)
        .json(&body)
        .send()
        .await
        .expect("put");
    assert_eq!(res.status(), 200);
    res.json::<Value>().await.expect("json")["registration_access_token"]
        .as_str()
        .expect("rat")
        .to_owned()
}

/// A leaked registration access token must not move a client's redirect to a new host (or widen
/// its scopes) and then collect codes silently from everyone who consented before: such a change
/// ends the remembered consents and an administrator's verification; a change within the same
/// hosts and scopes keeps the consents.
#[tokio::test]
async fn moving_redirects_to_a_new_host_or_widening_scopes_ends_consents_and_verification() {
    let app = spawn_app().await;
    app.user("ana", "ana's password").await;
    let token = initial_token(&app, &["--uses", "1"]).await;
    let base = json!({"client_name": "Notes", "redirect_uris": [CB], "scope": "openid", "token_endpoint_auth_method": "none"});
    let (status, reg, _) = post_register(&app, Some(&token), &base).await;
    assert_eq!(status, 201, "{reg}");
    let (uri, mut rat) = management(&app, &reg);
    let id = reg["client_id"].as_str().expect("id").to_owned();
    let mut base = base;
    base["client_id"] = json!(id);
    let (_, challenge) = pkce_pair();
    let client = |redirect: &str| TestClient {
        id: id.clone(),
        secret: None,
        redirect_uri: redirect.to_owned(),
    };
    app.code_flow(
        &client(CB),
        &code_request(&id, CB, "openid", &challenge),
        ("ana", "ana's password"),
    )
    .await;
    let consents = || app.count(&format!("consents WHERE client_id = '{id}'"));
    assert_eq!(consents(), 1);
    let verify = || {
        use diesel::prelude::*;
        diesel::sql_query(format!(
            "UPDATE clients SET verified = TRUE WHERE client_id = '{id}'"
        ))
        .execute(&mut app.db.conn())
        .expect("verify");
    };
    let verified = || {
        app.count(&format!(
            "clients WHERE client_id = '{id}' AND verified = TRUE"
        ))
    };

    // Another path on the same host: the consent stands (codes go where the user agreed they
    // could).
    let same_host = "http://127.0.0.1:9/other-callback";
    rat = put_registration(&uri, &rat, &base, json!({"redirect_uris": [CB, same_host]})).await;
    assert_eq!(consents(), 1, "same host, same scopes: consents stay");
    let url = app
        .code_flow(
            &client(same_host),
            &code_request(&id, same_host, "openid", &challenge),
            ("ana", "ana's password"),
        )
        .await;
    assert!(query_param(&url, "code").is_some());

    // A new host: consents end (and verification), so the user is asked again, seeing the host.
    verify();
    let elsewhere = "http://127.0.0.2:9/collect";
    rat = put_registration(&uri, &rat, &base, json!({"redirect_uris": [elsewhere]})).await;
    assert_eq!(consents(), 0, "a new redirect host ends every consent");
    assert_eq!(verified(), 0, "and an administrator's verification");
    let res = app
        .authorize(&code_request(&id, elsewhere, "openid", &challenge))
        .await;
    assert_eq!(res.status(), 200, "the consent page again, not a code");
    let html = res.text().await.expect("html");
    assert!(html.contains("127.0.0.2"), "the notice names the new host");

    // Consent again on the new host, then widen the scopes: consents end again.
    app.code_flow(
        &client(elsewhere),
        &code_request(&id, elsewhere, "openid", &challenge),
        ("ana", "ana's password"),
    )
    .await;
    assert_eq!(consents(), 1);
    put_registration(
        &uri,
        &rat,
        &base,
        json!({"redirect_uris": [elsewhere], "scope": "openid email"}),
    )
    .await;
    assert_eq!(consents(), 0, "a wider scope ends every consent");
}
