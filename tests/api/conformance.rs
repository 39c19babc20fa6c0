//! The OpenID Foundation conformance suite's OP modules (plan `oidcc-basic-certification-test-plan`,
//! and `oidcc-discovery-endpoint-verification` of the config plan), one test per module id,
//! replayed by Node openid-client (`tests/rp/node/conformance.mjs`): what each module sends and
//! checks, against a server on port 0. A module that needs time to pass asks for it (`WAIT …`) and
//! the test ages the rows instead of sleeping. Modules of the plan covered elsewhere:
//! request objects (`request_objects`), `oidcc-claims-essential` and form post (`response_modes`).

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::helpers::{spawn_app, TestApp, REDIRECT};
use crate::rp::rp_node;

const USER: (&str, &str) = ("conformance", "conformance's long password");

/// Every standard claim filled in, so the scope modules find what they look for.
const PROFILE: [&str; 13] = [
    "name=Conformance Tester",
    "given_name=Connie",
    "family_name=Tester",
    "middle_name=Q",
    "nickname=conny",
    "profile=https://conny.example/",
    "picture=https://conny.example/me.png",
    "website=https://conny.example/blog",
    "gender=female",
    "birthdate=1990-01-02",
    "zoneinfo=Europe/Paris",
    "locale=fr-FR",
    "phone_number=+33 1 23 45 67 89",
];

async fn app_for(auth_method: &str) -> (TestApp, String, String) {
    let app = spawn_app().await;
    app.user(USER.0, USER.1).await;
    let mut args = vec!["user", "profile", USER.0, "--set", "address_locality=Paris"];
    for p in PROFILE {
        args.extend(["--set", p]);
    }
    let out = app.cli(&args, None).await;
    assert!(out.ok(), "user profile: {}", out.stderr);
    let client = app
        .client(&[
            "--auth-method",
            auth_method,
            "--grant-type",
            "authorization_code",
            "--grant-type",
            "refresh_token",
            "--scope",
            "openid profile email address phone offline_access",
        ])
        .await;
    let secret = client.secret.clone().expect("a confidential client");
    (app, client.id, secret)
}

/// What `WAIT <what>` asks for, done to the database: time passes for the rows it names.
fn age(app: &TestApp, what: &str) {
    use diesel::RunQueryDsl;
    let sql = match what {
        "sessions-older" => "UPDATE sessions SET auth_time = auth_time - 10",
        "code-30-seconds-older" => {
            "UPDATE authorization_codes SET created_at = created_at - 31, \
             expires_at = expires_at - 31, consumed_at = consumed_at - 31"
        }
        other => panic!("the module asked for {other:?}"),
    };
    diesel::sql_query(sql)
        .execute(&mut app.db.conn())
        .expect("age rows");
}

/// Runs conformance module `module` with a client authenticating by `auth_method`, responses by
/// `response_mode` (empty: the default); its PASS/SKIP line.
async fn run(module: &str, auth_method: &str, response_mode: &str) -> String {
    let dir = tokio::task::spawn_blocking(rp_node)
        .await
        .expect("npm ci")
        .clone();
    let (app, client_id, secret) = app_for(auth_method).await;
    let mut child = tokio::process::Command::new("node")
        .arg(dir.join("conformance.mjs"))
        .env("ISSUER", &app.address)
        .env("CLIENT_ID", &client_id)
        .env("CLIENT_SECRET", &secret)
        .env("AUTH_METHOD", auth_method)
        .env("REDIRECT_URI", REDIRECT)
        .env("USERNAME", USER.0)
        .env("PASSWORD", USER.1)
        .env("MODULE", module)
        .env("RESPONSE_MODE", response_mode)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node is needed for the conformance modules");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut outcome = Vec::new();
    while let Some(line) = lines.next_line().await.expect("read node") {
        if let Some(what) = line.strip_prefix("WAIT ") {
            age(&app, what);
            stdin.write_all(b"go\n").await.expect("write node");
        } else {
            outcome.push(line);
        }
    }
    let out = child.wait_with_output().await.expect("node");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let outcome = outcome.join("\n");
    assert!(
        out.status.success() && !outcome.contains("FAIL"),
        "{module}:\n{outcome}\n{stderr}"
    );
    outcome
}

