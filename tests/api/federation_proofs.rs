//! Federation (issue 24), the "Must show" list proven end to end:
//! - mix-up and CSRF, one test per behaviour, against a stand-in upstream that signs the
//!   id_token it is told to (tests/rp/crafted_upstream_standin.mjs: wrong nonce, aud, iss,
//!   expired, alg none, unknown kid, or another upstream's token): every case is refused with
//!   the plain upstream error page, and nobody is signed in, created or linked;
//! - a second Ostiary as a separate process (the built binary on 127.0.0.2, its own SQLite
//!   file and keys, set up by its own CLI) is the upstream for the whole journey: JIT, reuse,
//!   groups and their change, an unverified address never linked;
//! - a relying-party library (Node openid-client) logs in through that upstream with TOTP
//!   required by policy: tokens only after the TOTP step, `amr` with `fed` and `otp`;
//! - in headless Chromium, the login page's provider buttons and the account page's linked
//!   providers (screenshots).

use serde_json::json;

use crate::federation::{begin_login, complete_login, downstream, person, refused_page, Setup};
use crate::helpers::{cli_command, location, query_param, CliOutput, TestApp};
use crate::upstream_standins::Standin;

// --- the crafted-id_token stand-in ----------------------------------------------------------

/// The stand-in OpenID Provider whose id_tokens the test crafts (`set_mode`).
pub(crate) struct Crafted {
    pub(crate) issuer: String,
    process: Standin,
}

impl Crafted {
    async fn start(client_id: &str, redirect_uri: &str) -> Crafted {
        let mut cmd = tokio::process::Command::new("node");
        cmd.arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/rp/crafted_upstream_standin.mjs"
        ))
        .env("STANDIN_CLIENT_ID", client_id)
        .env("STANDIN_REDIRECT_URI", redirect_uri);
        let process = Standin::spawn("crafted id_token stand-in", cmd).await;
        Crafted {
            issuer: process.url.clone(),
            process,
        }
    }

    /// What the next id_tokens look like: `valid`, `nonce`, `aud`, `iss`, `expired`,
    /// `alg-none`, `unknown-kid`, or `relay` (minted by the stand-in at `relay`).
    async fn set_mode(&self, mode: &str, relay: Option<&str>) {
        let res = reqwest::Client::new()
            .post(format!("{}/__standin/mode", self.issuer))
            .json(&json!({ "mode": mode, "relay": relay }))
            .send()
            .await
            .expect("stand-in reachable");
        assert!(res.status().is_success(), "set mode {mode}");
    }
}

/// `ostiary upstream add ID …` at `down` for an OpenID Provider at `issuer` (client
/// `downstream`, just-in-time accounts).
async fn add_oidc_upstream(down: &TestApp, id: &str, name: &str, issuer: &str) {
    let mut cmd = cli_command(&down.db);
    cmd.env("UPSTREAM_SECRET", "crafted-secret");
    cmd.args([
        "upstream",
        "add",
        id,
        "--name",
        name,
        "--issuer",
        issuer,
        "--client-id",
        "downstream",
        "--client-secret-env",
        "UPSTREAM_SECRET",
        "--scopes",
        "openid profile email",
        "--policy",
        "create",
    ]);
    let out: CliOutput = cmd.output().await.expect("upstream add").into();
    assert!(out.ok(), "upstream add {id}: {}", out.stderr);
}

/// A downstream with the crafted stand-in configured as `crafted` ("Crafted OP").
async fn crafted_setup() -> Setup<Crafted> {
    let (down, rp) = downstream(|_| {}).await;
    let up = Crafted::start("downstream", &down.url("/login/upstream/callback")).await;
    add_oidc_upstream(&down, "crafted", "Crafted OP", &up.issuer).await;
    Setup {
        up,
        down,
        rp,
        button: "Crafted OP",
    }
}

