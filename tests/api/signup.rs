//! Sign-up on the login pipeline: each policy, the account rules, and a sign-up started from an
//! authorization request that continues to the client; interactions carry the request by id.

use serde_json::Value;

use crate::helpers::{
    browser, location, pkce_pair, query_param, run_cli, spawn_app, spawn_app_on, test_db, TestApp,
    REDIRECT,
};

async fn signup_form(b: &reqwest::Client, app: &TestApp, path: &str) -> (u16, String) {
    let res = b.get(app.url(path)).send().await.expect("signup page");
    let status = res.status().as_u16();
    (status, res.text().await.expect("html"))
}

fn hidden(html: &str, name: &str) -> Option<String> {
    let doc = scraper::Html::parse_document(html);
    let sel = scraper::Selector::parse(&format!("input[name={name}]")).expect("selector");
    doc.select(&sel)
        .next()
        .and_then(|e| e.value().attr("value"))
        .map(str::to_owned)
}

async fn submit(
    b: &reqwest::Client,
    app: &TestApp,
    html: &str,
    user: &str,
    email: &str,
    pw: &str,
    confirm: &str,
) -> reqwest::Response {
    let mut form = vec![
        ("csrf_token".to_owned(), TestApp::csrf_of(html)),
        (
            "return_to".to_owned(),
            hidden(html, "return_to").unwrap_or_else(|| "/".into()),
        ),
        ("username".to_owned(), user.to_owned()),
        ("email".to_owned(), email.to_owned()),
        ("password".to_owned(), pw.to_owned()),
        ("confirm_password".to_owned(), confirm.to_owned()),
    ];
    if let Some(i) = hidden(html, "invite") {
        form.push(("invite".into(), i));
    }
    b.post(app.url("/signup"))
        .form(&form)
        .send()
        .await
        .expect("signup post")
}

