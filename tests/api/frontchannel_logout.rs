//! OpenID Connect Front-Channel Logout 1.0: the logged-out page of an RP-initiated logout frames
//! each client the session signed into that registered a `frontchannel_logout_uri` (with `iss`
//! and the id_tokens' `sid` when it asked for the session), its CSP lets exactly those origins
//! be framed, and a redirect waits for the frames. Registration of the fields, every way.

use serde_json::{json, Value};

use crate::helpers::{pkce_pair, query_param, spawn_app, TestApp, TestClient};

const USER: (&str, &str) = ("olga", "olga's password");

fn jwt_claims(jwt: &str) -> Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).expect("payload");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("b64");
    serde_json::from_slice(&raw).expect("claims")
}

/// Signs olga into `client` in the app's browser; returns the token response.
async fn sign_in(app: &TestApp, client: &TestClient) -> Value {
    let (verifier, challenge) = pkce_pair();
    let url = app
        .code_flow(
            client,
            &[
                ("response_type", "code"),
                ("client_id", client.id.as_str()),
                ("redirect_uri", client.redirect_uri.as_str()),
                ("scope", "openid"),
                ("state", "s"),
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "S256"),
            ],
            USER,
        )
        .await;
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

struct LoggedOut {
    frames: Vec<String>,
    continue_link: Option<String>,
    script_nonce: Option<String>,
    csp: String,
}

async fn logged_out(res: reqwest::Response) -> LoggedOut {
    assert_eq!(res.status(), 200, "the logged-out page");
    let csp = res
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let html = res.text().await.expect("html");
    assert!(html.contains("You are signed out"), "{html}");
    let doc = scraper::Html::parse_document(&html);
    let sel = |s: &str| scraper::Selector::parse(s).expect("selector");
    LoggedOut {
        frames: doc
            .select(&sel("iframe"))
            .map(|f| {
                assert!(f.value().attr("hidden").is_some(), "frames are hidden");
                f.value().attr("src").unwrap_or_default().to_owned()
            })
            .collect(),
        continue_link: doc
            .select(&sel("a#continue"))
            .next()
            .and_then(|a| a.value().attr("href"))
            .map(str::to_owned),
        script_nonce: doc
            .select(&sel("script"))
            .next()
            .and_then(|s| s.value().attr("nonce"))
            .map(str::to_owned),
        csp,
    }
}

/// Three clients olga signed into: one with a front-channel URI that wants the session, one
/// without the session, one without a URI. Logging out (verified by an id_token_hint) renders
/// a frame for each of the first two only, `iss` and the id_token's `sid` on the first; CSP
/// `frame-src` names exactly their origins; the redirect waits for them (a script by nonce, a
/// visible continue link to the registered post-logout URI with `state`).
#[tokio::test]
async fn the_logged_out_page_frames_each_front_channel_client_of_the_session() {
    let app = spawn_app().await;
    app.user(USER.0, USER.1).await;
    let with_session = app
        .client(&[
            "--frontchannel-logout-uri",
            "https://rp-a.example/fc?tenant=1",
            "--frontchannel-logout-session-required",
            "--post-logout-redirect-uri",
            "https://rp-a.example/bye",
        ])
        .await;
    let without_session = app
        .client(&["--frontchannel-logout-uri", "http://127.0.0.1:9/fc"])
        .await;
    let without_uri = app.client(&[]).await;
    let tokens = sign_in(&app, &with_session).await;
    sign_in(&app, &without_session).await;
    sign_in(&app, &without_uri).await;
    let id_token = tokens["id_token"].as_str().expect("id_token");
    let sid = jwt_claims(id_token)["sid"]
        .as_str()
        .expect("sid")
        .to_owned();

    let res = app
        .client
        .get(app.url("/logout"))
        .query(&[
            ("id_token_hint", id_token),
            ("post_logout_redirect_uri", "https://rp-a.example/bye"),
            ("state", "bye-state"),
        ])
        .send()
        .await
        .expect("logout");
    let page = logged_out(res).await;
    assert_eq!(page.frames.len(), 2, "{:?}", page.frames);
    let a = page
        .frames
        .iter()
        .find(|f| f.starts_with("https://rp-a.example/fc?"))
        .expect("client A's frame");
    let a = url::Url::parse(a).expect("url");
    assert_eq!(query_param(&a, "tenant").as_deref(), Some("1"));
    assert_eq!(
        query_param(&a, "iss").as_deref(),
        Some(app.address.as_str())
    );
    assert_eq!(query_param(&a, "sid").as_deref(), Some(sid.as_str()));
    assert!(
        page.frames.iter().any(|f| f == "http://127.0.0.1:9/fc"),
        "no iss or sid without session_required: {:?}",
        page.frames
    );
    assert!(
        page.csp
            .contains("frame-src http://127.0.0.1:9 https://rp-a.example;"),
        "{}",
        page.csp
    );
    assert!(!page.csp.contains("unsafe-inline"), "{}", page.csp);
    let nonce = page.script_nonce.expect("the continuing script");
    assert!(
        page.csp.contains(&format!("script-src 'nonce-{nonce}'")),
        "{}",
        page.csp
    );
    assert_eq!(
        page.continue_link.as_deref(),
        Some("https://rp-a.example/bye?state=bye-state")
    );

    // Signed out: the next request finds no session.
    let res = app
        .client
        .get(app.url("/account"))
        .send()
        .await
        .expect("account");
    assert_ne!(res.status(), 200);
}

