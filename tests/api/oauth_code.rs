//! The authorization-code flow end to end, and each way it must refuse.

use serde_json::Value;

use crate::helpers::{location, pkce_pair, query_param, spawn_app, TestApp, TestClient};

const USER: (&str, &str) = ("alice", "alice's password");

async fn app_with_user() -> TestApp {
    let app = spawn_app().await;
    app.user(USER.0, USER.1).await;
    app
}

fn auth_params<'a>(
    client: &'a TestClient,
    challenge: &'a str,
    state: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("response_type", "code"),
        ("client_id", client.id.as_str()),
        ("redirect_uri", client.redirect_uri.as_str()),
        ("scope", "openid profile"),
        ("state", state),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ]
}

async fn get_code(app: &TestApp, client: &TestClient) -> (String, String) {
    let (verifier, challenge) = pkce_pair();
    let url = app
        .code_flow(client, &auth_params(client, &challenge, "st"), USER)
        .await;
    (query_param(&url, "code").expect("code"), verifier)
}

async fn exchange(
    app: &TestApp,
    client: &TestClient,
    code: &str,
    verifier: &str,
) -> reqwest::Response {
    app.token(
        client,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", client.redirect_uri.as_str()),
            ("code_verifier", verifier),
        ],
    )
    .await
}

async fn error_of(res: reqwest::Response) -> (u16, String, reqwest::header::HeaderMap) {
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body: Value = res.json().await.expect("error json");
    assert!(body["error_description"].is_string());
    (
        status,
        body["error"].as_str().unwrap_or_default().to_owned(),
        headers,
    )
}

fn count(app: &TestApp, table: &str) -> i64 {
    app.count(table)
}

#[tokio::test]
async fn full_happy_path_code_tokens_refresh_and_refresh_again() {
    let app = app_with_user().await;
    let client = app.client(&[]).await;
    let (verifier, challenge) = pkce_pair();
    let url = app
        .code_flow(&client, &auth_params(&client, &challenge, "xyz"), USER)
        .await;
    assert_eq!(query_param(&url, "state").as_deref(), Some("xyz"));
    assert_eq!(
        query_param(&url, "iss").as_deref(),
        Some(app.address.as_str()),
        "RFC 9207 iss"
    );
    let code = query_param(&url, "code").expect("code");
    assert!(code.len() >= 43, "256-bit code");

    let res = exchange(&app, &client, &code, &verifier).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "openid profile", "scopes come back sorted");
    assert!(body["expires_in"]
        .as_i64()
        .is_some_and(|e| e > 0 && e <= 900));
    let access = body["access_token"].as_str().expect("access token");
    let header = jsonwebtoken::decode_header(access).expect("jwt");
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    assert_eq!(header.alg, jsonwebtoken::Algorithm::ES256);
    assert!(header.kid.is_some());
    let refresh1 = body["refresh_token"]
        .as_str()
        .expect("refresh token")
        .to_owned();

    let res = app
        .token(
            &client,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh1),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.expect("json");
    let refresh2 = body["refresh_token"].as_str().expect("rotated").to_owned();
    assert_ne!(refresh2, refresh1, "rotation");
    assert!(body["access_token"].is_string());

    // Narrowing is allowed, widening is not.
    let res = app
        .token(
            &client,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh2),
                ("scope", "openid"),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["scope"], "openid");
    let refresh3 = body["refresh_token"].as_str().expect("rotated").to_owned();
    let res = app
        .token(
            &client,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh3),
                ("scope", "openid email"),
            ],
        )
        .await;
    let (status, error, _) = error_of(res).await;
    assert_eq!((status, error.as_str()), (400, "invalid_scope"));
}

