//! Devices on /account (browser sessions: list, sign out one, sign out everywhere else; apps
//! holding refresh tokens: list, revoke), the admin view of a user's sessions, and the cheap
//! "last seen" update.

use diesel::prelude::*;
use serde_json::Value;

use crate::helpers::{location, pkce_pair, query_param, spawn_app, TestApp, TestClient};

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
const PHONE: &str = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36";
const LAPTOP: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15";

const ANN: (&str, &str) = ("ann", "ann's password");
const BOB: (&str, &str) = ("bob", "bob's password");

/// A cookie-aware browser with its own user agent, not following redirects.
fn device(ua: &str) -> reqwest::Client {
    crate::helpers::install_tls_provider();
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(ua)
        .build()
        .expect("client")
}

async fn signed_in(app: &TestApp, ua: &str, user: (&str, &str)) -> reqwest::Client {
    let b = device(ua);
    let res = app.login_with(&b, user.0, user.1).await;
    assert_eq!(res.status(), 303, "login of {}", user.0);
    b
}

async fn page(app: &TestApp, b: &reqwest::Client, path: &str) -> (u16, String) {
    let res = b.get(app.url(path)).send().await.expect("get");
    let status = res.status().as_u16();
    let loc = location(&res);
    let body = res.text().await.expect("body");
    if status == 303 {
        return (status, loc);
    }
    (status, body)
}

/// A session as the page lists it.
#[derive(Debug)]
struct Listed {
    handle: String,
    this_device: bool,
    text: String,
}

fn listed(html: &str) -> Vec<Listed> {
    let doc = scraper::Html::parse_document(html);
    let li = scraper::Selector::parse("li.device").expect("selector");
    let input = scraper::Selector::parse("input[name=session]").expect("selector");
    doc.select(&li)
        .filter_map(|e| {
            let handle = e.select(&input).next()?.value().attr("value")?.to_owned();
            Some(Listed {
                handle,
                this_device: e.value().classes().any(|c| c == "this-device"),
                text: e.text().collect::<Vec<_>>().join(" "),
            })
        })
        .collect()
}

async fn account(app: &TestApp, b: &reqwest::Client) -> (String, Vec<Listed>) {
    let (status, html) = page(app, b, "/account").await;
    assert_eq!(status, 200, "account page: {html}");
    let csrf = TestApp::csrf_of(&html);
    let devices = listed(&html);
    (csrf, devices)
}

async fn post(
    app: &TestApp,
    b: &reqwest::Client,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    b.post(app.url(path)).form(form).send().await.expect("post")
}

async fn signed_out(app: &TestApp, b: &reqwest::Client) -> bool {
    let (status, loc) = page(app, b, "/account").await;
    status == 303 && loc.starts_with("/login")
}

fn exec(app: &TestApp, sql: &str) {
    let mut conn = app.db.conn();
    diesel::sql_query(sql).execute(&mut conn).expect("sql");
}

fn user_id(app: &TestApp, name: &str) -> String {
    let mut conn = app.db.conn();
    ostiary::db::models::users::by_username(&mut conn, name)
        .expect("query")
        .expect("user")
        .id
}

fn sessions_of(app: &TestApp, name: &str) -> i64 {
    app.count(&format!(
        "sessions WHERE user_id = '{}'",
        user_id(app, name)
    ))
}

#[tokio::test]
async fn the_account_lists_every_device_and_marks_this_one() {
    let app = spawn_app().await;
    app.user(ANN.0, ANN.1).await;
    let a = signed_in(&app, FIREFOX, ANN).await;
    let _b = signed_in(&app, PHONE, ANN).await;

    let (_, devices) = account(&app, &a).await;
    assert_eq!(devices.len(), 2, "{devices:?}");
    let mine: Vec<_> = devices.iter().filter(|d| d.this_device).collect();
    assert_eq!(mine.len(), 1, "exactly one is this device");
    assert!(mine[0].text.contains("Firefox on Linux"), "{:?}", mine[0]);
    assert!(mine[0].text.contains("This device"));
    assert!(mine[0].text.contains("127.0.0.1"), "the client address");
    let other = devices.iter().find(|d| !d.this_device).expect("other");
    assert!(other.text.contains("Chrome on Android"), "{other:?}");
    assert!(!other.text.contains("This device"));
    assert!(other.text.contains("in the last 5 minutes"));
    // Handles name sessions without showing their keys.
    let keys = app.count(&format!(
        "sessions WHERE id_hash = '{}' OR id_hash = '{}'",
        devices[0].handle, devices[1].handle
    ));
    assert_eq!(keys, 0);
}

