//! Second factors through real HTTP: TOTP enrolment and login, replayed and wrong codes,
//! recovery codes, the administrator's reset, the `required` policy, `acr_values` step-up and a
//! client's minimum class, and `amr`/`acr` in the id_token.

use std::time::Duration;

use serde_json::Value;

use crate::helpers::{
    browser, location, pkce_pair, query_param, spawn_app, spawn_app_on, test_db, TestApp,
};
use crate::mail::{SmtpSink, MAIL_WAIT};

const TWO_FACTOR: &str = "urn:ostiary:acr:2fa";

fn input_value(html: &str, name: &str) -> String {
    let doc = scraper::Html::parse_document(html);
    let sel = scraper::Selector::parse(&format!("input[name={name}]")).expect("selector");
    doc.select(&sel)
        .next()
        .and_then(|e| e.value().attr("value"))
        .unwrap_or_default()
        .to_owned()
}

fn text_of(html: &str, css: &str) -> Vec<String> {
    let doc = scraper::Html::parse_document(html);
    let sel = scraper::Selector::parse(css).expect("selector");
    doc.select(&sel)
        .map(|e| e.text().collect::<String>().trim().to_owned())
        .collect()
}

/// The code an authenticator app shows `steps` periods from now.
pub(crate) fn totp_code(secret: &str, steps: i64) -> String {
    ostiary::authn::totp::code_at(secret, ostiary::db::now() + 30 * steps).expect("code")
}

