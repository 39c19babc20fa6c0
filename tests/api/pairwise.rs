//! Pairwise subject identifiers (OpenID Connect Core 1.0 §8, §8.1; Dynamic Client Registration
//! `subject_type`, `sector_identifier_uri`): one `sub` per sector, the same in every place a
//! client sees it (id_token, userinfo plain and signed, introspection, logout tokens), recognised
//! when the client hands it back (`id_token_hint`), and set through every registrant path.
//! Sector documents are served by a tiny loopback HTTP server. Test names follow the OpenID
//! conformance suite's Dynamic plan where one matches.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::helpers::{
    add_user, browser, cli_command, location, pkce_pair, query_param, spawn_app_on, test_db,
    CliOutput, TestApp, TestClient, REDIRECT,
};

const USER: (&str, &str) = ("alice", "correct horse battery staple");
const CB_A: &str = "http://127.0.0.1:9/cb-a";
const CB_B: &str = "http://127.0.0.1:9/cb-b";

/// Serves one canned body to GETs and keeps the bodies of POSTs (a sector document and a
/// back-channel logout receiver in one).
struct Server {
    addr: SocketAddr,
    reply: Arc<Mutex<(u16, String)>>,
    posts: Arc<Mutex<Vec<String>>>,
}

impl Server {
    async fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let reply = Arc::new(Mutex::new((404, String::new())));
        let posts = Arc::new(Mutex::new(Vec::new()));
        let (serving, kept) = (reply.clone(), posts.clone());
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let (status, body) = serving.lock().expect("reply").clone();
                let kept = kept.clone();
                tokio::spawn(async move {
                    let mut got = Vec::new();
                    let mut buf = [0u8; 4096];
                    // Headers, then as much body as Content-Length says.
                    loop {
                        let n = sock.read(&mut buf).await.unwrap_or(0);
                        if n == 0 {
                            break;
                        }
                        got.extend_from_slice(&buf[..n]);
                        let text = String::from_utf8_lossy(&got).to_string();
                        if let Some(end) = text.find("\r\n\r\n") {
                            let length = text[..end]
                                .lines()
                                .find_map(|l| {
                                    let (k, v) = l.split_once(':')?;
                                    k.eq_ignore_ascii_case("content-length")
                                        .then(|| v.trim().parse::<usize>().ok())
                                        .flatten()
                                })
                                .unwrap_or(0);
                            if got.len() >= end + 4 + length {
                                if text.starts_with("POST") {
                                    kept.lock().expect("posts").push(text[end + 4..].to_owned());
                                }
                                break;
                            }
                        }
                    }
                    let head = format!(
                        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n\
                         Content-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = sock.write_all(head.as_bytes()).await;
                    let _ = sock.write_all(body.as_bytes()).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        Server { addr, reply, posts }
    }

    fn uri(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn serve(&self, status: u16, body: &str) {
        *self.reply.lock().expect("reply") = (status, body.to_owned());
    }
}

/// Open registration, loopback reachable by outbound fetches, logout tokens sent at once.
async fn app() -> TestApp {
    let app = spawn_app_on(test_db(), |a| {
        a.registration = Some("open".into());
        a.registrations_per_address = Some(50);
        a.outbound_allow = Some("127.0.0.0/8".into());
        a.outbox_interval = Some(1);
    })
    .await;
    app.user(USER.0, USER.1).await;
    app
}

async fn register(app: &TestApp, body: &Value) -> (u16, Value) {
    let res = reqwest::Client::new()
        .post(app.url("/register"))
        .json(body)
        .send()
        .await
        .expect("register");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// A pairwise client registered at /register with `redirect_uri` (and `more` metadata).
async fn registered(app: &TestApp, redirect_uri: &str, more: Value) -> TestClient {
    let mut body = json!({
        "client_name": "Pairwise App",
        "redirect_uris": [redirect_uri],
        "grant_types": ["authorization_code", "refresh_token"],
        "subject_type": "pairwise",
    });
    if let (Some(b), Value::Object(m)) = (body.as_object_mut(), more) {
        b.extend(m);
    }
    let (status, info) = register(app, &body).await;
    assert_eq!(status, 201, "{info}");
    assert_eq!(info["subject_type"], "pairwise", "echoed: {info}");
    TestClient {
        id: info["client_id"].as_str().expect("client_id").to_owned(),
        secret: info["client_secret"].as_str().map(str::to_owned),
        redirect_uri: redirect_uri.to_owned(),
    }
}

fn claims_of(jwt: &str) -> Value {
    serde_json::from_slice(
        &B64.decode(jwt.split('.').nth(1).expect("payload"))
            .expect("b64"),
    )
    .expect("claims")
}

/// Signs `client` in (the browser `b` is signed in already), consenting when asked; the token
/// response. `extra` are further authorization parameters.
async fn sign_in(
    app: &TestApp,
    b: &reqwest::Client,
    client: &TestClient,
    extra: &[(&str, &str)],
) -> Value {
    let (verifier, challenge) = pkce_pair();
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", client.id.as_str()),
        ("redirect_uri", client.redirect_uri.as_str()),
        ("scope", "openid profile"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    params.extend_from_slice(extra);
    let mut res = b
        .get(app.url("/authorize"))
        .query(&params)
        .send()
        .await
        .expect("authorize");
    if res.status() == 200 {
        let html = res.text().await.expect("html");
        let csrf = TestApp::csrf_of(&html);
        let action = crate::helpers::consent_action(&html);
        res = b
            .post(app.url(&action))
            .form(&[("csrf_token", csrf.as_str()), ("decision", "allow")])
            .send()
            .await
            .expect("consent");
    }
    assert_eq!(res.status(), 302);
    let url = url::Url::parse(&location(&res)).expect("redirect");
    let code = query_param(&url, "code").unwrap_or_else(|| panic!("a code: {url}"));
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

async fn signed_in_browser(app: &TestApp) -> reqwest::Client {
    browser_of(app, USER).await
}

async fn browser_of(app: &TestApp, (user, password): (&str, &str)) -> reqwest::Client {
    let b = browser();
    assert_eq!(app.login_with(&b, user, password).await.status(), 303);
    b
}

fn sub_of(tokens: &Value) -> String {
    claims_of(tokens["id_token"].as_str().expect("id_token"))["sub"]
        .as_str()
        .expect("sub")
        .to_owned()
}

fn user_id(app: &TestApp) -> String {
    ostiary::db::models::users::by_username(&mut app.db.conn(), USER.0)
        .expect("q")
        .expect("alice")
        .id
}

async fn userinfo(app: &TestApp, access_token: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(app.url("/userinfo"))
        .bearer_auth(access_token)
        .send()
        .await
        .expect("userinfo")
}

async fn cli_with_outbound(app: &TestApp, args: &[&str]) -> CliOutput {
    let mut cmd = cli_command(&app.db);
    cmd.args(args).env("OSTIARY_OUTBOUND_ALLOW", "127.0.0.0/8");
    cmd.output().await.expect("ostiary").into()
}

#[tokio::test]
async fn oidcc_registration_sector_uri() {
    let app = app().await;
    let sector = Server::start().await;
    sector.serve(200, &json!([CB_A, CB_B]).to_string());
    let sector_uri = sector.uri("/sector.json");
    let a = registered(&app, CB_A, json!({ "sector_identifier_uri": sector_uri })).await;
    let b = registered(&app, CB_B, json!({ "sector_identifier_uri": sector_uri })).await;
    // Another sector: the host of its redirect URIs.
    let other = registered(&app, "http://localhost:9/cb", json!({})).await;
    let public = app.client(&[]).await;

    let browser = signed_in_browser(&app).await;
    let first = sub_of(&sign_in(&app, &browser, &a, &[]).await);
    let again = sub_of(&sign_in(&app, &browser, &a, &[]).await);
    let same_sector = sub_of(&sign_in(&app, &browser, &b, &[]).await);
    let other_sector = sub_of(&sign_in(&app, &browser, &other, &[]).await);
    let public_sub = sub_of(&sign_in(&app, &browser, &public, &[]).await);

    assert_eq!(first, again, "stable across logins");
    assert_eq!(first, same_sector, "one sub for the clients of one sector");
    assert_ne!(first, other_sector, "another sector, another sub");
    assert_eq!(
        public_sub,
        user_id(&app),
        "a public client sees the user's id"
    );
    assert_ne!(first, public_sub);
    assert_ne!(other_sector, public_sub);
    assert_eq!(first.len(), 43, "base64url of SHA-256: {first}");

    // The registration is read back as registered (RFC 7592).
    let stored = ostiary::clients::get(None, &mut app.db.conn(), &a.id)
        .expect("q")
        .expect("a");
    assert_eq!(
        stored.metadata().get("sector_identifier_uri"),
        Some(&json!(sector_uri))
    );
    let discovery: Value = app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        discovery["subject_types_supported"],
        json!(["public", "pairwise"])
    );
}

#[tokio::test]
async fn oidcc_registration_sector_bad() {
    let app = app().await;
    let sector = Server::start().await;
    sector.serve(200, &json!([CB_A]).to_string());
    let body = |uris: &[&str], sector_uri: &str| {
        json!({
            "client_name": "Bad Sector",
            "redirect_uris": uris,
            "subject_type": "pairwise",
            "sector_identifier_uri": sector_uri,
        })
    };
    // A redirect URI the document does not list.
    let (status, err) = register(&app, &body(&[CB_A, CB_B], &sector.uri("/s.json"))).await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["error"], "invalid_client_metadata");
    assert!(
        err["error_description"]
            .as_str()
            .is_some_and(|d| d.contains(CB_B)),
        "{err}"
    );
    // A document that is not there, or not a list of URIs.
    sector.serve(404, "");
    let (status, err) = register(&app, &body(&[CB_A], &sector.uri("/s.json"))).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_client_metadata"))
    );
    sector.serve(200, r#"{"redirect_uris": []}"#);
    let (status, err) = register(&app, &body(&[CB_A], &sector.uri("/s.json"))).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_client_metadata"))
    );
    // The CLI reads it too, and refuses alike.
    sector.serve(200, &json!([CB_A]).to_string());
    let out = cli_with_outbound(
        &app,
        &[
            "client",
            "add",
            "--name",
            "Bad",
            "--redirect-uri",
            CB_B,
            "--subject-type",
            "pairwise",
            "--sector-identifier-uri",
            &sector.uri("/s.json"),
        ],
    )
    .await;
    assert!(!out.ok(), "{}", out.stdout);
    assert!(
        out.stderr.contains("sector_identifier_uri"),
        "{}",
        out.stderr
    );
    assert_eq!(app.count("clients"), 0, "nothing stored");
}

#[tokio::test]
async fn a_pairwise_client_with_redirect_uris_on_two_hosts_and_no_sector_uri_is_refused() {
    let app = app().await;
    let (status, err) = register(
        &app,
        &json!({
            "client_name": "Two Hosts",
            "redirect_uris": [CB_A, "http://localhost:9/cb"],
            "subject_type": "pairwise",
        }),
    )
    .await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["error"], "invalid_client_metadata");
    assert!(
        err["error_description"]
            .as_str()
            .is_some_and(|d| d.contains(
                "pairwise clients with redirect URIs on several hosts need a sector_identifier_uri"
            )),
        "{err}"
    );
    // Nor may a client without redirect URIs (no sector), nor an unknown type.
    let out = app
        .cli(
            &[
                "client",
                "add",
                "--name",
                "Machine",
                "--grant-type",
                "client_credentials",
                "--subject-type",
                "pairwise",
            ],
            None,
        )
        .await;
    assert!(
        !out.ok() && out.stderr.contains("subject_type"),
        "{}",
        out.stderr
    );
    let (status, err) = register(
        &app,
        &json!({"redirect_uris": [CB_A], "subject_type": "secret"}),
    )
    .await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_client_metadata"))
    );
    assert_eq!(app.count("clients"), 0, "nothing stored");
}

#[tokio::test]
async fn the_pairwise_sub_is_the_same_in_the_id_token_userinfo_and_introspection() {
    let app = app().await;
    let client = app.client(&["--subject-type", "pairwise"]).await;
    let signed = app
        .client(&["--subject-type", "pairwise", "--userinfo-alg", "ES256"])
        .await;
    let browser = signed_in_browser(&app).await;
    let tokens = sign_in(&app, &browser, &client, &[]).await;
    let sub = sub_of(&tokens);
    assert_ne!(sub, user_id(&app), "not the user's id");
    let access = tokens["access_token"].as_str().expect("access_token");
    assert_eq!(
        claims_of(access)["sub"],
        json!(sub),
        "the JWT access token (RFC 9068) tells the client nothing more"
    );
    let res = userinfo(&app, access).await;
    assert_eq!(res.status(), 200);
    let info: Value = res.json().await.expect("json");
    assert_eq!(info["sub"], json!(sub), "userinfo");
    let about = app.introspect(&client, access).await;
    assert_eq!(about["active"], true);
    assert_eq!(
        about["sub"],
        json!(sub),
        "introspection of its access token"
    );
    let refresh = tokens["refresh_token"].as_str().expect("refresh_token");
    let about = app.introspect(&client, refresh).await;
    assert_eq!(
        about["sub"],
        json!(sub),
        "introspection of its refresh token"
    );
    // A resource server (a public-subject client) sees the user's id.
    let resource_server = app.client(&["--grant-type", "client_credentials"]).await;
    let about = app.introspect(&resource_server, access).await;
    assert_eq!(about["active"], true);
    assert_eq!(about["sub"], json!(user_id(&app)));

    // Signed userinfo carries it too (both clients share the redirect URIs' host).
    let tokens = sign_in(&app, &browser, &signed, &[]).await;
    assert_eq!(sub_of(&tokens), sub, "one sector, one sub");
    let res = userinfo(&app, tokens["access_token"].as_str().expect("at")).await;
    assert_eq!(res.status(), 200);
    let jwt = res.text().await.expect("jwt");
    assert_eq!(claims_of(&jwt)["sub"], json!(sub), "signed userinfo");

    // A refreshed id_token keeps it.
    let res = app
        .token(
            &client,
            &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
        )
        .await;
    assert_eq!(res.status(), 200);
    let refreshed: Value = res.json().await.expect("json");
    if refreshed.get("id_token").is_some() {
        assert_eq!(sub_of(&refreshed), sub);
    }
}

#[tokio::test]
async fn a_logout_token_carries_the_pairwise_sub() {
    let app = app().await;
    let rp = Server::start().await;
    rp.serve(200, "");
    let uri = rp.uri("/backchannel");
    let client = app
        .client(&[
            "--subject-type",
            "pairwise",
            "--backchannel-logout-uri",
            &uri,
        ])
        .await;
    let browser = signed_in_browser(&app).await;
    let sub = sub_of(&sign_in(&app, &browser, &client, &[]).await);
    assert_ne!(sub, user_id(&app));
    let page = app.html(&browser, "/logout").await;
    let csrf = TestApp::csrf_of(&page);
    let res = browser
        .post(app.url("/logout"))
        .form(&[("csrf_token", csrf.as_str()), ("confirm", "yes")])
        .send()
        .await
        .expect("logout");
    assert!(res.status().is_success() || res.status().is_redirection());
    let deadline = Instant::now() + Duration::from_secs(30);
    let body = loop {
        if let Some(b) = rp.posts.lock().expect("posts").first().cloned() {
            break b;
        }
        assert!(Instant::now() < deadline, "no logout token");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let token = url::form_urlencoded::parse(body.as_bytes())
        .find(|(k, _)| k == "logout_token")
        .expect("logout_token")
        .1
        .into_owned();
    assert_eq!(claims_of(&token)["sub"], json!(sub));
}

#[tokio::test]
async fn an_id_token_hint_with_the_pairwise_sub_works_with_prompt_none_and_at_logout() {
    let app = app().await;
    let client = app
        .client(&[
            "--subject-type",
            "pairwise",
            "--post-logout-redirect-uri",
            "http://127.0.0.1:9/bye",
        ])
        .await;
    let browser = signed_in_browser(&app).await;
    let tokens = sign_in(&app, &browser, &client, &[]).await;
    let hint = tokens["id_token"].as_str().expect("id_token").to_owned();
    let sub = sub_of(&tokens);
    assert_ne!(sub, user_id(&app));
    // prompt=none with the hint: signed in silently, as the same pairwise sub.
    let silent = sign_in(
        &app,
        &browser,
        &client,
        &[("prompt", "none"), ("id_token_hint", hint.as_str())],
    )
    .await;
    assert_eq!(sub_of(&silent), sub);
    // A hint naming someone else (bob, signed in elsewhere) is login_required with prompt=none.
    app.user("bob", "bob's long password").await;
    let elsewhere = browser_of(&app, ("bob", "bob's long password")).await;
    let bobs = sign_in(&app, &elsewhere, &client, &[]).await;
    let bobs_hint = bobs["id_token"].as_str().expect("id_token");
    assert_ne!(sub_of(&bobs), sub);
    let res = browser
        .get(app.url("/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", client.id.as_str()),
            ("redirect_uri", client.redirect_uri.as_str()),
            ("scope", "openid"),
            ("prompt", "none"),
            ("id_token_hint", bobs_hint),
            (
                "code_challenge",
                "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            ),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await
        .expect("authorize");
    assert_eq!(res.status(), 302);
    let url = url::Url::parse(&location(&res)).expect("redirect");
    assert_eq!(
        query_param(&url, "error").as_deref(),
        Some("login_required")
    );
    // RP-initiated logout with the hint names the signed-in user: no confirmation page.
    let res = browser
        .get(app.url("/logout"))
        .query(&[
            ("id_token_hint", hint.as_str()),
            ("post_logout_redirect_uri", "http://127.0.0.1:9/bye"),
        ])
        .send()
        .await
        .expect("logout");
    assert!(
        res.status().is_redirection(),
        "recognised hint: {}",
        res.status()
    );
    assert!(location(&res).starts_with("http://127.0.0.1:9/bye"));
}

#[tokio::test]
async fn pairwise_settings_round_trip_through_the_console_cli_and_export_apply() {
    let app = app().await;
    add_user(&app.db, "root", "root password", true).await;
    let sector = Server::start().await;
    sector.serve(200, &json!([REDIRECT, CB_A]).to_string());
    let sector_uri = sector.uri("/sector.json");
    let out = cli_with_outbound(
        &app,
        &[
            "client",
            "add",
            "--name",
            "Pairwise CLI",
            "--redirect-uri",
            REDIRECT,
            "--json",
            "--subject-type",
            "pairwise",
            "--sector-identifier-uri",
            &sector_uri,
        ],
    )
    .await;
    assert!(out.ok(), "{}", out.stderr);
    let id = serde_json::from_str::<Value>(out.stdout.trim()).expect("json")["client_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let meta = |app: &TestApp| {
        ostiary::clients::get(None, &mut app.db.conn(), &id)
            .expect("q")
            .expect("stored")
            .metadata()
    };
    assert_eq!(meta(&app).get("subject_type"), Some(&json!("pairwise")));

    // Export names both; applying the export changes nothing.
    let mut cmd = cli_command(&app.db);
    cmd.arg("export");
    let export: CliOutput = cmd.output().await.expect("export").into();
    assert!(export.ok(), "{}", export.stderr);
    assert!(
        export.stdout.contains("subject_type = \"pairwise\"")
            && export.stdout.contains(&sector_uri),
        "{}",
        export.stdout
    );
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("ostiary.toml");
    std::fs::write(&file, &export.stdout).expect("write");
    let again = cli_with_outbound(&app, &["apply", &file.display().to_string()]).await;
    assert!(again.ok(), "{}", again.stderr);
    assert!(
        again.stdout.contains("nothing to change"),
        "{}",
        again.stdout
    );
    // A changed type is planned and written.
    std::fs::write(
        &file,
        export
            .stdout
            .replace("subject_type = \"pairwise\"\n", "")
            .replace(&format!("sector_identifier_uri = \"{sector_uri}\"\n"), ""),
    )
    .expect("write");
    let out = cli_with_outbound(&app, &["apply", &file.display().to_string()]).await;
    assert!(out.ok(), "{}", out.stderr);
    assert!(out.stdout.contains("subject_type"), "{}", out.stdout);
    assert_eq!(meta(&app).get("subject_type"), None);

    // The console shows and sets them.
    let res = app.login("/login", "root", "root password").await;
    assert_eq!(res.status(), 303);
    let html = app.html(&app.client, &format!("/admin/clients/{id}")).await;
    assert!(html.contains("name=\"subject_type\""), "{html}");
    let csrf = TestApp::csrf_of(&html);
    let form = |sector: &str| {
        vec![
            ("csrf_token", csrf.clone()),
            ("name", "Pairwise CLI".to_owned()),
            ("redirect_uris", REDIRECT.to_owned()),
            ("grant_types", "authorization_code".to_owned()),
            ("scopes", "openid".to_owned()),
            ("auth_method", "client_secret_basic".to_owned()),
            ("id_token_alg", "RS256".to_owned()),
            ("subject_type", "pairwise".to_owned()),
            ("sector_identifier_uri", sector.to_owned()),
        ]
    };
    let res = app
        .client
        .post(app.url(&format!("/admin/clients/{id}")))
        .form(&form(&sector_uri))
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), 303);
    assert_eq!(meta(&app).get("subject_type"), Some(&json!("pairwise")));
    assert_eq!(
        meta(&app).get("sector_identifier_uri"),
        Some(&json!(sector_uri))
    );
    let html = app.html(&app.client, &format!("/admin/clients/{id}")).await;
    assert!(html.contains("value=\"pairwise\" selected"), "{html}");
    // A sector document that does not list the redirect URI is refused beside its field.
    sector.serve(200, &json!([CB_A]).to_string());
    let res = app
        .client
        .post(app.url(&format!("/admin/clients/{id}")))
        .form(&form(&sector_uri))
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), 400);
    let html = res.text().await.expect("html");
    assert!(html.contains("sector_identifier_uri-error"), "{html}");
}

