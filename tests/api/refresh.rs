//! Refresh-token rotation: strict by default (reuse revokes the whole family); with an opted-in
//! grace window, concurrent retries share one successor.

use serde_json::Value;

use crate::helpers::{pkce_pair, query_param, spawn_app_on, test_db, TestApp, TestClient};

const USER: (&str, &str) = ("rita", "rita's password");

async fn first_refresh_token(app: &TestApp, client: &TestClient) -> String {
    let (verifier, challenge) = pkce_pair();
    let url = app
        .code_flow(
            client,
            &[
                ("response_type", "code"),
                ("client_id", client.id.as_str()),
                ("redirect_uri", client.redirect_uri.as_str()),
                ("scope", "openid"),
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "S256"),
            ],
            USER,
        )
        .await;
    let code = query_param(&url, "code").expect("code");
    let body: Value = app
        .token(
            client,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &client.redirect_uri),
                ("code_verifier", &verifier),
            ],
        )
        .await
        .json()
        .await
        .expect("json");
    body["refresh_token"]
        .as_str()
        .expect("refresh token")
        .to_owned()
}

async fn refresh(app: &TestApp, client: &TestClient, token: &str) -> (u16, Value) {
    let res = app
        .token(
            client,
            &[("grant_type", "refresh_token"), ("refresh_token", token)],
        )
        .await;
    let status = res.status().as_u16();
    (status, res.json().await.expect("json"))
}

async fn app_with_grace(grace: i64) -> TestApp {
    let app = spawn_app_on(test_db(), |a| a.refresh_grace = Some(grace)).await;
    app.user(USER.0, USER.1).await;
    app
}

#[tokio::test]
async fn two_concurrent_refreshes_get_the_same_successor() {
    let app = app_with_grace(10).await;
    let client = app.client(&[]).await;
    let token = first_refresh_token(&app, &client).await;
    let (a, b) = tokio::join!(
        refresh(&app, &client, &token),
        refresh(&app, &client, &token)
    );
    assert_eq!(a.0, 200, "{:?}", a.1);
    assert_eq!(b.0, 200, "{:?}", b.1);
    assert_eq!(
        a.1["refresh_token"], b.1["refresh_token"],
        "no fork of the family"
    );
    assert_ne!(a.1["access_token"], b.1["access_token"]);
    // The shared successor keeps working.
    let next = a.1["refresh_token"].as_str().expect("successor");
    let (status, _) = refresh(&app, &client, next).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_retry_within_the_grace_window_gets_the_same_successor() {
    let app = app_with_grace(10).await;
    let client = app.client(&["--public"]).await;
    let token = first_refresh_token(&app, &client).await;
    let (s1, first) = refresh(&app, &client, &token).await;
    let (s2, retry) = refresh(&app, &client, &token).await;
    assert_eq!((s1, s2), (200, 200));
    assert_eq!(first["refresh_token"], retry["refresh_token"]);
}

async fn assert_reuse_revokes_the_family(app: &TestApp, client: &TestClient) {
    let token = first_refresh_token(app, client).await;
    let (status, body) = refresh(app, client, &token).await;
    assert_eq!(status, 200);
    let successor = body["refresh_token"]
        .as_str()
        .expect("successor")
        .to_owned();
    // The old token again: theft is assumed.
    let (status, body) = refresh(app, client, &token).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    // And the legitimate successor is revoked with the family.
    let (status, body) = refresh(app, client, &successor).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(
        app.count("refresh_families WHERE revoked_at IS NOT NULL"),
        1
    );
}

#[tokio::test]
async fn by_default_reuse_of_a_rotated_token_is_refused_at_once_and_revokes_the_family() {
    // Default settings: no grace window, so even an immediate retry (same second) is reuse.
    let app = spawn_app_on(test_db(), |_| {}).await;
    app.user(USER.0, USER.1).await;
    let client = app.client(&[]).await;
    assert_reuse_revokes_the_family(&app, &client).await;
}

#[tokio::test]
async fn reuse_after_an_opted_in_grace_window_revokes_the_family() {
    let app = app_with_grace(1).await;
    let client = app.client(&[]).await;
    let token = first_refresh_token(&app, &client).await;
    let (status, body) = refresh(&app, &client, &token).await;
    assert_eq!(status, 200);
    let successor = body["refresh_token"]
        .as_str()
        .expect("successor")
        .to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
    let (status, body) = refresh(&app, &client, &token).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, _) = refresh(&app, &client, &successor).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn a_refresh_token_only_works_for_its_own_client() {
    let app = app_with_grace(10).await;
    let client = app.client(&[]).await;
    let other = app.client(&[]).await;
    let token = first_refresh_token(&app, &client).await;
    let (status, body) = refresh(&app, &other, &token).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, _) = refresh(&app, &client, &token).await;
    assert_eq!(
        status, 200,
        "the owner's token was not burned by the other client"
    );
    let (status, body) = refresh(&app, &client, "ostr_not-a-token").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn a_disabled_users_refresh_token_stops_working() {
    let app = app_with_grace(10).await;
    let client = app.client(&[]).await;
    let token = first_refresh_token(&app, &client).await;
    let out = app.cli(&["user", "disable", USER.0], None).await;
    assert!(out.ok(), "{}", out.stderr);
    let (status, body) = refresh(&app, &client, &token).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    // Disabling ended the user's sessions, and the refresh tokens issued in them with them
    // (back-channel logout): enabling the user again does not bring those back.
    assert!(app.cli(&["user", "enable", USER.0], None).await.ok());
    let (status, _) = refresh(&app, &client, &token).await;
    assert_eq!(
        status, 400,
        "the session's family was revoked when it ended"
    );
}
