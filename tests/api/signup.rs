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

// ---------------------------------------------------------------------------------------------
// Issue 21 item 3: sign-up does not tell who is registered (where verification is required).

/// Open sign-up with verification required, mail to a real SMTP sink, and "olive" registered.
pub(crate) async fn verifying_app() -> (crate::mail::SmtpSink, TestApp) {
    let sink = crate::mail::SmtpSink::start().await;
    let url = sink.url();
    let app = spawn_app_on(test_db(), move |a| {
        a.smtp_url = Some(url);
        a.outbox_interval = Some(1);
        a.signup = Some("open".into());
        a.require_verified_email = Some(true);
        // Many sign-ups from one test address (the default burst is 3).
        a.signups_per_address = Some(1000);
    })
    .await;
    app.user("olive", "olive's password").await;
    let mut conn = app.db.conn();
    diesel::RunQueryDsl::execute(
        diesel::sql_query("UPDATE users SET email_verified = TRUE WHERE username = 'olive'"),
        &mut conn,
    )
    .expect("olive's address is verified");
    (sink, app)
}

/// What a sign-up answer shows an onlooker: status, Location, the names of the cookies it sets,
/// and the body with every CSRF token blanked.
pub(crate) async fn observable(res: reqwest::Response) -> (u16, String, Vec<String>, String) {
    let status = res.status().as_u16();
    let to = location(&res);
    let mut cookies: Vec<String> = res
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|c| c.split('=').next().unwrap_or("").to_owned())
        .collect();
    cookies.sort();
    let body = without_csrf_tokens(&res.text().await.expect("body"));
    (status, to, cookies, body)
}

fn without_csrf_tokens(html: &str) -> String {
    const FIELD: &str = r#"name="csrf_token" value=""#;
    let mut out = String::new();
    let mut rest = html;
    while let Some(i) = rest.find(FIELD) {
        out.push_str(&rest[..i + FIELD.len()]);
        rest = &rest[i + FIELD.len()..];
        rest = &rest[rest.find('"').unwrap_or(rest.len())..];
    }
    out.push_str(rest);
    out
}

/// A sign-up from a fresh browser, as a stranger does it.
pub(crate) async fn stranger_signs_up(
    app: &TestApp,
    path: &str,
    user: &str,
    email: &str,
) -> reqwest::Response {
    let b = browser();
    let (status, html) = signup_form(&b, app, path).await;
    assert_eq!(status, 200);
    let pw = "a stranger's password";
    submit(&b, app, &html, user, email, pw, pw).await
}

#[tokio::test]
async fn with_verification_an_address_in_use_gets_the_answer_a_new_one_gets_and_its_owner_a_mail() {
    let (sink, app) = verifying_app().await;
    let fresh = stranger_signs_up(&app, "/signup", "newbie", "newbie@example.test").await;
    let taken = stranger_signs_up(&app, "/signup", "another", "Olive@Example.test").await;
    let (fresh, taken) = (observable(fresh).await, observable(taken).await);
    assert_eq!(fresh.0, 200, "{}", fresh.3);
    assert!(fresh.3.contains("Confirm your email address"));
    assert_eq!(
        taken, fresh,
        "status, Location, cookies and page are the same"
    );

    // The owner is told; no second account, nothing else stored for the attempt.
    let mail = sink
        .wait_for_mail("olive@example.test", crate::mail::MAIL_WAIT)
        .await;
    assert_eq!(
        mail["subject"],
        "Someone tried to create an account with your address at 127.0.0.1"
    );
    let text = mail["text"].as_str().expect("text");
    assert!(text.contains("Hello olive"), "{text}");
    assert!(text.contains(&format!("{}/login", app.address)), "{text}");
    assert!(text.contains("/forgot-password"), "{text}");
    assert!(
        !text.contains("token="),
        "no link that acts by itself: {text}"
    );
    assert!(mail["html"]
        .as_str()
        .expect("html")
        .contains("/forgot-password"));
    assert_eq!(app.count("users"), 2, "olive and newbie");
    assert_eq!(app.count("users WHERE username = 'another'"), 0);
    assert_eq!(
        app.count("users WHERE lower(email) = 'olive@example.test'"),
        1
    );
    assert_eq!(app.count("account_tokens"), 1, "newbie's verification only");
    assert_eq!(app.count("audit_events WHERE action = 'user.signup'"), 1);
    assert_eq!(
        app.count("outbox"),
        2,
        "newbie's verification and olive's notice"
    );
    sink.wait_for_mail("newbie@example.test", crate::mail::MAIL_WAIT)
        .await;

    // A name is chosen and shown: a taken one is still said, without a word on the address.
    let res = stranger_signs_up(&app, "/signup", "olive", "someone@example.test").await;
    assert_eq!(res.status(), 400);
    assert!(res.text().await.expect("html").contains("is taken"));
    let res = stranger_signs_up(&app, "/signup", "OLIVE", "olive@example.test").await;
    assert_eq!(res.status(), 400);
    let html = res.text().await.expect("html");
    assert!(html.contains("is taken"), "{html}");
    assert!(!html.contains("already in use"), "{html}");
    assert_eq!(app.count("users"), 2);
    assert_eq!(app.count("outbox"), 2, "no mail for a refused name");
}