/// In a new browser: the relying party's login, the Crafted OP button, the stand-in's answer;
/// the callback URL (not yet taken), the browser and the PKCE verifier.
async fn crafted_callback(s: &Setup<Crafted>) -> (String, crate::federation::Person, String) {
    let p = person();
    let (to_upstream, verifier) = begin_login(s, &p).await;
    assert!(to_upstream.starts_with(&s.up.issuer), "{to_upstream}");
    let res = p.up.get(&to_upstream).send().await.expect("stand-in");
    assert_eq!(res.status(), 302, "{}", s.up.process.stderr());
    let callback = location(&res);
    assert!(
        callback.starts_with(&s.down.url("/login/upstream/callback?")),
        "{callback}"
    );
    (callback, p, verifier)
}

/// Nobody signed in, made or linked at the downstream.
fn nothing_happened<U>(s: &Setup<U>) {
    assert_eq!(
        s.down.count("sessions WHERE user_id IS NOT NULL"),
        0,
        "no session"
    );
    assert_eq!(s.down.count("users"), 0, "no account");
    assert_eq!(s.down.count("upstream_links"), 0, "no link");
}

/// The stand-in signs `mode`'s id_token; the callback in its own browser is refused with the
/// upstream error page saying `says`, and nothing happened.
async fn refused_id_token(mode: &str, says: &str) {
    let s = crafted_setup().await;
    s.up.set_mode(mode, None).await;
    let (callback, p, _) = crafted_callback(&s).await;
    let res = p.down.get(&callback).send().await.expect("callback");
    refused_page(&s, res, 400, says).await;
    nothing_happened(&s);
}

/// The control: with nothing crafted, the same stand-in and round trip sign the person in (so
/// each refusal below is the crafted field's doing).
#[tokio::test]
async fn the_crafted_standin_signs_in_when_its_id_token_is_valid() {
    let s = crafted_setup().await;
    let (callback, p, verifier) = crafted_callback(&s).await;
    let claims = complete_login(&s, &p, &callback, &verifier).await;
    assert_eq!(claims["preferred_username"], "crafted");
    assert_eq!(claims["amr"], json!(["fed"]));
    assert_eq!(
        s.down
            .count("upstream_links WHERE provider_id = 'crafted' AND subject = 'crafted-1'"),
        1
    );
}

#[tokio::test]
async fn an_id_token_with_another_sign_ins_nonce_is_refused() {
    refused_id_token("nonce", "the id_token is for another sign-in (nonce)").await;
}

#[tokio::test]
async fn an_id_token_for_another_audience_is_refused() {
    refused_id_token("aud", "the id_token (signature, iss, aud or exp)").await;
}

#[tokio::test]
async fn an_id_token_naming_another_issuer_is_refused() {
    refused_id_token("iss", "the id_token (signature, iss, aud or exp)").await;
}

#[tokio::test]
async fn an_expired_id_token_is_refused() {
    refused_id_token("expired", "the id_token (signature, iss, aud or exp)").await;
}

#[tokio::test]
async fn an_unsigned_alg_none_id_token_is_refused() {
    refused_id_token("alg-none", "could not be verified (not a JWT)").await;
}

#[tokio::test]
async fn an_id_token_signed_by_a_key_not_in_the_upstreams_jwks_is_refused() {
    refused_id_token("unknown-kid", "the id_token is signed by an unknown key").await;
}

/// Two upstreams, A and B, both configured at the downstream.
async fn two_upstreams() -> (Setup<Crafted>, Crafted) {
    let s = crafted_setup().await;
    let other = Crafted::start("downstream", &s.down.url("/login/upstream/callback")).await;
    add_oidc_upstream(&s.down, "other", "Other OP", &other.issuer).await;
    (s, other)
}

/// Mix-up: upstream A's token endpoint answers with an id_token from upstream B (valid for B,
/// with this sign-in's nonce and our client id as audience): refused, B's key is not A's.
#[tokio::test]
async fn an_id_token_from_another_upstream_is_refused() {
    let (s, other) = two_upstreams().await;
    s.up.set_mode("relay", Some(&other.issuer)).await;
    let (callback, p, _) = crafted_callback(&s).await;
    let res = p.down.get(&callback).send().await.expect("callback");
    refused_page(&s, res, 400, "the id_token is signed by an unknown key").await;
    nothing_happened(&s);
}

