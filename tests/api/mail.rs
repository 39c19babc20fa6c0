//! Mail: password reset, email verification and email change, through a real SMTP server on
//! loopback (aiosmtpd, tests/rp/smtp_sink.py) fed by the outbox's background sender; the
//! outbox's claims with two replicas; SMTP down at request time; mail off without SMTP.

use std::net::TcpListener;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::AsyncBufReadExt;

use crate::helpers::{
    browser, browser_from, pkce_pair, query_param, spawn_app, spawn_app_on, test_db,
    test_settings_args, TestApp, TestClient,
};

// ---------------------------------------------------------------------------------------------
// The SMTP sink

/// A free port on loopback (bound and released: an SMTP server may take it later).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// aiosmtpd on 127.0.0.1:port, writing one JSON file per accepted message; killed when dropped.
pub(crate) struct SmtpSink {
    pub port: u16,
    dir: tempfile::TempDir,
    _child: tokio::process::Child,
}

impl SmtpSink {
    pub async fn start() -> SmtpSink {
        Self::start_on(free_port(), None).await
    }

    /// Starts the sink on `port` (requiring `USER:PASSWORD` when `auth` is given) and returns
    /// once it accepts connections.
    pub async fn start_on(port: u16, auth: Option<&str>) -> SmtpSink {
        let py = tokio::task::spawn_blocking(crate::rp::rp_python)
            .await
            .expect("venv")
            .clone();
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cmd = tokio::process::Command::new(py);
        cmd.arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/rp/smtp_sink.py"
        ))
        .args(["--port", &port.to_string(), "--out"])
        .arg(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
        if let Some(a) = auth {
            cmd.args(["--auth", a]);
        }
        let mut child = cmd.spawn().expect("start the SMTP sink");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await.expect("sink output") {
                if line.trim() == "READY" {
                    return;
                }
            }
            panic!("the SMTP sink exited before it was ready");
        })
        .await
        .expect("the SMTP sink did not start within 60 s");
        SmtpSink {
            port,
            dir,
            _child: child,
        }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message received so far, in order.
    pub fn messages(&self) -> Vec<Value> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .expect("sink dir")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|p| {
                serde_json::from_str(&std::fs::read_to_string(p).expect("read")).expect("json")
            })
            .collect()
    }

    pub fn messages_to(&self, to: &str) -> Vec<Value> {
        self.messages()
            .into_iter()
            .filter(|m| {
                m["rcpt_tos"]
                    .as_array()
                    .is_some_and(|r| r.iter().any(|a| a == to))
            })
            .collect()
    }

    /// Waits (polling, bounded by `timeout`) until `n` messages to `to` arrived; returns them.
    pub async fn wait_for_mails(&self, to: &str, n: usize, timeout: Duration) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.messages_to(to);
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "{n} mail(s) to {to} expected within {timeout:?}, got {}: {:?}",
                got.len(),
                self.messages()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The first message to `to`, waiting for it at most `timeout`.
    pub async fn wait_for_mail(&self, to: &str, timeout: Duration) -> Value {
        self.wait_for_mails(to, 1, timeout).await.remove(0)
    }
}

pub(crate) const MAIL_WAIT: Duration = Duration::from_secs(30);

/// The action link in a mail: in the text part as a plain URL, and the same in the HTML part.
pub(crate) fn link_in(mail: &Value, path: &str) -> String {
    let text = mail["text"].as_str().expect("text part");
    let link = text
        .split_whitespace()
        .find(|w| w.contains(&format!("{path}?token=")))
        .unwrap_or_else(|| panic!("no {path} link in {text}"))
        .to_owned();
    let html = mail["html"].as_str().expect("html part");
    assert!(
        html.contains(&link)
            || html.contains(&link.replace('&', "&amp;"))
            || html.contains(&link.replace('&', "&#38;")),
        "the HTML part has the same link"
    );
    link
}

/// Polls `cond` until true (bounded).
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + MAIL_WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

pub(crate) async fn mail_app(smtp_url: String) -> TestApp {
    spawn_app_on(test_db(), move |a| {
        a.smtp_url = Some(smtp_url);
        a.outbox_interval = Some(1);
    })
    .await
}

pub(crate) fn input_value(html: &str, name: &str) -> String {
    let doc = scraper::Html::parse_document(html);
    let sel = scraper::Selector::parse(&format!("input[name={name}]")).expect("selector");
    doc.select(&sel)
        .next()
        .and_then(|e| e.value().attr("value"))
        .unwrap_or_else(|| panic!("no {name} field"))
        .to_owned()
}

fn single_string(app: &TestApp, sql: &str) -> String {
    use diesel::prelude::*;
    use diesel::sql_types::Text;
    #[derive(QueryableByName)]
    struct S {
        #[diesel(sql_type = Text)]
        s: String,
    }
    let mut conn = app.db.conn();
    diesel::sql_query(sql)
        .get_result::<S>(&mut conn)
        .expect("query")
        .s
}

fn exec(app: &TestApp, sql: &str) -> usize {
    use diesel::prelude::*;
    let mut conn = app.db.conn();
    diesel::sql_query(sql).execute(&mut conn).expect("sql")
}

pub(crate) fn password_hash(app: &TestApp, username: &str) -> String {
    single_string(
        app,
        &format!("SELECT password_hash AS s FROM users WHERE username = '{username}'"),
    )
}

fn email_verified(app: &TestApp, username: &str) -> bool {
    app.count(&format!(
        "users WHERE username = '{username}' AND email_verified = TRUE"
    )) == 1
}

