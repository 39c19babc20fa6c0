//! The OpenID Foundation conformance suite's OP modules, one test per module id, replayed by Node
//! openid-client (`tests/rp/node/conformance.mjs`): what each module sends and checks, against a
//! server on port 0. Plans: `oidcc-basic-certification-test-plan`, the Form Post plan (the Basic
//! modules with `response_mode=form_post`, in `formpost`), `oidcc-discovery-endpoint-verification`
//! of the config plan, and the three logout plans (`oidcc-rp-initiated-logout-certification-test-plan`,
//! the back-channel and the front-channel one, in `logout`). A module that needs time to pass asks
//! for it (`WAIT …`) and the test ages the rows instead of sleeping.
//!
//! Modules covered elsewhere: request objects (`request_objects`: `oidcc-request-uri-unsigned`,
//! `oidcc-request-uri-signed-rs256`, `oidcc-ensure-request-object-with-redirect-uri`,
//! `oidcc-unsigned-request-object-supported-correctly-or-rejected-as-unsupported`; the Basic
//! plan's `oidcc-request-uri-unsigned-supported-correctly-or-rejected-as-unsupported` is
//! `oidcc_request_uri_unsigned` there, as request_uri is supported),
//! `oidcc-claims-essential` and form post (`response_modes`), and of the Dynamic plan
//! `oidcc-userinfo-rs256` (`standard_claims`), `oidcc-registration-sector-uri` and
//! `oidcc-registration-sector-bad` (`pairwise`).

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::helpers::{spawn_app_on, test_db, TestApp, REDIRECT};
use crate::protocol::{wait_for_posts, Receiver};
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

/// Which plan's client a module runs with: the Basic one, or a logout plan's (a registered
/// `post_logout_redirect_uri`, and for the back- and front-channel plans that logout URI, with
/// the session required, at a loopback receiver).
#[derive(Clone, Copy, PartialEq)]
enum Plan {
    Basic,
    RpLogout,
    BackChannel,
    FrontChannel,
    /// Open registration: the module registers its own clients (and serves their jwks_uri).
    Dynamic,
}

/// Where the logout plans' browser is sent back after logging out (never contacted).
const POST_LOGOUT: &str = "http://127.0.0.1:9/post_logout_redirect";

