//! Federation (issue 24) with upstreams that are not Ostiary (`upstream_standins`): the
//! GitHub-shaped OAuth 2.0 stand-in (kind `oauth2`, preset `github`: no id_token, so the
//! browser-bound single-use `state` is the whole CSRF and mix-up defence) and node-oidc-provider
//! (kind `oidc`). The downstream and the person's browser are `federation`'s.

use serde_json::{json, Value};

use crate::federation::{
    begin_login, complete_login, downstream, groups_of, ok, person, refused_page, Person, Setup,
};
use crate::helpers::{cli_command, query_param, TestApp};
use crate::upstream_standins::{
    browse, github_standin, node_upstream, GithubStandin, NodeUpstream,
};

fn callback_of(down: &TestApp) -> String {
    format!("{}/login/upstream/callback", down.address)
}

/// `ostiary upstream add ARGS…` at the downstream, the client secret `secret` read from an
/// environment variable.
async fn add_upstream(down: &TestApp, secret: &str, args: &[&str]) {
    let mut cmd = cli_command(&down.db);
    cmd.env("UPSTREAM_SECRET", secret);
    cmd.args(["upstream", "add"])
        .args(args)
        .args(["--client-secret-env", "UPSTREAM_SECRET"]);
    let out: crate::helpers::CliOutput = cmd.output().await.expect("upstream add").into();
    assert!(out.ok(), "upstream add: {}", out.stderr);
}

fn octocat() -> Value {
    json!([{
        "id": 583231, "login": "octocat", "name": "The Octocat",
        // The profile's public address: never taken (only /user/emails' verified primary).
        "email": "public@octo.test",
        "avatar_url": "http://127.0.0.1:9/octocat.png",
        "emails": [
            {"email": "old@octo.test", "primary": false, "verified": false},
            {"email": "octocat@octo.test", "primary": true, "verified": true}
        ],
        "orgs": ["acme"],
        "teams": [{"org": "acme", "slug": "devs", "name": "Devs"}]
    }])
}

/// The stand-in for GitHub and a downstream with it configured by the CLI (`--preset github`
/// pointed at the stand-in) under `extra` flags.
async fn github(users: &Value, extra: &[&str]) -> Setup<GithubStandin> {
    let (down, rp) = downstream(|_| {}).await;
    let gh = github_standin(
        &users.to_string(),
        "gh-app",
        "gh-secret",
        &callback_of(&down),
    )
    .await;
    let mut args = vec![
        "github",
        "--name",
        "GitHub",
        "--kind",
        "oauth2",
        "--preset",
        "github",
        "--base-url",
        &gh.base,
        "--api-url",
        &gh.api,
        "--client-id",
        "gh-app",
    ];
    args.extend_from_slice(extra);
    add_upstream(&down, "gh-secret", &args).await;
    Setup {
        up: gh,
        down,
        rp,
        button: "GitHub",
    }
}

/// At the stand-in: its form, signed in as `login`; the downstream callback it redirects to.
async fn at_github(s: &Setup<GithubStandin>, p: &Person, to_upstream: &str, login: &str) -> String {
    let mut page = None;
    let cb = browse(
        &p.up,
        &s.up.base,
        to_upstream.to_owned(),
        &[("login", login)],
        &mut page,
        &callback_of(&s.down),
    )
    .await
    .unwrap_or_else(|| panic!("no redirect: {page:?}\n{}", s.up.stderr()));
    cb.to_string()
}

async fn github_login(s: &Setup<GithubStandin>, p: &Person, login: &str) -> Value {
    let (to_upstream, verifier) = begin_login(s, p).await;
    assert!(
        to_upstream.starts_with(&format!("{}/login/oauth/authorize?", s.up.base)),
        "{to_upstream}"
    );
    let url = url::Url::parse(&to_upstream).expect("url");
    assert_eq!(
        query_param(&url, "code_challenge_method").as_deref(),
        Some("S256")
    );
    assert!(query_param(&url, "nonce").is_none(), "no OpenID Connect");
    let callback = at_github(s, p, &to_upstream, login).await;
    complete_login(s, p, &callback, &verifier).await
}

