//! End-to-end in a real headless Chromium (Debian `chromium` + `chromium-driver`), driven over
//! WebDriver: an admin registers a client through the form and the client completes a login;
//! a user revokes an app's access from /account and its refresh token dies. Screenshots of the
//! pages go to target/screenshots/.

use std::path::PathBuf;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

use crate::helpers::{add_user, pkce_pair, query_param, spawn_app, TestApp};

pub(crate) struct Browser {
    pub(crate) client: Client,
    _driver: tokio::process::Child,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    /// Killing chromedriver alone leaves the Chromium it started running (one orphaned browser
    /// per test run): chromedriver leads a process group of its own, and the whole group ends.
    fn drop(&mut self) {
        if let Some(pid) = self._driver.id() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn have(cmd: &str) -> bool {
    std::process::Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Installs Debian's chromium and chromium-driver when they are missing and we may (root with
/// apt-get), so `cargo test` works on a fresh machine of this project's kind; otherwise fails
/// with what to install.
fn ensure_chromium() {
    static ONCE: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    ONCE.get_or_init(|| {
        if have("chromedriver") && std::path::Path::new("/usr/bin/chromium").exists() {
            return;
        }
        let root = std::process::Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
        assert!(
            root && have("apt-get"),
            "the browser tests need Debian's chromium and chromium-driver: apt-get install chromium chromium-driver"
        );
        let ok = std::process::Command::new("sh")
            .args([
                "-c",
                "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver",
            ])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "installing chromium and chromium-driver failed");
    });
}

pub(crate) async fn browser() -> Browser {
    tokio::task::spawn_blocking(ensure_chromium)
        .await
        .expect("chromium check");
    let port = free_port();
    let driver = tokio::process::Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .process_group(0)
        .spawn()
        .expect("chromedriver must be installed (Debian package chromium-driver)");
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let profile = tempfile::tempdir().expect("profile dir");
    let caps = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
                "--disable-component-update", "--disable-sync", "--window-size=1280,1000",
                format!("--user-data-dir={}", profile.path().display()),
            ]
        }
    });
    let Value::Object(caps) = caps else {
        unreachable!()
    };
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a WebDriver session with headless Chromium");
    Browser {
        client,
        _driver: driver,
        _profile: profile,
    }
}

pub(crate) async fn screenshot(c: &Client, name: &str) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    let png = c.screenshot().await.expect("screenshot");
    std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
}

pub(crate) async fn fill(c: &Client, css: &str, text: &str) {
    let e = c
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|_| panic!("{css} on the page"));
    e.clear().await.ok();
    e.send_keys(text).await.expect("type");
}

pub(crate) async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|_| panic!("{css} on the page"))
        .click()
        .await
        .expect("click");
}

async fn text(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .expect("element")
        .text()
        .await
        .expect("text")
}

async fn login(c: &Client, user: &str, password: &str, shot: Option<&str>) {
    c.wait()
        .for_element(Locator::Css("#username"))
        .await
        .expect("login page");
    if let Some(name) = shot {
        screenshot(c, name).await;
    }
    fill(c, "#username", user).await;
    fill(c, "#password", password).await;
    click(c, "button[type=submit]").await;
}