#[tokio::test]
async fn consent_is_remembered_and_asked_again_for_more_scopes() {
    let app = app_with_user().await;
    let client = app.client(&[]).await;
    let (_, challenge) = pkce_pair();
    app.code_flow(&client, &auth_params(&client, &challenge, "a"), USER)
        .await;
    // Same scopes again: straight back to the client, no consent page.
    let res = app.authorize(&auth_params(&client, &challenge, "b")).await;
    assert_eq!(res.status(), 302);
    assert!(location(&res).starts_with(&client.redirect_uri));
    // More scopes: the consent page again, naming the client and the new scope in words.
    let mut params = auth_params(&client, &challenge, "c");
    params[3] = ("scope", "openid profile email");
    let res = app.authorize(&params).await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.expect("html");
    assert!(html.contains("Test App"));
    assert!(html.contains("email address"));
    assert!(html.contains(r#"name="decision" value="allow""#));
    assert!(html.contains(r#"name="decision" value="deny""#));
}

#[tokio::test]
async fn deny_gives_access_denied_to_the_client() {
    let app = app_with_user().await;
    let client = app.client(&[]).await;
    let (_, challenge) = pkce_pair();
    let res = app.authorize(&auth_params(&client, &challenge, "s1")).await;
    let login = app.login(&location(&res), USER.0, USER.1).await;
    let consent = app
        .client
        .get(app.url(&location(&login)))
        .send()
        .await
        .expect("consent");
    let html = consent.text().await.expect("html");
    let res = app
        .client
        .post(app.url(&crate::helpers::consent_action(&html)))
        .form(&[
            ("csrf_token", TestApp::csrf_of(&html).as_str()),
            ("decision", "deny"),
        ])
        .send()
        .await
        .expect("deny");
    assert_eq!(res.status(), 302);
    let url = url::Url::parse(&location(&res)).expect("url");
    assert_eq!(query_param(&url, "error").as_deref(), Some("access_denied"));
    assert!(query_param(&url, "error_description").is_some());
    assert!(query_param(&url, "description").is_none(), "RFC names only");
    assert_eq!(query_param(&url, "state").as_deref(), Some("s1"));
    assert_eq!(
        query_param(&url, "iss").as_deref(),
        Some(app.address.as_str())
    );
    assert_eq!(count(&app, "authorization_codes"), 0);
}

#[tokio::test]
async fn unregistered_redirect_uri_gets_an_error_page_not_a_redirect() {
    let app = app_with_user().await;
    let client = app.client(&[]).await;
    let (_, challenge) = pkce_pair();
    for uri in [
        "https://evil.example/cb",
        "http://127.0.0.1:9/callback/extra",
        "http://127.0.0.1:10/callback",
    ] {
        let mut params = auth_params(&client, &challenge, "s");
        params[2] = ("redirect_uri", uri);
        let res = app.authorize(&params).await;
        assert_eq!(res.status(), 400, "{uri}");
        assert!(
            res.headers().get("location").is_none(),
            "never redirect: {uri}"
        );
        let html = res.text().await.expect("html");
        assert!(html.contains("redirect_uri"), "{html}");
    }
    let mut params = auth_params(&client, &challenge, "s");
    params[1] = ("client_id", "no-such-client");
    let res = app.authorize(&params).await;
    assert_eq!(res.status(), 400);
    assert!(res.headers().get("location").is_none());
}

#[tokio::test]
async fn unsupported_response_type_and_bad_scope_redirect_with_errors() {
    let app = app_with_user().await;
    let client = app.client(&[]).await;
    let (_, challenge) = pkce_pair();
    let mut params = auth_params(&client, &challenge, "s");
    params[0] = ("response_type", "token");
    let res = app.authorize(&params).await;
    assert_eq!(res.status(), 302);
    let url = url::Url::parse(&location(&res)).expect("url");
    assert_eq!(
        query_param(&url, "error").as_deref(),
        Some("unsupported_response_type")
    );
    assert_eq!(query_param(&url, "state").as_deref(), Some("s"));
    assert!(query_param(&url, "iss").is_some());

    let mut params = auth_params(&client, &challenge, "s");
    params[3] = ("scope", "admin:everything");
    let res = app.authorize(&params).await;
    let url = url::Url::parse(&location(&res)).expect("url");
    assert_eq!(query_param(&url, "error").as_deref(), Some("invalid_scope"));
    assert!(query_param(&url, "error_description").is_some());
}

#[tokio::test]
async fn public_clients_must_use_pkce_and_plain_is_refused() {
    let app = app_with_user().await;
    let client = app.client(&["--public"]).await;
    let base = [
        ("response_type", "code"),
        ("client_id", client.id.as_str()),
        ("redirect_uri", client.redirect_uri.as_str()),
        ("scope", "openid"),
        ("state", "s"),
    ];
    let res = app.authorize(&base).await;
    let url = url::Url::parse(&location(&res)).expect("url");
    assert_eq!(
        query_param(&url, "error").as_deref(),
        Some("invalid_request")
    );
    assert!(query_param(&url, "error_description").is_some_and(|d| d.contains("PKCE")));

    let (verifier, _) = pkce_pair();
    let mut plain = base.to_vec();
    plain.push(("code_challenge", verifier.as_str()));
    plain.push(("code_challenge_method", "plain"));
    let res = app.authorize(&plain).await;
    let url = url::Url::parse(&location(&res)).expect("url");
    assert_eq!(
        query_param(&url, "error").as_deref(),
        Some("invalid_request")
    );

    // With S256 the public client completes the flow and redeems without a secret.
    let (code, verifier) = get_code(&app, &client).await;
    let res = exchange(&app, &client, &code, &verifier).await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn wrong_client_secret_is_401_with_basic_challenge_and_issues_nothing() {
    let app = app_with_user().await;
    let client = app.client(&[]).await;
    let (code, verifier) = get_code(&app, &client).await;
    let mut wrong = client.clone();
    wrong.secret = Some("ost_wrong".into());
    let (status, error, headers) = error_of(exchange(&app, &wrong, &code, &verifier).await).await;
    assert_eq!((status, error.as_str()), (401, "invalid_client"));
    assert!(headers["www-authenticate"]
        .to_str()
        .unwrap_or("")
        .starts_with("Basic"));
    assert_eq!(count(&app, "refresh_families"), 0);
    // The code was not consumed by the failed attempt: the right secret still works.
    assert_eq!(
        exchange(&app, &client, &code, &verifier).await.status(),
        200
    );
}

#[tokio::test]
async fn a_client_holding_a_secret_may_present_it_by_basic_or_in_the_body() {
    let app = app_with_user().await;
    let post_client = app
        .client(&[
            "--grant-type",
            "client_credentials",
            "--auth-method",
            "client_secret_post",
        ])
        .await;
    let basic_client = app.client(&["--grant-type", "client_credentials"]).await;
    for client in [&post_client, &basic_client] {
        // Basic (what app.token sends)…
        let res = app
            .token(client, &[("grant_type", "client_credentials")])
            .await;
        assert_eq!(res.status(), 200, "Basic for {}", client.id);
        // …and in the body, whichever the client registered (RFC 6749 §2.3.1).
        let res = reqwest::Client::new()
            .post(app.url("/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", client.id.as_str()),
                ("client_secret", client.secret.as_deref().unwrap_or("")),
            ])
            .send()
            .await
            .expect("token");
        assert_eq!(res.status(), 200, "body for {}", client.id);
    }
    // A wrong secret in the body is the same 401 as in the header, without a Basic challenge
    // (RFC 6749 §5.2: the challenge names the scheme the client used).
    let res = reqwest::Client::new()
        .post(app.url("/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", basic_client.id.as_str()),
            ("client_secret", "ost_wrong"),
        ])
        .send()
        .await
        .expect("token");
    let (status, error, headers) = error_of(res).await;
    assert_eq!((status, error.as_str()), (401, "invalid_client"));
    assert!(!headers.contains_key("www-authenticate"));
}

#[tokio::test]
async fn a_public_client_presenting_a_secret_is_refused() {
    let app = app_with_user().await;
    let public = app.client(&["--public"]).await;
    let res = reqwest::Client::new()
        .post(app.url("/token"))
        .basic_auth(&public.id, Some("ost_anything"))
        .form(&[("grant_type", "authorization_code"), ("code", "x")])
        .send()
        .await
        .expect("token");
    let (status, error, _) = error_of(res).await;
    assert_eq!((status, error.as_str()), (401, "invalid_client"));
    assert_eq!(count(&app, "refresh_families"), 0);
}

#[tokio::test]
async fn a_reused_code_is_rejected_and_revokes_what_it_issued() {
    let app = app_with_user().await;
    let client = app.client(&[]).await;
    let (code, verifier) = get_code(&app, &client).await;
    let first: Value = exchange(&app, &client, &code, &verifier)
        .await
        .json()
        .await
        .expect("json");
    let refresh = first["refresh_token"].as_str().expect("refresh").to_owned();
    let (status, error, _) = error_of(exchange(&app, &client, &code, &verifier).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_grant"));
    // The refresh token issued from the code no longer works, and the access token is denied.
    let res = app
        .token(
            &client,
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await;
    let (_, error, _) = error_of(res).await;
    assert_eq!(error, "invalid_grant");
    assert_eq!(count(&app, "access_token_denylist"), 1);
}

#[tokio::test]
async fn a_code_redeemed_by_another_client_is_refused() {
    let app = app_with_user().await;
    let client = app.client(&[]).await;
    let other = app.client(&[]).await;
    let (code, verifier) = get_code(&app, &client).await;
    let (status, error, _) = error_of(exchange(&app, &other, &code, &verifier).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_grant"));
    assert_eq!(count(&app, "refresh_families"), 0);
}

#[tokio::test]
async fn pkce_verifier_wrong_or_missing_is_refused() {
    let app = app_with_user().await;
    let client = app.client(&[]).await;
    let (code, _) = get_code(&app, &client).await;
    let (wrong, _) = pkce_pair();
    let (status, error, _) = error_of(exchange(&app, &client, &code, &wrong).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_grant"));

    let (code, _) = get_code(&app, &client).await;
    let res = app
        .token(
            &client,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &client.redirect_uri),
            ],
        )
        .await;
    let (status, error, _) = error_of(res).await;
    assert_eq!((status, error.as_str()), (400, "invalid_grant"));
    assert_eq!(count(&app, "refresh_families"), 0);
}

#[tokio::test]
async fn a_different_redirect_uri_at_the_token_endpoint_is_refused() {
    let app = app_with_user().await;
    let client = app
        .client(&[
            "--redirect-uri",
            "http://127.0.0.1:9/callback",
            "--redirect-uri",
            "http://127.0.0.1:9/other",
        ])
        .await;
    let (code, verifier) = get_code(&app, &client).await;
    let res = app
        .token(
            &client,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "http://127.0.0.1:9/other"),
                ("code_verifier", &verifier),
            ],
        )
        .await;
    let (status, error, _) = error_of(res).await;
    assert_eq!((status, error.as_str()), (400, "invalid_grant"));
    assert_eq!(count(&app, "refresh_families"), 0);
}

#[tokio::test]
async fn an_expired_code_is_refused() {
    let db = crate::helpers::test_db();
    let app = crate::helpers::spawn_app_on(db, |a| a.code_ttl = Some(1)).await;
    app.user(USER.0, USER.1).await;
    let client = app.client(&[]).await;
    let (code, verifier) = get_code(&app, &client).await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (status, error, _) = error_of(exchange(&app, &client, &code, &verifier).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_grant"));
    assert_eq!(count(&app, "refresh_families"), 0);
}

#[tokio::test]
async fn unsupported_grant_types_and_malformed_requests_get_json_errors() {
    let app = app_with_user().await;
    let client = app.client(&[]).await;
    let (_, error, _) = error_of(app.token(&client, &[("grant_type", "password")]).await).await;
    assert_eq!(error, "unsupported_grant_type");
    let (_, error, _) = error_of(app.token(&client, &[]).await).await;
    assert_eq!(error, "invalid_request");
    // A client not allowed the grant.
    let (_, error, _) = error_of(
        app.token(&client, &[("grant_type", "client_credentials")])
            .await,
    )
    .await;
    assert_eq!(error, "unauthorized_client");
    // Repeated parameters.
    let res = reqwest::Client::new()
        .post(app.url("/token"))
        .basic_auth(&client.id, client.secret.as_deref())
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=authorization_code&code=a&code=b&redirect_uri=x")
        .send()
        .await
        .expect("token");
    let (_, error, _) = error_of(res).await;
    assert_eq!(error, "invalid_request");
    // Not a form at all.
    let res = reqwest::Client::new()
        .post(app.url("/token"))
        .json(&serde_json::json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .expect("token");
    let (status, error, _) = error_of(res).await;
    assert_eq!((status, error.as_str()), (400, "invalid_request"));
    // Garbage Basic credentials.
    let res = reqwest::Client::new()
        .post(app.url("/token"))
        .header("authorization", "Basic %%%")
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token");
    let (status, error, _) = error_of(res).await;
    assert_eq!((status, error.as_str()), (401, "invalid_client"));
}

#[tokio::test]
async fn client_credentials_issues_a_jwt_without_refresh_token() {
    let app = spawn_app().await;
    let client = app
        .client(&[
            "--grant-type",
            "client_credentials",
            "--scope",
            "reports:read",
        ])
        .await;
    let res = app
        .token(
            &client,
            &[
                ("grant_type", "client_credentials"),
                ("scope", "reports:read"),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["token_type"], "Bearer");
    assert!(body.get("refresh_token").is_none());
    let token = body["access_token"].as_str().expect("token");
    // Verify with the stored public key (an independent check of the JWT).
    let header = jsonwebtoken::decode_header(token).expect("header");
    let kid = header.kid.expect("kid");
    let mut conn = app.db.conn();
    let key = ostiary::db::models::signing_keys::all(&mut conn)
        .expect("keys")
        .into_iter()
        .find(|k| k.kid == kid)
        .expect("signing key");
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_str(&key.public_jwk).expect("jwk");
    let mut v = jsonwebtoken::Validation::new(header.alg);
    v.set_audience(&[app.address.as_str()]);
    v.set_issuer(&[app.address.as_str()]);
    let claims = jsonwebtoken::decode::<Value>(
        token,
        &jsonwebtoken::DecodingKey::from_jwk(&jwk).expect("key"),
        &v,
    )
    .expect("valid signature")
    .claims;
    assert_eq!(claims["sub"], client.id.as_str());
    assert_eq!(claims["client_id"], client.id.as_str());
    assert_eq!(claims["scope"], "reports:read");
    assert!(claims["jti"].is_string() && claims["iat"].is_i64() && claims["exp"].is_i64());

    let (_, error, _) = error_of(
        app.token(
            &client,
            &[
                ("grant_type", "client_credentials"),
                ("scope", "reports:write"),
            ],
        )
        .await,
    )
    .await;
    assert_eq!(error, "invalid_scope");
}

#[tokio::test]
async fn a_public_native_client_may_vary_only_the_loopback_port() {
    let app = app_with_user().await;
    let native = app
        .client(&["--public", "--redirect-uri", "http://127.0.0.1/callback"])
        .await;
    let confidential = app
        .client(&["--redirect-uri", "http://127.0.0.1/callback"])
        .await;
    let (verifier, challenge) = pkce_pair();
    let mut native_at_port = native.clone();
    native_at_port.redirect_uri = "http://127.0.0.1:53124/callback".into();
    let url = app
        .code_flow(
            &native_at_port,
            &auth_params(&native_at_port, &challenge, "p"),
            USER,
        )
        .await;
    let code = query_param(&url, "code").expect("code");
    assert_eq!(
        exchange(&app, &native_at_port, &code, &verifier)
            .await
            .status(),
        200
    );

    let mut conf_at_port = confidential.clone();
    conf_at_port.redirect_uri = "http://127.0.0.1:53124/callback".into();
    let res = app
        .authorize(&auth_params(&conf_at_port, &challenge, "p"))
        .await;
    assert_eq!(res.status(), 400, "confidential clients get an exact match");
    assert!(res.headers().get("location").is_none());
}

/// RFC 6749 §3.3: a scope asked beyond what the client may have is narrowed, not refused — many
/// relying-party libraries ask for `offline_access` by default — and the token response says
/// what was granted. `offline_access` is consented like any scope for a client with the
/// refresh-token grant.
#[tokio::test]
async fn scopes_beyond_the_clients_are_narrowed_and_offline_access_is_consented() {
    let app = app_with_user().await;
    let client = app.client(&[]).await;
    let (verifier, challenge) = pkce_pair();
    let mut params = auth_params(&client, &challenge, "st");
    params[3] = ("scope", "openid profile offline_access admin:everything");
    let res = app.authorize(&params).await;
    assert_eq!(res.status(), 302);
    let login = app.login(&location(&res), USER.0, USER.1).await;
    let res = app
        .client
        .get(app.url(&location(&login)))
        .send()
        .await
        .expect("resume");
    assert_eq!(res.status(), 200, "the consent page");
    let html = res.text().await.expect("html");
    assert!(
        html.contains("Keep access while you are not using it"),
        "offline_access is asked of the user"
    );
    assert!(
        !html.contains("admin:everything"),
        "nothing beyond the client's scopes"
    );
    let url = app.code_flow(&client, &params, USER).await;
    let code = query_param(&url, "code").expect("a code, not invalid_scope");
    let res = exchange(&app, &client, &code, &verifier).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.expect("json");
    let mut granted: Vec<&str> = body["scope"]
        .as_str()
        .expect("scope in the token response")
        .split(' ')
        .collect();
    granted.sort_unstable();
    assert_eq!(granted, ["offline_access", "openid", "profile"]);
    assert!(body["refresh_token"].is_string());
}
