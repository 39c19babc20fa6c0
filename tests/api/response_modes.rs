//! How the authorization response reaches the client: `response_mode=query` (the default) and
//! `form_post` (OAuth 2.0 Form Post Response Mode), named after the OpenID conformance suite's
//! modules where one matches.

use serde_json::Value;

use crate::helpers::{consent_action, location, pkce_pair, query_param, spawn_app, TestApp};

const USER: (&str, &str) = ("fern", "fern's password");

/// The request fern's browser makes: code + PKCE, `extra` added.
fn request<'a>(
    client: &'a crate::helpers::TestClient,
    challenge: &'a str,
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut p = vec![
        ("response_type", "code"),
        ("client_id", client.id.as_str()),
        ("redirect_uri", client.redirect_uri.as_str()),
        ("scope", "openid"),
        ("state", "st <&\"> 1"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ];
    p.extend_from_slice(extra);
    p
}

/// authorize → login → consent (`decision`), and the response that follows the last step.
pub(crate) async fn answer(
    app: &TestApp,
    params: &[(&str, &str)],
    decision: &str,
) -> reqwest::Response {
    let mut res = app.authorize(params).await;
    if res.status() == 302 && location(&res).starts_with("/login") {
        let login = app.login(&location(&res), USER.0, USER.1).await;
        assert_eq!(login.status(), 303, "login failed");
        res = app
            .client
            .get(app.url(&location(&login)))
            .send()
            .await
            .expect("resume");
    }
    let html_consent = res.status() == 200
        && res
            .headers()
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|p| !p.contains("nonce-"));
    if html_consent {
        let html = res.text().await.expect("consent html");
        let csrf = TestApp::csrf_of(&html);
        res = app
            .client
            .post(app.url(&consent_action(&html)))
            .form(&[("csrf_token", csrf.as_str()), ("decision", decision)])
            .send()
            .await
            .expect("consent");
    }
    res
}

/// A form-post response page, read as a browser would: the form's action and hidden fields,
/// the script's nonce, and the headers that matter.
#[derive(Debug)]
pub(crate) struct PostedForm {
    pub action: String,
    pub fields: Vec<(String, String)>,
    pub script_nonce: Option<String>,
    pub csp: String,
    pub cache_control: String,
    pub has_continue_button: bool,
}

