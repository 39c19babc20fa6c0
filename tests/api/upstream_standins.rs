//! Upstream providers for the federation tests (issue 24) that are not Ostiary, and self-tests
//! proving each works on its own over plain HTTP (no Ostiary involved):
//! - node-oidc-provider (tests/rp/node/upstream_op.mjs, pinned in package-lock.json): an OpenID
//!   Provider with one static client, PKCE required, a plain login form, automatic consent;
//! - a GitHub-shaped OAuth 2.0 stand-in (tests/rp/github_standin.py, Python standard library):
//!   GitHub's authorize / access_token / api.github.com/user* shapes under one base URL.
//!
//! Both listen on 127.0.0.1 port 0, print `LISTENING <url>`, take their users as JSON (which a
//! test can replace while they run: `set_users`) and are killed by PID when dropped.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::helpers::{browser, location, pkce_pair, query_param};

/// A running stand-in process: its base URL, and its stderr (kept in a file) for diagnostics.
pub struct Standin {
    pub url: String,
    pub pid: u32,
    child: tokio::process::Child,
    stderr: tempfile::NamedTempFile,
}

impl Drop for Standin {
    fn drop(&mut self) {
        // SIGKILL to this child's PID only; tokio reaps it.
        let _ = self.child.start_kill();
    }
}

impl Standin {
    /// Starts `cmd` and waits (reading its stdout, no sleeping) for its `LISTENING <url>` line.
    pub(crate) async fn spawn(what: &str, mut cmd: tokio::process::Command) -> Standin {
        crate::helpers::install_tls_provider();
        let stderr = tempfile::NamedTempFile::new().expect("stderr file");
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr.reopen().expect("stderr file"))
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("start the {what}: {e}"));
        let pid = child.id().expect("pid");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let url = tokio::time::timeout(Duration::from_secs(60), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(url) = line.trim().strip_prefix("LISTENING ") {
                    return Some(url.to_owned());
                }
            }
            None
        })
        .await;
        // Keep reading stdout, so that a later line never meets a closed pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let mut standin = Standin {
            url: String::new(),
            pid,
            child,
            stderr,
        };
        match url {
            Ok(Some(url)) => {
                standin.url = url;
                standin
            }
            Ok(None) => panic!("the {what} exited before listening:\n{}", standin.stderr()),
            Err(_) => panic!(
                "the {what} did not listen within 60 s:\n{}",
                standin.stderr()
            ),
        }
    }

    /// What the process wrote on stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.stderr.path()).unwrap_or_default()
    }

    /// Replaces the stand-in's users (the same JSON shape it was started with); later logins,
    /// tokens and API answers use them (e.g. changed upstream groups).
    pub async fn set_users(&self, users_json: &str) {
        self.post_standin("users", users_json.to_owned()).await;
    }

    /// Makes every later request to the stand-in (but these test-only ones) wait `ms` first:
    /// an upstream that is slow or, for a client with a shorter timeout, down.
    pub async fn set_delay(&self, ms: u64) {
        self.post_standin("delay", json!({ "ms": ms }).to_string())
            .await;
    }

    async fn post_standin(&self, what: &str, body: String) {
        let res = reqwest::Client::new()
            .post(format!("{}/__standin/{what}", self.url))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("stand-in reachable");
        assert!(
            res.status().is_success(),
            "POST /__standin/{what}: {} {}",
            res.status(),
            res.text().await.unwrap_or_default()
        );
    }
}

/// node-oidc-provider as an upstream OpenID Provider (`issuer` is `http://127.0.0.1:PORT`, no
/// trailing slash; discovery at `{issuer}/.well-known/openid-configuration`).
pub struct NodeUpstream {
    pub issuer: String,
    pub process: Standin,
}

impl std::ops::Deref for NodeUpstream {
    type Target = Standin;
    fn deref(&self) -> &Standin {
        &self.process
    }
}