#[tokio::test]
async fn sign_up_is_closed_by_default() {
    let app = spawn_app().await;
    let b = browser();
    let (status, _) = signup_form(&b, &app, "/signup").await;
    assert_eq!(status, 404);
    let login = app.html(&b, "/login").await;
    assert!(!login.contains("/signup"), "no sign-up link when closed");
    let csrf = TestApp::csrf_of(&login);
    let res = b
        .post(app.url("/signup"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("username", "mal"),
            ("email", "mal@example.test"),
            ("password", "a long password"),
            ("confirm_password", "a long password"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), 404);
    assert_eq!(app.count("users"), 0);
}

#[tokio::test]
async fn a_sign_up_started_from_an_authorization_request_continues_to_the_client() {
    let app = spawn_app_on(test_db(), |a| a.signup = Some("open".into())).await;
    let client = app.client(&[]).await;
    let (verifier, challenge) = pkce_pair();
    let b = browser();
    let res = b
        .get(app.url("/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", client.id.as_str()),
            ("redirect_uri", REDIRECT),
            ("scope", "openid email"),
            ("state", "st-9"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await
        .expect("authorize");
    let login_at = location(&res);
    assert!(
        login_at.starts_with("/login?return_to=%2Fauthorize%2Fresume%3Finteraction%3D"),
        "{login_at}"
    );
    assert!(
        !login_at.contains("client_id"),
        "the request is referenced by its interaction, not carried"
    );
    assert_eq!(app.count("interactions"), 1);
    let login = app.html(&b, &login_at).await;
    assert!(
        login.contains("<title>Sign in · Ostiary</title>"),
        "the sign-up link is in the page, not its title"
    );
    let signup_link = {
        let doc = scraper::Html::parse_document(&login);
        let sel = scraper::Selector::parse("a[href^='/signup']").expect("sel");
        doc.select(&sel)
            .next()
            .and_then(|a| a.value().attr("href"))
            .expect("sign-up link")
            .to_owned()
    };
    let (status, html) = signup_form(&b, &app, &signup_link).await;
    assert_eq!(status, 200);
    assert!(html.contains("Test App"), "the page names the client");
    // The rules first: mismatched passwords, a taken look-alike name.
    app.user("eve", "eve's password").await;
    let res = submit(
        &b,
        &app,
        &html,
        "newbie",
        "newbie@example.test",
        "a long password",
        "another one",
    )
    .await;
    assert_eq!(res.status(), 400);
    let res = submit(
        &b,
        &app,
        &html,
        "\u{ff25}VE",
        "eve2@example.test",
        "a long password",
        "a long password",
    )
    .await;
    assert_eq!(res.status(), 400);
    assert!(res.text().await.expect("html").contains("taken"));
    assert_eq!(app.count("users"), 1);
    let res = submit(
        &b,
        &app,
        &html,
        "newbie",
        "newbie@example.test",
        "a long password",
        "a long password",
    )
    .await;
    assert_eq!(res.status(), 303);
    let resume = location(&res);
    assert!(
        resume.starts_with("/authorize/resume?interaction="),
        "{resume}"
    );
    assert_eq!(
        app.count("users WHERE username = 'newbie' AND email_verified = false"),
        1
    );
    let consent = b.get(app.url(&resume)).send().await.expect("resume");
    assert_eq!(consent.status(), 200);
    let html = consent.text().await.expect("html");
    let res = b
        .post(app.url(&crate::helpers::consent_action(&html)))
        .form(&[
            ("csrf_token", TestApp::csrf_of(&html).as_str()),
            ("decision", "allow"),
        ])
        .send()
        .await
        .expect("consent");
    let url = url::Url::parse(&location(&res)).expect("redirect");
    assert!(url.as_str().starts_with(REDIRECT));
    assert_eq!(query_param(&url, "state").as_deref(), Some("st-9"));
    let code = query_param(&url, "code").expect("code");
    let tokens: Value = app
        .token(
            &client,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", &verifier),
            ],
        )
        .await
        .json()
        .await
        .expect("json");
    assert!(tokens["id_token"].is_string());
    // The interaction is spent: replaying its resume link shows a page, not a second code.
    let replay = b.get(app.url(&resume)).send().await.expect("replay");
    assert_eq!(replay.status(), 400);
    assert!(location(&replay).is_empty());
    assert_eq!(app.count("authorization_codes"), 1);
}

#[tokio::test]
async fn open_sign_up_can_be_limited_to_email_domains_and_is_rate_limited() {
    let app = spawn_app_on(test_db(), |a| {
        a.signup = Some("open".into());
        a.signup_email_domains = Some("example.test".into());
        a.signups_per_address = Some(3);
    })
    .await;
    let b = browser();
    let (_, html) = signup_form(&b, &app, "/signup").await;
    let res = submit(
        &b,
        &app,
        &html,
        "outsider",
        "o@elsewhere.example",
        "a long password",
        "a long password",
    )
    .await;
    assert_eq!(res.status(), 400);
    assert!(res.text().await.expect("html").contains("example.test"));
    for i in 0..3 {
        let res = submit(
            &b,
            &app,
            &html,
            &format!("member{i}"),
            &format!("m{i}@example.test"),
            "a long password",
            "a long password",
        )
        .await;
        assert_eq!(res.status(), 303, "member {i}");
    }
    let res = submit(
        &b,
        &app,
        &html,
        "member9",
        "m9@example.test",
        "a long password",
        "a long password",
    )
    .await;
    assert_eq!(res.status(), 429);
    assert!(res.headers().contains_key("retry-after"));
    assert_eq!(app.count("users WHERE username = 'member9'"), 0);
}

#[tokio::test]
async fn an_invitation_admits_one_account() {
    let app = spawn_app_on(test_db(), |a| a.signup = Some("invite".into())).await;
    let b = browser();
    let (status, _) = signup_form(&b, &app, "/signup").await;
    assert_eq!(status, 400, "no invitation, no form");
    let out = run_cli(&app.db, &["user", "invite", "--json"], None).await;
    assert!(out.ok(), "{}", out.stderr);
    let v: Value = serde_json::from_str(out.stdout.trim()).expect("json");
    let link = v["link"].as_str().expect("link").to_owned();
    // The CLI knows the configured issuer, not the test server's port: keep the path.
    let path = link[link.find("/signup").expect("a sign-up link")..].to_owned();
    let (status, html) = signup_form(&b, &app, &path).await;
    assert_eq!(status, 200);
    let res = submit(
        &b,
        &app,
        &html,
        "invited",
        "invited@example.test",
        "a long password",
        "a long password",
    )
    .await;
    assert_eq!(res.status(), 303);
    let res = submit(
        &browser(),
        &app,
        &html,
        "second",
        "second@example.test",
        "a long password",
        "a long password",
    )
    .await;
    assert_eq!(res.status(), 400, "the invitation is used up");
    assert_eq!(app.count("users"), 1);
    assert_eq!(app.count("signup_invites WHERE used_at IS NOT NULL"), 1);
}

#[tokio::test]
async fn prompt_login_is_satisfied_by_the_login_within_its_interaction() {
    let app = spawn_app().await;
    app.user("pia", "pia's password").await;
    let client = app.client(&[]).await;
    let (_, challenge) = pkce_pair();
    let params = [
        ("response_type", "code"),
        ("client_id", client.id.as_str()),
        ("redirect_uri", REDIRECT),
        ("scope", "openid"),
        ("prompt", "login consent"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let url = app
        .code_flow(&client, &params, ("pia", "pia's password"))
        .await;
    assert!(query_param(&url, "code").is_some());
    // Already signed in, the same prompt=login asks again: a new interaction, a new login.
    let res = app.authorize(&params).await;
    assert!(location(&res).starts_with("/login"), "{}", location(&res));
    assert_eq!(app.count("interactions"), 2);
}

#[tokio::test]
async fn the_admin_console_creates_invitations() {
    let app = spawn_app_on(test_db(), |a| a.signup = Some("invite".into())).await;
    crate::helpers::add_user(&app.db, "root", "root's password", true).await;
    let admin = browser();
    assert_eq!(
        app.login_with(&admin, "root", "root's password")
            .await
            .status(),
        303
    );
    let html = app.html(&admin, "/admin/signup").await;
    assert!(html.contains("invite"), "{html}");
    let res = admin
        .post(app.url("/admin/signup/invites"))
        .form(&[
            ("csrf_token", TestApp::csrf_of(&html).as_str()),
            ("days", "2"),
            ("note", "for zoe"),
        ])
        .send()
        .await
        .expect("invite");
    let html = res.text().await.expect("html");
    let doc = scraper::Html::parse_document(&html);
    let link = doc
        .select(&scraper::Selector::parse("#invite-link").expect("sel"))
        .next()
        .map(|e| e.text().collect::<String>())
        .expect("link shown once");
    let path = link.strip_prefix(&app.address).expect("ours").to_owned();
    let b = browser();
    let (status, form) = signup_form(&b, &app, &path).await;
    assert_eq!(status, 200);
    let res = submit(
        &b,
        &app,
        &form,
        "zoe",
        "zoe@example.test",
        "a long password",
        "a long password",
    )
    .await;
    assert_eq!(res.status(), 303);
    let again = app.html(&admin, "/admin/signup").await;
    assert!(!again.contains(&link), "never shown again");
    assert!(again.contains("used") && again.contains("for zoe"));
}
