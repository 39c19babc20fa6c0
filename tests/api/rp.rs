//! A relying party written by others (Python Authlib, from PyPI) logs in against Ostiary:
//! discovery, code + PKCE + nonce, id_token validation, userinfo, refresh.
//! The virtualenv is created under target/ on first use, so this needs python3 and PyPI, no
//! manual set-up; it fails (never skips) when they are missing.

use std::path::PathBuf;
use std::sync::OnceLock;

use crate::helpers::spawn_app;

pub(crate) fn rp_python() -> &'static PathBuf {
    static PY: OnceLock<PathBuf> = OnceLock::new();
    PY.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let venv = root.join("target").join("rp-venv");
        let py = venv.join("bin").join("python");
        let reqs = root.join("tests/rp/requirements.txt");
        let stamp = venv.join(".installed");
        let wanted = std::fs::read_to_string(&reqs).expect("tests/rp/requirements.txt");
        if std::fs::read_to_string(&stamp).ok().as_deref() != Some(wanted.as_str()) {
            let ok = std::process::Command::new("python3")
                .args(["-m", "venv"])
                .arg(&venv)
                .status()
                .expect("python3 is needed for the relying-party test")
                .success();
            assert!(ok, "python3 -m venv failed");
            let ok = std::process::Command::new(&py)
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "-r",
                ])
                .arg(&reqs)
                .status()
                .expect("pip")
                .success();
            assert!(
                ok,
                "pip install of the relying parties (tests/rp/requirements.txt) failed"
            );
            std::fs::write(&stamp, wanted).expect("stamp");
        }
        py
    })
}

async fn run_rp(extra: &[&str], expect_alg: &str) {
    let app = spawn_app().await;
    app.user("rosa", "rosa's password").await;
    run_rp_on(&app, extra, expect_alg, &[]).await;
}

/// Runs the Authlib relying party against `app` (where rosa exists), with `env` added.
async fn run_rp_on(
    app: &crate::helpers::TestApp,
    extra: &[&str],
    expect_alg: &str,
    env: &[(&str, &str)],
) {
    let py = tokio::task::spawn_blocking(rp_python)
        .await
        .expect("venv")
        .clone();
    let mut args = vec![
        "--scope", "openid", "--scope", "profile", "--scope", "email",
    ];
    args.extend(extra);
    let client = app.client(&args).await;
    let out = tokio::process::Command::new(py)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/rp/authlib_rp.py"
        ))
        .env("ISSUER", &app.address)
        .env("CLIENT_ID", &client.id)
        .env("CLIENT_SECRET", client.secret.as_deref().unwrap_or(""))
        .env("REDIRECT_URI", &client.redirect_uri)
        .env("USERNAME", "rosa")
        .env("PASSWORD", "rosa's password")
        .env("EXPECT_ALG", expect_alg)
        .envs(env.iter().copied())
        .output()
        .await
        .expect("run the Authlib relying party");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "Authlib RP failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("RP OK"), "{stdout}");
}

#[tokio::test]
async fn authlib_relying_party_completes_a_login_rs256() {
    run_rp(&[], "RS256").await;
}

#[tokio::test]
async fn authlib_relying_party_completes_a_login_eddsa() {
    run_rp(&["--id-token-alg", "EdDSA"], "EdDSA").await;
}

/// Rosa has an authenticator app; the RP asks for two factors and checks, with Authlib, the
/// signed id_token's `acr` and `amr` after the browser answered the second-factor page.
#[tokio::test]
async fn authlib_sees_amr_and_acr_after_a_login_with_a_second_factor() {
    let app = spawn_app().await;
    app.user("rosa", "rosa's password").await;
    let b = crate::helpers::browser();
    let res = app.login_with(&b, "rosa", "rosa's password").await;
    assert_eq!(res.status(), 303);
    let (secret, _) = crate::factors::enrol_totp(&app, &b).await;
    run_rp_on(
        &app,
        &[],
        "RS256",
        &[
            ("TOTP_SECRET", secret.as_str()),
            ("ACR_VALUES", "urn:ostiary:acr:2fa"),
            ("EXPECT_ACR", "urn:ostiary:acr:2fa"),
            ("EXPECT_AMR", "pwd otp mfa"),
        ],
    )
    .await;
}