#[tokio::test]
async fn signing_out_another_device_ends_that_session_only() {
    let app = spawn_app().await;
    app.user(ANN.0, ANN.1).await;
    let a = signed_in(&app, FIREFOX, ANN).await;
    let b = signed_in(&app, PHONE, ANN).await;
    let c = signed_in(&app, LAPTOP, ANN).await;

    let (csrf, devices) = account(&app, &a).await;
    let phone = devices
        .iter()
        .find(|d| d.text.contains("Chrome on Android"))
        .expect("phone listed");
    let res = post(
        &app,
        &a,
        "/account/sessions/sign-out",
        &[("csrf_token", &csrf), ("session", &phone.handle)],
    )
    .await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/account");

    assert!(signed_out(&app, &b).await, "the phone is signed out");
    assert!(!signed_out(&app, &a).await, "this device is not");
    assert!(!signed_out(&app, &c).await, "the laptop is not");
    assert_eq!(sessions_of(&app, ANN.0), 2);
    assert_eq!(
        app.count("audit_events WHERE action = 'account.end_session'"),
        1
    );
    // The same handle again names nothing any more.
    let res = post(
        &app,
        &a,
        "/account/sessions/sign-out",
        &[("csrf_token", &csrf), ("session", &phone.handle)],
    )
    .await;
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn signing_out_this_device_logs_out() {
    let app = spawn_app().await;
    app.user(ANN.0, ANN.1).await;
    let a = signed_in(&app, FIREFOX, ANN).await;
    let b = signed_in(&app, PHONE, ANN).await;

    let (csrf, devices) = account(&app, &a).await;
    let mine = devices.iter().find(|d| d.this_device).expect("this device");
    let res = post(
        &app,
        &a,
        "/account/sessions/sign-out",
        &[("csrf_token", &csrf), ("session", &mine.handle)],
    )
    .await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/login");
    let cleared = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .any(|v| v.to_str().unwrap_or("").contains("Max-Age=0"));
    assert!(cleared, "the session cookie is removed");
    assert!(signed_out(&app, &a).await);
    assert!(!signed_out(&app, &b).await);
    assert_eq!(sessions_of(&app, ANN.0), 1);
}

#[tokio::test]
async fn signing_out_everywhere_else_keeps_only_this_device() {
    let app = spawn_app().await;
    app.user(ANN.0, ANN.1).await;
    app.user(BOB.0, BOB.1).await;
    let a = signed_in(&app, FIREFOX, ANN).await;
    let b = signed_in(&app, PHONE, ANN).await;
    let c = signed_in(&app, LAPTOP, ANN).await;
    let bob = signed_in(&app, FIREFOX, BOB).await;

    let (csrf, _) = account(&app, &a).await;
    let res = post(
        &app,
        &a,
        "/account/sessions/sign-out-others",
        &[("csrf_token", &csrf)],
    )
    .await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/account");
    assert!(signed_out(&app, &b).await);
    assert!(signed_out(&app, &c).await);
    assert!(!signed_out(&app, &a).await);
    assert!(!signed_out(&app, &bob).await, "other users are untouched");
    let (_, devices) = account(&app, &a).await;
    assert_eq!(devices.len(), 1);
    assert!(devices[0].this_device);
    let html = page(&app, &a, "/account").await.1;
    assert!(
        !html.contains("Sign out everywhere else"),
        "nothing else to sign out"
    );
}

async fn refresh_token_for(app: &TestApp, client: &TestClient, user: (&str, &str)) -> String {
    let (verifier, challenge) = pkce_pair();
    let url = app
        .code_flow(
            client,
            &[
                ("response_type", "code"),
                ("client_id", client.id.as_str()),
                ("redirect_uri", client.redirect_uri.as_str()),
                ("scope", "openid profile"),
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "S256"),
            ],
            user,
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
    body["refresh_token"].as_str().expect("refresh").to_owned()
}

async fn refresh_status(app: &TestApp, client: &TestClient, token: &str) -> (u16, Value) {
    let res = app
        .token(
            client,
            &[("grant_type", "refresh_token"), ("refresh_token", token)],
        )
        .await;
    let status = res.status().as_u16();
    (status, res.json().await.expect("json"))
}

#[tokio::test]
async fn an_app_holding_a_refresh_token_is_listed_and_revoking_it_kills_the_token() {
    let app = spawn_app().await;
    app.user(ANN.0, ANN.1).await;
    let client = app.client(&[]).await;
    let token = refresh_token_for(&app, &client, ANN).await;
    // A rotation: the app was "last used" with the newest token.
    let (status, body) = refresh_status(&app, &client, &token).await;
    assert_eq!(status, 200, "{body}");
    let token = body["refresh_token"].as_str().expect("rotated").to_owned();

    // Listed even without a consent row: holding refresh tokens is access.
    exec(&app, "DELETE FROM consents");
    let (status, html) = page(&app, &app.client, "/account").await;
    assert_eq!(status, 200);
    assert!(html.contains("Test App"), "the app is listed");
    assert!(html.contains("Last used"));
    // What it can do, in the consent page's words (`describe_scope`), not raw scope names.
    assert!(
        html.contains("<li>Confirm your identity (your account ID)</li>"),
        "{html}"
    );
    assert!(
        html.contains("<li>See your name and profile details</li>"),
        "{html}"
    );
    assert!(!html.contains("openid profile"), "{html}");
    let csrf = TestApp::csrf_of(&html);

    let res = post(
        &app,
        &app.client,
        "/account/apps/revoke",
        &[("csrf_token", &csrf), ("client_id", &client.id)],
    )
    .await;
    assert_eq!(res.status(), 303);
    let (status, body) = refresh_status(&app, &client, &token).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant");
    let html = page(&app, &app.client, "/account").await.1;
    assert!(html.contains("No app has access"), "{html}");
    assert_eq!(app.count("refresh_families WHERE revoked_at IS NULL"), 0);
    assert_eq!(
        app.count("audit_events WHERE action = 'account.revoke_app'"),
        1
    );
}

#[tokio::test]
async fn revoking_an_app_withdraws_its_consent_too() {
    let app = spawn_app().await;
    app.user(ANN.0, ANN.1).await;
    let client = app.client(&[]).await;
    let other = app.client(&[]).await;
    let token = refresh_token_for(&app, &client, ANN).await;
    let kept = refresh_token_for(&app, &other, ANN).await;
    assert_eq!(app.count("consents"), 2);
    let (_, html) = page(&app, &app.client, "/account").await;
    let csrf = TestApp::csrf_of(&html);
    // The older address (client id in the path) takes the same path through one rule.
    let res = post(
        &app,
        &app.client,
        &format!("/account/consents/{}/revoke", client.id),
        &[("csrf_token", &csrf)],
    )
    .await;
    assert_eq!(res.status(), 303);
    assert_eq!(app.count("consents"), 1);
    assert_eq!(refresh_status(&app, &client, &token).await.0, 400);
    assert_eq!(
        refresh_status(&app, &other, &kept).await.0,
        200,
        "other app untouched"
    );
}

#[tokio::test]
async fn without_the_csrf_token_nothing_changes() {
    let app = spawn_app().await;
    app.user(ANN.0, ANN.1).await;
    let client = app.client(&[]).await;
    let token = refresh_token_for(&app, &client, ANN).await;
    let a = signed_in(&app, FIREFOX, ANN).await;
    let b = signed_in(&app, PHONE, ANN).await;
    let (_, devices) = account(&app, &a).await;
    let phone = devices.iter().find(|d| !d.this_device).expect("phone");
    let before = sessions_of(&app, ANN.0);

    for (path, form) in [
        (
            "/account/sessions/sign-out",
            vec![("session", phone.handle.as_str())],
        ),
        (
            "/account/sessions/sign-out",
            vec![("session", phone.handle.as_str()), ("csrf_token", "forged")],
        ),
        ("/account/sessions/sign-out-others", vec![]),
        (
            "/account/apps/revoke",
            vec![("client_id", client.id.as_str())],
        ),
    ] {
        let res = post(&app, &a, path, &form).await;
        assert_eq!(res.status(), 400, "{path} without a valid CSRF token");
    }
    assert_eq!(sessions_of(&app, ANN.0), before);
    assert!(!signed_out(&app, &b).await);
    assert_eq!(refresh_status(&app, &client, &token).await.0, 200);
}

#[tokio::test]
async fn another_users_session_cannot_be_ended() {
    let app = spawn_app().await;
    app.user(ANN.0, ANN.1).await;
    app.user(BOB.0, BOB.1).await;
    let ann = signed_in(&app, FIREFOX, ANN).await;
    let bob = signed_in(&app, PHONE, BOB).await;
    let (_, bobs) = account(&app, &bob).await;
    let (csrf, _) = account(&app, &ann).await;

    let res = post(
        &app,
        &ann,
        "/account/sessions/sign-out",
        &[("csrf_token", &csrf), ("session", &bobs[0].handle)],
    )
    .await;
    assert_eq!(res.status(), 404);
    assert!(!signed_out(&app, &bob).await, "bob is still signed in");
    assert!(!signed_out(&app, &ann).await);
    assert_eq!(sessions_of(&app, BOB.0), 1);
    assert_eq!(sessions_of(&app, ANN.0), 1);
}

#[tokio::test]
async fn the_admin_sessions_page_is_for_admins_only() {
    let app = spawn_app().await;
    app.user(ANN.0, ANN.1).await;
    crate::helpers::add_user(&app.db, "root", "root password", true).await;
    let uid = user_id(&app, ANN.0);
    let list = format!("/admin/users/{uid}/sessions");

    let anon = device(FIREFOX);
    let (status, loc) = page(&app, &anon, &list).await;
    assert_eq!(status, 303);
    assert!(loc.starts_with("/login"), "{loc}");
    for path in ["end", "end-all"] {
        let res = post(&app, &anon, &format!("{list}/{path}"), &[]).await;
        assert_eq!(res.status(), 303, "anonymous POST {path}");
    }

    let ann = signed_in(&app, FIREFOX, ANN).await;
    let (status, _) = page(&app, &ann, &list).await;
    assert_eq!(status, 403);
    let (csrf, mine) = account(&app, &ann).await;
    for path in ["end", "end-all"] {
        let res = post(
            &app,
            &ann,
            &format!("{list}/{path}"),
            &[("csrf_token", &csrf), ("session", &mine[0].handle)],
        )
        .await;
        assert_eq!(res.status(), 403, "non-admin POST {path}");
    }
    assert_eq!(sessions_of(&app, ANN.0), 1);
}

#[tokio::test]
async fn an_admin_ends_one_session_then_all_sessions_of_a_user() {
    let app = spawn_app().await;
    app.user(ANN.0, ANN.1).await;
    crate::helpers::add_user(&app.db, "root", "root password", true).await;
    let uid = user_id(&app, ANN.0);
    let list = format!("/admin/users/{uid}/sessions");
    let a = signed_in(&app, FIREFOX, ANN).await;
    let b = signed_in(&app, PHONE, ANN).await;
    let admin = signed_in(&app, LAPTOP, ("root", "root password")).await;

    let (status, users) = page(&app, &admin, "/admin/users").await;
    assert_eq!(status, 200);
    assert!(
        users.contains(&format!("href=\"{list}\"")),
        "linked per user"
    );

    let (status, html) = page(&app, &admin, &list).await;
    assert_eq!(status, 200);
    let csrf = TestApp::csrf_of(&html);
    let sessions = listed(&html);
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    assert!(sessions.iter().all(|s| !s.this_device));
    assert!(html.contains("Chrome on Android") && html.contains("Firefox on Linux"));
    let phone = sessions
        .iter()
        .find(|s| s.text.contains("Chrome on Android"))
        .expect("phone");

    // Another user's session handle under this user's address names nothing.
    let (_, admins_own) = account(&app, &admin).await;
    let res = post(
        &app,
        &admin,
        &format!("{list}/end"),
        &[("csrf_token", &csrf), ("session", &admins_own[0].handle)],
    )
    .await;
    assert_eq!(res.status(), 404);
    assert!(!signed_out(&app, &admin).await);

    // A login older than five minutes needs the password again.
    exec(
        &app,
        &format!(
            "UPDATE sessions SET auth_time = auth_time - 3600 WHERE user_id = '{}'",
            user_id(&app, "root")
        ),
    );
    let res = post(
        &app,
        &admin,
        &format!("{list}/end"),
        &[("csrf_token", &csrf), ("session", &phone.handle)],
    )
    .await;
    assert_eq!(res.status(), 400, "recent authentication required");
    assert_eq!(sessions_of(&app, ANN.0), 2);
    let res = post(
        &app,
        &admin,
        "/admin/reauth",
        &[
            ("csrf_token", &csrf),
            ("password", "root password"),
            ("back", &list),
        ],
    )
    .await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), list, "back to the sessions page");

    let res = post(
        &app,
        &admin,
        &format!("{list}/end"),
        &[("csrf_token", &csrf), ("session", &phone.handle)],
    )
    .await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), list);
    assert!(signed_out(&app, &b).await);
    assert!(!signed_out(&app, &a).await);

    let res = post(
        &app,
        &admin,
        &format!("{list}/end-all"),
        &[("csrf_token", &csrf)],
    )
    .await;
    assert_eq!(res.status(), 303);
    assert!(signed_out(&app, &a).await);
    assert_eq!(sessions_of(&app, ANN.0), 0);
    assert!(!signed_out(&app, &admin).await, "the admin stays signed in");
    assert_eq!(
        app.count("audit_events WHERE action = 'user.end_session'"),
        1
    );
    assert_eq!(
        app.count("audit_events WHERE action = 'user.end_sessions'"),
        1
    );
    let html = page(&app, &admin, &list).await.1;
    assert!(html.contains("not signed in anywhere"));
}