#[tokio::test]
async fn a_pairwise_subject_token_is_resolved_back_at_token_exchange() {
    const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
    const AT: &str = "urn:ietf:params:oauth:token-type:access_token";
    let app = app().await;
    let client = app.client(&["--subject-type", "pairwise"]).await;
    let exchanger = |extra: &'static [&'static str]| {
        let app = &app;
        async move {
            let mut args = vec![
                "--grant-type",
                EXCHANGE,
                "--token-exchange-audience",
                "https://api.example",
            ];
            args.extend_from_slice(extra);
            app.client(&args).await
        }
    };
    let public = exchanger(&[]).await;
    let pairwise = exchanger(&["--subject-type", "pairwise"]).await;
    let browser = signed_in_browser(&app).await;
    let tokens = sign_in(&app, &browser, &client, &[]).await;
    let sub = sub_of(&tokens);
    let access = tokens["access_token"].as_str().expect("access_token");
    let exchanged = |who: TestClient| {
        let app = &app;
        async move {
            let res = app
                .token(
                    &who,
                    &[
                        ("grant_type", EXCHANGE),
                        ("subject_token", access),
                        ("subject_token_type", AT),
                        ("audience", "https://api.example"),
                    ],
                )
                .await;
            assert_eq!(res.status(), 200);
            let body: Value = res.json().await.expect("json");
            claims_of(body["access_token"].as_str().expect("access_token"))["sub"].clone()
        }
    };
    assert_eq!(
        exchanged(public).await,
        json!(user_id(&app)),
        "a public-subject client sees the user's id"
    );
    assert_eq!(
        exchanged(pairwise).await,
        json!(sub),
        "a pairwise client of the same sector sees the same pairwise sub"
    );
}