/// django-allauth's OpenID Connect provider, configured with only the issuer, a client id and a
/// secret, against a client registered with the defaults (confidential, `client_secret_basic`).
/// allauth reads discovery's `token_endpoint_auth_methods_supported` and, finding
/// `client_secret_post` there, sends the secret in the body: Ostiary must accept that for any
/// client holding a secret, or the user sees allauth's "Third-Party Login Failure".
#[tokio::test]
async fn django_allauth_logs_in_with_a_default_client_using_client_secret_post() {
    let py = tokio::task::spawn_blocking(rp_python)
        .await
        .expect("venv")
        .clone();
    let app = spawn_app().await;
    app.user("rosa", "rosa's password").await;
    let sub = {
        let mut conn = app.db.conn();
        ostiary::db::models::users::by_username(&mut conn, "rosa")
            .expect("query")
            .expect("rosa exists")
            .id
    };
    // The test client presents the Django site as 127.0.0.1:8000 (a loopback http redirect URI,
    // which Ostiary accepts); nothing listens there, the browser side only reads the Location.
    let redirect = "http://127.0.0.1:8000/accounts/oidc/ostiary/login/callback/";
    let client = app
        .client(&[
            "--redirect-uri",
            redirect,
            "--scope",
            "openid",
            "--scope",
            "profile",
            "--scope",
            "email",
        ])
        .await;
    let out = tokio::process::Command::new(py)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/rp/allauth_rp.py"
        ))
        .env("ISSUER", &app.address)
        .env("CLIENT_ID", &client.id)
        .env("CLIENT_SECRET", client.secret.as_deref().expect("a secret"))
        .env("REDIRECT_URI", &client.redirect_uri)
        .env("USERNAME", "rosa")
        .env("PASSWORD", "rosa's password")
        .env("EXPECT_SUB", &sub)
        .env("EXPECT_EMAIL", "rosa@example.test")
        .output()
        .await
        .expect("run the django-allauth relying party");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "django-allauth RP failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("ALLAUTH OK"), "{stdout}");
    assert!(
        stdout.contains("token_auth=client_secret_post"),
        "allauth no longer sends the secret in the body, so this test no longer covers it:\n{stdout}"
    );
}

/// `tests/rp/node/node_modules`, installed with `npm ci` from the committed lockfile once per run
/// (again only when the lockfile changed); fails (never skips) without node and npm.
pub(crate) fn rp_node() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/rp/node");
        let lock = std::fs::read_to_string(dir.join("package-lock.json"))
            .expect("tests/rp/node/package-lock.json");
        let stamp = dir.join("node_modules").join(".ostiary-installed");
        if std::fs::read_to_string(&stamp).ok().as_deref() != Some(lock.as_str()) {
            let ok = std::process::Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&dir)
                .status()
                .expect("npm (and node) are needed for the Node relying-party test")
                .success();
            assert!(ok, "npm ci in tests/rp/node failed");
            std::fs::write(&stamp, lock).expect("stamp");
        }
        dir
    })
}

