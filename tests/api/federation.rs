//! Federation (issue 24) through real HTTP: a second Ostiary on another loopback port is the
//! upstream OpenID Connect provider of the server under test ("downstream"). The person's
//! browser is a pair of cookie jars, one per server (both are 127.0.0.1, and cookies do not
//! tell ports apart as hosts would).

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use serde_json::Value;

use crate::helpers::{
    browser, cli_command, consent_action, location, pkce_pair, query_param, spawn_app,
    spawn_app_on, test_db, CliOutput, TestApp, TestClient,
};

pub(crate) const PW: &str = "upstream password 1";

pub(crate) fn claims_of(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("payload");
    serde_json::from_slice(&B64.decode(payload).expect("b64")).expect("claims")
}

/// A person's browser: one cookie jar per server.
pub(crate) struct Person {
    pub(crate) down: reqwest::Client,
    pub(crate) up: reqwest::Client,
}

pub(crate) fn person() -> Person {
    Person {
        down: browser(),
        up: browser(),
    }
}

/// The upstream (`U`: a second Ostiary, or a stand-in of `upstream_standins`) and the
/// downstream with its relying party.
pub(crate) struct Setup<U = TestApp> {
    pub(crate) up: U,
    pub(crate) down: TestApp,
    /// The relying party at the downstream.
    pub(crate) rp: TestClient,
    /// What the upstream's button on the downstream's login page says.
    pub(crate) button: &'static str,
}

/// The downstream (outbound calls to loopback addresses allowed) and its relying party.
pub(crate) async fn downstream(
    adjust: impl FnOnce(&mut ostiary::config::SettingsArgs),
) -> (TestApp, TestClient) {
    let down = spawn_app_on(test_db(), |a| {
        a.outbound_allow = Some("127.0.0.0/8".into());
        adjust(a);
    })
    .await;
    let rp = down
        .client(&[
            "--scope", "openid", "--scope", "profile", "--scope", "email", "--scope", "groups",
        ])
        .await;
    (down, rp)
}

/// `ostiary upstream add corp …` at the downstream, the secret from an environment variable.
async fn add_provider(
    down: &TestApp,
    up: &TestApp,
    client: &TestClient,
    extra: &[&str],
) -> CliOutput {
    let mut cmd = cli_command(&down.db);
    cmd.env("CORP_SECRET", client.secret.clone().unwrap_or_default());
    cmd.args([
        "upstream",
        "add",
        "corp",
        "--name",
        "Corp SSO",
        "--issuer",
        &up.address,
        "--client-id",
        &client.id,
        "--client-secret-env",
        "CORP_SECRET",
        "--scopes",
        "openid profile email groups",
        "--groups-claim",
        "groups",
    ]);
    cmd.args(extra);
    cmd.output().await.expect("ostiary upstream add").into()
}

/// Two servers: the upstream with a client for the downstream's callback, the downstream with
/// the upstream configured (by the CLI) under `policy` and `extra` flags.
pub(crate) async fn setup(
    extra: &[&str],
    adjust: impl FnOnce(&mut ostiary::config::SettingsArgs),
) -> Setup {
    let up = spawn_app().await;
    let (down, rp) = downstream(adjust).await;
    let callback = format!("{}/login/upstream/callback", down.address);
    let at_up = up
        .client(&[
            "--redirect-uri",
            &callback,
            "--scope",
            "openid",
            "--scope",
            "profile",
            "--scope",
            "email",
            "--scope",
            "groups",
        ])
        .await;
    let out = add_provider(&down, &up, &at_up, extra).await;
    assert!(out.ok(), "upstream add: {}", out.stderr);
    Setup {
        up,
        down,
        rp,
        button: "Corp SSO",
    }
}