/// Turns on TOTP for the signed-in `b` from /account/security; returns the secret (as shown)
/// and the recovery codes shown once. The confirming code uses the current time step.
pub(crate) async fn enrol_totp(app: &TestApp, b: &reqwest::Client) -> (String, Vec<String>) {
    let page = app.html(b, "/account/security").await;
    let csrf = TestApp::csrf_of(&page);
    let setup = b
        .post(app.url("/account/security/totp"))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .expect("totp setup");
    assert_eq!(setup.status(), 200);
    let html = setup.text().await.expect("html");
    assert!(html.contains("<svg"), "a QR code rendered as SVG");
    assert!(html.contains(r#"autocomplete="one-time-code""#));
    assert!(html.contains(r#"inputmode="numeric""#));
    let secret = text_of(&html, "#totp-secret").remove(0).replace(' ', "");
    let secret_id = input_value(&html, "secret_id");
    let confirm = b
        .post(app.url("/account/security/totp/confirm"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("secret_id", secret_id.as_str()),
            ("code", &totp_code(&secret, 0)),
        ])
        .send()
        .await
        .expect("totp confirm");
    assert_eq!(confirm.status(), 200);
    let codes = text_of(&confirm.text().await.expect("html"), "#recovery-codes code");
    assert_eq!(codes.len(), 10, "ten recovery codes shown once");
    (secret, codes)
}

/// Password first; returns the response (a 303 to the second step when a factor is enrolled).
async fn password_step(app: &TestApp, b: &reqwest::Client, user: &str, pw: &str) -> String {
    let res = app.login_with(b, user, pw).await;
    assert_eq!(res.status(), 303);
    location(&res)
}

/// POSTs a code on the second-factor page; returns (status, location or body).
async fn submit_code(app: &TestApp, b: &reqwest::Client, code: &str) -> (u16, String) {
    let page = app.html(b, "/login/second-factor?return_to=/").await;
    let csrf = TestApp::csrf_of(&page);
    let res = b
        .post(app.url("/login/second-factor"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("return_to", "/"),
            ("code", code),
        ])
        .send()
        .await
        .expect("code");
    let status = res.status().as_u16();
    if status == 303 {
        return (status, location(&res));
    }
    (status, res.text().await.expect("body"))
}

async fn user_id(app: &TestApp, username: &str) -> String {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct Id {
        #[diesel(sql_type = diesel::sql_types::Text)]
        id: String,
    }
    let mut conn = app.db.conn();
    diesel::sql_query(format!(
        "SELECT id FROM users WHERE username = '{username}'"
    ))
    .get_result::<Id>(&mut conn)
    .expect("the user")
    .id
}

async fn signed_in(app: &TestApp, b: &reqwest::Client) -> bool {
    b.get(app.url("/account"))
        .send()
        .await
        .expect("account")
        .status()
        == 200
}

#[tokio::test]
async fn totp_enrolment_then_login_takes_each_code_once() {
    let app = spawn_app().await;
    app.user("tess", "tess's password").await;
    let b = browser();
    password_step(&app, &b, "tess", "tess's password").await;
    let (secret, _) = enrol_totp(&app, &b).await;
    // The secret is sealed at rest: neither its text nor its bytes appear in the row.
    let sealed = app.count(&format!(
        "totp_factors WHERE secret_sealed LIKE '%{secret}%' OR confirmed_at IS NULL"
    ));
    assert_eq!(sealed, 0);

    let b = browser();
    let next = password_step(&app, &b, "tess", "tess's password").await;
    assert!(next.starts_with("/login/second-factor?"), "{next}");
    assert!(
        !signed_in(&app, &b).await,
        "the password alone signs nobody in"
    );
    let page = app.html(&b, &next).await;
    assert!(page.contains(r#"autocomplete="one-time-code" inputmode="numeric""#));
    let (status, body) = submit_code(&app, &b, "000000").await;
    assert_eq!(status, 200);
    assert!(body.contains("not right"), "{body}");
    let code = totp_code(&secret, 1);
    let (status, to) = submit_code(&app, &b, &code).await;
    assert_eq!((status, to.as_str()), (303, "/"));
    assert!(signed_in(&app, &b).await);
    // Both sessions record both methods: this login's, and the one that proved the app's code
    // while setting it up.
    assert_eq!(
        app.count("sessions WHERE amr = 'pwd otp mfa'"),
        2,
        "the session records both methods"
    );

    // The same code again, in another browser with the right password: refused as a replay.
    let other = browser();
    password_step(&app, &other, "tess", "tess's password").await;
    let (status, body) = submit_code(&app, &other, &code).await;
    assert_eq!(status, 200);
    assert!(body.contains("used already"), "{body}");
    assert!(!signed_in(&app, &other).await);
}

#[tokio::test]
async fn wrong_codes_are_throttled_like_passwords() {
    let app = spawn_app_on(test_db(), |a| {
        a.account_lockout_threshold = Some(4);
    })
    .await;
    app.user("walt", "walt's password").await;
    let b = browser();
    password_step(&app, &b, "walt", "walt's password").await;
    let (secret, _) = enrol_totp(&app, &b).await;
    let b = browser();
    password_step(&app, &b, "walt", "walt's password").await;
    // Half the threshold is free; then each failure must wait (429 + Retry-After); at the
    // threshold the second factor is locked. Waits are honoured, as a patient attacker would.
    let mut statuses = Vec::new();
    for _ in 0..20 {
        if app.count("audit_events WHERE action = 'second_factor.failure'") >= 4 {
            break;
        }
        let (status, _) = submit_code(&app, &b, "123456").await;
        statuses.push(status);
        if status == 429 {
            tokio::time::sleep(Duration::from_millis(1100)).await;
        }
    }
    assert_eq!(&statuses[..2], &[200, 200], "{statuses:?}");
    assert!(statuses.contains(&429), "{statuses:?}");
    assert_eq!(
        app.count("audit_events WHERE action = 'lockout.second_factor'"),
        1
    );
    // Locked: not even a right code is checked.
    let (status, _) = submit_code(&app, &b, &totp_code(&secret, 1)).await;
    assert_eq!(status, 429);
    // A right password does not reset the count of wrong codes.
    let again = browser();
    password_step(&app, &again, "walt", "walt's password").await;
    let (status, _) = submit_code(&app, &again, &totp_code(&secret, 1)).await;
    assert_eq!(status, 429);
}

#[tokio::test]
async fn a_recovery_code_works_once_and_the_user_is_told_by_mail() {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let app = spawn_app_on(test_db(), move |a| {
        a.smtp_url = Some(url);
        a.outbox_interval = Some(1);
    })
    .await;
    app.user("rita", "rita's password").await;
    let b = browser();
    password_step(&app, &b, "rita", "rita's password").await;
    let (_, codes) = enrol_totp(&app, &b).await;
    assert_eq!(app.count("recovery_codes WHERE used_at IS NULL"), 10);
    assert_eq!(
        app.count(&format!(
            "recovery_codes WHERE code_hash LIKE '%{}%'",
            codes[0]
        )),
        0,
        "stored hashed"
    );

    let b = browser();
    password_step(&app, &b, "rita", "rita's password").await;
    let page = app.html(&b, "/login/second-factor?return_to=/").await;
    assert!(page.contains("Use a recovery code"));
    // Typed loosely: lower case, spaces for dashes.
    let typed = codes[0].to_lowercase().replace('-', " ");
    let (status, to) = submit_code(&app, &b, &typed).await;
    assert_eq!((status, to.as_str()), (303, "/"));
    assert!(signed_in(&app, &b).await);
    assert_eq!(
        app.count("audit_events WHERE action = 'second_factor.recovery_code'"),
        1
    );
    let mail = sink.wait_for_mail("rita@example.test", MAIL_WAIT).await;
    assert!(
        mail.to_string().contains("A recovery code was used"),
        "{mail}"
    );
    assert!(mail.to_string().contains("9 are left"), "{mail}");

    let again = browser();
    password_step(&app, &again, "rita", "rita's password").await;
    let (status, _) = submit_code(&app, &again, &codes[0]).await;
    assert_eq!(status, 200, "a used recovery code is refused");
    assert!(!signed_in(&app, &again).await);
    let (status, _) = submit_code(&app, &again, &codes[1]).await;
    assert_eq!(status, 303, "another one still works");
}

#[tokio::test]
async fn an_administrator_resets_a_users_factors_after_reauthenticating() {
    let app = spawn_app().await;
    crate::helpers::add_user(&app.db, "ada", "ada's password", true).await;
    app.user("lou", "lou's password").await;
    let lou = browser();
    password_step(&app, &lou, "lou", "lou's password").await;
    enrol_totp(&app, &lou).await;
    let uid = user_id(&app, "lou").await;

    let admin = browser();
    password_step(&app, &admin, "ada", "ada's password").await;
    let users = app.html(&admin, "/admin/users").await;
    assert!(users.contains("Reset second factors of lou"));
    let csrf = TestApp::csrf_of(&users);
    let res = admin
        .post(app.url(&format!("/admin/users/{uid}/reset-factors")))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .expect("reset");
    assert_eq!(res.status(), 303);
    assert_eq!(app.count("totp_factors"), 0);
    assert_eq!(app.count("recovery_codes"), 0);
    assert_eq!(
        app.count("audit_events WHERE action = 'user.reset_factors'"),
        1
    );
    // Whoever has the lost phone may have lou's sessions too: they are over.
    assert!(!signed_in(&app, &lou).await);
    // With the factors gone, the password alone signs lou in again (policy optional).
    let b = browser();
    assert_eq!(password_step(&app, &b, "lou", "lou's password").await, "/");
}

#[tokio::test]
async fn an_old_admin_session_must_reauthenticate_before_a_reset() {
    let app = spawn_app().await;
    crate::helpers::add_user(&app.db, "ada", "ada's password", true).await;
    app.user("lou", "lou's password").await;
    let admin = browser();
    password_step(&app, &admin, "ada", "ada's password").await;
    // Make the admin's login older than five minutes.
    {
        use diesel::prelude::*;
        let mut conn = app.db.conn();
        diesel::sql_query("UPDATE sessions SET auth_time = auth_time - 600")
            .execute(&mut conn)
            .expect("age the session");
    }
    let users = app.html(&admin, "/admin/users").await;
    let csrf = TestApp::csrf_of(&users);
    let uid = user_id(&app, "lou").await;
    let res = admin
        .post(app.url(&format!("/admin/users/{uid}/reset-factors")))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .expect("reset");
    assert_eq!(res.status(), 400, "refused without a fresh password");
    assert_eq!(
        app.count("audit_events WHERE action = 'user.reset_factors'"),
        0
    );
}

#[tokio::test]
async fn the_required_policy_makes_users_enrol_at_their_next_login() {
    let app = spawn_app_on(test_db(), |a| {
        a.second_factor = Some("required".into());
    })
    .await;
    app.user("nell", "nell's password").await;
    let b = browser();
    let next = password_step(&app, &b, "nell", "nell's password").await;
    assert!(next.starts_with("/login/enrol?"), "{next}");
    assert!(
        !signed_in(&app, &b).await,
        "no session before a factor exists"
    );
    let page = app.html(&b, &next).await;
    assert!(page.contains("<svg"));
    let secret = text_of(&page, "#totp-secret").remove(0).replace(' ', "");
    let secret_id = input_value(&page, "secret_id");
    let csrf = TestApp::csrf_of(&page);
    let wrong = b
        .post(app.url("/login/enrol"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("return_to", "/"),
            ("secret_id", secret_id.as_str()),
            ("code", "111111"),
        ])
        .send()
        .await
        .expect("enrol");
    assert_eq!(wrong.status(), 400);
    assert!(!signed_in(&app, &b).await);
    let res = b
        .post(app.url("/login/enrol"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("return_to", "/"),
            ("secret_id", secret_id.as_str()),
            ("code", &totp_code(&secret, 0)),
        ])
        .send()
        .await
        .expect("enrol");
    assert_eq!(res.status(), 200);
    let codes = text_of(&res.text().await.expect("html"), "#recovery-codes code");
    assert_eq!(codes.len(), 10);
    assert!(signed_in(&app, &b).await);
    assert_eq!(app.count("sessions WHERE amr = 'pwd otp mfa'"), 1);
    // Next time: the code is asked for, as for anyone with a factor.
    let again = browser();
    let next = password_step(&app, &again, "nell", "nell's password").await;
    assert!(next.starts_with("/login/second-factor?"), "{next}");
}

#[tokio::test]
async fn the_admin_policy_applies_to_administrators_only() {
    let app = spawn_app_on(test_db(), |a| {
        a.admin_second_factor = Some("required".into());
    })
    .await;
    crate::helpers::add_user(&app.db, "ada", "ada's password", true).await;
    app.user("ugo", "ugo's password").await;
    assert_eq!(
        password_step(&app, &browser(), "ugo", "ugo's password").await,
        "/"
    );
    let next = password_step(&app, &browser(), "ada", "ada's password").await;
    assert!(next.starts_with("/login/enrol?"), "{next}");
}

/// The id_token's claims, unverified (signature checks are the RP tests' business).
fn id_token_claims(token: &Value) -> Value {
    use base64::Engine;
    let jwt = token["id_token"].as_str().expect("id_token");
    let payload = jwt.split('.').nth(1).expect("payload");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("b64");
    serde_json::from_slice(&raw).expect("claims")
}

async fn exchange(
    app: &TestApp,
    client: &crate::helpers::TestClient,
    code: &str,
    verifier: &str,
) -> Value {
    let res = app
        .token(
            client,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", &client.redirect_uri),
                ("code_verifier", verifier),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
    res.json().await.expect("token json")
}

#[tokio::test]
async fn acr_values_steps_up_with_the_missing_factor_only() {
    let app = spawn_app().await;
    app.user("stan", "stan's password").await;
    let client = app.client(&[]).await;
    // This browser signs in with the password before stan sets up a factor elsewhere.
    password_step(&app, &app.client, "stan", "stan's password").await;
    let other = browser();
    password_step(&app, &other, "stan", "stan's password").await;
    let (secret, _) = enrol_totp(&app, &other).await;

    let (verifier, challenge) = pkce_pair();
    let base = [
        ("response_type", "code"),
        ("client_id", client.id.as_str()),
        ("redirect_uri", client.redirect_uri.as_str()),
        ("scope", "openid"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("nonce", "n-1"),
    ];
    // prompt=none does not step up for a voluntary acr_values: it goes on without (here to the
    // consent this client does not have yet).
    let mut quiet = base.to_vec();
    quiet.extend([("acr_values", TWO_FACTOR), ("prompt", "none")]);
    let res = app.authorize(&quiet).await;
    let url = url::Url::parse(&location(&res)).expect("redirect");
    assert_eq!(
        query_param(&url, "error").as_deref(),
        Some("consent_required")
    );

    let mut params = base.to_vec();
    params.push(("acr_values", TWO_FACTOR));
    let res = app.authorize(&params).await;
    assert_eq!(res.status(), 302);
    let step = location(&res);
    assert!(step.starts_with("/login/second-factor?"), "{step}");
    let page = app.html(&app.client, &step).await;
    assert!(
        !page.contains(r#"type="password""#),
        "no password asked again"
    );
    let csrf = TestApp::csrf_of(&page);
    let return_to = url::form_urlencoded::parse(step.split_once('?').expect("query").1.as_bytes())
        .find(|(k, _)| k == "return_to")
        .expect("return_to")
        .1
        .into_owned();
    let res = app
        .client
        .post(app.url("/login/second-factor"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("return_to", return_to.as_str()),
            ("code", &totp_code(&secret, 1)),
        ])
        .send()
        .await
        .expect("code");
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), return_to);
    // Back at the request: consent, then the code.
    let res = app
        .client
        .get(app.url(&return_to))
        .send()
        .await
        .expect("resume");
    let redirect = if res.status() == 200 {
        let html = res.text().await.expect("consent");
        let csrf = TestApp::csrf_of(&html);
        let action = crate::helpers::consent_action(&html);
        let res = app
            .client
            .post(app.url(&action))
            .form(&[("csrf_token", csrf.as_str()), ("decision", "allow")])
            .send()
            .await
            .expect("consent");
        location(&res)
    } else {
        location(&res)
    };
    let url = url::Url::parse(&redirect).expect("client redirect");
    let code = query_param(&url, "code").expect("code");
    let tokens = exchange(&app, &client, &code, &verifier).await;
    let claims = id_token_claims(&tokens);
    assert_eq!(claims["acr"], TWO_FACTOR);
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp", "mfa"]));
    // A refresh keeps what the login proved.
    let refreshed = app
        .token(
            &client,
            &[
                ("grant_type", "refresh_token"),
                (
                    "refresh_token",
                    tokens["refresh_token"].as_str().expect("rt"),
                ),
            ],
        )
        .await;
    let refreshed: Value = refreshed.json().await.expect("json");
    assert_eq!(id_token_claims(&refreshed)["acr"], TWO_FACTOR);
}

#[tokio::test]
async fn a_password_login_says_one_factor_and_discovery_lists_the_classes() {
    let app = spawn_app().await;
    app.user("otto", "otto's password").await;
    let client = app.client(&[]).await;
    let (verifier, challenge) = pkce_pair();
    let url = app
        .code_flow(
            &client,
            &[
                ("response_type", "code"),
                ("client_id", client.id.as_str()),
                ("redirect_uri", client.redirect_uri.as_str()),
                ("scope", "openid"),
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "S256"),
                // Voluntary: otto has no factor that reaches it, so nothing is forced.
                ("acr_values", TWO_FACTOR),
            ],
            ("otto", "otto's password"),
        )
        .await;
    let code = query_param(&url, "code").expect("code");
    let claims = id_token_claims(&exchange(&app, &client, &code, &verifier).await);
    assert_eq!(claims["acr"], "urn:ostiary:acr:1fa");
    assert_eq!(claims["amr"], serde_json::json!(["pwd"]));
    let meta: Value = app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        meta["acr_values_supported"],
        serde_json::json!(["urn:ostiary:acr:1fa", TWO_FACTOR, "phr"])
    );
    assert!(meta["claims_supported"]
        .as_array()
        .expect("claims")
        .iter()
        .any(|c| c == "amr"));
}

#[tokio::test]
async fn a_client_minimum_sends_users_without_a_factor_to_set_one_up() {
    let app = spawn_app().await;
    app.user("mia", "mia's password").await;
    let client = app.client(&["--minimum-acr", TWO_FACTOR]).await;
    let (_, challenge) = pkce_pair();
    let params = [
        ("response_type", "code"),
        ("client_id", client.id.as_str()),
        ("redirect_uri", client.redirect_uri.as_str()),
        ("scope", "openid"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let res = app.authorize(&params).await;
    let login = app.login(&location(&res), "mia", "mia's password").await;
    assert_eq!(login.status(), 303);
    // Without interaction, a client's minimum is a must: interaction_required.
    let mut quiet = params.to_vec();
    quiet.push(("prompt", "none"));
    let res = app.authorize(&quiet).await;
    let url = url::Url::parse(&location(&res)).expect("redirect");
    assert_eq!(
        query_param(&url, "error").as_deref(),
        Some("interaction_required")
    );
    let res = app
        .client
        .get(app.url(&location(&login)))
        .send()
        .await
        .expect("resume");
    assert_eq!(res.status(), 302);
    let to = location(&res);
    assert!(to.starts_with("/account/security?"), "{to}");
    assert!(to.contains("needed=factor"), "{to}");
    let page = app.html(&app.client, &to).await;
    assert!(page.contains("needs a stronger sign-in"), "{page}");
    // Setting up the app counts for this session: the request goes on to consent.
    enrol_totp(&app, &app.client).await;
    let return_to = url::form_urlencoded::parse(to.split_once('?').expect("q").1.as_bytes())
        .find(|(k, _)| k == "return_to")
        .expect("return_to")
        .1
        .into_owned();
    let res = app
        .client
        .get(app.url(&return_to))
        .send()
        .await
        .expect("resume");
    assert_eq!(res.status(), 200, "the consent page");
    // An invalid minimum is refused by the CLI.
    let bad = app
        .cli(&["client", "minimum-acr", &client.id, "gold"], None)
        .await;
    assert!(!bad.ok());
    let ok = app
        .cli(&["client", "minimum-acr", &client.id, "any"], None)
        .await;
    assert!(ok.ok(), "{}", ok.stderr);
    assert_eq!(app.count("clients WHERE minimum_acr IS NOT NULL"), 0);
}

#[tokio::test]
async fn bad_input_to_the_factor_endpoints_gets_a_clear_4xx() {
    let app = spawn_app_on(test_db(), |a| {
        a.issuer = a.issuer.take().map(|i| i.replace("127.0.0.1", "localhost"));
    })
    .await;
    let b = browser();
    let page = app.html(&b, "/login").await;
    assert!(
        page.contains("passkey-login"),
        "the login page offers passkeys"
    );
    let csrf = TestApp::csrf_of(&page);
    let post = |path: &str, body: Value| b.post(app.url(path)).json(&body).send();
    // Not JSON at all, or a form post from another site: refused before anything runs.
    let res = b
        .post(app.url("/webauthn/authenticate/begin"))
        .form(&[("mode", "passwordless")])
        .send()
        .await
        .expect("form post");
    assert_eq!(res.status(), 400);
    let res = post(
        "/webauthn/authenticate/begin",
        serde_json::json!({ "mode": "passwordless" }),
    )
    .await
    .expect("no csrf");
    assert_eq!(res.status(), 400, "no CSRF token");
    let res = post(
        "/webauthn/authenticate/begin",
        serde_json::json!({ "mode": "passwordless", "csrf_token": csrf }),
    )
    .await
    .expect("begin");
    assert_eq!(res.status(), 200);
    let begun: Value = res.json().await.expect("json");
    let ceremony = begun["ceremony"].as_str().expect("ceremony").to_owned();
    assert!(begun["options"]["publicKey"]["challenge"].is_string());
    assert!(begun["options"].get("mediation").is_none());
    for credential in [
        serde_json::json!({ "id": "x" }),
        serde_json::json!("not an object"),
        serde_json::json!({
            "id": "AAAA", "rawId": "AAAA", "type": "public-key",
            "response": { "authenticatorData": "AAAA", "clientDataJSON": "AAAA",
                          "signature": "AAAA", "userHandle": null }
        }),
    ] {
        let res = post(
            "/webauthn/authenticate/finish",
            serde_json::json!({
                "mode": "passwordless", "csrf_token": csrf,
                "ceremony": ceremony, "credential": credential
            }),
        )
        .await
        .expect("finish");
        assert_eq!(res.status(), 400);
        let body: Value = res.json().await.expect("json error");
        assert!(body["error"].is_string(), "{body}");
    }
    assert_eq!(
        app.count("webauthn_ceremonies"),
        0,
        "the ceremony was spent by the first try"
    );
    // No pending login: the second step sends the browser back to the login page.
    let res = b
        .get(app.url("/login/second-factor?return_to=/"))
        .send()
        .await
        .expect("page");
    assert_eq!(res.status(), 303);
    assert!(location(&res).starts_with("/login?"));
    // A forged pending-login cookie is ignored.
    let forged = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let res = forged
        .get(app.url("/login/second-factor?return_to=/"))
        .header(
            "cookie",
            "ostiary_login=eyJ1IjoieCIsInQiOjAsIm0iOiJwd2QiLCJzIjoidmVyaWZ5IiwiZSI6OTk5OTk5OTk5OTl9.AAAA",
        )
        .send()
        .await
        .expect("page");
    assert_eq!(res.status(), 303);
}

/// Opens the TOTP set-up page in `b` (signed in); returns (page, csrf token).
async fn start_setup(app: &TestApp, b: &reqwest::Client) -> (String, String) {
    let page = app.html(b, "/account/security").await;
    let csrf = TestApp::csrf_of(&page);
    let res = b
        .post(app.url("/account/security/totp"))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .expect("setup");
    assert_eq!(res.status(), 200);
    (res.text().await.expect("html"), csrf)
}

#[tokio::test]
async fn a_set_up_left_unfinished_cannot_plant_a_secret() {
    let app = spawn_app().await;
    app.user("pat", "pat's password").await;
    // Someone with pat's session (or password) starts a set-up and walks away with its secret.
    let intruder = browser();
    password_step(&app, &intruder, "pat", "pat's password").await;
    let (planted, _) = start_setup(&app, &intruder).await;
    let planted_secret = text_of(&planted, "#totp-secret").remove(0).replace(' ', "");
    // Pat sets up the app later: a new secret, not the planted one.
    let pat = browser();
    password_step(&app, &pat, "pat", "pat's password").await;
    let (page, _) = start_setup(&app, &pat).await;
    let secret = text_of(&page, "#totp-secret").remove(0).replace(' ', "");
    assert_ne!(secret, planted_secret);
    // The intruder's page no longer confirms anything, even with a right code for its secret.
    let csrf = TestApp::csrf_of(&planted);
    let res = intruder
        .post(app.url("/account/security/totp/confirm"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("secret_id", input_value(&planted, "secret_id").as_str()),
            ("code", &totp_code(&planted_secret, 0)),
        ])
        .send()
        .await
        .expect("confirm");
    assert_eq!(res.status(), 400);
    assert_eq!(app.count("totp_factors WHERE confirmed_at IS NOT NULL"), 0);
}

#[tokio::test]
async fn the_password_alone_never_unlocks_the_factors_that_protect_it() {
    let app = spawn_app().await;
    app.user("vic", "vic's password").await;
    let b = browser();
    password_step(&app, &b, "vic", "vic's password").await;
    enrol_totp(&app, &b).await;
    // A session older than five minutes, with the password re-entered: still refused.
    {
        use diesel::prelude::*;
        let mut conn = app.db.conn();
        diesel::sql_query("UPDATE sessions SET auth_time = auth_time - 600")
            .execute(&mut conn)
            .expect("age the session");
    }
    let page = app.html(&b, "/account/security").await;
    let csrf = TestApp::csrf_of(&page);
    let res = b
        .post(app.url("/account/security/totp/remove"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("password", "vic's password"),
        ])
        .send()
        .await
        .expect("remove");
    assert_eq!(res.status(), 400);
    assert_eq!(app.count("totp_factors"), 1);
    let res = b
        .post(app.url("/account/security/recovery-codes"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("password", "vic's password"),
        ])
        .send()
        .await
        .expect("new codes");
    assert_eq!(res.status(), 400);
    assert_eq!(
        app.count("recovery_codes WHERE used_at IS NULL"),
        10,
        "the old codes stand"
    );
}

#[tokio::test]
async fn a_left_over_enrolment_cookie_is_void_once_a_factor_exists_or_the_password_changes() {
    let app = spawn_app_on(test_db(), |a| {
        a.second_factor = Some("required".into());
    })
    .await;
    app.user("kim", "kim's password").await;
    let old = browser();
    let next = password_step(&app, &old, "kim", "kim's password").await;
    assert!(next.starts_with("/login/enrol?"));
    // Kim enrols in another browser.
    let b = browser();
    let next = password_step(&app, &b, "kim", "kim's password").await;
    let page = app.html(&b, &next).await;
    let secret = text_of(&page, "#totp-secret").remove(0).replace(' ', "");
    let res = b
        .post(app.url("/login/enrol"))
        .form(&[
            ("csrf_token", TestApp::csrf_of(&page).as_str()),
            ("return_to", "/"),
            ("secret_id", input_value(&page, "secret_id").as_str()),
            ("code", &totp_code(&secret, 0)),
        ])
        .send()
        .await
        .expect("enrol");
    assert_eq!(res.status(), 200);
    // The first browser's enrolment step no longer works: back to the login page.
    let res = old.get(app.url(&next)).send().await.expect("enrol page");
    assert_eq!(res.status(), 303);
    assert!(location(&res).starts_with("/login?"));

    // A pending second step dies with a password change too.
    let third = browser();
    let next = password_step(&app, &third, "kim", "kim's password").await;
    assert!(next.starts_with("/login/second-factor?"));
    let out = app
        .cli(
            &["user", "set-password", "kim", "--password-stdin"],
            Some("kim's new password\n"),
        )
        .await;
    assert!(out.ok(), "{}", out.stderr);
    let res = third.get(app.url(&next)).send().await.expect("page");
    assert_eq!(
        res.status(),
        303,
        "the old password's pending login is void"
    );
}

#[tokio::test]
async fn first_run_setup_enrols_the_first_admin_when_admins_need_a_factor() {
    let app = spawn_app_on(test_db(), |a| {
        a.admin_second_factor = Some("required".into());
    })
    .await;
    let st = app.state.clone();
    let link = tokio::task::spawn_blocking(move || ostiary::web::setup::prepare_link(&st))
        .await
        .expect("task")
        .expect("prepare")
        .expect("no users yet, so a link");
    let token = link.split("token=").nth(1).expect("token").to_owned();
    let res = app
        .client
        .post(app.url("/setup"))
        .form(&[
            ("token", token.as_str()),
            ("username", "boss"),
            ("email", "boss@example.test"),
            ("password", "a fine password"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), 303);
    assert!(
        location(&res).starts_with("/login/enrol?"),
        "{}",
        location(&res)
    );
    assert_eq!(app.count("sessions"), 0, "no session before a factor");
}
