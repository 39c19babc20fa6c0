//! Federation (issue 24), managed by people: the console's sign-in providers (through the one
//! `providers::check`), "link another provider" on the account page (re-authentication first,
//! the round trip's purpose sealed in its state), and claims refreshed at every upstream login.
//! A second Ostiary on another loopback port is the upstream, as in `federation`.

use diesel::RunQueryDsl;

use crate::federation::{
    at_upstream, downstream, federated_login, person, setup, Person, Setup, PW,
};
use crate::helpers::{add_user, browser, location, spawn_app, TestApp};

/// A 1×1 PNG.
const PNG: &str = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

const ROOT_PW: &str = "root's password 1";

fn sql(app: &TestApp, statement: &str) {
    let mut conn = app.db.conn();
    diesel::sql_query(statement)
        .execute(&mut conn)
        .expect("sql");
}

fn text_of(html: &str, css: &str) -> Vec<String> {
    let doc = scraper::Html::parse_document(html);
    let sel = scraper::Selector::parse(css).expect("selector");
    doc.select(&sel)
        .map(|e| e.text().collect::<String>().trim().to_owned())
        .collect()
}

/// The console's "add a provider" form posted by `admin` with `fields` (and its CSRF token).
async fn post_form(
    app: &TestApp,
    admin: &reqwest::Client,
    page: &str,
    action: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let html = app.html(admin, page).await;
    let csrf = TestApp::csrf_of(&html);
    let mut form = vec![("csrf_token", csrf.as_str())];
    form.extend_from_slice(fields);
    admin
        .post(app.url(action))
        .form(&form)
        .send()
        .await
        .expect("post")
}

