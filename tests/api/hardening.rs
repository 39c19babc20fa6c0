//! Hardening: brute force and floods, anonymous page views, the client address, password
//! changes, look-alike identities, and /authorize refusals. Each refusal checks the exact
//! response and that nothing was stored or issued.

use serde_json::Value;

use crate::helpers::{
    browser, browser_from, location, pkce_pair, query_param, run_cli, spawn_app, spawn_app_on,
    test_db, TestApp, REDIRECT,
};

/// A server whose admission buckets are off, so a test sees the database lockout alone.
async fn app_without_buckets(adjust: impl FnOnce(&mut ostiary::config::SettingsArgs)) -> TestApp {
    spawn_app_on(test_db(), |a| {
        a.password_checks_per_address = Some(0);
        a.password_checks_per_account = Some(0);
        adjust(a);
    })
    .await
}

/// Sets an account's failure counter as if `failures` wrong passwords had been typed, the last
/// `ago` seconds ago (the waits in between are the policy's, tested in `authn::throttle`).
fn seed_failures(app: &TestApp, scope: &str, subject: &str, failures: i64, ago: i64) {
    use diesel::prelude::*;
    use ostiary::db::schema::login_throttle as lt;
    let now = ostiary::db::now();
    diesel::insert_into(lt::table)
        .values((
            lt::scope.eq(scope),
            lt::subject.eq(subject),
            lt::failures.eq(failures),
            lt::last_failure_at.eq(now - ago),
        ))
        .execute(&mut app.db.conn())
        .expect("seed");
}

fn sessions(app: &TestApp) -> i64 {
    app.count("sessions")
}

async fn body(res: reqwest::Response) -> (u16, Option<String>, String) {
    let status = res.status().as_u16();
    let retry = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (status, retry, res.text().await.expect("body"))
}

#[tokio::test]
async fn thirty_wrong_passwords_then_the_right_one_does_not_log_in() {
    let app = spawn_app().await;
    app.user("ada", "ada's password").await;
    let b = browser();
    let mut statuses = Vec::new();
    for _ in 0..30 {
        statuses.push(
            app.login_with(&b, "ada", "not ada's password")
                .await
                .status()
                .as_u16(),
        );
    }
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 429),
        "{statuses:?}"
    );
    assert!(statuses.contains(&429), "attempts are slowed: {statuses:?}");
    let (status, retry, html) = body(app.login_with(&b, "ada", "ada's password").await).await;
    assert_eq!(status, 429, "the right password is not even checked now");
    assert!(retry.is_some_and(|r| r.parse::<u64>().is_ok_and(|s| s >= 1)));
    assert!(html.contains("Too many sign-in attempts"), "{html}");
    assert_eq!(sessions(&app), 0, "no session was created");
}

#[tokio::test]
async fn a_locked_account_and_an_unknown_one_answer_alike_until_an_admin_unlocks() {
    let app = app_without_buckets(|a| a.account_lockout_threshold = Some(4)).await;
    app.user("bea", "bea's password").await;
    // Three failures long ago; one more locks: the account exists or not.
    for name in ["bea", "nobody-here"] {
        seed_failures(&app, "account", name, 3, 100);
        let (status, _, html) =
            body(app.login_with(&browser(), name, "wrong password 1").await).await;
        assert_eq!(status, 200);
        assert!(html.contains("Incorrect username or password."));
    }
    let locked_known = body(app.login_with(&browser(), "bea", "bea's password").await).await;
    let locked_unknown = body(
        app.login_with(&browser(), "nobody-here", "whatever 12")
            .await,
    )
    .await;
    assert_eq!(locked_known.0, 429);
    assert_eq!(locked_unknown.0, 429);
    let secs = |r: &Option<String>| {
        r.as_deref()
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(0)
    };
    assert!(secs(&locked_known.1) > 800, "{:?}", locked_known.1);
    assert!((secs(&locked_known.1) - secs(&locked_unknown.1)).abs() <= 2);
    let message = |html: &str| html.contains("Too many sign-in attempts");
    assert!(message(&locked_known.2) && message(&locked_unknown.2));
    assert_eq!(
        app.count("audit_events WHERE action = 'lockout.account'"),
        2
    );
    assert_eq!(sessions(&app), 0);

    let out = app.cli(&["user", "unlock", "BEA"], None).await;
    assert!(
        out.ok() && out.stdout.contains("unlocked"),
        "{}",
        out.stdout
    );
    let res = app.login_with(&browser(), "bea", "bea's password").await;
    assert_eq!(res.status(), 303, "unlocked by the CLI");
    assert_eq!(
        app.count("login_throttle WHERE subject = 'bea'"),
        0,
        "a success clears the account's failures"
    );
}