/// The server, the user with every standard claim, and the plan's client: its id, secret, the
/// environment the module reads, and the receiver of its logout calls.
struct Setup {
    app: TestApp,
    client_id: String,
    secret: String,
    env: Vec<(&'static str, String)>,
    receiver: Option<Receiver>,
}

async fn set_up(auth_method: &str, plan: Plan) -> Setup {
    let app = spawn_app_on(test_db(), |a| {
        if plan == Plan::BackChannel {
            // Logout tokens go to the loopback receiver, at once.
            a.outbound_allow = Some("127.0.0.0/8".into());
            a.outbox_interval = Some(1);
        }
        if plan == Plan::Dynamic {
            // A registered jwks_uri is on loopback, fetched again at once for a new kid; rotated
            // keys are published within a second.
            a.key_cache_ttl = Some(1);
            a.keys_refetch_pause = Some(0);
            a.registration = Some("open".into());
            a.registrations_per_address = Some(50);
            a.outbound_allow = Some("127.0.0.0/8".into());
        }
    })
    .await;
    app.user(USER.0, USER.1).await;
    let mut args = vec!["user", "profile", USER.0, "--set", "address_locality=Paris"];
    for p in PROFILE {
        args.extend(["--set", p]);
    }
    let out = app.cli(&args, None).await;
    assert!(out.ok(), "user profile: {}", out.stderr);
    let mut client_args = vec![
        "--auth-method",
        auth_method,
        "--grant-type",
        "authorization_code",
        "--grant-type",
        "refresh_token",
        "--scope",
        "openid profile email address phone offline_access",
    ];
    let receiver = match plan {
        Plan::BackChannel | Plan::FrontChannel => Some(Receiver::start_on(0, String::new()).await),
        _ => None,
    };
    let mut env = Vec::new();
    if plan == Plan::Dynamic {
        env.push(("DYNAMIC", "1".to_owned()));
    }
    if matches!(
        plan,
        Plan::RpLogout | Plan::BackChannel | Plan::FrontChannel
    ) {
        client_args.extend(["--post-logout-redirect-uri", POST_LOGOUT]);
        env.push(("POST_LOGOUT_REDIRECT_URI", POST_LOGOUT.to_owned()));
    }
    let port = receiver.as_ref().map(|r| r.port).unwrap_or_default();
    let backchannel = format!("http://127.0.0.1:{port}/backchannel_logout");
    let frontchannel = format!("http://127.0.0.1:{port}/frontchannel_logout");
    if plan == Plan::BackChannel {
        client_args.extend([
            "--backchannel-logout-uri",
            &backchannel,
            "--backchannel-logout-session-required",
        ]);
    }
    if plan == Plan::FrontChannel {
        client_args.extend([
            "--frontchannel-logout-uri",
            &frontchannel,
            "--frontchannel-logout-session-required",
        ]);
        env.push(("FRONTCHANNEL_LOGOUT_URI", frontchannel.clone()));
    }
    let client = app.client(&client_args).await;
    let secret = client.secret.clone().expect("a confidential client");
    Setup {
        app,
        client_id: client.id,
        secret,
        env,
        receiver,
    }
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

/// Runs conformance module `module` with `plan`'s client authenticating by `auth_method`,
/// responses by `response_mode` (empty: the default); its PASS/SKIP line.
async fn run(module: &str, auth_method: &str, response_mode: &str, plan: Plan) -> String {
    let dir = tokio::task::spawn_blocking(rp_node)
        .await
        .expect("npm ci")
        .clone();
    let setup = set_up(auth_method, plan).await;
    let app = &setup.app;
    let mut child = tokio::process::Command::new("node")
        .arg(dir.join("conformance.mjs"))
        .env("ISSUER", &app.address)
        .env("CLIENT_ID", &setup.client_id)
        .env("CLIENT_SECRET", &setup.secret)
        .env("AUTH_METHOD", auth_method)
        .env("REDIRECT_URI", REDIRECT)
        .env("USERNAME", USER.0)
        .env("PASSWORD", USER.1)
        .env("MODULE", module)
        .env("RESPONSE_MODE", response_mode)
        .envs(setup.env.iter().map(|(k, v)| (k, v)))
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
            // A delivery is answered with what arrived; time passing with "go".
            let answer = match (what, &setup.receiver) {
                ("backchannel-logout", Some(r)) => wait_for_posts(r, 1).await.remove(0),
                // The Dynamic plan's server fetches a jwks_uri again at once for an unknown
                // kid (keys_refetch_pause = 0): nothing to wait for.
                ("jwks-refetch-pause", _) => "go".to_owned(),
                ("rotate-keys", _) => {
                    let kids = || async {
                        let jwks: serde_json::Value =
                            app.get("/jwks.json").await.json().await.expect("jwks");
                        jwks["keys"].as_array().map(Vec::len).unwrap_or_default()
                    };
                    let before = kids().await;
                    let out = app
                        .cli(&["keys", "rotate", "--activate-in", "0"], None)
                        .await;
                    assert!(out.ok(), "keys rotate: {}", out.stderr);
                    // The key ring is re-read after key_cache_ttl (1 s here): until the JWKS
                    // publishes the new key.
                    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
                    while kids().await <= before {
                        assert!(
                            std::time::Instant::now() < deadline,
                            "the new key is not published"
                        );
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    }
                    "go".to_owned()
                }
                _ => {
                    age(app, what);
                    "go".to_owned()
                }
            };
            stdin
                .write_all(format!("{answer}\n").as_bytes())
                .await
                .expect("write node");
        } else {
            outcome.push(line);
        }
    }
    let out = child.wait_with_output().await.expect("node");
    if let Some(r) = &setup.receiver {
        r.stop();
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let outcome = outcome.join("\n");
    assert!(
        out.status.success() && !outcome.contains("FAIL"),
        "{module}:\n{outcome}\n{stderr}"
    );
    outcome
}

async fn pass(module: &str, response_mode: &str) {
    pass_in(Plan::Basic, module, response_mode).await;
}

async fn pass_in(plan: Plan, module: &str, response_mode: &str) {
    let out = run(module, "client_secret_basic", response_mode, plan).await;
    assert!(out.starts_with(&format!("PASS {module}")), "{out}");
    println!("{out}");
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
    oidcc_alternate_happy_flow => "oidcc-alternate-happy-flow",
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
    let out = run(
        "oidcc-server-client-secret-post",
        "client_secret_post",
        "",
        Plan::Basic,
    )
    .await;
    assert!(out.starts_with("PASS"), "{out}");
}

/// The suite runs the unsigned-id_token module only for a server that offers `none`; Ostiary
/// never does, and says so in discovery.
#[tokio::test]
async fn oidcc_idtoken_unsigned() {
    let out = run(
        "oidcc-idtoken-unsigned",
        "client_secret_basic",
        "",
        Plan::Basic,
    )
    .await;
    assert!(out.starts_with("SKIP oidcc-idtoken-unsigned"), "{out}");
}

/// The logout plans, one test per module id (plan in the path): RP-Initiated Logout 1.0 (a
/// trusted request is sent back with its `state` only and signs out; an untrusted one — a bad or
/// altered `id_token_hint`, none, an unregistered or altered `post_logout_redirect_uri` — is an
/// error page or a confirmation, never sent back; without a URI the user is signed out here),
/// Back-Channel Logout 1.0 (the logout token as the suite checks it) and Front-Channel Logout 1.0
/// (the frame's `iss` and `sid`). After each sign-out, `prompt=none` must need a login.
macro_rules! logout_modules {
    ($($plan:ident { $($name:ident => $id:literal),* $(,)? })*) => {
        mod logout {
            use super::{pass_in, Plan};
            $($(
                #[tokio::test]
                async fn $name() {
                    pass_in(Plan::$plan, $id, "").await;
                }
            )*)*
        }
    };
}

logout_modules! {
    RpLogout {
        oidcc_rp_initiated_logout_discovery_endpoint_verification =>
            "oidcc-rp-initiated-logout-discovery-endpoint-verification",
        oidcc_rp_initiated_logout => "oidcc-rp-initiated-logout",
        oidcc_rp_initiated_logout_bad_post_logout_redirect_uri =>
            "oidcc-rp-initiated-logout-bad-post-logout-redirect-uri",
        oidcc_rp_initiated_logout_modified_id_token_hint =>
            "oidcc-rp-initiated-logout-modified-id-token-hint",
        oidcc_rp_initiated_logout_no_id_token_hint => "oidcc-rp-initiated-logout-no-id-token-hint",
        oidcc_rp_initiated_logout_no_params => "oidcc-rp-initiated-logout-no-params",
        oidcc_rp_initiated_logout_no_post_logout_redirect_uri =>
            "oidcc-rp-initiated-logout-no-post-logout-redirect-uri",
        oidcc_rp_initiated_logout_no_state => "oidcc-rp-initiated-logout-no-state",
        oidcc_rp_initiated_logout_only_state => "oidcc-rp-initiated-logout-only-state",
        oidcc_rp_initiated_logout_query_added_to_post_logout_redirect_uri =>
            "oidcc-rp-initiated-logout-query-added-to-post-logout-redirect-uri",
        oidcc_rp_initiated_logout_bad_id_token_hint => "oidcc-rp-initiated-logout-bad-id-token-hint",
    }
    BackChannel {
        oidcc_backchannel_logout_discovery_endpoint_verification =>
            "oidcc-backchannel-logout-discovery-endpoint-verification",
        oidcc_backchannel_rp_initiated_logout => "oidcc-backchannel-rp-initiated-logout",
    }
    FrontChannel {
        oidcc_frontchannel_logout_discovery_endpoint_verification =>
            "oidcc-frontchannel-logout-discovery-endpoint-verification",
        oidcc_frontchannel_rp_initiated_logout => "oidcc-frontchannel-rp-initiated-logout",
    }
}

/// The Dynamic plan (`oidcc-dynamic-certification-test-plan`, private_key_jwt), in `dynamic`:
/// openid-client registers each client itself. `oidcc-registration-logo-uri` is a SKIP: the
/// logo is registered but an unverified client's logo is never shown (a SHOULD of Dynamic
/// Registration §2, declined: no image from a host nobody vouched for on the login page).
/// `oidcc-refresh-token-rp-key-rotation` waits out the 5 s pause between two reads of a client's
/// jwks_uri; `oidcc-refresh-token`, `oidcc-idtoken-unsigned` and
/// `oidcc-discovery-endpoint-verification` are the Basic plan's above.
macro_rules! dynamic_modules {
    ($($name:ident => $id:literal),* $(,)?) => {
        mod dynamic {
            use super::{pass_in, run, Plan};
            $(
                #[tokio::test]
                async fn $name() {
                    pass_in(Plan::Dynamic, $id, "").await;
                }
            )*

            #[tokio::test]
            async fn oidcc_registration_logo_uri() {
                let id = "oidcc-registration-logo-uri";
                let out = run(id, "client_secret_basic", "", Plan::Dynamic).await;
                assert!(out.starts_with(&format!("SKIP {id}")), "{out}");
            }
        }
    };
}

dynamic_modules! {
    oidcc_server => "oidcc-server",
    oidcc_idtoken_rs256 => "oidcc-idtoken-rs256",
    oidcc_ensure_redirect_uri_in_authorization_request =>
        "oidcc-ensure-redirect-uri-in-authorization-request",
    oidcc_redirect_uri_query_ok => "oidcc-redirect-uri-query-OK",
    oidcc_redirect_uri_query_mismatch => "oidcc-redirect-uri-query-mismatch",
    oidcc_redirect_uri_query_added => "oidcc-redirect-uri-query-added",
    oidcc_redirect_uri_regfrag => "oidcc-redirect-uri-regfrag",
    oidcc_registration_policy_uri => "oidcc-registration-policy-uri",
    oidcc_registration_tos_uri => "oidcc-registration-tos-uri",
    oidcc_registration_jwks_uri => "oidcc-registration-jwks-uri",
    oidcc_server_rotate_keys => "oidcc-server-rotate-keys",
    oidcc_refresh_token_rp_key_rotation => "oidcc-refresh-token-rp-key-rotation",
    oidcc_ensure_client_assertion_with_iss_aud_succeeds =>
        "oidcc-ensure-client-assertion-with-iss-aud-succeeds",
}