/// Mix-up: the code (and RFC 9207 `iss`) upstream B gave, delivered with the state of a
/// round trip to upstream A: refused by `iss` before the code goes anywhere; with `iss`
/// rewritten to A's, A does not know the code.
#[tokio::test]
async fn a_code_from_another_upstream_delivered_with_this_ones_state_is_refused() {
    let (s, other) = two_upstreams().await;
    // B's answer, taken from a round trip that went to B (its button on the login page).
    let p = person();
    let (res, _) = crate::federation::authorize(&s, &p, &[("idp_hint", "other")]).await;
    let res = p
        .down
        .get(s.down.url(&location(&res)))
        .send()
        .await
        .expect("login");
    let start = location(&res);
    assert!(start.starts_with("/login/upstream/other?"), "{start}");
    let res = p.down.get(s.down.url(&start)).send().await.expect("start");
    let to_b = location(&res);
    assert!(to_b.starts_with(&other.issuer), "{to_b}");
    let res = p.up.get(&to_b).send().await.expect("B");
    let b_answer = url::Url::parse(&location(&res)).expect("url");
    let b_code = query_param(&b_answer, "code").expect("code");
    assert_eq!(query_param(&b_answer, "iss"), Some(other.issuer.clone()));

    for (iss, says) in [
        (
            other.issuer.as_str(),
            "the response names another issuer (iss)",
        ),
        (s.up.issuer.as_str(), "the code was not accepted"),
    ] {
        let (a_callback, p, _) = crafted_callback(&s).await;
        let a = url::Url::parse(&a_callback).expect("url");
        let state = query_param(&a, "state").expect("state");
        let res = p
            .down
            .get(s.down.url("/login/upstream/callback"))
            .query(&[("code", b_code.as_str()), ("state", &state), ("iss", iss)])
            .send()
            .await
            .expect("callback");
        refused_page(&s, res, 400, says).await;
        nothing_happened(&s);
    }
}

/// Login CSRF: the victim's callback (its state) opened in another browser is refused, and
/// the victim's own browser can still finish.
#[tokio::test]
async fn a_callback_with_another_browsers_state_is_refused() {
    let s = crafted_setup().await;
    let (callback, victim, verifier) = crafted_callback(&s).await;
    let attacker = person();
    let res = attacker.down.get(&callback).send().await.expect("callback");
    refused_page(&s, res, 403, "started in another browser").await;
    nothing_happened(&s);
    let claims = complete_login(&s, &victim, &callback, &verifier).await;
    assert_eq!(claims["preferred_username"], "crafted");
}

/// A callback taken once is spent: replayed in the same browser, refused, and no second
/// sign-in happens.
#[tokio::test]
async fn a_replayed_callback_is_refused() {
    let s = crafted_setup().await;
    let (callback, p, verifier) = crafted_callback(&s).await;
    complete_login(&s, &p, &callback, &verifier).await;
    let sessions = s.down.count("sessions WHERE user_id IS NOT NULL");
    let replay = person();
    // In the same browser, and in a fresh one (where it is another browser's, too).
    let res = p.down.get(&callback).send().await.expect("replay");
    refused_page_keeping_link(&s, res, 400, "expired or was finished already").await;
    let res = replay.down.get(&callback).send().await.expect("replay");
    assert!(matches!(res.status().as_u16(), 400 | 403));
    assert_eq!(s.down.count("sessions WHERE user_id IS NOT NULL"), sessions);
    assert_eq!(s.down.count("users"), 1);
}