#[tokio::test]
async fn the_admin_console_lists_and_unlocks_locked_accounts() {
    let app = app_without_buckets(|_| {}).await;
    crate::helpers::add_user(&app.db, "root", "root's password", true).await;
    app.user("cyd", "cyd's password").await;
    seed_failures(&app, "account", "cyd", 10, 5);
    seed_failures(&app, "address", "192.0.2.44", 30, 5);
    assert_eq!(
        app.login_with(&browser(), "cyd", "cyd's password")
            .await
            .status(),
        429
    );
    let admin = browser();
    assert_eq!(
        app.login_with(&admin, "root", "root's password")
            .await
            .status(),
        303
    );
    let html = app.html(&admin, "/admin/users").await;
    assert!(
        html.contains("sign-in locked") && html.contains("192.0.2.44"),
        "{html}"
    );
    let csrf = TestApp::csrf_of(&html);
    let uid = {
        let mut conn = app.db.conn();
        ostiary::db::models::users::by_username(&mut conn, "cyd")
            .expect("q")
            .expect("cyd")
            .id
    };
    let res = admin
        .post(app.url(&format!("/admin/users/{uid}/unlock")))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .expect("unlock");
    assert_eq!(res.status(), 303);
    let res = admin
        .post(app.url("/admin/lockouts/unlock-address"))
        .form(&[("csrf_token", csrf.as_str()), ("address", "192.0.2.44")])
        .send()
        .await
        .expect("unlock address");
    assert_eq!(res.status(), 303);
    assert_eq!(app.count("login_throttle"), 0);
    assert_eq!(
        app.count("audit_events WHERE action LIKE 'lockout.unlock%'"),
        2
    );
    assert_eq!(
        app.login_with(&browser(), "cyd", "cyd's password")
            .await
            .status(),
        303
    );
}

#[tokio::test]
async fn wrong_passwords_on_many_accounts_from_one_address_are_slowed_not_elsewhere() {
    let app = app_without_buckets(|_| {}).await;
    app.user("dee", "dee's password").await;
    let attacker = browser();
    let mut statuses = Vec::new();
    for i in 0..20 {
        let name = format!("target{i}");
        statuses.push(
            app.login_with(&attacker, &name, "guess 123")
                .await
                .status()
                .as_u16(),
        );
    }
    // The default address threshold is 30: 15 free failures, then waits.
    assert!(statuses[..15].iter().all(|s| *s == 200), "{statuses:?}");
    // From the 16th on, waits apply (the first is 1 s: a very slow machine may outlast it, the
    // doubling ones it will not).
    assert!(statuses[15..].contains(&429), "{statuses:?}");
    assert_eq!(
        app.count("login_throttle WHERE scope = 'address' AND subject = '127.0.0.1'"),
        1
    );
    // Another address is not affected.
    let res = app
        .login_with(&browser_from("127.0.0.2"), "dee", "dee's password")
        .await;
    assert_eq!(res.status(), 303);
}