#[tokio::test]
async fn without_verification_sign_up_still_says_the_address_is_taken() {
    let app = spawn_app_on(test_db(), |a| a.signup = Some("open".into())).await;
    app.user("olive", "olive's password").await;
    let res = stranger_signs_up(&app, "/signup", "another", "olive@example.test").await;
    assert_eq!(res.status(), 400);
    let html = res.text().await.expect("html");
    assert!(html.contains("already in use"), "{html}");
    assert_eq!(app.count("users"), 1);
    assert_eq!(app.count("outbox"), 0);
    let res = stranger_signs_up(&app, "/signup", "newbie", "newbie@example.test").await;
    assert_eq!(res.status(), 303, "a new account is signed in at once");
}

/// Starts an authorization request in `b`; returns the interaction's resume path.
async fn authorization_request(
    app: &TestApp,
    client: &crate::helpers::TestClient,
    b: &reqwest::Client,
    state: &str,
) -> String {
    let (_, challenge) = pkce_pair();
    let res = b
        .get(app.url("/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", client.id.as_str()),
            ("redirect_uri", client.redirect_uri.as_str()),
            ("scope", "openid"),
            ("state", state),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await
        .expect("authorize");
    let login_at = location(&res);
    url::form_urlencoded::parse(login_at.split_once('?').expect("query").1.as_bytes())
        .find(|(k, _)| k == "return_to")
        .map(|(_, v)| v.into_owned())
        .expect("return_to")
}

#[tokio::test]
async fn a_sign_up_from_an_app_with_an_address_in_use_leaves_the_request_to_the_owners_sign_in() {
    let (sink, app) = verifying_app().await;
    let signup_path = |resume: &str| {
        format!(
            "/signup?{}",
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("return_to", resume)
                .finish()
        )
    };
    // A stranger's request and a new address, for comparison.
    let client = app.client(&[]).await;
    let other = browser();
    let resume = authorization_request(&app, &client, &other, "s1").await;
    let (_, html) = signup_form(&other, &app, &signup_path(&resume)).await;
    let pw = "a stranger's password";
    let fresh = submit(&other, &app, &html, "newbie", "newbie@example.test", pw, pw).await;

    // Olive, in her own browser, starts from an app and signs up again with her address.
    let b = browser();
    let resume = authorization_request(&app, &client, &b, "s2").await;
    let (_, html) = signup_form(&b, &app, &signup_path(&resume)).await;
    let taken = submit(&b, &app, &html, "olive2", "olive@example.test", pw, pw).await;
    assert_eq!(observable(taken).await, observable(fresh).await);
    assert_eq!(app.count("users WHERE username = 'olive2'"), 0);
    assert_eq!(
        app.count("interactions WHERE user_id IS NULL"),
        2,
        "nobody logged in"
    );

    // The mail's sign-in link continues her request (in the browser that started it).
    let mail = sink
        .wait_for_mail("olive@example.test", crate::mail::MAIL_WAIT)
        .await;
    let text = mail["text"].as_str().expect("text");
    let sign_in = format!(
        "{}/login?{}",
        app.address,
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("return_to", &resume)
            .finish()
    );
    assert!(text.contains(&sign_in), "{sign_in} in {text}");
    let page = b.get(&sign_in).send().await.expect("login page");
    assert_eq!(page.status(), 200);
    let login = app
        .login_towards(&b, ("olive", "olive's password"), &resume)
        .await;
    assert_eq!(login.status(), 303);
    assert_eq!(location(&login), resume);
    let consent = b.get(app.url(&resume)).send().await.expect("resume");
    assert_eq!(consent.status(), 200);
    assert!(consent.text().await.expect("html").contains("Test App"));
}

/// A common password is refused at sign-up with a message that says why; nothing is stored.
#[tokio::test]
async fn sign_up_refuses_a_common_password() {
    let app = spawn_app_on(test_db(), |a| a.signup = Some("open".into())).await;
    let b = crate::helpers::browser();
    let (_, html) = signup_form(&b, &app, "/signup").await;
    let res = submit(
        &b,
        &app,
        &html,
        "newbie",
        "newbie@example.test",
        "Password123",
        "Password123",
    )
    .await;
    assert_eq!(res.status(), 400);
    let html = res.text().await.expect("html");
    assert!(html.contains("list of common passwords"), "{html}");
    assert_eq!(app.count("users"), 0);
}