/// Under the `token` policy a sector document is fetched only for a caller holding a live
/// initial access token: a wrong token is refused before the server reaches out anywhere.
#[tokio::test]
async fn a_sector_document_is_not_fetched_for_a_caller_without_a_live_initial_token() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let hits = Arc::new(Mutex::new(0usize));
    let counted = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            *counted.lock().expect("hits") += 1;
            let _ = sock
                .write_all(b"HTTP/1.1 404 X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .await;
        }
    });
    let app = spawn_app_on(test_db(), |a| {
        a.registration = Some("token".into());
        a.outbound_allow = Some("127.0.0.0/8".into());
    })
    .await;
    let body = json!({
        "redirect_uris": [CB_A],
        "subject_type": "pairwise",
        "sector_identifier_uri": format!("http://{addr}/sector"),
    });
    let send = |token: String| {
        let (url, body) = (app.url("/register"), body.clone());
        async move {
            reqwest::Client::new()
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .expect("register")
                .status()
                .as_u16()
        }
    };
    assert_eq!(send("not-an-initial-access-token".into()).await, 401);
    assert_eq!(*hits.lock().expect("hits"), 0, "fetched for a stranger");

    let out = app
        .cli(&["registration", "token", "create", "--json"], None)
        .await;
    assert!(out.ok(), "{}", out.stderr);
    let token: Value = serde_json::from_str(out.stdout.trim()).expect("json");
    let token = token["token"].as_str().expect("token").to_owned();
    assert_eq!(send(token).await, 400, "the 404 sector document is refused");
    assert_eq!(
        *hits.lock().expect("hits"),
        1,
        "fetched for a holder of a live token"
    );
}