/// The downstream's /authorize for the relying party; returns (its answer, PKCE verifier).
pub(crate) async fn authorize<U>(
    s: &Setup<U>,
    p: &Person,
    extra: &[(&str, &str)],
) -> (reqwest::Response, String) {
    let (verifier, challenge) = pkce_pair();
    let mut q = vec![
        ("response_type", "code"),
        ("client_id", s.rp.id.as_str()),
        ("redirect_uri", s.rp.redirect_uri.as_str()),
        ("scope", "openid profile email groups"),
        ("state", "rp-state"),
        ("nonce", "rp-nonce"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    q.extend_from_slice(extra);
    let res = p
        .down
        .get(s.down.url("/authorize"))
        .query(&q)
        .send()
        .await
        .expect("authorize");
    (res, verifier)
}

/// From the downstream's login page, the upstream button's link.
pub(crate) async fn upstream_button<U>(s: &Setup<U>, p: &Person, login: &str) -> String {
    let html = s.down.html(&p.down, login).await;
    let doc = scraper::Html::parse_document(&html);
    let sel = scraper::Selector::parse("#upstreams a").expect("selector");
    let a = doc.select(&sel).next().expect("an upstream button");
    assert_eq!(a.text().collect::<String>(), s.button);
    a.value().attr("href").expect("href").to_owned()
}

/// At the upstream: log in (when asked) and consent (when asked); returns where the upstream
/// sends the browser back (the downstream's callback URL).
pub(crate) async fn at_upstream(s: &Setup, p: &Person, authorize_url: &str, user: &str) -> String {
    let mut res =
        p.up.get(authorize_url)
            .send()
            .await
            .expect("upstream authorize");
    if res.status() == 302 && location(&res).starts_with("/login") {
        let html = s.up.html(&p.up, &location(&res)).await;
        let csrf = TestApp::csrf_of(&html);
        let return_to = {
            let doc = scraper::Html::parse_document(&html);
            let sel = scraper::Selector::parse("input[name=return_to]").expect("sel");
            doc.select(&sel)
                .next()
                .and_then(|e| e.value().attr("value"))
                .expect("return_to")
                .to_owned()
        };
        let login =
            p.up.post(s.up.url("/login"))
                .form(&[
                    ("username", user),
                    ("password", PW),
                    ("csrf_token", &csrf),
                    ("return_to", &return_to),
                ])
                .send()
                .await
                .expect("upstream login");
        assert_eq!(login.status(), 303, "upstream login");
        res =
            p.up.get(s.up.url(&location(&login)))
                .send()
                .await
                .expect("resume");
    }
    if res.status() == 200 {
        res = consent(&s.up, &p.up, res).await;
    }
    assert_eq!(res.status(), 302, "upstream answers the downstream");
    let back = location(&res);
    assert!(
        back.starts_with(&format!("{}/login/upstream/callback?", s.down.address)),
        "{back}"
    );
    back
}

pub(crate) async fn consent(
    app: &TestApp,
    b: &reqwest::Client,
    page: reqwest::Response,
) -> reqwest::Response {
    let html = page.text().await.expect("consent page");
    let csrf = TestApp::csrf_of(&html);
    b.post(app.url(&consent_action(&html)))
        .form(&[("csrf_token", csrf.as_str()), ("decision", "allow")])
        .send()
        .await
        .expect("consent")
}

/// The whole login through the upstream: the downstream's id_token for the relying party.
pub(crate) async fn federated_login(s: &Setup, p: &Person, user: &str) -> Value {
    let (to_upstream, verifier) = begin_login(s, p).await;
    let callback = at_upstream(s, p, &to_upstream, user).await;
    complete_login(s, p, &callback, &verifier).await
}

/// The relying party's /authorize, then the upstream's button on the login page: where the
/// downstream sends the browser (the upstream's authorization URL), and the PKCE verifier.
pub(crate) async fn begin_login<U>(s: &Setup<U>, p: &Person) -> (String, String) {
    let (res, verifier) = authorize(s, p, &[]).await;
    assert_eq!(res.status(), 302);
    let login = location(&res);
    assert!(login.starts_with("/login?"), "{login}");
    let start = upstream_button(s, p, &login).await;
    let res = p.down.get(s.down.url(&start)).send().await.expect("start");
    assert_eq!(res.status(), 303, "off to the upstream");
    (location(&res), verifier)
}

/// The upstream's answer taken at the downstream's callback, then `finish_at_downstream`.
pub(crate) async fn complete_login<U>(
    s: &Setup<U>,
    p: &Person,
    callback: &str,
    verifier: &str,
) -> Value {
    let res = p.down.get(callback).send().await.expect("callback");
    assert_eq!(
        res.status(),
        303,
        "callback: {}",
        res.text().await.unwrap_or_default()
    );
    finish_at_downstream(s, p, &location(&res), verifier).await
}

/// From the login's `return_to` on: consent at the downstream, the code, the tokens.
pub(crate) async fn finish_at_downstream<U>(
    s: &Setup<U>,
    p: &Person,
    resume: &str,
    verifier: &str,
) -> Value {
    assert!(resume.starts_with("/authorize/resume?"), "{resume}");
    let mut res = p.down.get(s.down.url(resume)).send().await.expect("resume");
    if res.status() == 200 {
        res = consent(&s.down, &p.down, res).await;
    }
    assert_eq!(res.status(), 302);
    let to_rp = url::Url::parse(&location(&res)).expect("rp redirect");
    let code = query_param(&to_rp, "code").expect("code");
    let tokens: Value = s
        .down
        .token(
            &s.rp,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &s.rp.redirect_uri),
                ("code_verifier", verifier),
            ],
        )
        .await
        .json()
        .await
        .expect("tokens");
    claims_of(tokens["id_token"].as_str().expect("id_token"))
}