/// GET /forgot-password then POST `login` with `b`; returns status and body.
pub(crate) async fn ask_reset(app: &TestApp, b: &reqwest::Client, login: &str) -> (u16, String) {
    let html = app.html(b, "/forgot-password").await;
    let csrf = TestApp::csrf_of(&html);
    let res = b
        .post(app.url("/forgot-password"))
        .form(&[("csrf_token", csrf.as_str()), ("login", login)])
        .send()
        .await
        .expect("post");
    let status = res.status().as_u16();
    (status, res.text().await.expect("body"))
}

/// Opens a reset link with `b` and posts the new password twice; returns status and body.
async fn reset_with(
    app: &TestApp,
    b: &reqwest::Client,
    link: &str,
    new: &str,
    confirm: &str,
) -> (u16, String) {
    let page = b.get(link).send().await.expect("reset page");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    let res = b
        .post(app.url("/reset-password"))
        .form(&[
            ("csrf_token", TestApp::csrf_of(&html).as_str()),
            ("token", input_value(&html, "token").as_str()),
            ("new_password", new),
            ("confirm_password", confirm),
        ])
        .send()
        .await
        .expect("post");
    let status = res.status().as_u16();
    (status, res.text().await.expect("body"))
}

async fn tokens_for(app: &TestApp, client: &TestClient, user: (&str, &str), scope: &str) -> Value {
    let (verifier, challenge) = pkce_pair();
    let url = app
        .code_flow(
            client,
            &[
                ("response_type", "code"),
                ("client_id", client.id.as_str()),
                ("redirect_uri", client.redirect_uri.as_str()),
                ("scope", scope),
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "S256"),
            ],
            user,
        )
        .await;
    let code = query_param(&url, "code").expect("code");
    let res = app
        .token(
            client,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &client.redirect_uri),
                ("code_verifier", &verifier),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
    res.json().await.expect("json")
}

async fn userinfo(app: &TestApp, access_token: &str) -> Value {
    let res = reqwest::Client::new()
        .get(app.url("/userinfo"))
        .bearer_auth(access_token)
        .send()
        .await
        .expect("userinfo");
    assert_eq!(res.status(), 200);
    res.json().await.expect("json")
}

fn jwt_claims(jwt: &str) -> Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).expect("payload");
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .expect("base64"),
    )
    .expect("claims")
}

// ---------------------------------------------------------------------------------------------
// Password reset

#[tokio::test]
async fn forgotten_password_mail_link_new_password_ends_sessions_and_refresh_tokens() {
    let sink = SmtpSink::start().await;
    let app = mail_app(sink.url()).await;
    let old = ("rosa", "rosa's old password");
    let new = "rosa's brand new password";
    app.user(old.0, old.1).await;
    let client = app.client(&[]).await;
    // A refresh token and two browser sessions, all from the old password.
    let tokens = tokens_for(&app, &client, old, "openid").await;
    let refresh_token = tokens["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    let other = browser();
    assert_eq!(app.login_with(&other, old.0, old.1).await.status(), 303);
    assert_eq!(app.count("sessions WHERE user_id IS NOT NULL"), 2);
    assert_eq!(app.count("refresh_families WHERE revoked_at IS NULL"), 1);

    // The login page links to the reset page, which asks for a username or an address.
    let login_page = browser()
        .get(app.url("/login"))
        .send()
        .await
        .expect("login");
    assert!(login_page
        .text()
        .await
        .expect("html")
        .contains("href=\"/forgot-password\""));
    let b = browser();
    let form = b
        .get(app.url("/forgot-password"))
        .send()
        .await
        .expect("form");
    assert_eq!(form.status(), 200);
    let html = form.text().await.expect("html");
    assert!(html.contains("autocomplete=\"username\""), "{html}");

    let started = Instant::now();
    let (status, body) = ask_reset(&app, &b, "rosa").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("If an account exists for <strong>rosa</strong>, we sent a link"));
    assert!(started.elapsed() < Duration::from_secs(5));

    let mail = sink.wait_for_mail("rosa@example.test", MAIL_WAIT).await;
    assert_eq!(mail["subject"], "Reset your password for 127.0.0.1");
    assert_eq!(mail["from"], "Ostiary <noreply@localhost>");
    assert_eq!(mail["content_type"], "multipart/alternative");
    let link = link_in(&mail, "/reset-password");
    assert!(
        link.starts_with(&app.url("/reset-password?token=")),
        "{link}"
    );
    assert!(mail["text"].as_str().expect("text").contains("30 minutes"));
    // Delivered: the outbox row keeps no copy of the link.
    eventually("the outbox row is marked sent", || {
        app.count("outbox WHERE sent_at IS NOT NULL AND payload = ''") == 1
    })
    .await;

    // The page asks for the new password twice, for password managers, and checks it.
    let page = b.get(&link).send().await.expect("page");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    assert_eq!(
        html.matches("autocomplete=\"new-password\"").count(),
        2,
        "{html}"
    );
    assert!(html.contains("value=\"rosa\" autocomplete=\"username\""));
    let before = password_hash(&app, "rosa");
    let (status, body) = reset_with(&app, &b, &link, new, "something else entirely").await;
    assert_eq!(status, 400);
    assert!(body.contains("The two passwords do not match."), "{body}");
    let (status, body) = reset_with(&app, &b, &link, "short", "short").await;
    assert_eq!(status, 400);
    assert!(body.contains("at least 8 characters"), "{body}");
    assert_eq!(password_hash(&app, "rosa"), before, "nothing changed yet");
    assert_eq!(app.count("account_tokens WHERE used_at IS NULL"), 1);

    let (status, body) = reset_with(&app, &b, &link, new, new).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Your password was changed"));
    assert_ne!(password_hash(&app, "rosa"), before);

    // Everyone holding the old password is out: sessions, refresh tokens.
    assert_eq!(app.count("sessions WHERE user_id IS NOT NULL"), 0);
    assert_eq!(app.count("refresh_families WHERE revoked_at IS NULL"), 0);
    let refreshed = app
        .token(
            &client,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh_token),
            ],
        )
        .await;
    assert_eq!(refreshed.status(), 400);
    let body: Value = refreshed.json().await.expect("json");
    assert_eq!(body["error"], "invalid_grant");
    let account = other
        .get(app.url("/account"))
        .send()
        .await
        .expect("account");
    assert_eq!(account.status(), 303, "the other browser is signed out");
    // The old password no longer works; the new one does.
    assert_ne!(app.login_with(&browser(), old.0, old.1).await.status(), 303);
    assert_eq!(app.login_with(&browser(), old.0, new).await.status(), 303);
    assert_eq!(
        app.count("audit_events WHERE action = 'account.password_reset'"),
        1
    );
    // The link went to the account's address and was opened: it counts as verified.
    assert!(email_verified(&app, "rosa"));
    assert_eq!(sink.messages().len(), 1, "one mail in all");
}

