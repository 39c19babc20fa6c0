//! Names that pass for other names (issue 21, items 4 and 5): usernames that look like another
//! account's across a whole script (UTS #39 skeletons), self-registered client names that look
//! like another client's, and names carrying bidi, zero-width or other invisible characters —
//! refused by every way in: sign-up, the CLI, the console, `/register`, RFC 7592, passkeys.
//! The `/register` refusals are also rows of `adversarial.rs` (table 7).

use serde_json::{json, Value};

use crate::helpers::{add_user, browser, spawn_app, spawn_app_on, test_db, TestApp};

const CB: &str = "http://127.0.0.1:9/dcr-callback";
/// `реасе`, all Cyrillic: one script, so `Username::parse` alone lets it through.
const CYRILLIC_PEACE: &str = "\u{440}\u{435}\u{430}\u{441}\u{435}";
/// `ѕсоре`, all Cyrillic.
const CYRILLIC_SCOPE: &str = "\u{455}\u{441}\u{43e}\u{440}\u{435}";
const SIMILAR: &str = "too similar to an existing username";

async fn console_login(app: &TestApp) -> String {
    add_user(&app.db, "root", "root password", true).await;
    let res = app.login("/login", "root", "root password").await;
    assert_eq!(res.status(), 303);
    let html = app.get("/account").await.text().await.expect("account");
    TestApp::csrf_of(&html)
}

async fn console_user(
    app: &TestApp,
    csrf: &str,
    (username, email): (&str, &str),
    name: &str,
) -> (u16, String) {
    let res = app
        .client
        .post(app.url("/admin/users/new"))
        .form(&[
            ("csrf_token", csrf),
            ("username", username),
            ("email", email),
            ("name", name),
            ("new_password", "a long password"),
        ])
        .send()
        .await
        .expect("post");
    let status = res.status().as_u16();
    (status, res.text().await.unwrap_or_default())
}

async fn signup(app: &TestApp, username: &str, email: &str) -> (u16, String) {
    let b = browser();
    let html = app.html(&b, "/signup").await;
    let res = b
        .post(app.url("/signup"))
        .form(&[
            ("csrf_token", TestApp::csrf_of(&html).as_str()),
            ("return_to", "/"),
            ("username", username),
            ("email", email),
            ("password", "a long password"),
            ("confirm_password", "a long password"),
        ])
        .send()
        .await
        .expect("signup");
    let status = res.status().as_u16();
    (status, res.text().await.unwrap_or_default())
}

#[tokio::test]
async fn whole_script_look_alike_usernames_are_refused_by_every_way_in() {
    let app = spawn_app_on(test_db(), |a| a.signup = Some("open".into())).await;
    app.user("peace", "peace's password").await;
    app.user("scope", "scope's password").await;
    let users = app.count("users");

    // The command line.
    let out = app
        .cli(
            &[
                "user",
                "add",
                CYRILLIC_PEACE,
                "--email",
                "p@example.test",
                "--password-stdin",
            ],
            Some("a long password\n"),
        )
        .await;
    assert!(!out.ok(), "CLI accepted a look-alike");
    assert!(out.stderr.contains(SIMILAR), "{}", out.stderr);

    // Sign-up.
    let (status, html) = signup(&app, CYRILLIC_SCOPE, "s@example.test").await;
    assert_eq!(status, 400, "{html}");
    assert!(html.contains(SIMILAR), "{html}");

    // The console (upper case: prepared to the same Cyrillic name).
    let csrf = console_login(&app).await;
    let (status, html) = console_user(
        &app,
        &csrf,
        ("\u{420}\u{415}\u{410}\u{421}\u{415}", "c1@example.test"),
        "",
    )
    .await;
    assert_eq!(status, 400, "{html}");
    assert!(html.contains(SIMILAR), "{html}");

    assert_eq!(app.count("users"), users + 1, "only root was added");
    // A name that looks like no one's is fine, in Cyrillic too.
    let (status, html) = console_user(
        &app,
        &csrf,
        ("\u{434}\u{430}\u{440}\u{44c}\u{44f}", "c2@example.test"),
        "",
    )
    .await;
    assert_eq!(status, 303, "{html}");
    assert_eq!(
        app.count("users WHERE username_skeleton IS NULL"),
        0,
        "every new account stores its skeleton"
    );
}