/// RFC 9207: a callback whose `iss` is not the upstream's own is refused before its code is
/// redeemed (the code still works for nobody: the state was spent).
#[tokio::test]
async fn an_authorization_response_naming_another_issuer_is_refused() {
    let s = crafted_setup().await;
    let (callback, p, _) = crafted_callback(&s).await;
    let mut url = url::Url::parse(&callback).expect("url");
    let pairs: Vec<(String, String)> = url
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
    url.query_pairs_mut().clear().extend_pairs(&pairs);
    let res = p.down.get(url.as_str()).send().await.expect("callback");
    refused_page(&s, res, 400, "the response names another issuer (iss)").await;
    nothing_happened(&s);
    // Without any `iss` (the upstream says it always sends one): refused as well.
    let (callback, p, _) = crafted_callback(&s).await;
    let mut url = url::Url::parse(&callback).expect("url");
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "iss")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url.query_pairs_mut().clear().extend_pairs(&pairs);
    let res = p.down.get(url.as_str()).send().await.expect("callback");
    refused_page(&s, res, 400, "the response names another issuer (iss)").await;
    nothing_happened(&s);
}

/// As `refused_page`, for a downstream where a link already exists.
async fn refused_page_keeping_link<U>(
    s: &Setup<U>,
    res: reqwest::Response,
    status: u16,
    says: &str,
) {
    assert_eq!(res.status(), status);
    let html = res.text().await.expect("page");
    assert!(html.contains(says), "{html}");
    assert!(html.contains("href=\"/login"), "a way back: {html}");
    assert_eq!(s.down.count("upstream_links"), 1);
}

// --- a second Ostiary, as a separate process ------------------------------------------------

/// The upstream Ostiary as a process of its own: the built binary (`ostiary serve`) on
/// 127.0.0.2 (another loopback address than the downstream's, so a real browser keeps their
/// cookies apart too), over its own SQLite file and keys directory in a temporary directory;
/// its users, groups and client made by its own CLI. Killed by its PID when dropped.
pub(crate) struct UpstreamProcess {
    /// `http://127.0.0.2:PORT`, its issuer.
    pub(crate) address: String,
    dir: tempfile::TempDir,
    child: tokio::process::Child,
}

impl Drop for UpstreamProcess {
    fn drop(&mut self) {
        // SIGKILL to this child's PID only; tokio reaps it.
        let _ = self.child.start_kill();
    }
}

impl UpstreamProcess {
    fn database_url(dir: &std::path::Path) -> String {
        format!("sqlite://{}", dir.join("upstream.db").display())
    }