/// Starts node-oidc-provider with one static client (`client_id`, `secret`, authenticating at
/// the token endpoint with client_secret_basic; `redirect_uri`, several separated by spaces)
/// and `users_json`: `[{"sub":"u1","username":"alice","password":"pw","email":"a@x",
/// "email_verified":true,"name":"Alice","groups":["staff"]}]` (`username` defaults to `sub`;
/// every field but username and password is a claim). Scopes openid email profile groups;
/// scope claims are in the id_token and at userinfo.
pub async fn node_upstream(
    users_json: &str,
    client_id: &str,
    secret: &str,
    redirect_uri: &str,
) -> NodeUpstream {
    node_upstream_with(users_json, client_id, secret, redirect_uri, &[]).await
}

/// As `node_upstream`, with further environment for upstream_op.mjs, e.g.
/// `("UPSTREAM_TOKEN_AUTH", "client_secret_post")` or `("UPSTREAM_CONFORM_ID_TOKEN_CLAIMS", "1")`
/// (scope claims at userinfo only).
pub async fn node_upstream_with(
    users_json: &str,
    client_id: &str,
    secret: &str,
    redirect_uri: &str,
    env: &[(&str, &str)],
) -> NodeUpstream {
    let dir = tokio::task::spawn_blocking(crate::rp::rp_node)
        .await
        .expect("npm ci")
        .clone();
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg(dir.join("upstream_op.mjs"))
        .env("UPSTREAM_CLIENT_ID", client_id)
        .env("UPSTREAM_CLIENT_SECRET", secret)
        .env("UPSTREAM_REDIRECT_URIS", redirect_uri)
        .env("OSTIARY_UPSTREAM_USERS", users_json)
        .envs(env.iter().copied());
    let process = Standin::spawn("node-oidc-provider upstream", cmd).await;
    NodeUpstream {
        issuer: process.url.clone(),
        process,
    }
}

/// The GitHub-shaped OAuth 2.0 stand-in. `base` stands for https://github.com
/// (`{base}/login/oauth/authorize`, `{base}/login/oauth/access_token`), `api` for
/// https://api.github.com (`{api}/user`, `{api}/user/emails`, `{api}/user/orgs`,
/// `{api}/user/teams`).
pub struct GithubStandin {
    pub base: String,
    pub api: String,
    pub process: Standin,
}

impl std::ops::Deref for GithubStandin {
    type Target = Standin;
    fn deref(&self) -> &Standin {
        &self.process
    }
}

/// Starts the GitHub stand-in with one OAuth app (`client_id`, `secret`, exactly one
/// `redirect_uri`) and `users_json`: `[{"id":1,"login":"octocat","name":"..","email":null,
/// "avatar_url":"..","emails":[{"email":"o@x","primary":true,"verified":true}],
/// "orgs":["acme"],"teams":[{"org":"acme","slug":"devs","name":"Devs"}]}]` (an optional
/// "password" is then required at its login form).
pub async fn github_standin(
    users_json: &str,
    client_id: &str,
    secret: &str,
    redirect_uri: &str,
) -> GithubStandin {
    let mut cmd = tokio::process::Command::new("python3");
    cmd.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/rp/github_standin.py"
    ))
    .env("GITHUB_STANDIN_CLIENT_ID", client_id)
    .env("GITHUB_STANDIN_CLIENT_SECRET", secret)
    .env("GITHUB_STANDIN_REDIRECT_URI", redirect_uri)
    .env("OSTIARY_GITHUB_USERS", users_json);
    let process = Standin::spawn("GitHub stand-in", cmd).await;
    GithubStandin {
        base: process.url.clone(),
        api: format!("{}/api", process.url),
        process,
    }
}

// --- self-tests ------------------------------------------------------------------------------

/// Never contacted: the tests read the code off the redirect.
const CALLBACK: &str = "http://127.0.0.1:9/upstream/callback";