#[tokio::test]
async fn a_reset_link_works_once_and_not_after_it_expires() {
    let sink = SmtpSink::start().await;
    let app = mail_app(sink.url()).await;
    app.user("remy", "remy's old password").await;
    let b = browser();
    assert_eq!(ask_reset(&app, &b, "remy").await.0, 200);
    let first = link_in(
        &sink.wait_for_mail("remy@example.test", MAIL_WAIT).await,
        "/reset-password",
    );
    let (status, _) = reset_with(
        &app,
        &b,
        &first,
        "remy's first new one",
        "remy's first new one",
    )
    .await;
    assert_eq!(status, 200);
    let after_first = password_hash(&app, "remy");

    // Used: the page and the form both refuse, and nothing changes.
    let again = b.get(&first).send().await.expect("again");
    assert_eq!(again.status(), 400);
    assert!(again
        .text()
        .await
        .expect("html")
        .contains("This link cannot be used"));
    let token = first.split("token=").nth(1).expect("token").to_owned();
    let csrf = TestApp::csrf_of(&app.html(&b, "/forgot-password").await);
    let replay = b
        .post(app.url("/reset-password"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("token", token.as_str()),
            ("new_password", "an attacker's choice"),
            ("confirm_password", "an attacker's choice"),
        ])
        .send()
        .await
        .expect("replay");
    assert_eq!(replay.status(), 400);
    assert!(replay
        .text()
        .await
        .expect("html")
        .contains("expired or was already used"));
    assert_eq!(password_hash(&app, "remy"), after_first);

    // Expired (made so in the database, no waiting): refused, nothing changed.
    assert_eq!(ask_reset(&app, &b, "remy@example.test").await.0, 200);
    let mails = sink.wait_for_mails("remy@example.test", 2, MAIL_WAIT).await;
    let second = link_in(&mails[1], "/reset-password");
    assert_ne!(first, second);
    assert_eq!(
        exec(
            &app,
            "UPDATE account_tokens SET expires_at = 0 WHERE used_at IS NULL"
        ),
        1
    );
    let expired = b.get(&second).send().await.expect("expired");
    assert_eq!(expired.status(), 400);
    let token = second.split("token=").nth(1).expect("token").to_owned();
    let res = b
        .post(app.url("/reset-password"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("token", token.as_str()),
            ("new_password", "remy's second new one"),
            ("confirm_password", "remy's second new one"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), 400);
    assert_eq!(password_hash(&app, "remy"), after_first);
    assert_eq!(
        app.count("account_tokens WHERE used_at IS NULL"),
        1,
        "still unspent, but dead"
    );
    // A made-up token is refused the same way.
    let bogus = b
        .get(app.url("/reset-password?token=nope"))
        .send()
        .await
        .expect("bogus");
    assert_eq!(bogus.status(), 400);
}

#[tokio::test]
async fn an_unknown_name_or_address_gets_the_same_answer_and_no_mail() {
    let sink = SmtpSink::start().await;
    let app = mail_app(sink.url()).await;
    app.user("nora", "nora's password").await;
    let b = browser();
    let (s_known, known) = ask_reset(&app, &b, "nora").await;
    let (s_unknown, unknown) = ask_reset(&app, &b, "nobody").await;
    assert_eq!((s_known, s_unknown), (200, 200));
    assert_eq!(
        known.replace("nora", "X"),
        unknown.replace("nobody", "X"),
        "the same page"
    );
    let (s, by_address) = ask_reset(&app, &browser_from("127.0.0.2"), "nobody@example.test").await;
    assert_eq!(s, 200);
    assert!(by_address.contains("If an account exists for"));
    // Only nora's request was queued and sent.
    sink.wait_for_mail("nora@example.test", MAIL_WAIT).await;
    eventually("the outbox is drained", || {
        app.count("outbox WHERE sent_at IS NULL AND failed_at IS NULL") == 0
    })
    .await;
    assert_eq!(app.count("outbox"), 1);
    assert_eq!(app.count("account_tokens"), 1);
    assert_eq!(sink.messages().len(), 1);
}

#[tokio::test]
async fn reset_requests_are_throttled_per_address_with_429_and_per_account_quietly() {
    let sink = SmtpSink::start().await;
    let app = mail_app(sink.url()).await;
    app.user("tess", "tess's password").await;
    // Per address (10 an hour, a burst of 3): the fourth request from one address is refused.
    let b = browser();
    for name in ["a1", "a2", "a3"] {
        assert_eq!(ask_reset(&app, &b, name).await.0, 200);
    }
    let html = app.html(&b, "/forgot-password").await;
    let res = b
        .post(app.url("/forgot-password"))
        .form(&[
            ("csrf_token", TestApp::csrf_of(&html).as_str()),
            ("login", "tess"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), 429);
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("secs");
    assert!(retry > 0);
    assert!(res
        .text()
        .await
        .expect("html")
        .contains("Too many password-reset requests came from your network"));
    assert_eq!(
        app.count("outbox"),
        0,
        "nothing queued for the refused request"
    );

    // Per account (3 an hour), from four other addresses: four identical answers, three mails.
    let mut answers = Vec::new();
    for ip in ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"] {
        answers.push(ask_reset(&app, &browser_from(ip), "tess").await);
    }
    assert!(answers
        .iter()
        .all(|(s, body)| *s == 200 && *body == answers[0].1));
    assert!(answers[0]
        .1
        .contains("we send at most 3 links per hour for one account"));
    sink.wait_for_mails("tess@example.test", 3, MAIL_WAIT).await;
    eventually("the outbox is drained", || {
        app.count("outbox WHERE sent_at IS NULL AND failed_at IS NULL") == 0
    })
    .await;
    assert_eq!(app.count("outbox"), 3);
    assert_eq!(sink.messages().len(), 3);
}

#[tokio::test]
async fn a_reset_asked_while_smtp_is_down_answers_at_once_and_arrives_once_smtp_is_up() {
    let port = free_port();
    let app = mail_app(format!("smtp://127.0.0.1:{port}")).await;
    app.user("dora", "dora's password").await;
    let b = browser();
    let started = Instant::now();
    let (status, body) = ask_reset(&app, &b, "dora").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("If an account exists for"));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the answer does not wait for SMTP"
    );
    // The sender tried, failed, kept the message and the error, and will try again.
    eventually("a failed delivery attempt is recorded", || {
        app.count("outbox WHERE attempts >= 1 AND last_error IS NOT NULL AND sent_at IS NULL") == 1
    })
    .await;
    let error = single_string(&app, "SELECT last_error AS s FROM outbox");
    assert!(!error.is_empty());
    assert_eq!(
        app.count("outbox WHERE failed_at IS NULL AND payload <> ''"),
        1
    );

    let sink = SmtpSink::start_on(port, None).await;
    let mail = sink.wait_for_mail("dora@example.test", MAIL_WAIT).await;
    eventually("the outbox row is marked sent", || {
        app.count("outbox WHERE sent_at IS NOT NULL AND last_error IS NULL AND attempts >= 2") == 1
    })
    .await;
    let link = link_in(&mail, "/reset-password");
    let (status, _) = reset_with(
        &app,
        &b,
        &link,
        "dora's new password",
        "dora's new password",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(sink.messages().len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Email verification and change

#[tokio::test]
async fn email_verification_makes_email_verified_true_in_userinfo_and_id_tokens() {
    let sink = SmtpSink::start().await;
    let app = mail_app(sink.url()).await;
    let user = ("vera", "vera's password");
    app.user(user.0, user.1).await;
    let client = app.client(&[]).await;
    let first = tokens_for(&app, &client, user, "openid email").await;
    let access = first["access_token"].as_str().expect("access").to_owned();
    assert_eq!(userinfo(&app, &access).await["email_verified"], false);
    assert_eq!(
        jwt_claims(first["id_token"].as_str().expect("id_token"))["email_verified"],
        false
    );

    // Signed in (by the code flow), vera asks for a link on /account/email.
    let account = app.get("/account").await.text().await.expect("html");
    assert!(account.contains("href=\"/account/email\""));
    let page = app.get("/account/email").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    assert!(html.contains("not verified yet"));
    let res = app
        .client
        .post(app.url("/account/email/verify"))
        .form(&[("csrf_token", TestApp::csrf_of(&html).as_str())])
        .send()
        .await
        .expect("resend");
    assert_eq!(res.status(), 200);
    assert!(res
        .text()
        .await
        .expect("html")
        .contains("We sent a verification link"));
    let mail = sink.wait_for_mail("vera@example.test", MAIL_WAIT).await;
    assert_eq!(mail["subject"], "Confirm your email address for 127.0.0.1");
    let link = link_in(&mail, "/verify-email");

    // Opening the link (in another browser, signed out) asks first: a mail scanner's GET
    // verifies nothing.
    let b = browser();
    let page = b.get(&link).send().await.expect("page");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    assert!(html.contains("vera@example.test"));
    assert!(!email_verified(&app, "vera"));
    let res = b
        .post(app.url("/verify-email"))
        .form(&[
            ("csrf_token", TestApp::csrf_of(&html).as_str()),
            ("token", input_value(&html, "token").as_str()),
        ])
        .send()
        .await
        .expect("confirm");
    assert_eq!(res.status(), 200);
    assert!(res
        .text()
        .await
        .expect("html")
        .contains("Email address verified"));
    assert!(email_verified(&app, "vera"));
    assert_eq!(userinfo(&app, &access).await["email_verified"], true);
    let second = tokens_for(&app, &client, user, "openid email").await;
    assert_eq!(
        jwt_claims(second["id_token"].as_str().expect("id_token"))["email_verified"],
        true
    );
    // The link is spent.
    assert_eq!(b.get(&link).send().await.expect("again").status(), 400);
    // Verified: no further link is sent.
    let html = app.get("/account/email").await.text().await.expect("html");
    assert!(html.contains("Verified"));
    assert!(!html.contains("action=\"/account/email/verify\""));
    assert_eq!(sink.messages().len(), 1);
}

#[tokio::test]
async fn an_email_change_is_confirmed_at_the_new_address_and_notified_at_the_old() {
    let sink = SmtpSink::start().await;
    let app = mail_app(sink.url()).await;
    let user = ("emil", "emil's password");
    app.user(user.0, user.1).await;
    app.user("other", "other's password").await;
    assert_eq!(
        app.login_with(&app.client, user.0, user.1).await.status(),
        303
    );
    let page = app.get("/account/email").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    assert!(
        html.contains("autocomplete=\"email\"")
            && html.contains("autocomplete=\"current-password\"")
    );
    let csrf = TestApp::csrf_of(&html);
    let change = |new: &'static str, pw: &'static str| {
        let csrf = csrf.clone();
        let app = &app;
        async move {
            let res = app
                .client
                .post(app.url("/account/email"))
                .form(&[
                    ("csrf_token", csrf.as_str()),
                    ("new_email", new),
                    ("current_password", pw),
                ])
                .send()
                .await
                .expect("post");
            let status = res.status().as_u16();
            (status, res.text().await.expect("html"))
        }
    };

    // Refusals, each next to its field, and nothing queued.
    let (s, body) = change("emil.new@example.test", "wrong password").await;
    assert_eq!(s, 400);
    assert!(
        body.contains("id=\"current_password-error\">The password is not correct."),
        "{body}"
    );
    let (s, body) = change("not an address", user.1).await;
    assert_eq!(s, 400);
    assert!(body.contains("id=\"new_email-error\""), "{body}");
    let (s, body) = change("Other@Example.test", user.1).await;
    assert_eq!(s, 400);
    assert!(
        body.contains("Another account uses that address."),
        "{body}"
    );
    let (s, body) = change("emil@example.test", user.1).await;
    assert_eq!(s, 400);
    assert!(body.contains("That is your address already."), "{body}");
    assert_eq!(app.count("outbox"), 0);

    // The change: a link to the new address, a notice to the old; the address stays until then.
    let (s, body) = change("emil.new@example.test", user.1).await;
    assert_eq!(s, 200, "{body}");
    assert!(body.contains("We sent a link to emil.new@example.test"));
    let confirm = sink.wait_for_mail("emil.new@example.test", MAIL_WAIT).await;
    let notice = sink.wait_for_mail("emil@example.test", MAIL_WAIT).await;
    assert_eq!(
        confirm["subject"],
        "Confirm your new email address for 127.0.0.1"
    );
    assert_eq!(
        notice["subject"],
        "A change of your email address was requested at 127.0.0.1"
    );
    assert!(notice["text"]
        .as_str()
        .expect("text")
        .contains("emil.new@example.test"));
    assert!(
        !notice["text"].as_str().expect("text").contains("token="),
        "no link in the notice"
    );
    assert_eq!(
        single_string(&app, "SELECT email AS s FROM users WHERE username = 'emil'"),
        "emil@example.test"
    );
    let link = link_in(&confirm, "/email-change/confirm");
    let b = browser();
    let page = b.get(&link).send().await.expect("page");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    let res = b
        .post(app.url("/email-change/confirm"))
        .form(&[
            ("csrf_token", TestApp::csrf_of(&html).as_str()),
            ("token", input_value(&html, "token").as_str()),
        ])
        .send()
        .await
        .expect("confirm");
    assert_eq!(res.status(), 200);
    assert!(res
        .text()
        .await
        .expect("html")
        .contains("Email address changed"));
    assert_eq!(
        single_string(&app, "SELECT email AS s FROM users WHERE username = 'emil'"),
        "emil.new@example.test"
    );
    assert!(email_verified(&app, "emil"));
    assert_eq!(
        b.get(&link).send().await.expect("again").status(),
        400,
        "single use"
    );

    // Checked at the other end too: an address taken meanwhile is not given to a second account.
    let (s, _) = change("shared@example.test", user.1).await;
    assert_eq!(s, 200);
    let mail = sink.wait_for_mail("shared@example.test", MAIL_WAIT).await;
    exec(
        &app,
        "UPDATE users SET email = 'shared@example.test' WHERE username = 'other'",
    );
    let link = link_in(&mail, "/email-change/confirm");
    let html = b
        .get(&link)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    let res = b
        .post(app.url("/email-change/confirm"))
        .form(&[
            ("csrf_token", TestApp::csrf_of(&html).as_str()),
            ("token", input_value(&html, "token").as_str()),
        ])
        .send()
        .await
        .expect("confirm");
    assert_eq!(res.status(), 400);
    assert!(res
        .text()
        .await
        .expect("html")
        .contains("Another account uses that address now"));
    assert_eq!(
        single_string(&app, "SELECT email AS s FROM users WHERE username = 'emil'"),
        "emil.new@example.test"
    );
    assert_eq!(
        app.count("account_tokens WHERE kind = 'change_email' AND used_at IS NULL"),
        1
    );
}

/// Signed in with `app.client`, asks to move the account to `new_email`; returns the status.
pub(crate) async fn ask_email_change(app: &TestApp, password: &str, new_email: &str) -> u16 {
    let html = app.html(&app.client, "/account/email").await;
    app.client
        .post(app.url("/account/email"))
        .form(&[
            ("csrf_token", TestApp::csrf_of(&html).as_str()),
            ("new_email", new_email),
            ("current_password", password),
        ])
        .send()
        .await
        .expect("post")
        .status()
        .as_u16()
}

/// Opens a confirmation link (email change or verification) with `b` and posts its form to
/// `path`; returns the status and body of the answer.
pub(crate) async fn confirm_link(
    app: &TestApp,
    b: &reqwest::Client,
    link: &str,
    path: &str,
) -> (u16, String) {
    let html = b
        .get(link)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    let res = b
        .post(app.url(path))
        .form(&[
            ("csrf_token", TestApp::csrf_of(&html).as_str()),
            ("token", input_value(&html, "token").as_str()),
        ])
        .send()
        .await
        .expect("confirm");
    let status = res.status().as_u16();
    (status, res.text().await.expect("body"))
}

/// Posts a link's token straight to `path` (no page first: what a holder of an old mail does).
pub(crate) async fn post_token(
    app: &TestApp,
    b: &reqwest::Client,
    link: &str,
    path: &str,
    extra: &[(&str, &str)],
) -> u16 {
    let csrf = TestApp::csrf_of(&app.html(b, "/forgot-password").await);
    let token = link.split("token=").nth(1).expect("token").to_owned();
    let mut form = vec![("csrf_token", csrf.as_str()), ("token", token.as_str())];
    form.extend_from_slice(extra);
    b.post(app.url(path))
        .form(&form)
        .send()
        .await
        .expect("post")
        .status()
        .as_u16()
}

/// Issue 21 item 2: a reset link and a verification link mailed to the old address die when an
/// email change is confirmed (the same cascade as a new password: every outstanding link).
#[tokio::test]
async fn confirming_an_email_change_retires_the_reset_and_verification_links_of_the_old_address() {
    let sink = SmtpSink::start().await;
    let app = mail_app(sink.url()).await;
    let user = ("rita", "rita's password");
    app.user(user.0, user.1).await;
    let old = "rita@example.test";

    // A reset link and a verification link, both to the old address.
    let b = browser();
    assert_eq!(ask_reset(&app, &b, user.0).await.0, 200);
    assert_eq!(
        app.login_with(&app.client, user.0, user.1).await.status(),
        303
    );
    let html = app.html(&app.client, "/account/email").await;
    let res = app
        .client
        .post(app.url("/account/email/verify"))
        .form(&[("csrf_token", TestApp::csrf_of(&html).as_str())])
        .send()
        .await
        .expect("resend");
    assert_eq!(res.status(), 200);
    let mails = sink.wait_for_mails(old, 2, MAIL_WAIT).await;
    let of = |subject: &str| {
        mails
            .iter()
            .find(|m| {
                m["subject"]
                    .as_str()
                    .is_some_and(|s| s.starts_with(subject))
            })
            .unwrap_or_else(|| panic!("no {subject} mail"))
    };
    let reset = link_in(of("Reset your password"), "/reset-password");
    let verify = link_in(of("Confirm your email address"), "/verify-email");

    // The change, confirmed in another browser.
    assert_eq!(
        ask_email_change(&app, user.1, "rita.new@example.test").await,
        200
    );
    let confirm = sink.wait_for_mail("rita.new@example.test", MAIL_WAIT).await;
    let link = link_in(&confirm, "/email-change/confirm");
    let (s, body) = confirm_link(&app, &browser(), &link, "/email-change/confirm").await;
    assert_eq!(s, 200, "{body}");
    assert!(body.contains("Email address changed"));
    let before = password_hash(&app, user.0);

    // The old reset link answers like a used one, and sets no password.
    let page = b.get(&reset).send().await.expect("reset page");
    assert_eq!(page.status(), 400);
    assert!(page
        .text()
        .await
        .expect("html")
        .contains("This link cannot be used"));
    let new = ("new_password", "an attacker's choice");
    let again = ("confirm_password", "an attacker's choice");
    assert_eq!(
        post_token(&app, &b, &reset, "/reset-password", &[new, again]).await,
        400
    );
    assert_eq!(password_hash(&app, user.0), before);
    // The pending verification link is dead too.
    assert_eq!(b.get(&verify).send().await.expect("verify").status(), 400);
    assert_eq!(
        post_token(&app, &b, &verify, "/verify-email", &[]).await,
        400
    );
    assert_eq!(app.count("account_tokens WHERE used_at IS NULL"), 0);
    assert_eq!(
        app.count("audit_events WHERE action = 'account.email_changed'"),
        1
    );
}

/// The same rule from the other side: a new password retires a pending email-change link (asked
/// for with the old password, it would move the account away afterwards).
#[tokio::test]
async fn a_password_change_retires_a_pending_email_change_link() {
    let sink = SmtpSink::start().await;
    let app = mail_app(sink.url()).await;
    let user = ("paul", "paul's password");
    app.user(user.0, user.1).await;
    assert_eq!(
        app.login_with(&app.client, user.0, user.1).await.status(),
        303
    );
    assert_eq!(
        ask_email_change(&app, user.1, "thief@example.test").await,
        200
    );
    let link = link_in(
        &sink.wait_for_mail("thief@example.test", MAIL_WAIT).await,
        "/email-change/confirm",
    );
    let html = app.html(&app.client, "/account").await;
    let res = app
        .client
        .post(app.url("/account/password"))
        .form(&[
            ("csrf_token", TestApp::csrf_of(&html).as_str()),
            ("current_password", user.1),
            ("new_password", "paul's new password"),
            ("confirm_password", "paul's new password"),
        ])
        .send()
        .await
        .expect("password");
    assert_eq!(res.status(), 200);
    let b = browser();
    assert_eq!(b.get(&link).send().await.expect("page").status(), 400);
    assert_eq!(
        post_token(&app, &b, &link, "/email-change/confirm", &[]).await,
        400
    );
    assert_eq!(
        single_string(&app, "SELECT email AS s FROM users WHERE username = 'paul'"),
        "paul@example.test"
    );
}

// ---------------------------------------------------------------------------------------------
// Without SMTP; settings; credentials; replicas

#[tokio::test]
async fn without_smtp_the_mail_pages_say_mail_is_off() {
    let app = spawn_app().await;
    app.user("olga", "olga's password").await;
    // No link to a reset that cannot be sent (with SMTP the login page links it: see above).
    let login = app.get("/login").await.text().await.expect("html");
    assert!(login.contains("action=\"/login\""), "{login}");
    assert!(!login.contains("/forgot-password"), "{login}");
    let page = app.get("/forgot-password").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    assert!(html.contains("This server does not send email"), "{html}");
    assert!(html.contains("Ask an administrator to set a new password"));
    assert!(!html.contains("action=\"/forgot-password\""));
    let res = app
        .client
        .post(app.url("/forgot-password"))
        .form(&[("login", "olga")])
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), 404);
    assert!(res
        .text()
        .await
        .expect("html")
        .contains("This server does not send email"));

    assert_eq!(
        app.login_with(&app.client, "olga", "olga's password")
            .await
            .status(),
        303
    );
    let html = app.get("/account/email").await.text().await.expect("html");
    assert!(html.contains("This server does not send email"), "{html}");
    assert!(!html.contains("action=\"/account/email\""));
    let csrf = TestApp::csrf_of(&app.get("/account").await.text().await.expect("html"));
    for path in ["/account/email", "/account/email/verify"] {
        let res = app
            .client
            .post(app.url(path))
            .form(&[
                ("csrf_token", csrf.as_str()),
                ("new_email", "olga.new@example.test"),
                ("current_password", "olga's password"),
            ])
            .send()
            .await
            .expect("post");
        assert_eq!(res.status(), 404, "{path}");
    }
    assert_eq!(app.count("outbox"), 0);
    assert_eq!(app.count("account_tokens"), 0);
    assert!(!app.state.settings.mail_enabled());
}