#[tokio::test]
async fn the_console_adds_edits_disables_and_removes_a_provider_through_the_one_check() {
    let up = spawn_app().await;
    let (down, rp) = downstream(|_| {}).await;
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
        ])
        .await;
    let secret = at_up.secret.clone().expect("a confidential client");
    let upstream_client = at_up.id.clone();
    add_user(&down.db, "root", ROOT_PW, true).await;
    add_user(&down.db, "plain", ROOT_PW, false).await;

    // Administrators only.
    let plain = browser();
    down.login_with(&plain, "plain", ROOT_PW).await;
    let res = plain
        .get(down.url("/admin/upstreams"))
        .send()
        .await
        .expect("list");
    assert_eq!(res.status(), 403);

    let admin = browser();
    assert_eq!(down.login_with(&admin, "root", ROOT_PW).await.status(), 303);
    let overview = down.html(&admin, "/admin").await;
    assert!(
        overview.contains(r#"<a href="/admin/upstreams">Sign-in providers</a>"#),
        "nav link: {overview}"
    );

    // A bad form: every problem named, by `providers::check` (the CLI's words), nothing stored.
    let res = post_form(
        &down,
        &admin,
        "/admin/upstreams/new",
        "/admin/upstreams/new",
        &[
            ("id", "Corp!"),
            ("name", "Corp SSO"),
            ("kind", "oidc"),
            ("issuer", "http://sso.example.com"),
            ("client_id", &at_up.id),
            ("account_policy", "create"),
            ("icon", "https://cdn.example.com/corp.png"),
        ],
    )
    .await;
    assert_eq!(res.status(), 400);
    let page = res.text().await.expect("page");
    let errors = text_of(&page, "#form-errors li");
    for says in [
        "id must be",
        "issuer must be an https URL",
        "icon must be a data:image/png",
    ] {
        assert!(
            errors.iter().any(|e| e.starts_with(says)),
            "{says}: {errors:?}"
        );
    }
    assert_eq!(down.count("upstream_providers"), 0);
    // An icon that says PNG but is not one, or is too large, is refused too.
    let big = format!(
        "data:image/png;base64,{}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            [0x89u8; 9 * 1024]
        )
    );
    for (icon, says) in [
        (
            "data:image/png;base64,PHN2Zz48L3N2Zz4=",
            "icon is not a PNG image",
        ),
        (big.as_str(), "icon must be at most 8 KiB"),
    ] {
        let res = post_form(
            &down,
            &admin,
            "/admin/upstreams/new",
            "/admin/upstreams/new",
            &[
                ("id", "corp"),
                ("name", "Corp SSO"),
                ("kind", "oidc"),
                ("issuer", &up.address),
                ("client_id", &at_up.id),
                ("account_policy", "create"),
                ("icon", icon),
            ],
        )
        .await;
        assert_eq!(res.status(), 400);
        let errors = text_of(&res.text().await.expect("page"), "#form-errors li");
        assert!(errors.iter().any(|e| e == says), "{says}: {errors:?}");
    }

    // A good one: stored with its secret sealed (never in clear, never shown back).
    let res = post_form(
        &down,
        &admin,
        "/admin/upstreams/new",
        "/admin/upstreams/new",
        &[
            ("id", "corp"),
            ("name", "Corp SSO"),
            ("kind", "oidc"),
            ("issuer", &up.address),
            ("client_id", &at_up.id),
            ("client_secret", &secret),
            ("scopes", "openid profile email"),
            ("account_policy", "create"),
            ("enabled", "on"),
            ("sync_claims", "on"),
            ("icon", PNG),
        ],
    )
    .await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/admin/upstreams");
    assert_eq!(
        down.count("upstream_providers WHERE id = 'corp' AND client_secret_enc IS NOT NULL"),
        1
    );
    assert_eq!(
        down.count(&format!(
            "upstream_providers WHERE client_secret_enc LIKE '%{secret}%'"
        )),
        0,
        "sealed"
    );
    assert_eq!(
        down.count("audit_events WHERE action = 'upstream.add' AND actor LIKE 'admin:%'"),
        1
    );
    let list = down.html(&admin, "/admin/upstreams").await;
    assert_eq!(text_of(&list, "#upstreams .secret-state"), ["set"]);
    let edit = down.html(&admin, "/admin/upstreams/corp").await;
    assert!(
        !list.contains(&secret) && !edit.contains(&secret),
        "never shown back"
    );
    assert!(edit.contains("now set; leave empty to keep it"), "{edit}");

    // The login page's button shows the icon, inline (no request to another origin).
    let s = Setup {
        up,
        down,
        rp,
        button: "Corp SSO",
    };
    let p = person();
    let login = s.down.html(&p.down, "/login").await;
    let doc = scraper::Html::parse_document(&login);
    let sel = scraper::Selector::parse("#upstreams a img.upstream-icon").expect("selector");
    let img = doc.select(&sel).next().expect("an icon on the button");
    assert_eq!(img.value().attr("src"), Some(PNG));
    // The provider made in the console signs people in (its sealed secret opens at the token
    // endpoint): a first login creates the account.
    s.up.user("alice", PW).await;
    let first = federated_login(&s, &p, "alice").await;
    assert!(first["sub"].is_string());
    assert_eq!(s.down.count("upstream_links WHERE provider_id = 'corp'"), 1);

    // Edit: a new name, the secret field left empty — the secret is kept.
    let sealed_before = {
        let mut conn = s.down.db.conn();
        ostiary::db::models::federation::get(&mut conn, "corp")
            .expect("query")
            .expect("corp")
            .client_secret_enc
    };
    let res = post_form(
        &s.down,
        &admin,
        "/admin/upstreams/corp",
        "/admin/upstreams/corp",
        &[
            ("name", "Corp"),
            ("kind", "oidc"),
            ("issuer", &s.up.address),
            ("client_id", &upstream_client),
            ("account_policy", "create"),
            ("enabled", "on"),
        ],
    )
    .await;
    assert_eq!(res.status(), 303);
    let row = {
        let mut conn = s.down.db.conn();
        ostiary::db::models::federation::get(&mut conn, "corp")
            .expect("query")
            .expect("corp")
    };
    assert_eq!(row.name, "Corp");
    assert_eq!(row.client_secret_enc, sealed_before, "secret kept");
    assert!(!row.sync_claims && row.icon.is_none(), "unticked, emptied");

    // Disable: no button, no logins; enable: back. Each a save through the check, audited.
    let res = post_form(
        &s.down,
        &admin,
        "/admin/upstreams",
        "/admin/upstreams/corp/state/disable",
        &[],
    )
    .await;
    assert_eq!(res.status(), 303);
    let login = s.down.html(&p.down, "/login").await;
    assert!(!login.contains("id=\"upstreams\""), "no button: {login}");
    let res = p
        .down
        .get(s.down.url("/login/upstream/corp"))
        .send()
        .await
        .expect("start");
    assert_eq!(res.status(), 404);
    assert_eq!(
        text_of(
            &s.down.html(&admin, "/admin/upstreams").await,
            "#upstreams .state"
        ),
        ["disabled"]
    );
    let res = post_form(
        &s.down,
        &admin,
        "/admin/upstreams",
        "/admin/upstreams/corp/state/enable",
        &[],
    )
    .await;
    assert_eq!(res.status(), 303);
    assert!(s
        .down
        .html(&p.down, "/login")
        .await
        .contains("id=\"upstreams\""));

    // Remove: a login older than five minutes needs the password; then the provider and its
    // links are gone, audited.
    sql(&s.down, "UPDATE sessions SET auth_time = auth_time - 1000");
    // Saving a provider (say, trusting its addresses) asks for a recent sign-in too.
    let res = post_form(
        &s.down,
        &admin,
        "/admin/upstreams/corp",
        "/admin/upstreams/corp",
        &[("name", "Corp SSO"), ("trusted_email", "on")],
    )
    .await;
    assert_eq!(res.status(), 400, "password needed to save a provider");
    assert_eq!(
        s.down
            .count("upstream_providers WHERE trusted_email = TRUE"),
        0
    );
    let res = post_form(
        &s.down,
        &admin,
        "/admin/upstreams",
        "/admin/upstreams/corp/delete",
        &[],
    )
    .await;
    assert_eq!(res.status(), 400, "password needed");
    assert_eq!(s.down.count("upstream_providers"), 1);
    let res = post_form(
        &s.down,
        &admin,
        "/admin/upstreams",
        "/admin/upstreams/corp/delete",
        &[("password", ROOT_PW)],
    )
    .await;
    assert_eq!(res.status(), 303);
    assert_eq!(s.down.count("upstream_providers"), 0);
    assert_eq!(s.down.count("upstream_links"), 0);
    assert_eq!(
        s.down
            .count("audit_events WHERE action = 'upstream.remove' AND actor LIKE 'admin:%'"),
        1
    );
}