    /// The `ostiary` binary with this upstream's settings in its environment.
    fn command(dir: &std::path::Path) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_ostiary"));
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("OSTIARY_DATABASE_URL", Self::database_url(dir))
            .env("OSTIARY_KEYS_DIR", dir.join("keys"))
            .env("OSTIARY_KEY_ENCRYPTION_KEY", crate::helpers::TEST_KEK)
            .env("OSTIARY_ARGON2_MEMORY_KIB", "4096")
            .env("OSTIARY_ARGON2_ITERATIONS", "1")
            .env("OSTIARY_LOG", "warn")
            .kill_on_drop(true);
        cmd
    }

    /// Starts `ostiary serve` on a free port of 127.0.0.2 and waits (polling /readyz, no fixed
    /// sleep) until it answers. A port taken between our probe and its bind is retried.
    pub(crate) async fn start() -> UpstreamProcess {
        crate::helpers::install_tls_provider();
        let mut dir = tempfile::tempdir().expect("tempdir");
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.2:0")
                .and_then(|l| l.local_addr())
                .expect("a free port on 127.0.0.2")
                .port();
            let address = format!("http://127.0.0.2:{port}");
            let log = std::fs::File::create(dir.path().join("stderr.log")).expect("log");
            let mut cmd = Self::command(dir.path());
            cmd.arg("serve")
                .env("OSTIARY_BIND", format!("127.0.0.2:{port}"))
                .env("OSTIARY_ISSUER", &address)
                .env("OSTIARY_WORKERS", "2")
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(log);
            let child = cmd.spawn().expect("start the upstream ostiary");
            let mut up = UpstreamProcess {
                address,
                dir,
                child,
            };
            if up.ready().await {
                return up;
            }
            let log = up.stderr();
            assert!(
                log.contains("cannot listen"),
                "the upstream ostiary did not start:\n{log}"
            );
            dir = std::mem::replace(&mut up.dir, tempfile::tempdir().expect("tempdir"));
        }
        panic!("no free port on 127.0.0.2 for the upstream ostiary");
    }

    /// Polls /readyz until it answers 200 (true) or the process ends (false); at most 60 s.
    async fn ready(&mut self) -> bool {
        let probe = reqwest::Client::new();
        let began = std::time::Instant::now();
        while began.elapsed() < std::time::Duration::from_secs(60) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if let Ok(res) = probe.get(format!("{}/readyz", self.address)).send().await {
                if res.status() == 200 {
                    return true;
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!(
            "the upstream ostiary was not ready within 60 s:\n{}",
            self.stderr()
        );
    }

    pub(crate) fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }

    /// Runs its CLI (`ostiary ARGS…`), `stdin` fed; fails the test when it fails.
    pub(crate) async fn cli(&self, args: &[&str], stdin: Option<&str>) -> String {
        use tokio::io::AsyncWriteExt;
        let mut cmd = Self::command(self.dir.path());
        cmd.args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().expect("ostiary cli");
        if let Some(mut pipe) = child.stdin.take() {
            if let Some(input) = stdin {
                pipe.write_all(input.as_bytes()).await.expect("stdin");
            }
        }
        let out: CliOutput = child.wait_with_output().await.expect("cli").into();
        assert!(
            out.ok(),
            "upstream `ostiary {}`: {}",
            args.join(" "),
            out.stderr
        );
        out.stdout
    }

    /// `ostiary user add NAME --email EMAIL [FLAGS…] --password-stdin`.
    pub(crate) async fn user(&self, name: &str, email: &str, flags: &[&str]) {
        let mut args = vec!["user", "add", name, "--email", email, "--password-stdin"];
        args.extend_from_slice(flags);
        self.cli(&args, Some(&format!("{PW}\n"))).await;
    }

    /// `ostiary client add` for the downstream's callback: (client_id, secret).
    pub(crate) async fn client_for(&self, callback: &str) -> (String, String) {
        let out = self
            .cli(
                &[
                    "client",
                    "add",
                    "--name",
                    "Downstream",
                    "--json",
                    "--redirect-uri",
                    callback,
                    "--scope",
                    "openid",
                    "--scope",
                    "profile",
                    "--scope",
                    "email",
                    "--scope",
                    "groups",
                ],
                None,
            )
            .await;
        let v: serde_json::Value = serde_json::from_str(out.trim()).expect("client json");
        (
            v["client_id"].as_str().expect("client_id").to_owned(),
            v["client_secret"].as_str().expect("secret").to_owned(),
        )
    }
}

/// The upstream process's users' password.
const PW: &str = "upstream password 1";

/// A downstream with the upstream process configured as `corp` ("Corp SSO") under `extra`
/// flags, its client made by the upstream's CLI and its secret passed by environment.
async fn process_setup(
    extra: &[&str],
    adjust: impl FnOnce(&mut ostiary::config::SettingsArgs),
) -> Setup<UpstreamProcess> {
    let up = UpstreamProcess::start().await;
    let (down, rp) = downstream(adjust).await;
    let (id, secret) = up.client_for(&down.url("/login/upstream/callback")).await;
    let mut cmd = cli_command(&down.db);
    cmd.env("CORP_SECRET", secret);
    cmd.args([
        "upstream",
        "add",
        "corp",
        "--name",
        "Corp SSO",
        "--issuer",
        &up.address,
        "--client-id",
        &id,
        "--client-secret-env",
        "CORP_SECRET",
        "--scopes",
        "openid profile email groups",
        "--groups-claim",
        "groups",
    ]);
    cmd.args(extra);
    let out: CliOutput = cmd.output().await.expect("upstream add").into();
    assert!(out.ok(), "upstream add: {}", out.stderr);
    Setup {
        up,
        down,
        rp,
        button: "Corp SSO",
    }
}