/// Node openid-client, pinned in tests/rp/node/package-lock.json, registers itself with an
/// initial access token (RFC 7591, found through discovery's `registration_endpoint`), logs rosa
/// in with code + PKCE + state + nonce (id_token signature, iss, aud, nonce; RFC 9207 `iss`),
/// reads userinfo and refreshes, using client_secret_basic as registered; then, over RFC 7592,
/// reads its registration and deletes it, after which its refresh token, its access token and
/// its registration access token are all refused, and the single-use initial access token
/// registered nothing more.
#[tokio::test]
async fn node_openid_client_registers_itself_then_logs_a_user_in() {
    let dir = tokio::task::spawn_blocking(rp_node)
        .await
        .expect("npm ci")
        .clone();
    let app = spawn_app().await;
    app.user("rosa", "rosa's password").await;
    let out = app
        .cli(
            &["registration", "token", "create", "--uses", "1", "--json"],
            None,
        )
        .await;
    assert!(out.ok(), "registration token create: {}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).expect("json");
    let token = v["token"].as_str().expect("token").to_owned();
    let clients_before = app.count("clients");

    let out = tokio::process::Command::new("node")
        .arg(dir.join("register_login.mjs"))
        .env("ISSUER", &app.address)
        .env("INITIAL_ACCESS_TOKEN", &token)
        .env("REDIRECT_URI", crate::helpers::REDIRECT)
        .env("USERNAME", "rosa")
        .env("PASSWORD", "rosa's password")
        .env_remove("REGISTRATION_ENDPOINT")
        .output()
        .await
        .expect("node is needed for the Node relying-party test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "openid-client RP failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("NODE OK"), "{stdout}");
    assert!(
        stdout.contains("registration_endpoint=advertised"),
        "{stdout}"
    );
    let client_id = stdout
        .split_whitespace()
        .find_map(|w| w.strip_prefix("client_id="))
        .expect("the run names its client_id");
    assert!(
        client_id.chars().all(|c| c.is_ascii_alphanumeric()),
        "{client_id}"
    );
    // The DELETE removed the registered client (and the used-up token registered no other).
    assert_eq!(
        app.count(&format!("clients WHERE client_id = '{client_id}'")),
        0
    );
    assert_eq!(app.count("clients"), clients_before);
}

/// An EC P-256 key pair as JWKs (private, public), made by Node's WebCrypto.
pub(crate) async fn es256_jwk_pair(kid: &str) -> (serde_json::Value, serde_json::Value) {
    let script = format!(
        "const k = await crypto.subtle.generateKey({{name:'ECDSA',namedCurve:'P-256'}}, true, ['sign','verify']);\
         const priv = await crypto.subtle.exportKey('jwk', k.privateKey);\
         const pub = await crypto.subtle.exportKey('jwk', k.publicKey);\
         for (const j of [priv, pub]) {{ j.kid = '{kid}'; j.alg = 'ES256'; delete j.key_ops; delete j.ext; }}\
         console.log(JSON.stringify({{priv, pub}}));"
    );
    let out = tokio::process::Command::new("node")
        .args(["--input-type=module", "-e", &script])
        .output()
        .await
        .expect("node is needed to make a key pair");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    (v["priv"].clone(), v["pub"].clone())
}

/// Node openid-client (the version pinned for the registration test) against the rest of the
/// protocol surface: a client authenticating with `private_key_jwt` (its public key registered
/// as a JWK Set) pushes an authorization request (`buildAuthorizationUrlWithPAR`), completes the
/// login and refreshes; signs a whole authorization request as a request object
/// (`buildAuthorizationUrlWithJAR`, RFC 9101) whose state and nonce come back; then runs the
/// device flow (`initiateDeviceAuthorization` +
/// `pollDeviceAuthorizationGrant`) while a second browser types the user code, signs in and
/// allows it, after three raw polls at once whose two `slow_down`s the library never sees (it
/// must be in step after one of its own, issue 23). Every token and PAR request carries a fresh
/// client assertion.
#[tokio::test]
async fn node_openid_client_does_par_device_flow_and_private_key_jwt() {
    let dir = tokio::task::spawn_blocking(rp_node)
        .await
        .expect("npm ci")
        .clone();
    let app = crate::helpers::spawn_app_on(crate::helpers::test_db(), |a| {
        a.device_poll_interval = Some(1);
    })
    .await;
    app.user("rosa", "rosa's password").await;
    let (private, public) = es256_jwk_pair("node-key-1").await;
    let jwks = serde_json::json!({ "keys": [public] }).to_string();
    let client = app
        .client(&[
            "--auth-method",
            "private_key_jwt",
            "--jwks",
            &jwks,
            "--grant-type",
            "authorization_code",
            "--grant-type",
            "refresh_token",
            "--grant-type",
            "urn:ietf:params:oauth:grant-type:device_code",
            "--scope",
            "openid",
            "--scope",
            "profile",
            "--scope",
            "email",
        ])
        .await;
    assert!(
        client.secret.is_none(),
        "no shared secret for private_key_jwt"
    );
    let out = tokio::process::Command::new("node")
        .arg(dir.join("device_par_jwt.mjs"))
        .env("ISSUER", &app.address)
        .env("CLIENT_ID", &client.id)
        .env("PRIVATE_JWK", private.to_string())
        .env("REDIRECT_URI", crate::helpers::REDIRECT)
        .env("USERNAME", "rosa")
        .env("PASSWORD", "rosa's password")
        .output()
        .await
        .expect("node is needed for the Node relying-party test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "openid-client RP failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("PAR OK"), "{stdout}");
    assert!(stdout.contains("JAR OK"), "{stdout}");
    assert!(stdout.contains("DEVICE OK"), "{stdout}");
    assert!(stdout.contains("NODE OK"), "{stdout}");
    // Each assertion's jti was recorded (and so can never be replayed).
    assert!(app.count("client_assertion_jtis") >= 4);
    assert_eq!(app.count("pushed_requests WHERE used_at IS NOT NULL"), 1);
    assert_eq!(app.count("device_codes WHERE status = 'consumed'"), 1);
}