/// The first form's action on `html` and its hidden inputs.
pub(crate) fn form_of(html: &str) -> (String, Vec<(String, String)>) {
    let doc = scraper::Html::parse_document(html);
    let form_sel = scraper::Selector::parse("form").expect("selector");
    let hidden_sel = scraper::Selector::parse("input[type=hidden]").expect("selector");
    let form = doc.select(&form_sel).next().expect("a form");
    let action = form.value().attr("action").expect("action").to_owned();
    let hidden = form
        .select(&hidden_sel)
        .filter_map(|i| {
            Some((
                i.value().attr("name")?.into(),
                i.value().attr("value")?.into(),
            ))
        })
        .collect();
    (action, hidden)
}

/// Follows redirects from `url` with the browser `b` until one leaves for `callback` (its
/// query), posting `login` to the first login form met; `None` for a page that is not a
/// redirect (then `page` holds its status and body).
pub(crate) async fn browse(
    b: &reqwest::Client,
    origin: &str,
    mut url: String,
    login: &[(&str, &str)],
    page: &mut Option<(u16, String)>,
    callback: &str,
) -> Option<url::Url> {
    let mut posted = false;
    for _ in 0..12 {
        if url.starts_with(callback) {
            return Some(url::Url::parse(&url).expect("callback url"));
        }
        let res = b.get(&url).send().await.expect("get");
        let mut status = res.status().as_u16();
        let mut next = location(&res);
        if status == 200 && !posted {
            let html = res.text().await.expect("html");
            let (action, hidden) = form_of(&html);
            let mut form: Vec<(String, String)> = hidden;
            form.extend(login.iter().map(|(k, v)| ((*k).into(), (*v).into())));
            let res = b
                .post(format!("{origin}{action}"))
                .form(&form)
                .send()
                .await
                .expect("post");
            posted = true;
            status = res.status().as_u16();
            next = location(&res);
            if !(300..400).contains(&status) {
                *page = Some((status, res.text().await.unwrap_or_default()));
                return None;
            }
        } else if !(300..400).contains(&status) {
            *page = Some((status, res.text().await.unwrap_or_default()));
            return None;
        }
        url = if next.starts_with('/') {
            format!("{origin}{next}")
        } else {
            next
        };
    }
    panic!("too many redirects");
}

/// Checks `jwt` against the upstream's JWKS (signature, iss, aud, exp); its claims.
async fn verified_id_token(up: &NodeUpstream, jwks_uri: &str, jwt: &str, aud: &str) -> Value {
    let header = jsonwebtoken::decode_header(jwt).expect("header");
    let jwks: jsonwebtoken::jwk::JwkSet = reqwest::get(jwks_uri)
        .await
        .expect("jwks")
        .json()
        .await
        .expect("jwks json");
    let jwk = jwks.find(header.kid.as_deref().expect("kid")).expect("key");
    let mut v = jsonwebtoken::Validation::new(header.alg);
    v.set_audience(&[aud]);
    v.set_issuer(&[up.issuer.as_str()]);
    jsonwebtoken::decode::<Value>(
        jwt,
        &jsonwebtoken::DecodingKey::from_jwk(jwk).expect("key"),
        &v,
    )
    .expect("a valid id_token")
    .claims
}