/// At the upstream process, in the browser `b`: its login form (as `user`), its consent; the
/// downstream callback URL it sends the browser to.
async fn at_process(
    s: &Setup<UpstreamProcess>,
    b: &reqwest::Client,
    to_up: &str,
    user: &str,
) -> String {
    let callback = s.down.url("/login/upstream/callback?");
    let mut url = to_up.to_owned();
    for _ in 0..8 {
        if url.starts_with(&callback) {
            return url;
        }
        let mut res = b.get(&url).send().await.expect("upstream");
        if res.status() == 200 {
            let html = res.text().await.expect("page");
            let csrf = TestApp::csrf_of(&html);
            res = if html.contains("name=\"password\"") {
                let return_to = crate::upstream_standins::form_of(&html)
                    .1
                    .into_iter()
                    .find(|(k, _)| k == "return_to")
                    .map(|(_, v)| v)
                    .expect("return_to");
                b.post(format!("{}/login", s.up.address))
                    .form(&[
                        ("username", user),
                        ("password", PW),
                        ("csrf_token", &csrf),
                        ("return_to", &return_to),
                    ])
                    .send()
                    .await
                    .expect("upstream login")
            } else {
                b.post(format!(
                    "{}{}",
                    s.up.address,
                    crate::helpers::consent_action(&html)
                ))
                .form(&[("csrf_token", csrf.as_str()), ("decision", "allow")])
                .send()
                .await
                .expect("consent")
            };
        }
        assert!(
            res.status().is_redirection(),
            "upstream answered {}: {}",
            res.status(),
            s.up.stderr()
        );
        let next = location(&res);
        url = if next.starts_with('/') {
            format!("{}{next}", s.up.address)
        } else {
            next
        };
    }
    panic!("the upstream never sent the browser back");
}

/// A whole login through the upstream process in a new browser: the downstream's id_token.
async fn process_login(s: &Setup<UpstreamProcess>, user: &str) -> serde_json::Value {
    let p = person();
    let (to_up, verifier) = begin_login(s, &p).await;
    assert!(to_up.starts_with(&s.up.address), "{to_up}");
    let callback = at_process(s, &p.up, &to_up, user).await;
    complete_login(s, &p, &callback, &verifier).await
}

/// The journey once against a second Ostiary running as its own process: the first
/// login creates the account (JIT), the second reuses it, the upstream's groups land in the
/// downstream id_token's `groups` and a change upstream shows after the next login; an upstream
/// account with an unverified address is never linked to the local account that has it (even
/// with the provider trusted for verified addresses).
#[tokio::test]
async fn a_second_ostiary_process_as_upstream_the_whole_journey() {
    let s = process_setup(&["--policy", "create", "--trusted-email"], |_| {}).await;
    s.up.user("alice", "alice@corp.test", &["--email-verified"])
        .await;
    s.up.cli(&["group", "add", "staff"], None).await;
    s.up.cli(&["group", "member", "staff", "alice"], None).await;

    let first = process_login(&s, "alice").await;
    assert_eq!(first["preferred_username"], "alice");
    assert_eq!(first["email"], "alice@corp.test");
    assert_eq!(first["amr"], json!(["fed"]));
    assert_eq!(crate::federation::groups_of(&first), ["corp:staff"]);
    assert_eq!(s.down.count("users"), 1);
    assert_eq!(s.down.count("upstream_links WHERE provider_id = 'corp'"), 1);
    assert_eq!(
        s.down
            .count("audit_events WHERE action = 'upstream.create'"),
        1
    );

    s.up.cli(&["group", "add", "finance"], None).await;
    s.up.cli(&["group", "member", "finance", "alice"], None)
        .await;
    s.up.cli(&["group", "member", "staff", "alice", "--remove"], None)
        .await;
    let again = process_login(&s, "alice").await;
    assert_eq!(again["sub"], first["sub"], "the same local account");
    assert_eq!(crate::federation::groups_of(&again), ["corp:finance"]);
    assert_eq!(s.down.count("users"), 1);
    assert_eq!(
        s.down
            .count("audit_events WHERE action = 'upstream.create'"),
        1
    );

    // Mallory's upstream account claims victim's address, unverified.
    s.up.user("mallory", "victim@corp.test", &[]).await;
    s.down
        .user_at(
            "victim",
            "victim@corp.test",
            "victim's password",
            &["--email-verified"],
        )
        .await;
    let p = person();
    let (to_up, _) = begin_login(&s, &p).await;
    let callback = at_process(&s, &p.up, &to_up, "mallory").await;
    let res = p.down.get(&callback).send().await.expect("callback");
    assert_eq!(res.status(), 200);
    let html = res.text().await.expect("page");
    assert!(html.contains("already uses the email address"), "{html}");
    assert_eq!(s.down.count("users"), 2, "nothing created");
    assert_eq!(s.down.count("upstream_links"), 1, "only alice's link");
    let sessions = s.down.count("sessions WHERE user_id IS NOT NULL");
    assert_eq!(sessions, 2, "alice's two logins only");
}