#[tokio::test]
async fn every_password_check_counts_reauth_and_password_change_too() {
    let app = app_without_buckets(|_| {}).await;
    crate::helpers::add_user(&app.db, "eda", "eda's password", true).await;
    let b = browser();
    assert_eq!(
        app.login_with(&b, "eda", "eda's password").await.status(),
        303
    );
    let html = app.html(&b, "/account").await;
    let csrf = TestApp::csrf_of(&html);
    let res = b
        .post(app.url("/admin/reauth"))
        .form(&[("csrf_token", csrf.as_str()), ("password", "wrong one 1")])
        .send()
        .await
        .expect("reauth");
    assert_eq!(res.status(), 400);
    let res = b
        .post(app.url("/account/password"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("current_password", "wrong one 2"),
            ("new_password", "a new password"),
            ("confirm_password", "a new password"),
        ])
        .send()
        .await
        .expect("change");
    assert_eq!(res.status(), 400);
    assert_eq!(
        app.count("login_throttle WHERE scope = 'account' AND subject = 'eda' AND failures = 2"),
        1
    );
    assert_eq!(
        app.count("audit_events WHERE action IN ('reauth.failure', 'password_change.failure')"),
        2
    );
    // Locked: even the right password is not checked by reauth.
    {
        use diesel::prelude::*;
        use ostiary::db::schema::login_throttle as lt;
        diesel::update(lt::table.filter(lt::subject.eq("eda")))
            .set(lt::failures.eq(10i64))
            .execute(&mut app.db.conn())
            .expect("lock");
    }
    let res = b
        .post(app.url("/admin/reauth"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("password", "eda's password"),
        ])
        .send()
        .await
        .expect("reauth");
    assert_eq!(res.status(), 429);
    assert!(res.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn a_wrong_password_flood_from_one_address_does_not_deny_logins_from_others() {
    let app = spawn_app().await;
    app.user("flooded", "flooded's password").await;
    for i in 0..10 {
        app.user(&format!("user{i}"), "a good password").await;
    }
    let flood = (0..100).map(|_| {
        let b = browser();
        let app = &app;
        async move {
            app.login_with(&b, "flooded", "wrong password")
                .await
                .status()
                .as_u16()
        }
    });
    let others = (0..10).map(|i| {
        let b = browser_from("127.0.0.2");
        let app = &app;
        async move {
            let started = std::time::Instant::now();
            let s = app
                .login_with(&b, &format!("user{i}"), "a good password")
                .await
                .status();
            (s.as_u16(), started.elapsed())
        }
    });
    let (flood, others) = tokio::join!(
        futures_util::future::join_all(flood),
        futures_util::future::join_all(others)
    );
    let ok = others
        .iter()
        .filter(|(s, t)| *s == 303 && t.as_secs_f64() < 2.0)
        .count();
    assert!(ok >= 9, "{others:?}");
    assert!(flood.iter().all(|s| [200, 429].contains(s)), "{flood:?}");
    let throttled = flood.iter().filter(|s| **s == 429).count();
    assert!(
        throttled >= 80,
        "the flood was mostly refused before hashing: {throttled}"
    );
}

#[tokio::test]
async fn anonymous_page_views_store_nothing() {
    let app = spawn_app().await;
    for _ in 0..50 {
        let res = browser().get(app.url("/login")).send().await.expect("page");
        assert_eq!(res.status(), 200);
    }
    assert_eq!(sessions(&app), 0);
    // A wrong password stores no session either; a right one creates exactly one.
    app.user("fio", "fio's password").await;
    let b = browser();
    assert_eq!(app.login_with(&b, "fio", "nope nope").await.status(), 200);
    assert_eq!(sessions(&app), 0);
    assert_eq!(
        app.login_with(&b, "fio", "fio's password").await.status(),
        303
    );
    assert_eq!(sessions(&app), 1);
}

#[tokio::test]
async fn forwarded_for_is_believed_only_from_trusted_proxies() {
    let app = app_without_buckets(|_| {}).await;
    app.user("gil", "gil's password").await;
    let spoof = |b: &reqwest::Client| {
        let b = b.clone();
        let url = app.url("/login");
        async move {
            let html = b
                .get(&url)
                .send()
                .await
                .expect("p")
                .text()
                .await
                .expect("h");
            b.post(&url)
                .header("X-Forwarded-For", "203.0.113.9")
                .form(&[
                    ("username", "gil"),
                    ("password", "wrong password"),
                    ("csrf_token", TestApp::csrf_of(&html).as_str()),
                ])
                .send()
                .await
                .expect("post")
        }
    };
    assert_eq!(spoof(&browser()).await.status(), 200);
    assert_eq!(app.count("audit_events WHERE ip = '127.0.0.1'"), 1);
    assert_eq!(app.count("audit_events WHERE ip = '203.0.113.9'"), 0);
    assert_eq!(app.count("login_throttle WHERE subject = '203.0.113.9'"), 0);

    let behind_proxy =
        app_without_buckets(|a| a.trusted_proxies = Some("127.0.0.0/8".into())).await;
    behind_proxy.user("gil", "gil's password").await;
    let b = browser();
    let html = b
        .get(behind_proxy.url("/login"))
        .send()
        .await
        .expect("p")
        .text()
        .await
        .expect("h");
    let res = b
        .post(behind_proxy.url("/login"))
        .header("X-Forwarded-For", "198.51.100.1, 203.0.113.9")
        .form(&[
            ("username", "gil"),
            ("password", "wrong password"),
            ("csrf_token", TestApp::csrf_of(&html).as_str()),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), 200);
    assert_eq!(
        behind_proxy.count("audit_events WHERE ip = '203.0.113.9'"),
        1
    );
    assert_eq!(
        behind_proxy.count("login_throttle WHERE scope = 'address' AND subject = '203.0.113.9'"),
        1
    );
}

async fn refresh_token_for(
    app: &TestApp,
    b: &reqwest::Client,
    user: (&str, &str),
) -> (crate::helpers::TestClient, String) {
    let client = app.client(&[]).await;
    let (verifier, challenge) = pkce_pair();
    let query = [
        ("response_type", "code"),
        ("client_id", client.id.as_str()),
        ("redirect_uri", REDIRECT),
        ("scope", "openid"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let authorize = || async {
        b.get(app.url("/authorize"))
            .query(&query)
            .send()
            .await
            .expect("authorize")
    };
    let mut res = authorize().await;
    if location(&res).starts_with("/login") {
        assert_eq!(app.login_with(b, user.0, user.1).await.status(), 303);
        res = authorize().await;
    }
    let html = res.text().await.expect("consent");
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
    (
        client,
        tokens["refresh_token"]
            .as_str()
            .expect("refresh")
            .to_owned(),
    )
}

#[tokio::test]
async fn a_password_change_ends_other_sessions_and_revokes_refresh_tokens() {
    let app = app_without_buckets(|_| {}).await;
    app.user("hal", "hal's password").await;
    let (a, other) = (browser(), browser());
    let (client, refresh) = refresh_token_for(&app, &a, ("hal", "hal's password")).await;
    assert_eq!(
        app.login_with(&other, "hal", "hal's password")
            .await
            .status(),
        303
    );
    let html = app.html(&a, "/account").await;
    let res = a
        .post(app.url("/account/password"))
        .form(&[
            ("csrf_token", TestApp::csrf_of(&html).as_str()),
            ("current_password", "hal's password"),
            ("new_password", "hal's new password"),
            ("confirm_password", "hal's new password"),
        ])
        .send()
        .await
        .expect("change");
    assert_eq!(res.status(), 200);
    assert_eq!(
        a.get(app.url("/account")).send().await.expect("a").status(),
        200,
        "this one stays"
    );
    assert_eq!(
        other
            .get(app.url("/account"))
            .send()
            .await
            .expect("o")
            .status(),
        303,
        "the other is out"
    );
    let res = app
        .token(
            &client,
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await;
    assert_eq!(res.status(), 400);
    let v: Value = res.json().await.expect("json");
    assert_eq!(v["error"], "invalid_grant");

    // The CLI ends every session, the changer's included.
    let (client, refresh) = refresh_token_for(&app, &a, ("hal", "hal's new password")).await;
    let out = app
        .cli(
            &["user", "set-password", "hal", "--password-stdin"],
            Some("third password!\n"),
        )
        .await;
    assert!(out.ok(), "{}", out.stderr);
    assert_eq!(
        a.get(app.url("/account")).send().await.expect("a").status(),
        303
    );
    let res = app
        .token(
            &client,
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await;
    assert_eq!(res.status(), 400);
    assert_eq!(app.count("sessions"), 0);
}

#[tokio::test]
async fn a_disabled_users_refresh_token_introspects_as_inactive() {
    let app = app_without_buckets(|_| {}).await;
    app.user("ida", "ida's password").await;
    let (client, refresh) = refresh_token_for(&app, &browser(), ("ida", "ida's password")).await;
    let introspect = |token: String| {
        let client = client.clone();
        let url = app.url("/introspect");
        async move {
            let v: Value = reqwest::Client::new()
                .post(url)
                .basic_auth(&client.id, client.secret.as_deref())
                .form(&[("token", token.as_str())])
                .send()
                .await
                .expect("introspect")
                .json()
                .await
                .expect("json");
            v["active"].as_bool().expect("active")
        }
    };
    assert!(introspect(refresh.clone()).await);
    assert!(app.cli(&["user", "disable", "ida"], None).await.ok());
    assert!(
        !introspect(refresh.clone()).await,
        "one rule: a disabled user's token is dead"
    );
    // Disabling ended ida's sessions and revoked their refresh tokens for good.
    assert!(app.cli(&["user", "enable", "ida"], None).await.ok());
    assert!(!introspect(refresh).await);
}

#[tokio::test]
async fn look_alike_usernames_and_emails_cannot_coexist() {
    let app = spawn_app().await;
    let add = |name: &'static str, email: &'static str| {
        let db = &app.db;
        async move {
            run_cli(
                db,
                &["user", "add", name, "--email", email, "--password-stdin"],
                Some("a long password\n"),
            )
            .await
        }
    };
    assert!(add("jos\u{e9}", "jose@example.test").await.ok());
    let out = add("jose\u{301}", "jose2@example.test").await;
    assert!(
        !out.ok() && out.stderr.contains("taken"),
        "NFD spelling: {}",
        out.stderr
    );
    assert!(add("eve", "eve@example.test").await.ok());
    let out = add("\u{ff45}\u{ff56}\u{ff45}", "eve2@example.test").await;
    assert!(
        !out.ok() && out.stderr.contains("taken"),
        "fullwidth: {}",
        out.stderr
    );
    let out = add("d\u{430}ve", "dave@example.test").await;
    assert!(
        !out.ok() && out.stderr.contains("scripts"),
        "mixed script: {}",
        out.stderr
    );
    let out = add("other", "EVE@Example.TEST").await;
    assert!(
        !out.ok() && out.stderr.contains("in use"),
        "email case: {}",
        out.stderr
    );
    assert!(add("bucher", "b@B\u{fc}cher.example").await.ok());
    let out = add("bucher2", "B@xn--bcher-kva.example").await;
    assert!(
        !out.ok() && out.stderr.contains("in use"),
        "IDNA: {}",
        out.stderr
    );
    assert_eq!(app.count("users"), 3);
    // Logging in with another spelling of the same name works.
    assert_eq!(
        app.login_with(&browser(), "\u{ff25}VE", "a long password")
            .await
            .status(),
        303
    );
    assert_eq!(
        app.login_with(&browser(), "jose\u{301}", "a long password")
            .await
            .status(),
        303
    );
}

#[tokio::test]
async fn authorize_refuses_a_client_not_registered_for_the_code_grant() {
    let app = spawn_app().await;
    app.user("jo", "jo's password").await;
    let with_uri = app.client(&["--grant-type", "client_credentials"]).await;
    let out = run_cli(
        &app.db,
        &[
            "client",
            "add",
            "--name",
            "M2M",
            "--grant-type",
            "client_credentials",
            "--json",
        ],
        None,
    )
    .await;
    assert!(out.ok(), "{}", out.stderr);
    let without: Value = serde_json::from_str(out.stdout.trim()).expect("json");
    let without = without["client_id"].as_str().expect("id").to_owned();
    let b = browser();
    assert_eq!(
        app.login_with(&b, "jo", "jo's password").await.status(),
        303
    );
    let (_, challenge) = pkce_pair();
    let ask = |client_id: String, redirect: Option<&'static str>| {
        let b = b.clone();
        let url = app.url("/authorize");
        let challenge = challenge.clone();
        async move {
            let mut q = vec![
                ("response_type", "code".to_owned()),
                ("client_id", client_id),
                ("scope", "openid".to_owned()),
                ("state", "s-1".to_owned()),
                ("code_challenge", challenge),
                ("code_challenge_method", "S256".to_owned()),
            ];
            if let Some(r) = redirect {
                q.push(("redirect_uri", r.to_owned()));
            }
            b.get(url).query(&q).send().await.expect("authorize")
        }
    };
    let res = ask(with_uri.id.clone(), Some(REDIRECT)).await;
    assert_eq!(res.status(), 302);
    let to = url::Url::parse(&location(&res)).expect("url");
    assert!(to.as_str().starts_with(REDIRECT), "{to}");
    assert_eq!(
        query_param(&to, "error").as_deref(),
        Some("unauthorized_client")
    );
    assert_eq!(query_param(&to, "state").as_deref(), Some("s-1"));
    assert_eq!(
        query_param(&to, "iss").as_deref(),
        Some(app.address.as_str())
    );
    // A redirect URI it did not register is never used.
    let res = ask(with_uri.id.clone(), Some("https://evil.example/cb")).await;
    assert_eq!(res.status(), 400);
    assert!(res.headers().get("location").is_none());
    for redirect in [None, Some(REDIRECT)] {
        let res = ask(without.clone(), redirect).await;
        assert_eq!(res.status(), 400, "{redirect:?}");
        assert!(res.headers().get("location").is_none());
        assert!(res
            .text()
            .await
            .expect("html")
            .contains("unauthorized_client"));
    }
    assert_eq!(app.count("consents"), 0);
    assert_eq!(app.count("authorization_codes"), 0);
}

#[tokio::test]
async fn state_with_invalid_utf8_is_refused_not_mangled() {
    let app = spawn_app().await;
    let client = app.client(&[]).await;
    let (_, challenge) = pkce_pair();
    let url = format!(
        "{}?response_type=code&client_id={}&redirect_uri={}&scope=openid&code_challenge={}&code_challenge_method=S256&state=%FF%FEab",
        app.url("/authorize"),
        client.id,
        url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>(),
        challenge
    );
    let res = browser().get(url).send().await.expect("authorize");
    assert_eq!(res.status(), 400);
    assert!(res.headers().get("location").is_none());
    assert!(res.text().await.expect("html").contains("invalid_request"));
    // At the token endpoint the same is a JSON invalid_request.
    let res = reqwest::Client::new()
        .post(app.url("/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&scope=%FF")
        .basic_auth(&client.id, client.secret.as_deref())
        .send()
        .await
        .expect("token");
    assert_eq!(res.status(), 400);
    let v: Value = res.json().await.expect("json");
    assert_eq!(v["error"], "invalid_request");
}

#[tokio::test]
async fn a_machine_client_without_redirect_uris_gets_tokens_but_never_a_redirect() {
    let app = spawn_app().await;
    let out = run_cli(
        &app.db,
        &[
            "client",
            "add",
            "--name",
            "M2M",
            "--grant-type",
            "client_credentials",
            "--json",
        ],
        None,
    )
    .await;
    assert!(out.ok(), "{}", out.stderr);
    let v: Value = serde_json::from_str(out.stdout.trim()).expect("json");
    let client = crate::helpers::TestClient {
        id: v["client_id"].as_str().expect("id").to_owned(),
        secret: v["client_secret"].as_str().map(str::to_owned),
        redirect_uri: String::new(),
    };
    let res = app
        .token(&client, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.expect("json");
    assert!(v["access_token"].is_string());
}

#[tokio::test]
async fn people_who_know_their_password_are_never_slowed_by_admission() {
    // Defaults: 60 checks a minute (burst 10) per account and per address, but successes give
    // their token back, and eight at once (a benchmark's concurrency) fit the burst.
    let app = spawn_app().await;
    app.user("kim", "kim's password").await;
    let at_once = (0..8).map(|_| {
        let app = &app;
        async move {
            let b = browser();
            app.login_with(&b, "kim", "kim's password")
                .await
                .status()
                .as_u16()
        }
    });
    let statuses = futures_util::future::join_all(at_once).await;
    assert!(statuses.iter().all(|s| *s == 303), "{statuses:?}");
    for i in 0..25 {
        let res = app.login_with(&browser(), "kim", "kim's password").await;
        assert_eq!(res.status(), 303, "login {i}");
    }
}

#[tokio::test]
async fn authorization_requests_that_store_interactions_are_admitted_per_address() {
    let app = spawn_app().await;
    let client = app.client(&[]).await;
    let (_, challenge) = pkce_pair();
    let mut statuses = Vec::new();
    for _ in 0..26 {
        let res = browser()
            .get(app.url("/authorize"))
            .query(&[
                ("response_type", "code"),
                ("client_id", client.id.as_str()),
                ("redirect_uri", REDIRECT),
                ("scope", "openid"),
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "S256"),
            ])
            .send()
            .await
            .expect("authorize");
        statuses.push(res.status().as_u16());
    }
    // A burst of 20, then two a second: a stranger cannot fill the table.
    assert!(statuses[..20].iter().all(|s| *s == 302), "{statuses:?}");
    assert!(statuses.contains(&429), "{statuses:?}");
    assert!(app.count("interactions") <= 24);
    // Another address is not affected.
    let res = browser_from("127.0.0.2")
        .get(app.url("/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", client.id.as_str()),
            ("redirect_uri", REDIRECT),
            ("scope", "openid"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await
        .expect("authorize");
    assert_eq!(res.status(), 302);
}

#[tokio::test]
async fn completed_sign_ins_give_their_admission_back() {
    let app = spawn_app().await;
    app.user("sam", "sam's password").await;
    let client = app.client(&[]).await;
    let (_, challenge) = pkce_pair();
    // prompt=consent: every request needs the consent page, so every one is an interaction.
    for i in 0..30 {
        let url = app
            .code_flow(
                &client,
                &[
                    ("response_type", "code"),
                    ("client_id", client.id.as_str()),
                    ("redirect_uri", REDIRECT),
                    ("scope", "openid"),
                    ("prompt", "consent"),
                    ("code_challenge", challenge.as_str()),
                    ("code_challenge_method", "S256"),
                ],
                ("sam", "sam's password"),
            )
            .await;
        assert!(query_param(&url, "code").is_some(), "flow {i}");
    }
}

/// A path no route serves answers the styled error page, with the headers every page carries,
/// not an empty 404.
#[tokio::test]
async fn an_unknown_path_answers_the_styled_not_found_page() {
    let app = spawn_app().await;
    let res = app.get("/no-such-page").await;
    assert_eq!(res.status(), 404);
    let h = |name: &str| {
        res.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert!(
        h("content-type").starts_with("text/html"),
        "{}",
        h("content-type")
    );
    assert_eq!(h("x-content-type-options"), "nosniff");
    assert_eq!(h("x-frame-options"), "DENY");
    assert!(h("content-security-policy").contains("frame-ancestors 'none'"));
    let body = res.text().await.expect("body");
    assert!(body.contains("<h1>Not found</h1>"), "{body}");
    assert!(
        body.contains(r#"<link rel="stylesheet" href="/static/style.css">"#),
        "{body}"
    );
}