/// Without a post-logout redirect the page frames the clients and stays; without a
/// front-channel client at all, logout is as before (a redirect goes straight there).
#[tokio::test]
async fn frames_without_a_redirect_and_no_frames_without_front_channel_clients() {
    let app = spawn_app().await;
    app.user(USER.0, USER.1).await;
    let front = app
        .client(&["--frontchannel-logout-uri", "https://rp.example/fc"])
        .await;
    let tokens = sign_in(&app, &front).await;
    let hint = tokens["id_token"].as_str().expect("id_token");
    let res = app
        .client
        .get(app.url("/logout"))
        .query(&[("id_token_hint", hint)])
        .send()
        .await
        .expect("logout");
    let page = logged_out(res).await;
    assert_eq!(page.frames, ["https://rp.example/fc"]);
    assert!(page.continue_link.is_none());
    assert!(
        page.csp.contains("frame-src https://rp.example;"),
        "{}",
        page.csp
    );

    let plain = app
        .client(&["--post-logout-redirect-uri", "https://plain.example/bye"])
        .await;
    let tokens = sign_in(&app, &plain).await;
    let hint = tokens["id_token"].as_str().expect("id_token");
    let res = app
        .client
        .get(app.url("/logout"))
        .query(&[
            ("id_token_hint", hint),
            ("post_logout_redirect_uri", "https://plain.example/bye"),
        ])
        .send()
        .await
        .expect("logout");
    assert_eq!(res.status(), 302);
    assert_eq!(crate::helpers::location(&res), "https://plain.example/bye");
}

async fn register(app: &TestApp, metadata: &Value) -> (u16, Value) {
    let out = app
        .cli(
            &["registration", "token", "create", "--uses", "1", "--json"],
            None,
        )
        .await;
    assert!(out.ok(), "{}", out.stderr);
    let v: Value = serde_json::from_str(out.stdout.trim()).expect("json");
    let token = v["token"].as_str().expect("token");
    let res = reqwest::Client::new()
        .post(app.url("/register"))
        .bearer_auth(token)
        .json(metadata)
        .send()
        .await
        .expect("register");
    let status = res.status().as_u16();
    (status, res.json().await.expect("json"))
}