pub(crate) fn groups_of(claims: &Value) -> Vec<String> {
    let mut g: Vec<String> = claims["groups"]
        .as_array()
        .expect("groups claim")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    g.sort();
    g
}

pub(crate) async fn ok(out: CliOutput) {
    assert!(out.ok(), "{}", out.stderr);
}

/// The account page's linked providers, then its Unlink button for `provider`: the page after.
async fn unlink(s: &Setup, b: &reqwest::Client, provider: &str) -> (Vec<String>, u16, String) {
    let page = s.down.html(b, "/account").await;
    let doc = scraper::Html::parse_document(&page);
    let sel = scraper::Selector::parse("#upstream-links strong").expect("selector");
    let shown: Vec<String> = doc.select(&sel).map(|e| e.text().collect()).collect();
    let csrf = TestApp::csrf_of(&page);
    let res = b
        .post(s.down.url("/account/upstreams/unlink"))
        .form(&[("csrf_token", csrf.as_str()), ("provider", provider)])
        .send()
        .await
        .expect("unlink");
    let status = res.status().as_u16();
    (shown, status, res.text().await.expect("page"))
}

#[tokio::test]
async fn a_first_upstream_login_creates_the_account_the_next_reuses_it_with_fresh_groups() {
    let s = setup(&["--policy", "create"], |_| {}).await;
    s.up.user("alice", PW).await;
    ok(s.up.cli(&["group", "add", "staff"], None).await).await;
    ok(s.up.cli(&["group", "member", "staff", "alice"], None).await).await;
    // An upstream group named like a downstream administrator's group stays the upstream's:
    // it lands as `corp:admins`, never as a member of the local `admins`.
    ok(s.up.cli(&["group", "add", "admins"], None).await).await;
    ok(s.up
        .cli(&["group", "member", "admins", "alice"], None)
        .await)
    .await;
    ok(s.down.cli(&["group", "add", "admins"], None).await).await;
    // A membership the downstream's administrator manages is left alone by upstream logins.
    let p = person();
    let first = federated_login(&s, &p, "alice").await;
    assert_eq!(groups_of(&first), ["corp:admins", "corp:staff"]);
    assert_eq!(
        s.down
            .count("group_members m JOIN groups g ON g.id = m.group_id WHERE g.name = 'admins'"),
        0,
        "the local admins group gained no member"
    );
    let amr: Vec<&str> = first["amr"]
        .as_array()
        .expect("amr")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(amr, ["fed"]);
    assert_eq!(first["preferred_username"], "alice");
    assert_eq!(first["email"], "alice@example.test");
    assert_eq!(s.down.count("users"), 1);
    assert_eq!(s.down.count("upstream_links WHERE provider_id = 'corp'"), 1);
    assert_eq!(
        s.down
            .count("audit_events WHERE action = 'upstream.create'"),
        1
    );
    assert_eq!(
        s.down.count("audit_events WHERE action = 'upstream.link'"),
        1
    );
    // The account page lists the link; unlinking the only way in is refused.
    let (shown, status, html) = unlink(&s, &p.down, "corp").await;
    assert_eq!(shown, ["Corp SSO"]);
    assert_eq!(status, 400);
    assert!(html.contains("only way to sign in"), "{html}");
    assert_eq!(s.down.count("upstream_links"), 1);
    // No password opens the account made for the upstream login.
    let pw = s.down.login_with(&browser(), "alice", PW).await;
    assert_eq!(pw.status(), 200, "a password login is refused");
    ok(s.down.cli(&["group", "add", "local-team"], None).await).await;
    ok(s.down
        .cli(&["group", "member", "local-team", "alice"], None)
        .await)
    .await;

    // The upstream's groups change; the next login (another browser) reflects it.
    ok(s.up.cli(&["group", "add", "finance"], None).await).await;
    ok(s.up
        .cli(&["group", "member", "finance", "alice"], None)
        .await)
    .await;
    ok(s.up
        .cli(&["group", "member", "staff", "alice", "--remove"], None)
        .await)
    .await;
    let again = federated_login(&s, &person(), "alice").await;
    assert_eq!(again["sub"], first["sub"], "the same local account");
    assert_eq!(
        groups_of(&again),
        ["corp:admins", "corp:finance", "local-team"]
    );
    assert_eq!(s.down.count("users"), 1);
    assert_eq!(
        s.down
            .count("audit_events WHERE action = 'upstream.create'"),
        1
    );
    // The upstream's groups are the downstream's `corp:` groups now, one row each; `staff`,
    // left upstream, is no longer a membership.
    assert_eq!(s.down.count("groups WHERE name = 'corp:staff'"), 1);
    assert_eq!(s.down.count("group_members WHERE source = 'corp'"), 2);

    // The console lists the user's links (for administrators only) and unlinks one.
    crate::helpers::add_user(&s.down.db, "root", "root's password", true).await;
    let uid: String = {
        let mut conn = s.down.db.conn();
        ostiary::db::models::users::by_username(&mut conn, "alice")
            .expect("query")
            .expect("alice")
            .id
    };
    let list = format!("/admin/users/{uid}/links");
    let res = p.down.get(s.down.url(&list)).send().await.expect("links");
    assert_eq!(res.status(), 403, "not for the user");
    let admin = browser();
    let res = s.down.login_with(&admin, "root", "root's password").await;
    assert_eq!(res.status(), 303);
    let page = s.down.html(&admin, &list).await;
    assert!(page.contains("Corp SSO"), "{page}");
    let csrf = TestApp::csrf_of(&page);
    let res = admin
        .post(s.down.url(&format!("{list}/unlink")))
        .form(&[("csrf_token", csrf.as_str()), ("provider", "corp")])
        .send()
        .await
        .expect("unlink");
    assert_eq!(res.status(), 303);
    assert_eq!(s.down.count("upstream_links"), 0);
    assert_eq!(
        s.down
            .count("audit_events WHERE action = 'upstream.unlink' AND actor LIKE 'admin:%'"),
        1
    );
}