#[test]
fn smtp_settings_need_tls_off_loopback_and_never_show_the_password() {
    use ostiary::config::{parse_smtp_url, Settings, SettingsArgs, SmtpSecurity};
    let s = parse_smtp_url("smtp://127.0.0.1:2525").expect("loopback");
    assert_eq!(
        (s.security, s.port, s.host.as_str()),
        (SmtpSecurity::Plain, 2525, "127.0.0.1")
    );
    assert_eq!(parse_smtp_url("smtp://localhost").expect("ok").port, 25);
    let e = parse_smtp_url("smtp://mail.example.com").expect_err("plain off loopback");
    assert!(e.contains("loopback"), "{e}");
    let s = parse_smtp_url("smtp://mail.example.com?tls=starttls").expect("starttls");
    assert_eq!((s.security, s.port), (SmtpSecurity::StartTls, 587));
    let s = parse_smtp_url("smtps://me%40example.com:p%3Ass@mail.example.com").expect("tls");
    assert_eq!((s.security, s.port), (SmtpSecurity::Tls, 465));
    assert_eq!(s.username.as_deref(), Some("me@example.com"));
    assert_eq!(s.password.as_deref(), Some("p:ss"));
    for bad in [
        "http://mail.example.com",
        "smtp://x.example?tls=maybe",
        "smtp://127.0.0.1/x",
        "smtps://:pw@h.example",
    ] {
        assert!(parse_smtp_url(bad).is_err(), "{bad}");
    }

    let with = |f: &dyn Fn(&mut SettingsArgs)| {
        let mut a = SettingsArgs::default();
        f(&mut a);
        Settings::resolve(a, None)
    };
    let s = with(&|a| a.smtp_url = Some("smtps://ostiary:hunter2@mail.example.com".into()))
        .expect("valid");
    assert!(s.mail_enabled());
    let debug = format!("{s:?}");
    assert!(
        !debug.contains("hunter2") && debug.contains("<set>"),
        "{debug}"
    );
    let e = with(&|a| a.smtp_url = Some("smtp://ostiary:hunter2@mail.example.com".into()))
        .expect_err("plain off loopback");
    let line = e.to_string();
    assert!(
        line.contains("OSTIARY_SMTP_URL") && !line.contains("hunter2"),
        "{line}"
    );
    let e =
        with(&|a| a.smtp_url = Some("smtp://ostiary@127.0.0.1".into())).expect_err("no password");
    assert!(e.to_string().contains("needs a password"), "{e}");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("smtp-password");
    std::fs::write(&file, "from a file\n").expect("write");
    let s = with(&|a| {
        a.smtp_url = Some("smtp://ostiary@127.0.0.1:2525".into());
        a.smtp_password_file = Some(file.clone());
    })
    .expect("valid");
    assert_eq!(
        s.mail.smtp.as_ref().and_then(|m| m.password.as_deref()),
        Some("from a file")
    );
    // Defaults: no SMTP, mail off; the sender at the issuer's host; 30 min and 48 h links.
    let s = with(&|_| {}).expect("defaults");
    assert!(!s.mail_enabled());
    assert_eq!(s.mail.from, "Ostiary <noreply@localhost>");
    assert_eq!(
        (s.mail.reset_token_ttl, s.mail.verification_token_ttl),
        (1800, 48 * 3600)
    );
    let s = with(&|a| a.issuer = Some("https://id.example.com".into())).expect("valid");
    assert_eq!(s.mail.from, "Ostiary <noreply@id.example.com>");
    let e = with(&|a| a.mail_from = Some("not a mailbox".into())).expect_err("bad from");
    assert!(e.to_string().contains("OSTIARY_MAIL_FROM"), "{e}");
}