#[tokio::test]
async fn last_seen_is_written_at_most_once_per_interval() {
    let app = spawn_app().await;
    app.user(ANN.0, ANN.1).await;
    let a = signed_in(&app, FIREFOX, ANN).await;
    let uid = user_id(&app, ANN.0);
    let now = chrono::Utc::now().timestamp();

    // Seen a minute ago: using the session writes nothing.
    let recent = now - 60;
    exec(
        &app,
        &format!("UPDATE sessions SET last_seen_at = {recent} WHERE user_id = '{uid}'"),
    );
    for _ in 0..3 {
        account(&app, &a).await;
    }
    assert_eq!(
        app.count(&format!(
            "sessions WHERE user_id = '{uid}' AND last_seen_at = {recent}"
        )),
        1,
        "no write within the interval"
    );

    // Seen twenty minutes ago: the next request records now, once.
    let stale = now - 1200;
    exec(
        &app,
        &format!("UPDATE sessions SET last_seen_at = {stale} WHERE user_id = '{uid}'"),
    );
    let (_, devices) = account(&app, &a).await;
    assert!(
        devices[0].text.contains("in the last 5 minutes"),
        "{:?}",
        devices[0]
    );
    assert_eq!(
        app.count(&format!(
            "sessions WHERE user_id = '{uid}' AND last_seen_at >= {now}"
        )),
        1,
        "touched"
    );
    // Pin the fresh value to tell a second write apart from the first.
    let fresh = now - 30;
    exec(
        &app,
        &format!("UPDATE sessions SET last_seen_at = {fresh} WHERE user_id = '{uid}'"),
    );
    account(&app, &a).await;
    assert_eq!(
        app.count(&format!(
            "sessions WHERE user_id = '{uid}' AND last_seen_at = {fresh}"
        )),
        1,
        "no second write"
    );

    // Another device's stale row shows its age, and is not touched by this device's requests.
    let b = signed_in(&app, PHONE, ANN).await;
    drop(b);
    exec(
        &app,
        &format!(
            "UPDATE sessions SET last_seen_at = {stale} WHERE user_id = '{uid}' AND user_agent = '{PHONE}'"
        ),
    );
    let (_, devices) = account(&app, &a).await;
    let phone = devices.iter().find(|d| !d.this_device).expect("phone");
    assert!(phone.text.contains("20 minutes ago"), "{phone:?}");
    assert_eq!(
        app.count(&format!(
            "sessions WHERE user_id = '{uid}' AND last_seen_at = {stale}"
        )),
        1
    );
}

#[tokio::test]
async fn anonymous_visits_write_no_session_rows() {
    let app = spawn_app().await;
    let anon = device(FIREFOX);
    for path in ["/login", "/account", "/"] {
        anon.get(app.url(path)).send().await.expect("get");
    }
    assert_eq!(app.count("sessions"), 0);
}