#[tokio::test]
async fn the_login_page_shows_the_provider_and_idp_hint_goes_straight_there() {
    let s = setup(&["--policy", "create"], |_| {}).await;
    let p = person();
    let (res, _) = authorize(&s, &p, &[("idp_hint", "corp")]).await;
    let login = location(&res);
    let res = p.down.get(s.down.url(&login)).send().await.expect("login");
    assert_eq!(res.status(), 303);
    assert!(location(&res).starts_with("/login/upstream/corp?return_to="));
    // An unknown hint is ignored: the page with its buttons.
    let (res, _) = authorize(&s, &person(), &[("idp_hint", "nobody")]).await;
    let href = upstream_button(&s, &person(), &location(&res)).await;
    assert!(
        href.starts_with("/login/upstream/corp?return_to="),
        "{href}"
    );
    // The provider list, and discovery's groups.
    let out = s.down.cli(&["upstream", "list"], None).await;
    assert!(out.ok() && out.stdout.contains("corp") && out.stdout.contains("create"));
    assert!(!out.stdout.contains(s.rp.id.as_str()));
    let meta: Value = s
        .down
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .expect("json");
    assert!(meta["scopes_supported"]
        .as_array()
        .expect("scopes")
        .iter()
        .any(|v| v == "groups"));
    assert!(meta["claims_supported"]
        .as_array()
        .expect("claims")
        .iter()
        .any(|v| v == "groups"));
}

