//! A pending authorization request answers only to the browser that started it.

use crate::helpers::{
    browser, consent_action, location, pkce_pair, query_param, spawn_app, TestApp, REDIRECT,
};

async fn start(app: &TestApp, b: &reqwest::Client, client_id: &str, challenge: &str) -> String {
    let res = b
        .get(app.url("/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", REDIRECT),
            ("scope", "openid profile"),
            ("state", "victim-state"),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await
        .expect("authorize");
    assert_eq!(res.status(), 302);
    let login_at = location(&res);
    let return_to = url::Url::parse(&app.url(&login_at))
        .expect("url")
        .query_pairs()
        .find(|(k, _)| k == "return_to")
        .map(|(_, v)| v.into_owned())
        .expect("return_to");
    assert!(return_to.starts_with("/authorize/resume?interaction="));
    return_to
}

/// The attack of issue 20: mallory, holding the victim's resume link, signs in and finishes the
/// victim's pending request; the victim's app would get a code (with the victim's state and
/// PKCE challenge) that signs the victim in as mallory. Every way of finishing it from
/// mallory's browser is refused, and the victim's own sign-in still completes, as the victim.
#[tokio::test]
async fn a_pending_request_is_refused_to_another_browser_and_still_completes_in_its_own() {
    let app = spawn_app().await;
    app.user("alice", "alice's password").await;
    app.user("mallory", "mallory's password").await;
    let client = app
        .client(&["--homepage-uri", "https://app.example.test/"])
        .await;
    let (verifier, challenge) = pkce_pair();
    let victim = browser();
    let resume = start(&app, &victim, &client.id, &challenge).await;

    // Mallory signs in with the victim's return path: a login of mallory's own, nothing
    // recorded on the victim's interaction, and the resume refused.
    let mallory = browser();
    let login = app
        .login_towards(&mallory, ("mallory", "mallory's password"), &resume)
        .await;
    assert_eq!(login.status(), 303);
    assert_eq!(location(&login), resume);
    assert_eq!(app.count("interactions WHERE user_id IS NOT NULL"), 0);
    let res = mallory.get(app.url(&resume)).send().await.expect("resume");
    assert_eq!(res.status(), 403);
    assert!(res.headers().get("location").is_none());
    let html = res.text().await.expect("html");
    assert!(html.contains("started in another browser"), "{html}");
    assert!(
        html.contains("href=\"https://app.example.test/\""),
        "start again here, from the app"
    );
    assert!(
        !html.contains("victim-state"),
        "nothing of the request is shown"
    );

    // Nor can mallory answer the consent form with a valid CSRF token of his own session.
    let csrf = TestApp::csrf_of(&app.html(&mallory, "/login").await);
    let res = mallory
        .post(app.url(&resume))
        .form(&[("csrf_token", csrf.as_str()), ("decision", "allow")])
        .send()
        .await
        .expect("consent post");
    assert_eq!(res.status(), 403);
    assert!(res.headers().get("location").is_none());
    assert_eq!(app.count("authorization_codes"), 0);

    // A browser with no binding at all (a link opened elsewhere) is refused the same way.
    let stranger = browser();
    let res = stranger.get(app.url(&resume)).send().await.expect("resume");
    assert_eq!(res.status(), 403);

    // The victim's own sign-in is untouched: it completes, for the victim.
    let login = app
        .login_towards(&victim, ("alice", "alice's password"), &resume)
        .await;
    assert_eq!(login.status(), 303);
    let consent = victim.get(app.url(&resume)).send().await.expect("resume");
    assert_eq!(consent.status(), 200);
    let html = consent.text().await.expect("html");
    let csrf = TestApp::csrf_of(&html);
    let res = victim
        .post(app.url(&consent_action(&html)))
        .form(&[("csrf_token", csrf.as_str()), ("decision", "allow")])
        .send()
        .await
        .expect("consent");
    assert_eq!(res.status(), 302);
    let to = url::Url::parse(&location(&res)).expect("redirect");
    assert_eq!(query_param(&to, "state").as_deref(), Some("victim-state"));
    let code = query_param(&to, "code").expect("code");
    let tokens: serde_json::Value = app
        .token(
            &client,
            &[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", REDIRECT),
                ("code_verifier", verifier.as_str()),
            ],
        )
        .await
        .json()
        .await
        .expect("tokens");
    let access = tokens["access_token"].as_str().expect("access_token");
    let sub = app.introspect(&client, access).await["sub"]
        .as_str()
        .expect("sub")
        .to_owned();
    assert_eq!(
        app.count(&format!("users WHERE username = 'alice' AND id = '{sub}'")),
        1,
        "the code is the victim's"
    );
}

/// Consent given in the starting browser also stays there: a second browser of the same user
/// (the same account, other cookies) cannot finish the first one's request either.
#[tokio::test]
async fn the_same_account_in_another_browser_cannot_finish_the_request() {
    let app = spawn_app().await;
    app.user("alice", "alice's password").await;
    let client = app.client(&[]).await;
    let (_, challenge) = pkce_pair();
    let first = browser();
    let resume = start(&app, &first, &client.id, &challenge).await;
    let second = browser();
    let login = app
        .login_towards(&second, ("alice", "alice's password"), &resume)
        .await;
    assert_eq!(login.status(), 303);
    let res = second.get(app.url(&resume)).send().await.expect("resume");
    assert_eq!(res.status(), 403);
    let html = res.text().await.expect("html");
    assert!(html.contains("started in another browser"));
    assert!(
        !html.contains("id=\"start-again\""),
        "no home page registered: no link"
    );
    // The first browser still finishes it.
    let login = app
        .login_towards(&first, ("alice", "alice's password"), &resume)
        .await;
    assert_eq!(login.status(), 303);
    let res = first.get(app.url(&resume)).send().await.expect("resume");
    assert_eq!(res.status(), 200, "the consent page");
}