#[tokio::test]
async fn a_github_login_makes_the_account_from_the_verified_primary_address_with_orgs_and_teams_as_groups(
) {
    let users = octocat();
    let s = github(&users, &["--policy", "create"]).await;
    let first = github_login(&s, &person(), "octocat").await;
    assert_eq!(first["preferred_username"], "octocat");
    assert_eq!(first["name"], "The Octocat");
    assert_eq!(first["email"], "octocat@octo.test");
    assert_eq!(first["amr"], json!(["fed"]));
    assert_eq!(groups_of(&first), ["github:acme", "github:acme/devs"]);
    assert_eq!(
        s.down
            .count("upstream_links WHERE provider_id = 'github' AND subject = '583231'"),
        1
    );

    // GitHub's teams change; the next login (another browser) reuses the account and says so.
    let mut changed = users.clone();
    changed[0]["teams"] = json!([{"org": "acme", "slug": "ops", "name": "Ops"}]);
    s.up.set_users(&changed.to_string()).await;
    let again = github_login(&s, &person(), "octocat").await;
    assert_eq!(again["sub"], first["sub"]);
    assert_eq!(groups_of(&again), ["github:acme", "github:acme/ops"]);
    assert_eq!(s.down.count("users"), 1);

    // The preset round-trips through export and apply.
    let out = s.down.cli(&["export"], None).await;
    assert!(out.ok(), "{}", out.stderr);
    assert!(out.stdout.contains("preset = \"github\""), "{}", out.stdout);
    assert!(out.stdout.contains(&format!("{}/user", s.up.api)));
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("ostiary.toml");
    std::fs::write(&file, &out.stdout).expect("write");
    let applied = s
        .down
        .cli(&["apply", &file.display().to_string()], None)
        .await;
    assert!(applied.ok(), "{}", applied.stderr);
    assert!(
        applied.stdout.contains("nothing to change"),
        "{}",
        applied.stdout
    );
}

#[tokio::test]
async fn an_unverified_primary_github_address_never_links_or_makes_an_account() {
    let mut users = octocat();
    // The primary address is not verified; a verified one is not the primary.
    users[0]["emails"] = json!([
        {"email": "victim@octo.test", "primary": true, "verified": false},
        {"email": "other@octo.test", "primary": false, "verified": true}
    ]);
    let s = github(&users, &["--policy", "create", "--trusted-email"]).await;
    for (name, address) in [("victim", "victim@octo.test"), ("other", "other@octo.test")] {
        ok(s.down
            .cli(
                &[
                    "user",
                    "add",
                    name,
                    "--email",
                    address,
                    "--email-verified",
                    "--password-stdin",
                ],
                Some("a local password\n"),
            )
            .await)
        .await;
    }
    let p = person();
    let (to_upstream, _) = begin_login(&s, &p).await;
    let callback = at_github(&s, &p, &to_upstream, "octocat").await;
    let res = p.down.get(&callback).send().await.expect("callback");
    refused_page(&s, res, 403, "did not share an email address").await;
    assert_eq!(s.down.count("users"), 2, "nothing created");
    assert_eq!(s.down.count("sessions WHERE user_id IS NOT NULL"), 0);

    // Once GitHub says the primary address is verified, the provider trusted for verified
    // addresses links the account that has it.
    users[0]["emails"][0]["verified"] = json!(true);
    s.up.set_users(&users.to_string()).await;
    let claims = github_login(&s, &person(), "octocat").await;
    assert_eq!(claims["preferred_username"], "victim");
    assert_eq!(s.down.count("upstream_links"), 1);
}

#[tokio::test]
async fn a_github_callback_from_another_browser_or_replayed_is_refused() {
    let s = github(&octocat(), &["--policy", "create"]).await;
    let victim = person();
    let (to_upstream, verifier) = begin_login(&s, &victim).await;
    let callback = at_github(&s, &victim, &to_upstream, "octocat").await;

    // Another browser with the victim's callback (login CSRF): refused, the code not redeemed.
    let attacker = person();
    let res = attacker.down.get(&callback).send().await.expect("callback");
    refused_page(&s, res, 403, "started in another browser").await;
    // A callback without its state, or with one we never gave out.
    let url = url::Url::parse(&callback).expect("url");
    let code = query_param(&url, "code").expect("code");
    for query in [
        vec![("code", code.as_str())],
        vec![("code", code.as_str()), ("state", "made-up")],
    ] {
        let res = victim
            .down
            .get(s.down.url("/login/upstream/callback"))
            .query(&query)
            .send()
            .await
            .expect("callback");
        refused_page(&s, res, 400, "expired or was finished already").await;
    }

    // The victim's own browser goes on.
    let claims = complete_login(&s, &victim, &callback, &verifier).await;
    assert_eq!(claims["preferred_username"], "octocat");
    // Replayed, the spent state is refused (and no second login happens).
    let res = victim.down.get(&callback).send().await.expect("replay");
    assert_eq!(res.status(), 400);
    let html = res.text().await.expect("page");
    assert!(html.contains("expired or was finished already"), "{html}");
    assert_eq!(
        s.down
            .count("audit_events WHERE action = 'upstream.create'"),
        1
    );
}