/// RFC 7591 registration takes both fields and RFC 7592 reads them back; a non-https URI is
/// `invalid_client_metadata` (http only on loopback, as for redirect URIs), and so is one
/// with a fragment; the CLI refuses the same way; discovery says it is supported.
#[tokio::test]
async fn front_channel_fields_register_round_trip_and_bad_uris_are_refused() {
    let app = spawn_app().await;
    let base = json!({
        "client_name": "Framed",
        "redirect_uris": ["https://framed.example/cb"],
        "frontchannel_logout_uri": "https://framed.example/fc",
        "frontchannel_logout_session_required": true,
    });
    let (status, reg) = register(&app, &base).await;
    assert_eq!(status, 201, "{reg}");
    assert_eq!(reg["frontchannel_logout_uri"], "https://framed.example/fc");
    assert_eq!(reg["frontchannel_logout_session_required"], true);
    let read: Value = reqwest::Client::new()
        .get(reg["registration_client_uri"].as_str().expect("uri"))
        .bearer_auth(reg["registration_access_token"].as_str().expect("rat"))
        .send()
        .await
        .expect("read")
        .json()
        .await
        .expect("json");
    assert_eq!(read["frontchannel_logout_uri"], "https://framed.example/fc");
    assert_eq!(read["frontchannel_logout_session_required"], true);

    for bad in [
        "http://framed.example/fc",
        "https://framed.example/fc#x",
        "framed",
    ] {
        let mut m = base.clone();
        m["frontchannel_logout_uri"] = json!(bad);
        let (status, body) = register(&app, &m).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["error"], "invalid_client_metadata", "{bad}: {body}");
    }
    let mut loopback = base.clone();
    loopback["frontchannel_logout_uri"] = json!("http://127.0.0.1:8080/fc");
    let (status, body) = register(&app, &loopback).await;
    assert_eq!(status, 201, "{body}");

    let out = app
        .cli(
            &[
                "client",
                "add",
                "--name",
                "Bad",
                "--redirect-uri",
                "https://bad.example/cb",
                "--frontchannel-logout-uri",
                "http://bad.example/fc",
            ],
            None,
        )
        .await;
    assert!(!out.ok());
    assert!(
        out.stderr.contains("frontchannel_logout_uri"),
        "{}",
        out.stderr
    );

    let meta: Value = app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(meta["frontchannel_logout_supported"], true);
    assert_eq!(meta["frontchannel_logout_session_supported"], true);
}

/// Config as code: `export` writes the fields and `apply` of the exported file changes nothing;
/// a file that sets them sets them.
#[tokio::test]
async fn config_as_code_exports_and_applies_the_front_channel_fields() {
    let app = spawn_app().await;
    let client = app
        .client(&[
            "--frontchannel-logout-uri",
            "https://cac.example/fc",
            "--frontchannel-logout-session-required",
        ])
        .await;
    let export = app.cli(&["export"], None).await;
    assert!(export.ok(), "{}", export.stderr);
    assert!(
        export
            .stdout
            .contains("frontchannel_logout_uri = \"https://cac.example/fc\""),
        "{}",
        export.stdout
    );
    assert!(
        export
            .stdout
            .contains("frontchannel_logout_session_required = true"),
        "{}",
        export.stdout
    );
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("ostiary.toml");
    let changed = export
        .stdout
        .replace("https://cac.example/fc", "https://cac.example/fc-changed");
    std::fs::write(&file, changed).expect("write");
    let out = app.cli(&["apply", &file.display().to_string()], None).await;
    assert!(out.ok(), "{}", out.stderr);
    let stored = ostiary::clients::get(None, &mut app.db.conn(), &client.id)
        .expect("query")
        .expect("stored");
    assert_eq!(
        stored.row.frontchannel_logout_uri.as_deref(),
        Some("https://cac.example/fc-changed")
    );
    assert!(stored.row.frontchannel_logout_session_required);
}

/// The console stores the fields from its form, refuses a non-https URI beside its field, and
/// shows what is stored on the edit form.
#[tokio::test]
async fn the_console_sets_the_front_channel_fields() {
    let app = spawn_app().await;
    crate::helpers::add_user(&app.db, "root", "root password", true).await;
    let csrf = crate::admin::login_as(&app, "root", "root password").await;
    let post = |uri: &'static str| {
        app.client
            .post(app.url("/admin/clients/new"))
            .form(&[
                ("csrf_token", csrf.as_str()),
                ("name", "Console App"),
                ("client_type", "confidential"),
                ("redirect_uris", "https://console.example/cb"),
                ("grant_types", "authorization_code"),
                ("scopes", "openid"),
                ("auth_method", "client_secret_basic"),
                ("id_token_alg", "RS256"),
                ("frontchannel_logout_uri", uri),
                ("frontchannel_logout_session_required", "1"),
            ])
            .send()
    };
    let refused = post("http://console.example/fc").await.expect("post");
    let html = refused.text().await.expect("html");
    assert!(
        html.contains(r#"id="frontchannel_logout_uri-error""#),
        "{html}"
    );
    assert_eq!(app.count("clients"), 0);

    let res = post("https://console.example/fc").await.expect("post");
    assert_eq!(res.status(), 200);
    let stored = ostiary::clients::list(&mut app.db.conn())
        .expect("list")
        .pop()
        .expect("one client");
    let client = ostiary::clients::get(None, &mut app.db.conn(), &stored.client_id)
        .expect("query")
        .expect("stored");
    assert_eq!(
        client.row.frontchannel_logout_uri.as_deref(),
        Some("https://console.example/fc")
    );
    assert!(client.row.frontchannel_logout_session_required);
}
