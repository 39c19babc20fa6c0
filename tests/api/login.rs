use crate::helpers::{location, spawn_app, TestApp};

#[tokio::test]
async fn login_with_a_wrong_password_fails_with_a_generic_message() {
    let app = spawn_app().await;
    app.user("bob", "bob's password").await;
    for (user, pw) in [("bob", "wrong password"), ("nobody", "whatever pw")] {
        let res = app.login("/login", user, pw).await;
        // The form again, not an HTTP authentication challenge (RFC 9110 §15.5.2).
        assert_eq!(res.status(), 200);
        assert!(res.headers().get("www-authenticate").is_none());
        let html = res.text().await.expect("html");
        assert!(html.contains("Incorrect username or password."), "{html}");
        assert!(
            !html.contains("wrong password"),
            "the password is never echoed"
        );
    }
    let res = app.login("/login", "BOB", "bob's password").await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/");
    let cookie = res.headers()["set-cookie"]
        .to_str()
        .unwrap_or("")
        .to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let home = app.get("/").await;
    assert!(home.text().await.expect("html").contains("bob"));
}

#[tokio::test]
async fn a_disabled_user_cannot_log_in() {
    let app = spawn_app().await;
    app.user("carl", "carl's password").await;
    assert!(app.cli(&["user", "disable", "carl"], None).await.ok());
    let res = app.login("/login", "carl", "carl's password").await;
    assert_eq!(res.status(), 200);
    assert!(res
        .text()
        .await
        .expect("html")
        .contains("Incorrect username or password."));
}

#[tokio::test]
async fn a_post_without_its_csrf_token_is_refused() {
    let app = spawn_app().await;
    app.user("dora", "dora's password").await;
    let _ = app.get("/login").await;
    let res = app
        .client
        .post(app.url("/login"))
        .form(&[("username", "dora"), ("password", "dora's password")])
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), 400);
    assert!(
        res.headers().get("set-cookie").is_none(),
        "no session was created"
    );
    // A token from another browser's session does not work either.
    let other = crate::helpers::browser();
    let html = app.html(&other, "/login").await;
    let foreign = TestApp::csrf_of(&html);
    let res = app
        .client
        .post(app.url("/login"))
        .form(&[
            ("username", "dora"),
            ("password", "dora's password"),
            ("csrf_token", foreign.as_str()),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), 400);
}

#[tokio::test]
async fn the_consent_post_without_csrf_is_refused_and_issues_no_code() {
    let app = spawn_app().await;
    app.user("erin", "erin's password").await;
    let client = app.client(&[]).await;
    let (_, challenge) = crate::helpers::pkce_pair();
    let params = [
        ("response_type", "code"),
        ("client_id", client.id.as_str()),
        ("redirect_uri", client.redirect_uri.as_str()),
        ("scope", "openid"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let res = app.authorize(&params).await;
    let login = app.login(&location(&res), "erin", "erin's password").await;
    let consent = app
        .client
        .get(app.url(&location(&login)))
        .send()
        .await
        .expect("consent");
    let action = crate::helpers::consent_action(&consent.text().await.expect("html"));
    let res = app
        .client
        .post(app.url(&action))
        .form(&[("decision", "allow")])
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), 400);
    assert!(res.headers().get("location").is_none());
}

#[tokio::test]
async fn login_never_redirects_off_site() {
    let app = spawn_app().await;
    app.user("fay", "fay's password").await;
    for evil in [
        "https://evil.example/",
        "//evil.example/x",
        "/\\evil.example",
    ] {
        let res = app
            .login(
                &format!("/login?return_to={}", urlencode(evil)),
                "fay",
                "fay's password",
            )
            .await;
        assert_eq!(res.status(), 303);
        assert_eq!(location(&res), "/", "{evil}");
    }
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn a_login_flood_beyond_the_queue_answers_503_with_retry_after() {
    let app = crate::helpers::spawn_app_on(crate::helpers::test_db(), |a| {
        a.password_hash_concurrency = Some(1);
        a.password_hash_queue = Some(0);
    })
    .await;
    app.user("gus", "gus's password").await;
    // Slow hashes for this user, so concurrent logins overlap.
    let slow = ostiary::crypto::password::hash_blocking(
        ostiary::config::Argon2Settings {
            memory_kib: 65536,
            iterations: 4,
            parallelism: 1,
        },
        "gus's password",
    )
    .expect("hash");
    {
        use diesel::prelude::*;
        use ostiary::db::schema::users;
        diesel::update(users::table.filter(users::username.eq("gus")))
            .set(users::password_hash.eq(&slow))
            .execute(&mut app.db.conn())
            .expect("slow hash");
    }
    let attempts = (0..6).map(|_| {
        let browser = crate::helpers::browser();
        let url = app.url("/login");
        async move {
            let html = browser
                .get(&url)
                .send()
                .await
                .expect("page")
                .text()
                .await
                .expect("html");
            let csrf = TestApp::csrf_of(&html);
            browser
                .post(&url)
                .form(&[
                    ("username", "gus"),
                    ("password", "gus's password"),
                    ("csrf_token", csrf.as_str()),
                ])
                .send()
                .await
                .expect("post")
        }
    });
    let results = futures_util::future::join_all(attempts).await;
    let busy: Vec<_> = results.iter().filter(|r| r.status() == 503).collect();
    assert!(
        !busy.is_empty(),
        "some logins must be refused while the one worker is busy"
    );
    assert!(busy
        .iter()
        .all(|r| r.headers().get("retry-after").is_some()));
    assert!(
        results.iter().any(|r| r.status() == 303),
        "and the admitted one succeeds"
    );
}

/// The signed-in home page leads somewhere: the account page for everyone, the console for
/// administrators only.
#[tokio::test]
async fn the_home_page_links_the_account_and_for_admins_the_console() {
    let app = spawn_app().await;
    crate::helpers::add_user(&app.db, "hanna", "hanna's password", false).await;
    crate::helpers::add_user(&app.db, "boss", "boss's password", true).await;
    for (user, pw, admin) in [
        ("hanna", "hanna's password", false),
        ("boss", "boss's password", true),
    ] {
        let b = crate::helpers::browser();
        assert_eq!(app.login_with(&b, user, pw).await.status(), 303);
        let html = app.html(&b, "/").await;
        assert!(html.contains("You are signed in"), "{html}");
        assert!(html.contains(r#"<a href="/account">"#), "{html}");
        assert_eq!(
            html.contains(r#"<a href="/admin">"#),
            admin,
            "{user}: {html}"
        );
    }
}