#[tokio::test]
async fn display_names_and_client_names_with_invisible_characters_are_refused_by_console_and_cli() {
    let app = spawn_app().await;
    let csrf = console_login(&app).await;
    // A user's display name (shown in the console and to relying parties as `name`).
    let (status, html) = console_user(
        &app,
        &csrf,
        ("mallory", "m@example.test"),
        "Admin\u{202e}nimdA",
    )
    .await;
    assert_eq!(status, 400, "{html}");
    assert!(html.contains("display name must not contain"), "{html}");
    let out = app
        .cli(
            &[
                "user",
                "add",
                "mallory",
                "--email",
                "m@example.test",
                "--name",
                "Mal\u{200b}lory",
                "--password-stdin",
            ],
            Some("a long password\n"),
        )
        .await;
    assert!(
        !out.ok() && out.stderr.contains("display name"),
        "{}",
        out.stderr
    );
    assert_eq!(app.count("users WHERE username = 'mallory'"), 0);

    // A client's name, by the console and by the CLI (administrators too).
    let res = app
        .client
        .post(app.url("/admin/clients/new"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("name", "Evil\u{202e}elgooG"),
            ("client_type", "confidential"),
            ("redirect_uris", "https://app.example/cb"),
            ("grant_types", "authorization_code"),
            ("scopes", "openid"),
            ("auth_method", "client_secret_basic"),
            ("id_token_alg", "RS256"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), 400);
    assert!(res
        .text()
        .await
        .expect("html")
        .contains("must not contain control, formatting"));
    for name in ["Evil\u{202e}elgooG", "Pay\u{ad}Pal", "Two\u{2028}Lines"] {
        let out = app
            .cli(
                &["client", "add", "--name", name, "--redirect-uri", CB],
                None,
            )
            .await;
        assert!(!out.ok(), "{name:?} accepted");
        assert!(out.stderr.contains("formatting"), "{}", out.stderr);
    }
    assert_eq!(app.count("clients"), 0);
}

#[tokio::test]
async fn a_passkey_cannot_be_renamed_to_an_invisible_label() {
    let app = spawn_app().await;
    app.user("alice", "alice's password").await;
    let res = app.login("/login", "alice", "alice's password").await;
    assert_eq!(res.status(), 303);
    let html = app
        .get("/account/security")
        .await
        .text()
        .await
        .expect("page");
    let csrf = TestApp::csrf_of(&html);
    for label in ["My\u{202e}yeKssaP", "\u{200b}", "Pass\u{2029}key"] {
        let res = app
            .client
            .post(app.url("/account/security/passkeys/rename"))
            .form(&[
                ("csrf_token", csrf.as_str()),
                ("credential", "none"),
                ("name", label),
            ])
            .send()
            .await
            .expect("post");
        assert_eq!(res.status(), 400, "{label:?}");
    }
}

async fn initial_token(app: &TestApp) -> String {
    let out = app
        .cli(&["registration", "token", "create", "--json"], None)
        .await;
    assert!(out.ok(), "{}", out.stderr);
    let v: Value = serde_json::from_str(out.stdout.trim()).expect("json");
    v["token"].as_str().expect("token").to_owned()
}

async fn register(app: &TestApp, token: &str, name: &str) -> (u16, Value) {
    let res = reqwest::Client::new()
        .post(app.url("/register"))
        .bearer_auth(token)
        .json(&json!({"client_name": name, "redirect_uris": [CB]}))
        .send()
        .await
        .expect("register");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

fn too_similar(status: u16, body: &Value) -> bool {
    status == 400
        && body["error"] == "invalid_client_metadata"
        && body["error_description"]
            .as_str()
            .is_some_and(|d| d.contains("client_name: too similar"))
}

/// Self-registered clients may not pass for an administrator's client, nor for another client
/// by a look-alike name, at registration or by an RFC 7592 update; the same name as another
/// unverified client (another installation of one app) is allowed, and administrators may name
/// their clients as they like.
#[tokio::test]
async fn self_registered_clients_cannot_take_a_look_alike_name() {
    let app = spawn_app().await;
    let out = app
        .cli(
            &["client", "add", "--name", "Google", "--redirect-uri", CB],
            None,
        )
        .await;
    assert!(out.ok(), "{}", out.stderr);
    let token = initial_token(&app).await;
    for name in [
        "Google",
        "google",
        "G\u{43e}\u{43e}gle",
        "Goog1e",
        " GOOGLE ",
    ] {
        let (status, body) = register(&app, &token, name).await;
        assert!(too_similar(status, &body), "{name:?}: {status} {body}");
    }
    assert_eq!(app.count("clients"), 1);

    // Two installations of one app register alike; a look-alike of either is refused.
    let (status, first) = register(&app, &token, "Notes App").await;
    assert_eq!(status, 201, "{first}");
    let (status, body) = register(&app, &token, "Notes App").await;
    assert_eq!(status, 201, "the same name as an unverified client: {body}");
    let (status, body) = register(&app, &token, "N\u{43e}tes App").await;
    assert!(too_similar(status, &body), "{status} {body}");

    // RFC 7592: a registered client cannot rename itself into a look-alike either.
    let uri = first["registration_client_uri"].as_str().expect("uri");
    let rat = first["registration_access_token"].as_str().expect("rat");
    let res = reqwest::Client::new()
        .put(uri)
        .bearer_auth(rat)
        .json(&json!({"client_id": first["client_id"], "client_name": "Goog1e", "redirect_uris": [CB]}))
        .send()
        .await
        .expect("put");
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    assert!(too_similar(status, &body), "{status} {body}");
    assert_eq!(
        app.count(&format!(
            "clients WHERE client_id = '{}' AND name = 'Notes App'",
            first["client_id"].as_str().expect("id")
        )),
        1,
        "the refused update changed nothing"
    );

    // An administrator may name a client alike (theirs to vouch for).
    let out = app
        .cli(
            &[
                "client",
                "add",
                "--name",
                "G\u{43e}\u{43e}gle",
                "--redirect-uri",
                CB,
            ],
            None,
        )
        .await;
    assert!(out.ok(), "{}", out.stderr);
}