/// The upstream page a refused callback shows, and that nothing was made downstream.
pub(crate) async fn refused_page<U>(s: &Setup<U>, res: reqwest::Response, status: u16, says: &str) {
    assert_eq!(res.status(), status);
    let html = res.text().await.expect("page");
    assert!(html.contains(says), "{html}");
    assert!(html.contains("href=\"/login"), "a way back: {html}");
    assert_eq!(s.down.count("upstream_links"), 0);
}

#[tokio::test]
async fn an_unverified_upstream_address_is_never_linked_to_a_local_account() {
    for policy in ["link", "create"] {
        // Even a provider trusted for verified addresses does not link an unverified one.
        let s = setup(&["--policy", policy, "--trusted-email"], |_| {}).await;
        s.up.user("mallory", PW).await;
        // The downstream's own account with the address the upstream account claims.
        crate::helpers::add_user(&s.down.db, "other", PW, false).await;
        s.down
            .user_at(
                "victim",
                "mallory@example.test",
                "victim's password",
                &["--email-verified"],
            )
            .await;
        let p = person();
        let (res, _) = authorize(&s, &p, &[]).await;
        let start = upstream_button(&s, &p, &location(&res)).await;
        let res = p.down.get(s.down.url(&start)).send().await.expect("start");
        let callback = at_upstream(&s, &p, &location(&res), "mallory").await;
        let res = p.down.get(&callback).send().await.expect("callback");
        // Nothing linked or created: the page offers a link only after the owner signs in.
        refused_page(&s, res, 200, "already uses the email address").await;
        assert_eq!(s.down.count("users"), 2, "{policy}: nothing created");
        assert_eq!(s.down.count("sessions WHERE user_id IS NOT NULL"), 0);
        // Only the owner's own credentials, in the browser the offer was made to, make a link:
        // a sign-in in another browser links nothing.
        let elsewhere = s
            .down
            .login_with(&browser(), "victim", "victim's password")
            .await;
        assert_eq!(elsewhere.status(), 303);
        assert_eq!(s.down.count("upstream_links"), 0);
    }
}

#[tokio::test]
async fn an_unlinked_subject_is_linked_after_the_owner_signs_in_in_the_same_browser() {
    let s = setup(&["--policy", "link"], |_| {}).await;
    s.up.user("erin", PW).await;
    s.down.user("erin-here", "erin's own password").await;
    let p = person();
    let callback = round_trip(&s, &p, "erin").await;
    let res = p.down.get(&callback).send().await.expect("callback");
    assert_eq!(res.status(), 200);
    let html = res.text().await.expect("page");
    assert!(html.contains("sign in to it with its password"), "{html}");
    assert_eq!(s.down.count("upstream_links"), 0);
    let res = s
        .down
        .login_with(&p.down, "erin-here", "erin's own password")
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(s.down.count("upstream_links"), 1);
    assert_eq!(
        s.down.count("audit_events WHERE action = 'upstream.link'"),
        1
    );
    // From now on the upstream login is that account's, in any browser; the offer was spent.
    let claims = federated_login(&s, &person(), "erin").await;
    assert_eq!(claims["preferred_username"], "erin-here");
    assert_eq!(s.down.count("users"), 1);
    // With a password of its own, the account may unlink the provider.
    let (shown, status, html) = unlink(&s, &p.down, "corp").await;
    assert_eq!((shown, status), (vec!["Corp SSO".to_owned()], 200));
    assert!(html.contains("was unlinked"), "{html}");
    assert_eq!(s.down.count("upstream_links"), 0);
    assert_eq!(
        s.down
            .count("audit_events WHERE action = 'upstream.unlink'"),
        1
    );
}