/// Runs authorize → login → consent in the browser; returns the code from the client's URL.
async fn authorize_in_browser(
    c: &Client,
    app: &TestApp,
    client_id: &str,
    user: (&str, &str),
    challenge: &str,
    shot: Option<&str>,
) -> String {
    let mut url = url::Url::parse(&app.url("/authorize")).expect("url");
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", crate::helpers::REDIRECT)
        .append_pair("scope", "openid profile email")
        .append_pair("state", "browser")
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", "S256");
    c.goto(url.as_str()).await.expect("authorize");
    login(c, user.0, user.1, None).await;
    c.wait()
        .for_element(Locator::Css("button[value=allow]"))
        .await
        .expect("consent page");
    if let Some(name) = shot {
        screenshot(c, name).await;
        c.set_window_size(390, 844).await.expect("phone size");
        screenshot(c, &format!("{name}-phone")).await;
        c.set_window_size(1280, 1000).await.expect("desktop size");
    }
    click(c, "button[value=allow]").await;
    // The client's redirect URI listens nowhere; the browser's URL still carries the code.
    for _ in 0..50 {
        let current = c.current_url().await.expect("url");
        if current.as_str().starts_with(crate::helpers::REDIRECT) {
            assert_eq!(query_param(&current, "state").as_deref(), Some("browser"));
            return query_param(&current, "code").expect("code in the redirect");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the browser never reached the client's redirect URI");
}

async fn exchange(app: &TestApp, id: &str, secret: &str, code: &str, verifier: &str) -> Value {
    let res = reqwest::Client::new()
        .post(app.url("/token"))
        .basic_auth(id, Some(secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", crate::helpers::REDIRECT),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .expect("token");
    assert_eq!(res.status(), 200);
    res.json().await.expect("json")
}

#[tokio::test]
async fn admin_registers_a_client_in_the_browser_and_it_completes_a_login() {
    let app = spawn_app().await;
    add_user(&app.db, "admin", "admin password 1", true).await;
    add_user(&app.db, "paula", "paula's password", false).await;
    let b = browser().await;
    let c = &b.client;

    c.goto(&app.url("/admin")).await.expect("admin");
    login(c, "admin", "admin password 1", Some("login")).await;
    c.wait()
        .for_element(Locator::LinkText("Clients"))
        .await
        .expect("admin page");

    c.goto(&app.url("/admin/clients/new")).await.expect("form");
    // A bad redirect URI is refused beside the field, and what was typed stays.
    fill(c, "#name", "Browser App").await;
    fill(c, "#redirect_uris", "https://app.example/cb#fragment").await;
    click(c, "button[type=submit]").await;
    c.wait()
        .for_element(Locator::Css(".field-error"))
        .await
        .expect("field error");
    assert!(text(c, ".field-error").await.contains("fragment"));
    let kept = c
        .find(Locator::Css("#name"))
        .await
        .expect("name")
        .prop("value")
        .await
        .expect("value");
    assert_eq!(kept.as_deref(), Some("Browser App"));

    fill(c, "#redirect_uris", crate::helpers::REDIRECT).await;
    screenshot(c, "admin-client-form").await;
    click(c, "button[type=submit]").await;
    c.wait()
        .for_element(Locator::Css("#client_secret"))
        .await
        .expect("secret page");
    let page = c.source().await.expect("source");
    assert!(page.contains("you will not see it again"));
    let client_id = text(c, "#client_id").await.trim().to_owned();
    let secret = text(c, "#client_secret").await.trim().to_owned();
    assert!(secret.starts_with("ost_"));

    // Another user completes an authorization-code login with that client.
    c.delete_all_cookies().await.expect("sign out the admin");
    let (verifier, challenge) = pkce_pair();
    let code = authorize_in_browser(
        c,
        &app,
        &client_id,
        ("paula", "paula's password"),
        &challenge,
        Some("consent"),
    )
    .await;
    let tokens = exchange(&app, &client_id, &secret, &code, &verifier).await;
    assert_eq!(tokens["token_type"], "Bearer");
    assert!(tokens["id_token"].is_string());
    b.client.clone().close().await.ok();
}

#[tokio::test]
async fn revoking_consent_on_the_account_page_kills_the_refresh_token() {
    let app = spawn_app().await;
    add_user(&app.db, "paula", "paula's password", false).await;
    let client = app.client(&[]).await;
    let secret = client.secret.clone().expect("secret");
    let b = browser().await;
    let c = &b.client;
    let (verifier, challenge) = pkce_pair();
    let code = authorize_in_browser(
        c,
        &app,
        &client.id,
        ("paula", "paula's password"),
        &challenge,
        None,
    )
    .await;
    let tokens = exchange(&app, &client.id, &secret, &code, &verifier).await;
    let refresh = tokens["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();

    c.goto(&app.url("/account")).await.expect("account");
    c.wait()
        .for_element(Locator::Css("button.danger"))
        .await
        .expect("consent listed");
    assert!(c.source().await.expect("source").contains("Test App"));
    screenshot(c, "account").await;
    click(c, "button.danger").await;
    wait_for_source(c, "the consent gone", |p| p.contains("No app has access")).await;

    let res = app
        .token(
            &client,
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await;
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["error"], "invalid_grant");
    b.client.clone().close().await.ok();
}

/// Whether the page fits the window's width (nothing to scroll sideways).
async fn fits_width(c: &Client) -> bool {
    let v = c
        .execute(
            "return document.documentElement.scrollWidth <= window.innerWidth;",
            vec![],
        )
        .await
        .expect("script");
    v.as_bool() == Some(true)
}

#[tokio::test]
async fn the_account_lists_devices_and_apps_at_desktop_and_phone_width() {
    let app = spawn_app().await;
    add_user(&app.db, "paula", "paula's password", false).await;
    add_user(&app.db, "admin", "admin password 1", true).await;
    let client = app.client(&[]).await;
    let secret = client.secret.clone().expect("secret");
    // Paula is also signed in on her phone.
    let phone = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36")
        .build()
        .expect("phone");
    let res = app.login_with(&phone, "paula", "paula's password").await;
    assert_eq!(res.status(), 303);

    let b = browser().await;
    let c = &b.client;
    let (verifier, challenge) = pkce_pair();
    let code = authorize_in_browser(
        c,
        &app,
        &client.id,
        ("paula", "paula's password"),
        &challenge,
        None,
    )
    .await;
    let tokens = exchange(&app, &client.id, &secret, &code, &verifier).await;
    assert!(tokens["refresh_token"].is_string());

    c.goto(&app.url("/account")).await.expect("account");
    c.wait()
        .for_element(Locator::Css("li.this-device"))
        .await
        .expect("devices listed");
    let page = c.source().await.expect("source");
    assert!(page.contains("Chrome on Android"), "the phone is listed");
    assert!(page.contains("Sign out everywhere else"));
    assert!(page.contains("Test App"), "the app is listed");
    c.set_window_size(1280, 1300).await.expect("desktop size");
    screenshot(c, "account-devices").await;
    assert!(fits_width(c).await);
    c.set_window_size(360, 800).await.expect("phone size");
    c.execute(
        "document.getElementById('devices-heading').scrollIntoView();",
        vec![],
    )
    .await
    .expect("scroll");
    screenshot(c, "account-devices-phone").await;
    assert!(fits_width(c).await, "the account page fits 360 px");

    // Signing the phone out from the browser ends only the phone's session.
    click(c, "li.device:not(.this-device):not(.app) button").await;
    wait_for_source(c, "the account without the phone", |p| {
        p.contains("this-device") && !p.contains("Chrome on Android")
    })
    .await;
    let res = phone.get(app.url("/account")).send().await.expect("phone");
    assert_eq!(res.status(), 303, "the phone must sign in again");

    // The other pages fit a phone too.
    c.delete_all_cookies().await.expect("sign out");
    c.goto(&app.url("/admin/users")).await.expect("admin");
    login(c, "admin", "admin password 1", None).await;
    c.wait()
        .for_element(Locator::LinkText("Sessions of paula"))
        .await
        .expect("users page")
        .click()
        .await
        .expect("open sessions");
    c.wait()
        .for_element(Locator::Css("h1"))
        .await
        .expect("sessions page");
    assert!(text(c, "h1").await.contains("Sessions of paula"));
    assert!(fits_width(c).await, "admin sessions page fits 360 px");
    for path in ["/admin/users", "/admin/clients/new", "/account", "/logout"] {
        c.goto(&app.url(path)).await.expect("page");
        assert!(fits_width(c).await, "{path} fits 360 px");
    }
    c.delete_all_cookies().await.expect("sign out");
    c.goto(&app.url("/login")).await.expect("login");
    assert!(fits_width(c).await, "/login fits 360 px");
    b.client.clone().close().await.ok();
}

#[tokio::test]
async fn sign_up_and_password_reset_pages_at_desktop_and_phone_width() {
    let sink = crate::mail::SmtpSink::start().await;
    let smtp = sink.url();
    let app = crate::helpers::spawn_app_on(crate::helpers::test_db(), move |a| {
        a.smtp_url = Some(smtp);
        a.outbox_interval = Some(1);
        a.signup = Some("open".into());
    })
    .await;
    let b = browser().await;
    let c = &b.client;
    // Sign-up, linked from the login page.
    c.goto(&app.url("/login")).await.expect("login");
    click(c, "a[href^='/signup']").await;
    c.wait()
        .for_element(Locator::Css("#confirm_password"))
        .await
        .expect("sign-up form");
    c.set_window_size(1280, 1000).await.expect("desktop size");
    screenshot(c, "signup").await;
    c.set_window_size(360, 800).await.expect("phone size");
    screenshot(c, "signup-phone").await;
    assert!(fits_width(c).await, "the sign-up page fits 360 px");
    fill(c, "#username", "walt").await;
    fill(c, "#email", "walt@example.test").await;
    fill(c, "#password", "walt's first password").await;
    fill(c, "#confirm_password", "walt's first password").await;
    click(c, "button[type=submit]").await;
    // The form posts and the browser lands signed in on "/" (poll, bounded: no fixed sleep).
    for _ in 0..400 {
        let url = c.current_url().await.expect("url");
        if !url.path().starts_with("/signup") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(app.count("users WHERE username = 'walt'"), 1);
    // The verification mail arrives through the outbox.
    let verify = sink
        .wait_for_mail("walt@example.test", crate::mail::MAIL_WAIT)
        .await;
    assert!(crate::mail::link_in(&verify, "/verify-email").starts_with(&app.address));

    // Forgotten password, in a fresh (signed-out) browser state.
    c.delete_all_cookies().await.expect("sign out");
    c.set_window_size(1280, 1000).await.expect("desktop size");
    c.goto(&app.url("/login")).await.expect("login");
    click(c, "a[href='/forgot-password']").await;
    c.wait()
        .for_element(Locator::Css("#login"))
        .await
        .expect("reset request form");
    screenshot(c, "reset-request").await;
    c.set_window_size(360, 800).await.expect("phone size");
    screenshot(c, "reset-request-phone").await;
    assert!(fits_width(c).await);
    fill(c, "#login", "walt@example.test").await;
    click(c, "button[type=submit]").await;
    let mails = sink
        .wait_for_mails("walt@example.test", 2, crate::mail::MAIL_WAIT)
        .await;
    let link = crate::mail::link_in(&mails[1], "/reset-password");
    c.goto(&link).await.expect("reset link");
    c.wait()
        .for_element(Locator::Css("#new_password"))
        .await
        .expect("reset form");
    c.set_window_size(1280, 1000).await.expect("desktop size");
    screenshot(c, "reset-password").await;
    c.set_window_size(360, 800).await.expect("phone size");
    screenshot(c, "reset-password-phone").await;
    assert!(fits_width(c).await);
    fill(c, "#new_password", "walt's second password").await;
    fill(c, "#confirm_password", "walt's second password").await;
    click(c, "button[type=submit]").await;
    // Poll (bounded) until the done page is there, not the form the click left.
    for _ in 0..400 {
        if c.source()
            .await
            .expect("source")
            .contains("Your password was changed")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let res = app
        .login_with(&crate::helpers::browser(), "walt", "walt's second password")
        .await;
    assert_eq!(res.status(), 303, "the new password works");
}

/// A WebDriver command fantoccini has no method for: the WebAuthn virtual authenticator
/// extension (WebAuthn Level 2 §11), under `/session/{id}/`.
#[derive(Debug)]
struct WebAuthnCommand {
    method: http::Method,
    path: String,
    body: Option<Value>,
}

impl fantoccini::wd::WebDriverCompatibleCommand for WebAuthnCommand {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/{}",
            session_id.unwrap_or_default(),
            self.path
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (
            self.method.clone(),
            self.body.as_ref().map(Value::to_string),
        )
    }
}

/// A platform authenticator with resident keys and user verification, as a phone or laptop has.
async fn add_virtual_authenticator(c: &Client) -> String {
    c.issue_cmd(WebAuthnCommand {
        method: http::Method::POST,
        path: "webauthn/authenticator".into(),
        body: Some(json!({
            "protocol": "ctap2", "transport": "internal",
            "hasResidentKey": true, "hasUserVerification": true,
            "isUserVerified": true, "isUserConsenting": true
        })),
    })
    .await
    .expect("add a virtual authenticator")
    .as_str()
    .expect("authenticator id")
    .to_owned()
}

async fn authenticator_credentials(c: &Client, id: &str) -> Vec<Value> {
    c.issue_cmd(WebAuthnCommand {
        method: http::Method::GET,
        path: format!("webauthn/authenticator/{id}/credentials"),
        body: None,
    })
    .await
    .expect("credentials")
    .as_array()
    .cloned()
    .unwrap_or_default()
}

/// Polls the page until `ok` holds for its source (after a click that reloads a page whose
/// elements the old page had too), and returns that source.
async fn wait_for_source(c: &Client, what: &str, ok: impl Fn(&str) -> bool) -> String {
    let mut page = String::new();
    for _ in 0..200 {
        page = c.source().await.expect("source");
        if ok(&page) {
            return page;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the page never showed {what}: {page}");
}

/// Waits until the browser's path (with query) is `want`.
async fn wait_for_path(c: &Client, want: &str) {
    for _ in 0..100 {
        let url = c.current_url().await.expect("url");
        let here = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        };
        if here == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let page = c.source().await.unwrap_or_default();
    panic!(
        "the browser never reached {want}; it is at {}: {page}",
        c.current_url().await.expect("url")
    );
}

#[tokio::test]
async fn a_passkey_registered_on_the_account_page_signs_in_alone_and_as_a_second_factor() {
    // Browsers accept no IP address as a WebAuthn relying party: this server is `localhost`.
    let app = crate::helpers::spawn_app_on(crate::helpers::test_db(), |a| {
        a.issuer = a.issuer.take().map(|i| i.replace("127.0.0.1", "localhost"));
    })
    .await;
    let site = |path: &str| format!("http://localhost:{}{path}", app.port);
    add_user(&app.db, "pia", "pia's password", false).await;
    let b = browser().await;
    let c = &b.client;
    c.goto(&site("/login")).await.expect("login page");
    let authenticator = add_virtual_authenticator(c).await;
    login(c, "pia", "pia's password", None).await;
    wait_for_path(c, "/").await;

    // An authenticator app first (the enrolment page with its QR code), then a passkey.
    c.goto(&site("/account/security")).await.expect("security");
    click(c, "#totp-setup").await;
    c.wait()
        .for_element(Locator::Css("#totp-secret"))
        .await
        .expect("TOTP set-up page");
    screenshot(c, "totp-setup").await;
    let secret = text(c, "#totp-secret").await.replace(' ', "");
    fill(c, "#code", &crate::factors::totp_code(&secret, 0)).await;
    click(c, "form button.primary").await;
    c.wait()
        .for_element(Locator::Css("#recovery-codes"))
        .await
        .expect("recovery codes shown");
    screenshot(c, "recovery-codes").await;
    click(c, "#continue").await;

    c.goto(&site("/account/security")).await.expect("security");
    fill(c, "#passkey-name", "Work laptop").await;
    click(c, "#passkey-register").await;
    wait_for_path(c, "/account/security?notice=passkey-added").await;
    screenshot(c, "security").await;
    assert!(c.source().await.expect("page").contains("Work laptop"));
    assert_eq!(app.count("passkeys WHERE name = 'Work laptop'"), 1);
    let held = authenticator_credentials(c, &authenticator).await;
    assert_eq!(held.len(), 1);
    assert_eq!(
        held[0]["isResidentCredential"], true,
        "a discoverable credential"
    );
    assert_eq!(held[0]["rpId"], "localhost");

    // Signed out, the passkey alone signs pia in: no username, no password.
    c.goto(&site("/account")).await.expect("account");
    click(c, "form[action='/logout'] button").await;
    // The account page has an h1 too: wait for the page that says the session ended.
    wait_for_source(c, "the signed-out page", |p| {
        p.contains("You are signed out")
    })
    .await;
    c.goto(&site("/login")).await.expect("login page");
    c.wait()
        .for_element(Locator::Css("#passkey-login"))
        .await
        .expect("the passkey button");
    screenshot(c, "login-passkey").await;
    click(c, "#passkey-login").await;
    wait_for_path(c, "/").await;
    assert_eq!(app.count("sessions WHERE amr = 'hwk user mfa'"), 1);

    // An app asking for a phishing-resistant sign-in gets it from that session: acr "phr".
    let client = app
        .client(&["--redirect-uri", crate::helpers::REDIRECT])
        .await;
    let (verifier, challenge) = pkce_pair();
    let mut url = url::Url::parse(&site("/authorize")).expect("url");
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &client.id)
        .append_pair("redirect_uri", crate::helpers::REDIRECT)
        .append_pair("scope", "openid")
        .append_pair("state", "passkey")
        .append_pair("acr_values", "phr")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    c.goto(url.as_str()).await.expect("authorize");
    c.wait()
        .for_element(Locator::Css("button[value=allow]"))
        .await
        .expect("consent page");
    click(c, "button[value=allow]").await;
    let mut code = None;
    for _ in 0..50 {
        let current = c.current_url().await.expect("url");
        if current.as_str().starts_with(crate::helpers::REDIRECT) {
            code = query_param(&current, "code");
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let secret_of_client = client.secret.clone().expect("secret");
    let code = code.expect("a code");
    let tokens = exchange(&app, &client.id, &secret_of_client, &code, &verifier).await;
    let claims: Value = {
        use base64::Engine;
        let jwt = tokens["id_token"].as_str().expect("id_token");
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(jwt.split('.').nth(1).expect("payload"))
            .expect("b64");
        serde_json::from_slice(&raw).expect("claims")
    };
    assert_eq!(claims["acr"], "phr");
    assert_eq!(claims["amr"], json!(["hwk", "user", "mfa"]));

    // Signed out again, the password now leads to the second step, where the passkey serves.
    c.delete_all_cookies().await.expect("sign out");
    c.goto(&site("/login")).await.expect("login page");
    login(c, "pia", "pia's password", None).await;
    c.wait()
        .for_element(Locator::Css("#passkey-second-factor"))
        .await
        .expect("the second-factor page");
    screenshot(c, "second-factor").await;
    c.set_window_size(390, 844).await.expect("phone size");
    screenshot(c, "second-factor-phone").await;
    c.set_window_size(1280, 1000).await.expect("desktop size");
    click(c, "#passkey-second-factor").await;
    wait_for_path(c, "/").await;
    assert_eq!(app.count("sessions WHERE amr = 'pwd hwk user mfa'"), 1);
    assert_eq!(
        app.count("passkeys WHERE sign_count >= 2 AND last_used_at IS NOT NULL"),
        1,
        "the counter advanced and was stored"
    );
    b.client.clone().close().await.ok();
}

/// What the page says of itself on a phone, for WCAG checks no automatic checker makes: each
/// table's headers kept for assistive technology (hidden only visually) and each cell labelled
/// with its column; controls in the page's font; the focus ring's contrast against the page
/// and a card (1.4.11 asks 3:1).
const PHONE_TABLE_FACTS: &str = r#"
const lum = (rgb) => {
  const [r, g, b] = rgb.match(/\d+/g).slice(0, 3).map(Number).map(v => {
    v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
const thead = document.querySelector('table thead');
const heads = [...thead.querySelectorAll('th')].map(th => th.textContent.trim());
const unlabelled = [];
document.querySelectorAll('table tbody tr').forEach(r => r.querySelectorAll('td').forEach((td, i) => {
  const before = getComputedStyle(td, '::before').content;
  if (td.dataset.label !== heads[i] || !before.includes(heads[i])) unlabelled.push(`${i}: ${td.dataset.label} / ${before}`);
}));
const field = document.querySelector('input[type=search], input[type=text], a');
field.focus();
const ring = getComputedStyle(field).outlineColor;
return {
  thead_display: getComputedStyle(thead).display,
  thead_in_tree: thead.querySelectorAll('th').length,
  unlabelled,
  rows: document.querySelectorAll('table tbody tr').length,
  button_font: getComputedStyle(document.querySelector('button')).fontFamily,
  body_font: getComputedStyle(document.body).fontFamily,
  ring_on_page: ratio(ring, getComputedStyle(document.body).backgroundColor),
  ring_on_card: ratio(ring, 'rgb(255, 255, 255)'),
};
"#;

#[tokio::test]
async fn admin_tables_keep_labelled_cells_and_a_visible_focus_ring_on_a_phone() {
    let app = spawn_app().await;
    add_user(&app.db, "admin", "admin password 1", true).await;
    add_user(&app.db, "paula", "paula's password", false).await;
    let b = browser().await;
    let c = &b.client;
    c.set_window_size(320, 800).await.expect("phone size");
    c.goto(&app.url("/admin/users")).await.expect("admin");
    login(c, "admin", "admin password 1", None).await;
    c.wait()
        .for_element(Locator::LinkText("Sessions of paula"))
        .await
        .expect("users page");
    let facts = c.execute(PHONE_TABLE_FACTS, vec![]).await.expect("script");
    assert_ne!(facts["thead_display"], "none", "{facts}");
    assert!(facts["thead_in_tree"].as_u64() >= Some(5), "{facts}");
    assert!(facts["rows"].as_u64() >= Some(2), "{facts}");
    assert_eq!(facts["unlabelled"], json!([]), "{facts}");
    assert_eq!(facts["button_font"], facts["body_font"], "{facts}");
    for key in ["ring_on_page", "ring_on_card"] {
        assert!(facts[key].as_f64() >= Some(3.0), "{key}: {facts}");
    }
    assert!(fits_width(c).await, "/admin/users fits 320 px");
    b.client.clone().close().await.ok();
}

/// WCAG 2.5.3 (label in name): a control's accessible name starts with the words it shows.
#[tokio::test]
async fn controls_accessible_names_start_with_their_visible_text() {
    let app = spawn_app().await;
    add_user(&app.db, "admin", "admin password 1", true).await;
    add_user(&app.db, "paula", "paula's password", false).await;
    let paula = crate::helpers::browser();
    assert_eq!(
        app.login_with(&paula, "paula", "paula's password")
            .await
            .status(),
        303
    );
    let admin = crate::helpers::browser();
    assert_eq!(
        app.login_with(&admin, "admin", "admin password 1")
            .await
            .status(),
        303
    );
    let users = app.html(&admin, "/admin/users").await;
    let sessions = scraper::Html::parse_document(&users)
        .select(&scraper::Selector::parse("a").expect("sel"))
        .find(|a| a.text().collect::<String>().contains("Sessions of paula"))
        .and_then(|a| a.value().attr("href").map(str::to_owned))
        .expect("sessions link");
    let pages = [
        ("/account", app.html(&paula, "/account").await),
        ("sessions of paula", app.html(&admin, &sessions).await),
        ("/admin/users", users.clone()),
    ];
    let controls = scraper::Selector::parse("button[aria-label], a[aria-label]").expect("sel");
    let mut checked = 0;
    for (name, html) in &pages {
        for e in scraper::Html::parse_document(html).select(&controls) {
            let shown = e.text().collect::<String>().trim().to_lowercase();
            let label = e
                .value()
                .attr("aria-label")
                .unwrap_or_default()
                .to_lowercase();
            assert!(
                label.starts_with(&shown),
                "{name}: {label:?} does not start with {shown:?}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 2, "the pages have labelled controls");
}