/// `person` (signed in at the downstream) asks to link `provider` with `password` (may be
/// empty): the answer.
async fn ask_link(s: &Setup, p: &Person, password: &str) -> reqwest::Response {
    let page = s.down.html(&p.down, "/account").await;
    let csrf = TestApp::csrf_of(&page);
    p.down
        .post(s.down.url("/account/upstreams/add"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("provider", "corp"),
            ("password", password),
        ])
        .send()
        .await
        .expect("link")
}

#[tokio::test]
async fn a_signed_in_person_links_another_provider_after_confirming_it_is_them() {
    // Unknown upstream subjects are refused: only a link made from the account page lets the
    // upstream account in.
    let s = setup(&["--policy", "refuse"], |_| {}).await;
    s.up.user("alice", PW).await;
    s.down.user("bob", "bob's password 1").await;
    let p = person();
    assert_eq!(
        s.down
            .login_with(&p.down, "bob", "bob's password 1")
            .await
            .status(),
        303
    );
    let account = s.down.html(&p.down, "/account").await;
    assert_eq!(
        text_of(&account, "#upstream-linkable button"),
        ["Link Corp SSO"]
    );

    // The re-authentication rule: a login older than five minutes needs the password.
    sql(&s.down, "UPDATE sessions SET auth_time = auth_time - 1000");
    for wrong in ["", "not bob's password"] {
        let res = ask_link(&s, &p, wrong).await;
        assert_eq!(res.status(), 400, "{wrong:?}");
    }
    assert_eq!(s.down.count("upstream_states"), 0, "no round trip begun");
    let res = ask_link(&s, &p, "bob's password 1").await;
    assert_eq!(res.status(), 303);
    let to_upstream = location(&res);
    assert!(to_upstream.starts_with(&s.up.address), "{to_upstream}");

    // Another browser cannot take the callback; this one links alice@corp to bob.
    let back = at_upstream(&s, &p, &to_upstream, "alice").await;
    let thief = person();
    let res = thief.down.get(&back).send().await.expect("callback");
    assert_eq!(res.status(), 403);
    assert_eq!(s.down.count("upstream_links"), 0);
    let res = p.down.get(&back).send().await.expect("callback");
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/account?linked=1");
    let bob_id = {
        let mut conn = s.down.db.conn();
        ostiary::db::models::users::by_username(&mut conn, "bob")
            .expect("query")
            .expect("bob")
            .id
    };
    assert_eq!(
        s.down.count(&format!(
            "upstream_links WHERE provider_id = 'corp' AND user_id = '{bob_id}'"
        )),
        1
    );
    assert_eq!(
        s.down.count(&format!(
            "audit_events WHERE action = 'upstream.link' AND actor = 'user:{bob_id}'"
        )),
        1
    );
    let account = s.down.html(&p.down, "/account?linked=1").await;
    assert!(account.contains("was linked to your account"), "{account}");
    assert_eq!(text_of(&account, "#upstream-links strong"), ["Corp SSO"]);
    assert!(text_of(&account, "#upstream-linkable button").is_empty());

    // From now on the upstream login is bob's (the policy is `refuse`: only the link does it).
    let other = person();
    let claims = federated_login(&s, &other, "alice").await;
    assert_eq!(claims["preferred_username"], "bob");

    // Another account cannot take the same upstream account: refused in plain words.
    s.down.user("carol", "carol's password 1").await;
    let c = person();
    s.down
        .login_with(&c.down, "carol", "carol's password 1")
        .await;
    let res = ask_link(&s, &c, "").await;
    assert_eq!(res.status(), 303, "a fresh login needs no password");
    let back = at_upstream(&s, &c, &location(&res), "alice").await;
    let res = c.down.get(&back).send().await.expect("callback");
    assert_eq!(res.status(), 409);
    let page = res.text().await.expect("page");
    assert!(
        page.contains("already linked to another account here"),
        "{page}"
    );
    assert_eq!(s.down.count("upstream_links"), 1);
}