/// node-oidc-provider on its own: discovery advertises what the federation relies on (RFC 9207
/// `iss`, PKCE S256, the `claims` parameter, the groups scope); PKCE is required; a code flow
/// with PKCE through the plain login form (a wrong password is refused) and automatic consent
/// ends at the redirect URI with code, state and `iss`; the code (redeemed once, with
/// client_secret_basic) gives an id_token signed by the JWKS with email and groups; groups
/// replaced through /__standin/users show in the next login's id_token.
#[tokio::test]
async fn node_upstream_standin_serves_discovery_and_a_pkce_code_flow() {
    let users = json!([{
        "sub": "u1", "username": "alice", "password": "alice's pw",
        "email": "alice@upstream.test", "email_verified": true, "name": "Alice",
        "groups": ["staff", "dev"]
    }]);
    let up = node_upstream(&users.to_string(), "down", "down-secret", CALLBACK).await;
    let disco: Value = reqwest::get(format!("{}/.well-known/openid-configuration", up.issuer))
        .await
        .expect("discovery")
        .json()
        .await
        .expect("json");
    assert_eq!(disco["issuer"], up.issuer.as_str());
    assert_eq!(
        disco["authorization_response_iss_parameter_supported"],
        true
    );
    assert_eq!(disco["claims_parameter_supported"], true);
    assert_eq!(disco["code_challenge_methods_supported"], json!(["S256"]));
    assert!(
        disco["scopes_supported"]
            .as_array()
            .is_some_and(|s| s.contains(&json!("groups"))),
        "{disco}"
    );
    let authz = disco["authorization_endpoint"].as_str().expect("authz");
    let token_url = disco["token_endpoint"].as_str().expect("token");
    let jwks_uri = disco["jwks_uri"].as_str().expect("jwks");

    let authorize = |challenge: Option<&str>, state: &str| {
        let mut u = url::Url::parse(authz).expect("url");
        u.query_pairs_mut()
            .append_pair("client_id", "down")
            .append_pair("response_type", "code")
            .append_pair("scope", "openid email profile groups")
            .append_pair("redirect_uri", CALLBACK)
            .append_pair("state", state)
            .append_pair("nonce", &format!("nonce-{state}"));
        if let Some(c) = challenge {
            u.query_pairs_mut()
                .append_pair("code_challenge", c)
                .append_pair("code_challenge_method", "S256");
        }
        u.to_string()
    };

    // PKCE is required: without a challenge the error goes back to the client.
    let b = browser();
    let mut page = None;
    let cb = browse(
        &b,
        &up.issuer,
        authorize(None, "s0"),
        &[],
        &mut page,
        CALLBACK,
    )
    .await
    .expect("an error redirect");
    assert_eq!(
        query_param(&cb, "error").as_deref(),
        Some("invalid_request")
    );
    assert_eq!(query_param(&cb, "iss").as_deref(), Some(up.issuer.as_str()));

    // A wrong password: the form again, no redirect.
    let (_, challenge) = pkce_pair();
    let wrong = [("username", "alice"), ("password", "nope")];
    assert!(browse(
        &b,
        &up.issuer,
        authorize(Some(&challenge), "s1"),
        &wrong,
        &mut page,
        CALLBACK
    )
    .await
    .is_none());
    assert!(matches!(&page, Some((401, html)) if html.contains("Wrong username or password")));

    let login = [("username", "alice"), ("password", "alice's pw")];
    let flow = |groups_expected: Value, state: &'static str| {
        let (b, up, login) = (&b, &up, &login);
        let url = authorize(None, state);
        async move {
            let (verifier, challenge) = pkce_pair();
            let url = format!("{url}&code_challenge={challenge}&code_challenge_method=S256");
            let mut page = None;
            let cb = browse(b, &up.issuer, url, login, &mut page, CALLBACK)
                .await
                .unwrap_or_else(|| panic!("no redirect: {page:?}\n{}", up.process.stderr()));
            assert_eq!(query_param(&cb, "state").as_deref(), Some(state));
            assert_eq!(query_param(&cb, "iss").as_deref(), Some(up.issuer.as_str()));
            let code = query_param(&cb, "code").expect("code");
            let redeem = || {
                reqwest::Client::new()
                    .post(token_url)
                    .basic_auth("down", Some("down-secret"))
                    .form(&[
                        ("grant_type", "authorization_code"),
                        ("code", code.as_str()),
                        ("redirect_uri", CALLBACK),
                        ("code_verifier", verifier.as_str()),
                    ])
                    .send()
            };
            let res = redeem().await.expect("token");
            assert_eq!(res.status(), 200);
            let tokens: Value = res.json().await.expect("json");
            let claims = verified_id_token(
                up,
                jwks_uri,
                tokens["id_token"].as_str().expect("id_token"),
                "down",
            )
            .await;
            assert_eq!(claims["sub"], "u1");
            assert_eq!(claims["nonce"], format!("nonce-{state}"));
            assert_eq!(claims["email"], "alice@upstream.test");
            assert_eq!(claims["email_verified"], true);
            assert_eq!(claims["groups"], groups_expected);
            // A code works once.
            let again = redeem().await.expect("token");
            assert_eq!(again.status(), 400);
            let err: Value = again.json().await.expect("json");
            assert_eq!(err["error"], "invalid_grant");
        }
    };
    flow(json!(["staff", "dev"]), "s2").await;

    let mut changed = users.clone();
    changed[0]["groups"] = json!(["staff", "ops"]);
    up.set_users(&changed.to_string()).await;
    flow(json!(["staff", "ops"]), "s3").await;
}