#[tokio::test]
async fn a_verified_address_links_only_where_the_provider_is_trusted_for_it() {
    let s = setup(&["--policy", "link", "--trusted-email"], |_| {}).await;
    s.up.user_at("bob", "bob@example.test", PW, &["--email-verified"])
        .await;
    s.down
        .user_at(
            "robert",
            "bob@example.test",
            "robert's password",
            &["--email-verified"],
        )
        .await;
    let claims = federated_login(&s, &person(), "bob").await;
    assert_eq!(
        claims["preferred_username"], "robert",
        "linked to the local account"
    );
    assert_eq!(s.down.count("users"), 1);
    assert_eq!(s.down.count("upstream_links"), 1);
}

/// A pre-account hijack: someone makes a local account with another person's address (never
/// verified), or the address is an administrator's; that person's verified upstream address,
/// even from a provider trusted for addresses, links into neither.
#[tokio::test]
async fn a_trusted_address_never_links_into_an_account_that_did_not_prove_it_or_an_administrators()
{
    for (local_flags, who) in [
        (&[][..], "an unverified local address"),
        (&["--email-verified", "--admin"][..], "an administrator"),
    ] {
        let s = setup(&["--policy", "link", "--trusted-email"], |_| {}).await;
        s.up.user_at("bob", "bob@example.test", PW, &["--email-verified"])
            .await;
        s.down
            .user_at(
                "squatter",
                "bob@example.test",
                "squatter's password",
                local_flags,
            )
            .await;
        let p = person();
        let (res, _) = authorize(&s, &p, &[]).await;
        let start = upstream_button(&s, &p, &location(&res)).await;
        let res = p.down.get(s.down.url(&start)).send().await.expect("start");
        let callback = at_upstream(&s, &p, &location(&res), "bob").await;
        let res = p.down.get(&callback).send().await.expect("callback");
        assert_ne!(res.status(), 303, "{who}: no sign-in");
        assert_eq!(s.down.count("upstream_links"), 0, "{who}: nothing linked");
        assert_eq!(
            s.down.count("sessions WHERE user_id IS NOT NULL"),
            0,
            "{who}"
        );
    }
}

#[tokio::test]
async fn a_required_second_factor_is_still_asked_after_an_upstream_login() {
    let s = setup(&["--policy", "create"], |a| {
        a.second_factor = Some("required".into());
    })
    .await;
    s.up.user("carol", PW).await;
    let p = person();
    let (res, verifier) = authorize(&s, &p, &[]).await;
    let start = upstream_button(&s, &p, &location(&res)).await;
    let res = p.down.get(s.down.url(&start)).send().await.expect("start");
    let callback = at_upstream(&s, &p, &location(&res), "carol").await;
    let res = p.down.get(&callback).send().await.expect("callback");
    assert_eq!(res.status(), 303);
    let enrol = location(&res);
    assert!(enrol.starts_with("/login/enrol?"), "{enrol}");
    assert_eq!(
        s.down.count("sessions WHERE user_id IS NOT NULL"),
        0,
        "no session yet"
    );
    let page = s.down.html(&p.down, &enrol).await;
    let doc = scraper::Html::parse_document(&page);
    let text = |css: &str| {
        let sel = scraper::Selector::parse(css).expect("selector");
        doc.select(&sel)
            .next()
            .map(|e| e.text().collect::<String>())
            .unwrap_or_default()
    };
    let attr = |css: &str| {
        let sel = scraper::Selector::parse(css).expect("selector");
        doc.select(&sel)
            .next()
            .and_then(|e| e.value().attr("value").map(str::to_owned))
            .unwrap_or_default()
    };
    let secret = text("#totp-secret").trim().replace(' ', "");
    let secret_id = attr("input[name=secret_id]");
    let return_to = attr("input[name=return_to]");
    let csrf = TestApp::csrf_of(&page);
    let code = crate::factors::totp_code(&secret, 0);
    let res = p
        .down
        .post(s.down.url("/login/enrol"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("return_to", return_to.as_str()),
            ("secret_id", secret_id.as_str()),
            ("code", code.as_str()),
        ])
        .send()
        .await
        .expect("enrol");
    assert_eq!(res.status(), 200, "recovery codes shown");
    assert_eq!(s.down.count("sessions WHERE amr = 'otp mfa fed'"), 1);
    let claims = finish_at_downstream(&s, &p, &return_to, &verifier).await;
    let amr: Vec<&str> = claims["amr"]
        .as_array()
        .expect("amr")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(amr, ["otp", "mfa", "fed"]);
    assert_eq!(claims["acr"], "urn:ostiary:acr:2fa");
}