// --- a relying party library, through the upstream, with TOTP required ----------------------

/// What tests/rp/node/federated_totp.mjs reports of one login.
#[derive(serde::Deserialize, Debug)]
struct RpLogin {
    pages: Vec<String>,
    sub: String,
    amr: Vec<String>,
    acr: Option<String>,
    username: Option<String>,
}

/// Node openid-client (pinned by tests/rp/node/package-lock.json) is the downstream's relying
/// party; the person signs in with the upstream Ostiary process while the downstream requires a
/// second factor by policy. The first login makes the account and has TOTP set up, the second
/// asks for a TOTP code; trying to skip the TOTP step never reaches the relying party, which
/// gets its tokens only after it, with `amr` holding `fed` and `otp`.
#[tokio::test]
async fn a_relying_party_library_gets_tokens_through_the_upstream_only_after_the_required_totp() {
    let s = process_setup(&["--policy", "create"], |a| {
        a.second_factor = Some("required".into());
    })
    .await;
    s.up.user("carol", "carol@corp.test", &["--email-verified"])
        .await;
    let dir = tokio::task::spawn_blocking(crate::rp::rp_node)
        .await
        .expect("npm ci")
        .clone();
    let out = tokio::process::Command::new("node")
        .arg(dir.join("federated_totp.mjs"))
        .env("ISSUER", &s.down.address)
        .env("CLIENT_ID", &s.rp.id)
        .env("CLIENT_SECRET", s.rp.secret.as_deref().expect("secret"))
        .env("REDIRECT_URI", &s.rp.redirect_uri)
        .env("PROVIDER_NAME", "Corp SSO")
        .env("UPSTREAM_USER", "carol")
        .env("UPSTREAM_PASSWORD", PW)
        .output()
        .await
        .expect("node is needed for the relying-party test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("NODE OK"),
        "openid-client RP failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let logins: Vec<RpLogin> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("LOGIN "))
        .map(|l| serde_json::from_str(l).expect("login json"))
        .collect();
    let [first, second] = &logins[..] else {
        panic!("two logins: {stdout}");
    };
    assert_eq!(
        first.pages,
        [
            "provider-button",
            "upstream-login",
            "upstream-consent",
            "enrol-totp",
            "recovery-codes",
            "consent"
        ],
        "{stdout}"
    );
    assert_eq!(
        second.pages,
        ["provider-button", "upstream-login", "totp"],
        "{stdout}"
    );
    for l in [first, second] {
        assert!(l.amr.iter().any(|m| m == "fed"), "{l:?}");
        assert!(l.amr.iter().any(|m| m == "otp"), "{l:?}");
        assert_eq!(l.acr.as_deref(), Some("urn:ostiary:acr:2fa"), "{l:?}");
        assert_eq!(l.username.as_deref(), Some("carol"));
    }
    assert_eq!(first.sub, second.sub);
    assert_eq!(s.down.count("users"), 1);
    assert_eq!(s.down.count("upstream_links"), 1);
}

// --- pages in a real browser: screenshots -------------------------------------------------------

/// In headless Chromium: the downstream's login page shows a button per provider; "Corp SSO"
/// goes to the upstream Ostiary process (127.0.0.2, its own cookies), whose login and consent
/// bring the person back signed in; /account then lists the linked provider with its Unlink
/// button. Screenshots: target/screenshots/login-providers.png and account-linked-providers.png
/// (copied to docs/screenshots/).
#[tokio::test]
async fn the_login_page_shows_provider_buttons_and_the_account_page_the_linked_provider_in_a_browser(
) {
    use fantoccini::Locator;
    let s = process_setup(&["--policy", "create"], |_| {}).await;
    s.up.user("dana", "dana@corp.test", &["--email-verified"])
        .await;
    // A second provider, for a page with more than one button (never clicked).
    let out = s
        .down
        .cli(
            &[
                "upstream",
                "add",
                "github",
                "--name",
                "GitHub",
                "--kind",
                "oauth2",
                "--preset",
                "github",
                "--base-url",
                "http://127.0.0.1:9",
                "--api-url",
                "http://127.0.0.1:9/api",
                "--client-id",
                "gh",
            ],
            None,
        )
        .await;
    assert!(out.ok(), "{}", out.stderr);
    let b = crate::browser::browser().await;
    let c = &b.client;
    c.goto(&s.down.url("/login")).await.expect("login page");
    c.wait()
        .for_element(Locator::Css("#upstreams a"))
        .await
        .expect("provider buttons");
    let mut names = Vec::new();
    for a in c
        .find_all(Locator::Css("#upstreams a"))
        .await
        .expect("buttons")
    {
        names.push(a.text().await.expect("text"));
    }
    assert_eq!(names, ["Corp SSO", "GitHub"]);
    crate::browser::screenshot(c, "login-providers").await;

    c.find(Locator::LinkText("Corp SSO"))
        .await
        .expect("Corp SSO button")
        .click()
        .await
        .expect("click");
    c.wait()
        .for_element(Locator::Css("#username"))
        .await
        .expect("the upstream's login page");
    let at = c.current_url().await.expect("url");
    assert!(at.as_str().starts_with(&s.up.address), "{at}");
    crate::browser::fill(c, "#username", "dana").await;
    crate::browser::fill(c, "#password", PW).await;
    crate::browser::click(c, "button[type=submit]").await;
    c.wait()
        .for_element(Locator::Css("button[value=allow]"))
        .await
        .expect("the upstream's consent page");
    crate::browser::click(c, "button[value=allow]").await;
    // Back at the downstream, signed in.
    c.wait()
        .for_url(&url::Url::parse(&s.down.url("/")).expect("url"))
        .await
        .expect("back at the downstream");
    assert_eq!(s.down.count("upstream_links"), 1);

    c.goto(&s.down.url("/account")).await.expect("account");
    c.wait()
        .for_element(Locator::Css("#upstream-links strong"))
        .await
        .expect("linked providers");
    assert_eq!(
        c.find(Locator::Css("#upstream-links strong"))
            .await
            .expect("link")
            .text()
            .await
            .expect("text"),
        "Corp SSO"
    );
    // An account made by the upstream login has no password: no form asks for its current one.
    assert!(
        c.find(Locator::Css("#current_password")).await.is_err(),
        "no password to change"
    );
    let says = c
        .find(Locator::Css("#no-password"))
        .await
        .expect("says there is no password")
        .text()
        .await
        .expect("text");
    assert!(says.contains("no password"), "{says}");
    // The whole page, down to the linked providers at its end.
    let height = c
        .execute("return document.documentElement.scrollHeight", vec![])
        .await
        .expect("height")
        .as_u64()
        .expect("a number");
    let height = u32::try_from(height).expect("height").clamp(600, 2400) + 140;
    c.set_window_size(1280, height).await.expect("window size");
    crate::browser::screenshot(c, "account-linked-providers").await;
}