/// The GitHub stand-in on its own: authorize shows a form and refuses an unknown client or
/// another redirect URI without redirecting; the form redirects with code and state (cancel:
/// access_denied); access_token answers JSON with `Accept: application/json` and form-encoded
/// otherwise, refuses a wrong secret, a reused code and a wrong PKCE verifier with status 200
/// and GitHub's error codes; the token reads /user, /user/emails, /user/orgs, /user/teams, and
/// a token without user:email cannot read the emails.
#[tokio::test]
async fn github_standin_serves_githubs_oauth_shapes() {
    let users = json!([{
        "id": 583231, "login": "octocat", "name": "The Octocat", "email": null,
        "avatar_url": "http://127.0.0.1:9/octocat.png",
        "emails": [
            {"email": "old@octo.test", "primary": false, "verified": false},
            {"email": "octocat@octo.test", "primary": true, "verified": true}
        ],
        "orgs": ["acme"], "teams": [{"org": "acme", "slug": "devs", "name": "Devs"}]
    }]);
    let gh = github_standin(&users.to_string(), "gh-app", "gh-secret", CALLBACK).await;
    let authorize_url = |client: &str, redirect: &str, scope: &str, challenge: &str| {
        let mut u = url::Url::parse(&format!("{}/login/oauth/authorize", gh.base)).expect("url");
        u.query_pairs_mut()
            .append_pair("client_id", client)
            .append_pair("redirect_uri", redirect)
            .append_pair("scope", scope)
            .append_pair("state", "st-1")
            .append_pair("code_challenge", challenge)
            .append_pair("code_challenge_method", "S256");
        u.to_string()
    };
    let b = browser();
    for url in [
        authorize_url("other-app", CALLBACK, "user:email", "c"),
        authorize_url("gh-app", "http://127.0.0.1:9/elsewhere", "user:email", "c"),
    ] {
        let res = b.get(&url).send().await.expect("authorize");
        assert_eq!(res.status(), 400, "{url}");
        assert!(location(&res).is_empty());
    }
    let mut page = None;
    let cancel = [("login", "octocat"), ("cancel", "1")];
    let url = authorize_url("gh-app", CALLBACK, "user:email", "c");
    let cb = browse(&b, &gh.base, url, &cancel, &mut page, CALLBACK)
        .await
        .expect("redirect");
    assert_eq!(query_param(&cb, "error").as_deref(), Some("access_denied"));
    assert_eq!(query_param(&cb, "state").as_deref(), Some("st-1"));

    // Signs octocat in with `scope`; the code and its PKCE verifier.
    let sign_in = |scope: &'static str| {
        let (b, gh) = (&b, &gh);
        async move {
            let (verifier, challenge) = pkce_pair();
            let url = authorize_url("gh-app", CALLBACK, scope, &challenge);
            let mut page = None;
            let cb = browse(
                b,
                &gh.base,
                url,
                &[("login", "octocat")],
                &mut page,
                CALLBACK,
            )
            .await
            .unwrap_or_else(|| panic!("no redirect: {page:?}\n{}", gh.process.stderr()));
            assert_eq!(query_param(&cb, "state").as_deref(), Some("st-1"));
            (query_param(&cb, "code").expect("code"), verifier)
        }
    };
    let token_url = format!("{}/login/oauth/access_token", gh.base);
    let exchange = |code: &str, secret: &str, verifier: &str, json: bool| {
        let req = reqwest::Client::new().post(&token_url).form(&[
            ("client_id", "gh-app"),
            ("client_secret", secret),
            ("code", code),
            ("redirect_uri", CALLBACK),
            ("code_verifier", verifier),
        ]);
        let req = if json {
            req.header("accept", "application/json")
        } else {
            req
        };
        async move {
            let res = req.send().await.expect("access_token");
            assert_eq!(res.status(), 200, "GitHub answers errors with 200 too");
            let ctype = res
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let text = res.text().await.expect("body");
            if json {
                assert!(ctype.starts_with("application/json"), "{ctype}");
                serde_json::from_str::<Value>(&text).expect("json")
            } else {
                assert!(
                    ctype.starts_with("application/x-www-form-urlencoded"),
                    "{ctype}"
                );
                let map: serde_json::Map<String, Value> =
                    url::form_urlencoded::parse(text.as_bytes())
                        .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
                        .collect();
                Value::Object(map)
            }
        }
    };

    let (code, verifier) = sign_in("read:org user:email").await;
    let wrong = exchange(&code, "not-the-secret", &verifier, true).await;
    assert_eq!(wrong["error"], "incorrect_client_credentials");
    let tokens = exchange(&code, "gh-secret", &verifier, true).await;
    let access = tokens["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned();
    assert!(access.starts_with("gho_"), "{tokens}");
    assert_eq!(tokens["token_type"], "bearer");
    assert_eq!(tokens["scope"], "read:org,user:email");
    let reused = exchange(&code, "gh-secret", &verifier, true).await;
    assert_eq!(reused["error"], "bad_verification_code");

    let (code, _) = sign_in("read:user").await;
    let bad_pkce = exchange(&code, "gh-secret", "another-verifier", false).await;
    assert_eq!(bad_pkce["error"], "bad_verification_code");
    let (code, verifier) = sign_in("read:user").await;
    let form = exchange(&code, "gh-secret", &verifier, false).await;
    assert_eq!(form["token_type"], "bearer");
    assert_eq!(form["scope"], "read:user");
    let narrow = form["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned();

    let api = |path: &str, token: &str| {
        reqwest::Client::new()
            .get(format!("{}{path}", gh.api))
            .bearer_auth(token)
            .header("accept", "application/vnd.github+json")
            .send()
    };
    let user: Value = api("/user", &access)
        .await
        .expect("user")
        .json()
        .await
        .expect("json");
    assert_eq!(user["id"], 583231);
    assert_eq!(user["login"], "octocat");
    assert_eq!(user["name"], "The Octocat");
    assert_eq!(user["email"], Value::Null);
    assert_eq!(user["avatar_url"], "http://127.0.0.1:9/octocat.png");
    let emails: Value = api("/user/emails", &access)
        .await
        .expect("emails")
        .json()
        .await
        .expect("json");
    let primary = emails
        .as_array()
        .and_then(|e| e.iter().find(|e| e["primary"] == true))
        .expect("a primary email");
    assert_eq!(primary["email"], "octocat@octo.test");
    assert_eq!(primary["verified"], true);
    let orgs: Value = api("/user/orgs", &access)
        .await
        .expect("orgs")
        .json()
        .await
        .expect("json");
    assert_eq!(orgs[0]["login"], "acme");
    let teams: Value = api("/user/teams", &access)
        .await
        .expect("teams")
        .json()
        .await
        .expect("json");
    assert_eq!(teams[0]["slug"], "devs");
    assert_eq!(teams[0]["organization"]["login"], "acme");

    assert_eq!(api("/user", &narrow).await.expect("user").status(), 200);
    assert_eq!(
        api("/user/emails", &narrow).await.expect("emails").status(),
        403
    );
    assert_eq!(
        api("/user", "gho_nonsense").await.expect("user").status(),
        401
    );

    // A slow upstream on demand, then back to normal.
    gh.set_delay(400).await;
    let started = std::time::Instant::now();
    assert_eq!(api("/user", &access).await.expect("user").status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(400));
    gh.set_delay(0).await;

    // Dropped: the process is killed (by its PID) and goes away.
    let pid = gh.pid;
    drop(gh);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| !stat.contains(") Z "))
    {
        assert!(std::time::Instant::now() < deadline, "{pid} still runs");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