/// Starts a round trip in `p` up to the upstream's answer: the callback URL.
async fn round_trip(s: &Setup, p: &Person, user: &str) -> String {
    let (to_upstream, _) = begin_login(s, p).await;
    at_upstream(s, p, &to_upstream, user).await
}

#[tokio::test]
async fn callbacks_from_another_browser_replayed_mixed_up_or_naming_another_issuer_are_refused() {
    let s = setup(&["--policy", "create"], |_| {}).await;
    s.up.user("dave", PW).await;
    let victim = person();
    let callback = round_trip(&s, &victim, "dave").await;

    // Another browser with the victim's callback (login CSRF): refused, and the victim's own
    // round trip is left to the victim.
    let attacker = person();
    let res = attacker.down.get(&callback).send().await.expect("callback");
    refused_page(&s, res, 403, "started in another browser").await;

    // RFC 9207: the upstream says it sends `iss`; a callback naming another issuer is refused.
    let mut url = url::Url::parse(&callback).expect("url");
    assert!(query_param(&url, "iss").is_some(), "Ostiary sends iss");
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            (
                k.clone().into_owned(),
                if k == "iss" {
                    "https://evil.example".into()
                } else {
                    v.into_owned()
                },
            )
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(&pairs);
    let res = victim
        .down
        .get(url.as_str())
        .send()
        .await
        .expect("callback");
    refused_page(&s, res, 400, "another issuer").await;
    assert_eq!(s.down.count("users"), 0);

    // Its state was spent by that answer: replaying the genuine callback is refused too.
    let res = victim.down.get(&callback).send().await.expect("callback");
    refused_page(&s, res, 400, "expired or was finished already").await;

    // A code from one round trip delivered with another's state (mixed up, or the id_token's
    // nonce for another sign-in): refused (PKCE or the nonce), nothing made.
    let first = round_trip(&s, &victim, "dave").await;
    let second = round_trip(&s, &victim, "dave").await;
    let code_of_first = query_param(&url::Url::parse(&first).expect("url"), "code").expect("code");
    let mut mixed = url::Url::parse(&second).expect("url");
    let pairs: Vec<(String, String)> = mixed
        .query_pairs()
        .map(|(k, v)| {
            (
                k.clone().into_owned(),
                if k == "code" {
                    code_of_first.clone()
                } else {
                    v.into_owned()
                },
            )
        })
        .collect();
    mixed.query_pairs_mut().clear().extend_pairs(&pairs);
    let res = victim
        .down
        .get(mixed.as_str())
        .send()
        .await
        .expect("callback");
    refused_page(&s, res, 400, "could not be verified").await;
    assert_eq!(s.down.count("users"), 0);
    // No state at all.
    let res = victim
        .down
        .get(s.down.url("/login/upstream/callback?code=x"))
        .send()
        .await
        .expect("cb");
    refused_page(&s, res, 400, "expired or was finished already").await;
}

#[tokio::test]
async fn an_upstream_error_is_shown_in_plain_words_and_never_reflected_raw() {
    let s = setup(&["--policy", "create"], |_| {}).await;
    let p = person();
    let (res, _) = authorize(&s, &p, &[]).await;
    let start = upstream_button(&s, &p, &location(&res)).await;
    let res = p.down.get(s.down.url(&start)).send().await.expect("start");
    let at_up = url::Url::parse(&location(&res)).expect("upstream url");
    let state = query_param(&at_up, "state").expect("state");
    let res = p
        .down
        .get(s.down.url("/login/upstream/callback"))
        .query(&[
            ("state", state.as_str()),
            ("error", "access_denied"),
            ("error_description", "<script>alert(1)</script>"),
        ])
        .send()
        .await
        .expect("callback");
    assert_eq!(res.status(), 400);
    let html = res.text().await.expect("page");
    assert!(
        html.contains("Corp SSO said: the sign-in was cancelled or not allowed"),
        "{html}"
    );
    assert!(!html.contains("<script>alert(1)"), "escaped");
    assert!(html.contains("&#60;script&#62;"), "{html}");
    assert!(
        html.contains("/login?return_to=%2Fauthorize%2Fresume"),
        "a way back: {html}"
    );
}