/// node-oidc-provider as the upstream of a downstream that creates accounts just in time.
async fn node(users: &Value, extra: &[&str]) -> Setup<NodeUpstream> {
    let (down, rp) = downstream(|_| {}).await;
    let up = node_upstream(
        &users.to_string(),
        "downstream",
        "node-secret",
        &callback_of(&down),
    )
    .await;
    let mut args = vec![
        "node",
        "--name",
        "Node OP",
        "--issuer",
        &up.issuer,
        "--client-id",
        "downstream",
        "--scopes",
        "openid profile email groups",
        "--groups-claim",
        "groups",
        "--policy",
        "create",
    ];
    args.extend_from_slice(extra);
    add_upstream(&down, "node-secret", &args).await;
    Setup {
        up,
        down,
        rp,
        button: "Node OP",
    }
}

/// At node-oidc-provider: its login form, consent given by itself; the callback URL.
async fn at_node(s: &Setup<NodeUpstream>, p: &Person, to_upstream: &str) -> url::Url {
    let mut page = None;
    browse(
        &p.up,
        &s.up.issuer,
        to_upstream.to_owned(),
        &[("username", "alice"), ("password", "alice's pw")],
        &mut page,
        &callback_of(&s.down),
    )
    .await
    .unwrap_or_else(|| panic!("no redirect: {page:?}\n{}", s.up.stderr()))
}

/// A whole login through node-oidc-provider in a new browser: the downstream's id_token.
async fn node_login(s: &Setup<NodeUpstream>) -> Value {
    let p = person();
    let (to_upstream, verifier) = begin_login(s, &p).await;
    let cb = at_node(s, &p, &to_upstream).await;
    // RFC 9207: node-oidc-provider names itself; the downstream checks it.
    assert_eq!(
        query_param(&cb, "iss").as_deref(),
        Some(s.up.issuer.as_str())
    );
    complete_login(s, &p, cb.as_str(), &verifier).await
}

#[tokio::test]
async fn node_oidc_provider_as_upstream_first_login_creates_the_next_reuses_with_fresh_groups() {
    let mut users = json!([{
        "sub": "u1", "username": "alice", "password": "alice's pw",
        "preferred_username": "alice", "email": "alice@upstream.test", "email_verified": true,
        "name": "Alice", "groups": ["staff", "dev"]
    }]);
    let s = node(&users, &[]).await;
    let login = || node_login(&s);
    let first = login().await;
    assert_eq!(first["preferred_username"], "alice");
    assert_eq!(first["email"], "alice@upstream.test");
    assert_eq!(groups_of(&first), ["node:dev", "node:staff"]);
    assert_eq!(first["amr"], json!(["fed"]));
    assert_eq!(
        s.down
            .count("upstream_links WHERE provider_id = 'node' AND subject = 'u1'"),
        1
    );

    users[0]["groups"] = json!(["staff", "ops"]);
    s.up.set_users(&users.to_string()).await;
    let again = login().await;
    assert_eq!(again["sub"], first["sub"], "the same account");
    assert_eq!(groups_of(&again), ["node:ops", "node:staff"]);
    assert_eq!(s.down.count("users"), 1);

    // A callback whose `iss` is not node-oidc-provider's is refused before its code is used.
    let p = person();
    let (to_upstream, _) = begin_login(&s, &p).await;
    let mut cb = at_node(&s, &p, &to_upstream).await;
    let pairs: Vec<(String, String)> = cb
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "iss" {
                "http://127.0.0.1:9".to_owned()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    cb.query_pairs_mut().clear().extend_pairs(&pairs);
    let res = p.down.get(cb.as_str()).send().await.expect("callback");
    assert_eq!(res.status(), 400);
    let html = res.text().await.expect("page");
    assert!(html.contains("another issuer"), "{html}");
}

#[tokio::test]
async fn an_upstream_second_factor_counts_only_for_a_provider_trusted_for_it() {
    let users = json!([{
        "sub": "u1", "username": "alice", "password": "alice's pw",
        "preferred_username": "alice", "email": "alice@upstream.test", "email_verified": true,
        "amr": ["pwd", "otp", "mfa"]
    }]);
    // Trusted: the upstream's methods are ours too, and so is the class they reach.
    let trusted = node(&users, &["--trusted-acr"]).await;
    let claims = node_login(&trusted).await;
    assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa", "fed"]));
    assert_eq!(claims["acr"], "urn:ostiary:acr:2fa");
    // Not trusted (the default): the same upstream login is one factor here, `fed`.
    let untrusted = node(&users, &[]).await;
    let claims = node_login(&untrusted).await;
    assert_eq!(claims["amr"], json!(["fed"]));
    assert_ne!(claims["acr"], "urn:ostiary:acr:2fa");
}