async fn pass(module: &str, response_mode: &str) {
    let out = run(module, "client_secret_basic", response_mode).await;
    assert!(out.starts_with(&format!("PASS {module}")), "{out}");
}

/// One test per module of the Basic plan, and (in `formpost`) the same modules as the Form Post
/// plan runs them: every response to the client by `response_mode=form_post`.
macro_rules! modules {
    ($($name:ident => $id:literal),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                pass($id, "").await;
            }
        )*
        mod formpost {
            $(
                #[tokio::test]
                async fn $name() {
                    super::pass($id, "form_post").await;
                }
            )*
        }
    };
}

modules! {
    oidcc_server => "oidcc-server",
    oidcc_response_type_missing => "oidcc-response-type-missing",
    oidcc_idtoken_signature => "oidcc-idtoken-signature",
    oidcc_userinfo_get => "oidcc-userinfo-get",
    oidcc_userinfo_post_header => "oidcc-userinfo-post-header",
    oidcc_userinfo_post_body => "oidcc-userinfo-post-body",
    oidcc_ensure_request_without_nonce_succeeds_for_code_flow =>
        "oidcc-ensure-request-without-nonce-succeeds-for-code-flow",
    oidcc_scope_profile => "oidcc-scope-profile",
    oidcc_scope_email => "oidcc-scope-email",
    oidcc_scope_address => "oidcc-scope-address",
    oidcc_scope_phone => "oidcc-scope-phone",
    oidcc_scope_all => "oidcc-scope-all",
    oidcc_ensure_other_scope_order_succeeds => "oidcc-ensure-other-scope-order-succeeds",
    oidcc_display_page => "oidcc-display-page",
    oidcc_display_popup => "oidcc-display-popup",
    oidcc_prompt_login => "oidcc-prompt-login",
    oidcc_prompt_none_not_logged_in => "oidcc-prompt-none-not-logged-in",
    oidcc_prompt_none_logged_in => "oidcc-prompt-none-logged-in",
    oidcc_max_age_1 => "oidcc-max-age-1",
    oidcc_max_age_10000 => "oidcc-max-age-10000",
    oidcc_ensure_request_with_unknown_parameter_succeeds =>
        "oidcc-ensure-request-with-unknown-parameter-succeeds",
    oidcc_id_token_hint => "oidcc-id-token-hint",
    oidcc_login_hint => "oidcc-login-hint",
    oidcc_ui_locales => "oidcc-ui-locales",
    oidcc_claims_locales => "oidcc-claims-locales",
    oidcc_ensure_request_with_acr_values_succeeds =>
        "oidcc-ensure-request-with-acr-values-succeeds",
    oidcc_codereuse => "oidcc-codereuse",
    oidcc_codereuse_30seconds => "oidcc-codereuse-30seconds",
    oidcc_ensure_registered_redirect_uri => "oidcc-ensure-registered-redirect-uri",
    oidcc_refresh_token => "oidcc-refresh-token",
    oidcc_ensure_request_with_valid_pkce_succeeds => "oidcc-ensure-request-with-valid-pkce-succeeds",
    oidcc_discovery_endpoint_verification => "oidcc-discovery-endpoint-verification",
    oidcc_ensure_post_request_succeeds => "oidcc-ensure-post-request-succeeds",
}

#[tokio::test]
async fn oidcc_server_client_secret_post() {
    let out = run("oidcc-server-client-secret-post", "client_secret_post", "").await;
    assert!(out.starts_with("PASS"), "{out}");
}

/// The suite runs the unsigned-id_token module only for a server that offers `none`; Ostiary
/// never does, and says so in discovery.
#[tokio::test]
async fn oidcc_idtoken_unsigned() {
    let out = run("oidcc-idtoken-unsigned", "client_secret_basic", "").await;
    assert!(out.starts_with("SKIP oidcc-idtoken-unsigned"), "{out}");
}