#[tokio::test]
async fn an_upstream_login_refreshes_names_but_never_the_username_or_address() {
    for sync in [true, false] {
        let flags: &[&str] = if sync {
            &["--policy", "create"]
        } else {
            &["--policy", "create", "--no-sync-claims"]
        };
        let s = setup(flags, |_| {}).await;
        s.up.user("alice", PW).await;
        crate::federation::ok(
            s.up.cli(
                &[
                    "user",
                    "profile",
                    "alice",
                    "--set",
                    "name=Alice Old",
                    "--set",
                    "given_name=Alice",
                ],
                None,
            )
            .await,
        )
        .await;
        let first = federated_login(&s, &person(), "alice").await;
        assert_eq!(first["name"], "Alice Old");
        let username = first["preferred_username"].clone();
        let email = first["email"].clone();
        // Upstream, the person changes their names.
        crate::federation::ok(
            s.up.cli(
                &[
                    "user",
                    "profile",
                    "alice",
                    "--set",
                    "name=Alice New",
                    "--set",
                    "family_name=Newname",
                ],
                None,
            )
            .await,
        )
        .await;
        let again = federated_login(&s, &person(), "alice").await;
        assert_eq!(again["sub"], first["sub"]);
        assert_eq!(again["preferred_username"], username);
        assert_eq!(again["email"], email);
        if sync {
            assert_eq!(again["name"], "Alice New");
            assert_eq!(again["family_name"], "Newname");
            assert_eq!(again["given_name"], "Alice");
        } else {
            assert_eq!(again["name"], "Alice Old", "not refreshed");
            assert!(again.get("family_name").is_none(), "{again}");
        }
    }
}