#[tokio::test]
async fn smtp_credentials_from_a_password_file_authenticate_the_sender() {
    let sink = SmtpSink::start_on(free_port(), Some("ostiary:s3cret pass")).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("smtp-password");
    std::fs::write(&file, "s3cret pass\n").expect("write");
    let url = format!("smtp://ostiary@127.0.0.1:{}", sink.port);
    let app = spawn_app_on(test_db(), move |a| {
        a.smtp_url = Some(url);
        a.smtp_password_file = Some(file);
        a.outbox_interval = Some(1);
    })
    .await;
    app.user("ava", "ava's password").await;
    assert_eq!(ask_reset(&app, &browser(), "ava").await.0, 200);
    let mail = sink.wait_for_mail("ava@example.test", MAIL_WAIT).await;
    assert_eq!(mail["authenticated_as"], "ostiary");
}

#[tokio::test]
async fn two_replicas_deliver_each_queued_mail_exactly_once() {
    let sink = SmtpSink::start().await;
    let a = mail_app(sink.url()).await;
    // A second server on the same database: another replica with its own sender.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let mut args = test_settings_args(&a.db, port);
    args.smtp_url = Some(sink.url());
    args.outbox_interval = Some(1);
    let settings = ostiary::config::Settings::resolve(args, None).expect("settings");
    let b = ostiary::startup::Application::build_with_listener(settings, listener)
        .await
        .expect("replica");
    let b_state = b.state();
    tokio::spawn(b.run_until_stopped());

    let n = 12;
    {
        let mut conn = a.db.conn();
        for i in 0..n {
            ostiary::outbox::enqueue_mail(
                &mut conn,
                &ostiary::mail::Mail {
                    to: format!("r{i}@example.test"),
                    subject: format!("number {i}"),
                    text: "text".into(),
                    html: "<p>html</p>".into(),
                },
            )
            .expect("enqueue");
        }
    }
    a.state.outbox.wake();
    b_state.outbox.wake();
    eventually("every row is sent", || {
        a.count("outbox WHERE sent_at IS NOT NULL") == n
    })
    .await;
    let mut ids: Vec<String> = sink
        .messages()
        .iter()
        .map(|m| m["message_id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(ids.len(), n as usize, "each row once: {ids:?}");
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n as usize);
    assert_eq!(
        a.count("outbox WHERE attempts = 1"),
        n,
        "no row claimed twice"
    );
}

#[tokio::test]
async fn a_sign_up_from_an_app_goes_mail_then_verification_link_then_back_to_the_app_with_a_code() {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let app = spawn_app_on(test_db(), move |a| {
        a.smtp_url = Some(url);
        a.outbox_interval = Some(1);
        a.signup = Some("open".into());
        a.require_verified_email = Some(true);
    })
    .await;
    let client = app.client(&[]).await;
    let (verifier, challenge) = pkce_pair();
    let b = browser();
    let res = b
        .get(app.url("/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", client.id.as_str()),
            ("redirect_uri", client.redirect_uri.as_str()),
            ("scope", "openid email"),
            ("state", "from-signup"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await
        .expect("authorize");
    let login_at = crate::helpers::location(&res);
    let resume = url::form_urlencoded::parse(login_at.split_once('?').expect("query").1.as_bytes())
        .find(|(k, _)| k == "return_to")
        .map(|(_, v)| v.into_owned())
        .expect("return_to");
    let signup_path = format!(
        "/signup?{}",
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("return_to", &resume)
            .finish()
    );
    let html = app.html(&b, &signup_path).await;
    let res = b
        .post(app.url("/signup"))
        .form(&[
            ("csrf_token", TestApp::csrf_of(&html).as_str()),
            ("return_to", resume.as_str()),
            ("username", "newcomer"),
            ("email", "newcomer@example.test"),
            ("password", "newcomer's password"),
            ("confirm_password", "newcomer's password"),
        ])
        .send()
        .await
        .expect("signup");
    assert_eq!(res.status(), 200);
    assert!(res
        .text()
        .await
        .expect("html")
        .contains("Confirm your email address"));
    assert!(!email_verified(&app, "newcomer"));
    // Not verified yet: the password alone does not let this account in.
    let res = app
        .login_with(&browser(), "newcomer", "newcomer's password")
        .await;
    assert_eq!(res.status(), 403);
    let mail = sink.wait_for_mail("newcomer@example.test", MAIL_WAIT).await;
    let link = link_in(&mail, "/verify-email");
    assert!(link.contains("continue="), "{link}");
    let path = link
        .strip_prefix(&app.address)
        .expect("our link")
        .to_owned();
    let page = app.html(&b, &path).await;
    let res = b
        .post(app.url("/verify-email"))
        .form(&[
            ("csrf_token", TestApp::csrf_of(&page).as_str()),
            ("token", input_value(&page, "token").as_str()),
            ("continue", input_value(&page, "continue").as_str()),
        ])
        .send()
        .await
        .expect("confirm");
    assert_eq!(res.status(), 303);
    assert!(email_verified(&app, "newcomer"));
    let to_login = crate::helpers::location(&res);
    assert!(
        to_login.starts_with("/login?return_to=%2Fauthorize%2Fresume"),
        "{to_login}"
    );
    // The sign-in continues in the browser that started it (an interaction answers to no other).
    let login = app
        .login_towards(&b, ("newcomer", "newcomer's password"), &resume)
        .await;
    assert_eq!(login.status(), 303);
    let consent = b
        .get(app.url(&crate::helpers::location(&login)))
        .send()
        .await
        .expect("resume");
    let html = consent.text().await.expect("consent html");
    let res = b
        .post(app.url(&crate::helpers::consent_action(&html)))
        .form(&[
            ("csrf_token", TestApp::csrf_of(&html).as_str()),
            ("decision", "allow"),
        ])
        .send()
        .await
        .expect("consent");
    let back = url::Url::parse(&crate::helpers::location(&res)).expect("redirect");
    assert_eq!(query_param(&back, "state").as_deref(), Some("from-signup"));
    let code = query_param(&back, "code").expect("code");
    let res = app
        .token(
            &client,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &client.redirect_uri),
                ("code_verifier", &verifier),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
    let tokens: Value = res.json().await.expect("json");
    let info: Value = reqwest::Client::new()
        .get(app.url("/userinfo"))
        .bearer_auth(tokens["access_token"].as_str().expect("access"))
        .send()
        .await
        .expect("userinfo")
        .json()
        .await
        .expect("json");
    assert_eq!(info["email_verified"], true);
}