#[tokio::test]
async fn an_upstream_that_is_down_or_silent_gets_a_page_with_a_way_back() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let silent_port = silent.local_addr().expect("addr").port();
    let closed_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let down = spawn_app_on(test_db(), |a| a.outbound_allow = Some("127.0.0.0/8".into())).await;
    for (id, port) in [("gone", closed_port), ("slow", silent_port)] {
        let issuer = format!("http://127.0.0.1:{port}");
        let out = down
            .cli(
                &[
                    "upstream",
                    "add",
                    id,
                    "--name",
                    id,
                    "--issuer",
                    &issuer,
                    "--client-id",
                    "x",
                ],
                None,
            )
            .await;
        assert!(out.ok(), "{}", out.stderr);
    }
    let b = browser();
    for (id, says) in [
        ("gone", "could not be reached"),
        ("slow", "did not answer in time"),
    ] {
        let began = std::time::Instant::now();
        let res = b
            .get(down.url(&format!("/login/upstream/{id}?return_to=/")))
            .send()
            .await
            .expect("start");
        assert!(
            began.elapsed() < std::time::Duration::from_secs(9),
            "no hang"
        );
        assert_eq!(res.status(), 502);
        let html = res.text().await.expect("page");
        assert!(html.contains(says), "{html}");
        assert!(html.contains("href=\"/login"), "{html}");
    }
    drop(silent);
    // An unknown provider: 404 page.
    let res = b
        .get(down.url("/login/upstream/nobody"))
        .send()
        .await
        .expect("start");
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn upstreams_round_trip_through_export_and_apply_without_their_secret() {
    let s = setup(&["--policy", "create"], |_| {}).await;
    let out = s.down.cli(&["export"], None).await;
    assert!(out.ok(), "{}", out.stderr);
    assert!(out.stdout.contains("[[upstream]]"), "{}", out.stdout);
    assert!(out.stdout.contains("id = \"corp\""));
    // Nothing to change when applied as exported (the secret is kept when none is named).
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("ostiary.toml");
    std::fs::write(&file, &out.stdout).expect("write");
    let path = file.display().to_string();
    let again = s.down.cli(&["apply", &path], None).await;
    assert!(again.ok(), "{}", again.stderr);
    assert!(
        again.stdout.contains("nothing to change"),
        "{}",
        again.stdout
    );
    // An inline secret is refused; a renamed provider is updated; the login still works.
    let inline = out
        .stdout
        .replace("id = \"corp\"", "id = \"corp\"\nclient_secret = \"plain\"");
    std::fs::write(&file, &inline).expect("write");
    let refused = s.down.cli(&["apply", &path], None).await;
    assert!(!refused.ok() && refused.stderr.contains("inline secrets are refused"));
    let renamed = out
        .stdout
        .replace("name = \"Corp SSO\"", "name = \"Corp Login\"");
    std::fs::write(&file, &renamed).expect("write");
    let applied = s.down.cli(&["apply", &path], None).await;
    assert!(applied.ok(), "{}", applied.stderr);
    assert!(
        applied.stdout.contains("update upstream corp"),
        "{}",
        applied.stdout
    );
    let p = person();
    let (res, _) = authorize(&s, &p, &[]).await;
    let html = s.down.html(&p.down, &location(&res)).await;
    assert!(html.contains("Corp Login"));
    // A file without the provider removes it (and its button).
    let without = format!(
        "upstream = []\n{}",
        renamed.split("[[upstream]]").next().unwrap_or_default()
    );
    std::fs::write(&file, &without).expect("write");
    let removed = s.down.cli(&["apply", &path], None).await;
    assert!(removed.ok(), "{}", removed.stderr);
    assert_eq!(s.down.count("upstream_providers"), 0);
}