impl PostedForm {
    pub(crate) fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

pub(crate) async fn posted_form(res: reqwest::Response) -> PostedForm {
    assert_eq!(res.status(), 200, "a form-post page is a 200");
    let header = |name: &str| {
        res.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let csp = header("content-security-policy");
    let cache_control = header("cache-control");
    let html = res.text().await.expect("html");
    let doc = scraper::Html::parse_document(&html);
    let sel = |s: &str| scraper::Selector::parse(s).expect("selector");
    let form = doc
        .select(&sel("form[method=post]"))
        .next()
        .expect("the page has a POST form");
    let fields = form
        .select(&sel("input[type=hidden]"))
        .map(|i| {
            (
                i.value().attr("name").unwrap_or_default().to_owned(),
                i.value().attr("value").unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let has_continue_button = form
        .select(&sel("button[type=submit]"))
        .any(|b| b.text().collect::<String>().contains("Continue"));
    let script_nonce = doc
        .select(&sel("script"))
        .next()
        .and_then(|s| s.value().attr("nonce"))
        .map(str::to_owned);
    PostedForm {
        action: form.value().attr("action").unwrap_or_default().to_owned(),
        fields,
        script_nonce,
        csp,
        cache_control,
        has_continue_button,
    }
}

async fn app_with_user() -> TestApp {
    let app = spawn_app().await;
    app.user(USER.0, USER.1).await;
    app
}

/// OpenID conformance `oidcc-response-mode-form-post`: the code, `state` and `iss` (RFC 9207)
/// arrive as hidden fields of a form whose action is the registered redirect URI, posted by a
/// script the CSP allows by nonce (no 'unsafe-inline'), with a Continue button for browsers
/// without script; the page is never cached; and the code redeems.
#[tokio::test]
async fn oidcc_response_mode_form_post() {
    let app = app_with_user().await;
    let client = app.client(&[]).await;
    let (verifier, challenge) = pkce_pair();
    let params = request(&client, &challenge, &[("response_mode", "form_post")]);
    let form = posted_form(answer(&app, &params, "allow").await).await;

    assert_eq!(form.action, client.redirect_uri);
    assert_eq!(form.field("state"), Some("st <&\"> 1"));
    assert_eq!(form.field("iss"), Some(app.address.as_str()));
    let code = form.field("code").expect("code field").to_owned();
    assert!(form.has_continue_button, "{form:?}");
    assert!(form.cache_control.contains("no-store"), "{form:?}");
    let nonce = form.script_nonce.clone().expect("the script has a nonce");
    assert!(nonce.len() >= 16, "{nonce}");
    assert!(
        form.csp.contains(&format!("script-src 'nonce-{nonce}'")),
        "{}",
        form.csp
    );
    assert!(!form.csp.contains("unsafe-inline"), "{}", form.csp);
    assert!(
        form.csp.contains("form-action http://127.0.0.1:9;"),
        "{}",
        form.csp
    );

    let res = app
        .token(
            &client,
            &[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", client.redirect_uri.as_str()),
                ("code_verifier", verifier.as_str()),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.expect("json");
    assert!(body["id_token"].is_string(), "{body}");

    // A second page gets its own nonce.
    let (_, challenge) = pkce_pair();
    let params = request(&client, &challenge, &[("response_mode", "form_post")]);
    let again = posted_form(app.authorize(&params).await).await;
    assert_ne!(again.script_nonce, Some(nonce));
}

/// OpenID conformance `oidcc-response-mode-form-post-error`: an error for a validated client
/// (the user denies; `prompt=none` without a session) is posted the same way, with `error`,
/// `error_description`, `state` and `iss`, and no code.
#[tokio::test]
async fn oidcc_response_mode_form_post_error() {
    let app = app_with_user().await;
    let client = app.client(&[]).await;
    let (_, challenge) = pkce_pair();
    let params = request(&client, &challenge, &[("response_mode", "form_post")]);
    let form = posted_form(answer(&app, &params, "deny").await).await;
    assert_eq!(form.action, client.redirect_uri);
    assert_eq!(form.field("error"), Some("access_denied"));
    assert!(form.field("error_description").is_some());
    assert_eq!(form.field("state"), Some("st <&\"> 1"));
    assert_eq!(form.field("iss"), Some(app.address.as_str()));
    assert_eq!(form.field("code"), None);

    let stranger = crate::helpers::browser();
    let params = request(
        &client,
        &challenge,
        &[("response_mode", "form_post"), ("prompt", "none")],
    );
    let res = stranger
        .get(app.url("/authorize"))
        .query(&params)
        .send()
        .await
        .expect("authorize");
    let form = posted_form(res).await;
    assert_eq!(form.field("error"), Some("login_required"));
    assert_eq!(form.action, client.redirect_uri);
}

/// A redirect URI nobody registered never receives a form (nor a redirect): the error page.
#[tokio::test]
async fn form_post_is_never_sent_to_an_unregistered_redirect_uri() {
    let app = app_with_user().await;
    let client = app.client(&[]).await;
    let (_, challenge) = pkce_pair();
    let mut params = request(&client, &challenge, &[("response_mode", "form_post")]);
    params[2] = ("redirect_uri", "https://attacker.example/cb");
    let res = app.authorize(&params).await;
    assert_eq!(res.status(), 400);
    let html = res.text().await.expect("html");
    assert!(!html.contains("attacker.example"), "{html}");
    assert!(!html.contains("<form id=\"response\""), "{html}");
}

/// `response_mode=query` said out loud is the default; an unknown mode is `invalid_request`,
/// redirected as a query (the client and redirect URI being valid), before any login.
#[tokio::test]
async fn query_mode_is_accepted_and_unknown_modes_are_refused() {
    let app = app_with_user().await;
    let client = app.client(&[]).await;
    let (_, challenge) = pkce_pair();
    let params = request(&client, &challenge, &[("response_mode", "query")]);
    let res = answer(&app, &params, "allow").await;
    assert_eq!(res.status(), 302);
    let url = url::Url::parse(&location(&res)).expect("url");
    assert!(query_param(&url, "code").is_some(), "{url}");

    for mode in ["fragment", "jwt", "form_post.jwt", ""] {
        let params = request(&client, &challenge, &[("response_mode", mode)]);
        let res = crate::helpers::browser()
            .get(app.url("/authorize"))
            .query(&params)
            .send()
            .await
            .expect("authorize");
        assert_eq!(res.status(), 302, "response_mode={mode}");
        let url = url::Url::parse(&location(&res)).expect("url");
        assert!(url.as_str().starts_with(&client.redirect_uri), "{url}");
        assert_eq!(
            query_param(&url, "error").as_deref(),
            Some("invalid_request"),
            "{url}"
        );
        assert_eq!(
            query_param(&url, "state").as_deref(),
            Some("st <&\"> 1"),
            "{url}"
        );
    }
}

/// A pushed request (RFC 9126) may carry the mode; an unknown one is refused when pushed.
#[tokio::test]
async fn a_pushed_request_carries_its_response_mode() {
    let app = app_with_user().await;
    let client = app.client(&[]).await;
    let (_, challenge) = pkce_pair();
    let push = |mode: &'static str| {
        let form = vec![
            ("response_type", "code".to_owned()),
            ("redirect_uri", client.redirect_uri.clone()),
            ("scope", "openid".to_owned()),
            ("state", "pushed".to_owned()),
            ("code_challenge", challenge.clone()),
            ("code_challenge_method", "S256".to_owned()),
            ("response_mode", mode.to_owned()),
        ];
        let request = reqwest::Client::new()
            .post(app.url("/par"))
            .basic_auth(&client.id, client.secret.as_deref())
            .form(&form);
        async move { request.send().await.expect("par") }
    };
    let res = push("fragment").await;
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["error"], "invalid_request", "{body}");

    let res = push("form_post").await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.expect("json");
    let uri = body["request_uri"].as_str().expect("request_uri");
    let params = [("client_id", client.id.as_str()), ("request_uri", uri)];
    let form = posted_form(answer(&app, &params, "allow").await).await;
    assert_eq!(form.action, client.redirect_uri);
    assert_eq!(form.field("state"), Some("pushed"));
    assert!(form.field("code").is_some(), "{form:?}");
}

#[tokio::test]
async fn discovery_advertises_query_and_form_post() {
    let app = spawn_app().await;
    let meta: Value = app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        meta["response_modes_supported"],
        serde_json::json!(["query", "form_post"])
    );
}

// --- the claims request parameter (OIDC Core §5.5) ---------------------------------------------

fn jwt_claims(jwt: &str) -> Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).expect("payload");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("b64");
    serde_json::from_slice(&raw).expect("claims")
}

/// Signs fern in with `claims` (scope `openid` only), allowing what the consent page asks;
/// returns the consent page's text (empty when none was shown) and the token response.
async fn sign_in_with_claims(
    app: &TestApp,
    client: &crate::helpers::TestClient,
    claims: &str,
) -> (String, Value) {
    let (verifier, challenge) = pkce_pair();
    let params = request(client, &challenge, &[("claims", claims)]);
    let mut res = app.authorize(&params).await;
    if res.status() == 302 && location(&res).starts_with("/login") {
        let login = app.login(&location(&res), USER.0, USER.1).await;
        res = app
            .client
            .get(app.url(&location(&login)))
            .send()
            .await
            .expect("resume");
    }
    let mut consent = String::new();
    if res.status() == 200 {
        consent = res.text().await.expect("consent");
        let csrf = TestApp::csrf_of(&consent);
        res = app
            .client
            .post(app.url(&consent_action(&consent)))
            .form(&[("csrf_token", csrf.as_str()), ("decision", "allow")])
            .send()
            .await
            .expect("consent");
    }
    assert_eq!(res.status(), 302);
    let url = url::Url::parse(&location(&res)).expect("redirect");
    let code = query_param(&url, "code").expect("a code");
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
    (consent, res.json().await.expect("tokens"))
}

async fn userinfo(app: &TestApp, tokens: &Value) -> Value {
    reqwest::Client::new()
        .get(app.url("/userinfo"))
        .bearer_auth(tokens["access_token"].as_str().expect("access_token"))
        .send()
        .await
        .expect("userinfo")
        .json()
        .await
        .expect("json")
}

async fn refresh(app: &TestApp, client: &crate::helpers::TestClient, tokens: &Value) -> Value {
    let res = app
        .token(
            client,
            &[
                ("grant_type", "refresh_token"),
                (
                    "refresh_token",
                    tokens["refresh_token"].as_str().expect("refresh_token"),
                ),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
    res.json().await.expect("json")
}

/// A client that may have the standard scopes (and, by default, refresh tokens).
const FULL_CLIENT: [&str; 6] = [
    "--scope", "openid", "--scope", "profile", "--scope", "email",
];

/// OpenID conformance `oidcc-claims-essential` (email asked for as essential, in the id_token
/// only, with scope `openid` alone): the consent page says so in words, the id_token carries
/// `email`, also after a refresh; userinfo, not asked, stays at `sub`.
#[tokio::test]
async fn oidcc_claims_essential() {
    let app = app_with_user().await;
    let client = app.client(&FULL_CLIENT).await;
    let (consent, tokens) = sign_in_with_claims(
        &app,
        &client,
        r#"{"id_token":{"email":{"essential":true}}}"#,
    )
    .await;
    assert!(consent.contains("See your email address"), "{consent}");
    let id = jwt_claims(tokens["id_token"].as_str().expect("id_token"));
    assert_eq!(id["email"], "fern@example.test", "{id}");
    assert!(id.get("name").is_none(), "{id}");
    assert_eq!(tokens["scope"], "openid");
    let info = userinfo(&app, &tokens).await;
    assert!(info.get("email").is_none(), "{info}");
    assert!(info["sub"].is_string(), "{info}");

    let refreshed = refresh(&app, &client, &tokens).await;
    let id = jwt_claims(refreshed["id_token"].as_str().expect("id_token"));
    assert_eq!(id["email"], "fern@example.test", "{id}");
}

/// OpenID conformance `oidcc-claims-userinfo` style: claims asked for at userinfo come back
/// there (and not in the id_token), also with a refreshed access token; the consent covered
/// them, so the same request later asks nothing.
#[tokio::test]
async fn oidcc_claims_userinfo() {
    let app = app_with_user().await;
    let client = app.client(&FULL_CLIENT).await;
    let claims = r#"{"userinfo":{"preferred_username":null,"email":{"essential":false}}}"#;
    let (consent, tokens) = sign_in_with_claims(&app, &client, claims).await;
    assert!(consent.contains("See your email address"), "{consent}");
    assert!(
        consent.contains("See your name and profile details"),
        "{consent}"
    );
    let info = userinfo(&app, &tokens).await;
    assert_eq!(info["email"], "fern@example.test", "{info}");
    assert_eq!(info["preferred_username"], "fern", "{info}");
    let id = jwt_claims(tokens["id_token"].as_str().expect("id_token"));
    assert!(id.get("email").is_none(), "{id}");

    let refreshed = refresh(&app, &client, &tokens).await;
    let info = userinfo(&app, &refreshed).await;
    assert_eq!(info["email"], "fern@example.test", "{info}");

    let (consent, _) = sign_in_with_claims(&app, &client, claims).await;
    assert_eq!(consent, "", "the consent covered the claims");
}

/// The address and phone claims are released by name like the profile and email ones (Core
/// §5.5): asked for at userinfo and in the id_token, with scope `openid` alone.
#[tokio::test]
async fn address_and_phone_claims_are_released_by_name() {
    let app = app_with_user().await;
    let out = app
        .cli(
            &[
                "user",
                "profile",
                USER.0,
                "--set",
                "address_locality=Paris",
                "--set",
                "phone_number=+33 1 23 45 67 89",
            ],
            None,
        )
        .await;
    assert!(out.ok(), "{}", out.stderr);
    let client = app
        .client(&[
            "--scope", "openid", "--scope", "address", "--scope", "phone",
        ])
        .await;
    let claims = r#"{"userinfo":{"address":null},"id_token":{"phone_number":{"essential":true},"phone_number_verified":null}}"#;
    let (_, tokens) = sign_in_with_claims(&app, &client, claims).await;
    let info = userinfo(&app, &tokens).await;
    assert_eq!(info["address"]["locality"], "Paris", "{info}");
    assert!(info.get("phone_number").is_none(), "{info}");
    let id = jwt_claims(tokens["id_token"].as_str().expect("id_token"));
    assert_eq!(id["phone_number"], "+33123456789", "{id}");
    assert_eq!(id["phone_number_verified"], false, "{id}");
    assert!(id.get("address").is_none(), "{id}");
}

/// A `sub` asked for with a value (Core §5.5.1) is answered only for that user: with
/// `prompt=none` another signed-in user is `login_required`; otherwise a fresh login is asked
/// for, and if it is still someone else, `login_required` too. The user's own sub passes.
#[tokio::test]
async fn a_sub_asked_for_by_value_is_answered_only_for_that_user() {
    let app = app_with_user().await;
    let client = app.client(&FULL_CLIENT).await;
    let (_, tokens) = sign_in_with_claims(&app, &client, r#"{"id_token":{"email":null}}"#).await;
    let own = jwt_claims(tokens["id_token"].as_str().expect("id_token"))["sub"]
        .as_str()
        .expect("sub")
        .to_owned();
    let (_, challenge) = pkce_pair();
    let refused = |res: &reqwest::Response| {
        let url = url::Url::parse(&location(res)).expect("redirect");
        assert_eq!(
            query_param(&url, "error").as_deref(),
            Some("login_required"),
            "{url}"
        );
        assert_eq!(query_param(&url, "code"), None);
    };
    let other = r#"{"id_token":{"sub":{"value":"somebody-else"}}}"#;
    let quiet = request(
        &client,
        &challenge,
        &[("claims", other), ("prompt", "none")],
    );
    refused(&app.authorize(&quiet).await);

    let params = request(&client, &challenge, &[("claims", other)]);
    let res = app.authorize(&params).await;
    assert_eq!(res.status(), 302);
    let to = location(&res);
    assert!(to.starts_with("/login"), "a fresh login: {to}");
    let login = app.login(&to, USER.0, USER.1).await;
    let res = app
        .client
        .get(app.url(&location(&login)))
        .send()
        .await
        .expect("resume");
    refused(&res);

    let mine = format!(
        r#"{{"userinfo":{{"sub":{{"value":"{own}"}}}},"id_token":{{"sub":{{"value":"{own}"}}}}}}"#
    );
    let quiet = request(
        &client,
        &challenge,
        &[("claims", &mine), ("prompt", "none")],
    );
    let res = app.authorize(&quiet).await;
    let url = url::Url::parse(&location(&res)).expect("redirect");
    assert!(query_param(&url, "code").is_some(), "{url}");
}

/// A client that may not have the `email` scope is not given the email by asking for the claim.
#[tokio::test]
async fn claims_a_client_may_not_see_are_not_released() {
    let app = app_with_user().await;
    let client = app.client(&["--scope", "openid"]).await;
    let (consent, tokens) = sign_in_with_claims(
        &app,
        &client,
        r#"{"id_token":{"email":{"essential":true}},"userinfo":{"email":null}}"#,
    )
    .await;
    assert!(!consent.contains("email address"), "{consent}");
    let id = jwt_claims(tokens["id_token"].as_str().expect("id_token"));
    assert!(id.get("email").is_none(), "{id}");
    let info = userinfo(&app, &tokens).await;
    assert!(info.get("email").is_none(), "{info}");
}

/// An essential `acr` claim with values (Core §5.5.1.1) is a must: a session below it steps up
/// (the missing factor only), and with `prompt=none` it is `interaction_required` — unlike a
/// voluntary `acr_values`. A class the session has already asks nothing more.
#[tokio::test]
async fn an_essential_acr_claim_steps_up_like_a_client_minimum() {
    let app = app_with_user().await;
    let client = app.client(&[]).await;
    // fern signs in with the password here, then sets up an app elsewhere.
    let res = app.login_with(&app.client, USER.0, USER.1).await;
    assert_eq!(res.status(), 303);
    let other = crate::helpers::browser();
    app.login_with(&other, USER.0, USER.1).await;
    crate::factors::enrol_totp(&app, &other).await;

    let two = ostiary::authn::acr::TWO_FACTOR;
    let essential = format!(r#"{{"id_token":{{"acr":{{"essential":true,"values":["{two}"]}}}}}}"#);
    let (_, challenge) = pkce_pair();
    let quiet = request(
        &client,
        &challenge,
        &[("claims", essential.as_str()), ("prompt", "none")],
    );
    let res = app.authorize(&quiet).await;
    let url = url::Url::parse(&location(&res)).expect("redirect");
    assert_eq!(
        query_param(&url, "error").as_deref(),
        Some("interaction_required"),
        "{url}"
    );

    let params = request(&client, &challenge, &[("claims", essential.as_str())]);
    let res = app.authorize(&params).await;
    assert_eq!(res.status(), 302);
    assert!(
        location(&res).starts_with("/login/second-factor?"),
        "{}",
        location(&res)
    );

    let one = ostiary::authn::acr::ONE_FACTOR;
    let enough = format!(r#"{{"id_token":{{"acr":{{"essential":true,"value":"{one}"}}}}}}"#);
    let params = request(&client, &challenge, &[("claims", enough.as_str())]);
    let res = app.authorize(&params).await;
    assert_eq!(res.status(), 200, "the consent page: no step-up");
}

/// A claims parameter that is not a Core §5.5 JSON object is `invalid_request`, redirected with
/// `state` (the client and redirect URI being valid).
#[tokio::test]
async fn a_malformed_claims_parameter_is_invalid_request() {
    let app = app_with_user().await;
    let client = app.client(&[]).await;
    let (_, challenge) = pkce_pair();
    for bad in [
        "{not json",
        "[1]",
        r#"{"id_token":{"email":true}}"#,
        r#"{"userinfo":"email"}"#,
    ] {
        let params = request(&client, &challenge, &[("claims", bad)]);
        let res = app.authorize(&params).await;
        assert_eq!(res.status(), 302, "{bad}");
        let url = url::Url::parse(&location(&res)).expect("redirect");
        assert_eq!(
            query_param(&url, "error").as_deref(),
            Some("invalid_request"),
            "{bad}: {url}"
        );
        assert_eq!(query_param(&url, "state").as_deref(), Some("st <&\"> 1"));
    }
    let meta: Value = app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(meta["claims_parameter_supported"], true);
}

/// A relying party nobody here wrote, Node openid-client (tests/rp/node/form_post.mjs), asks
/// for `response_mode=form_post`, receives the POST its "browser" makes by submitting our page
/// to its redirect URI, checks `state` and `iss` from the form body and redeems the code.
#[tokio::test]
async fn node_openid_client_takes_a_form_post_response() {
    let dir = tokio::task::spawn_blocking(crate::rp::rp_node)
        .await
        .expect("npm ci")
        .clone();
    let app = app_with_user().await;
    let client = app.client(&FULL_CLIENT).await;
    let out = tokio::process::Command::new("node")
        .arg(dir.join("form_post.mjs"))
        .env("ISSUER", &app.address)
        .env("CLIENT_ID", &client.id)
        .env("CLIENT_SECRET", client.secret.as_deref().expect("a secret"))
        .env("REDIRECT_URI", &client.redirect_uri)
        .env("USERNAME", USER.0)
        .env("PASSWORD", USER.1)
        .output()
        .await
        .expect("node is needed for the Node relying-party test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("NODE FORM_POST OK"),
        "openid-client form_post RP failed:\n{stdout}\n{stderr}"
    );
}
