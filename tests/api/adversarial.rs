//! A table-driven adversarial suite: the attacks of RFC 9700 (OAuth 2.0 Security BCP) and the
//! refusals RFC 6749, 6750, 7009, 7636, 7662, 9068, 9207 and OIDC RP-Initiated Logout demand,
//! against a real server over a real database.
//!
//! Each table lists cases (name, the section it covers, the request, the exact expected answer);
//! a generic runner per endpoint sends them and checks the answer and that nothing was issued
//! (rows of `authorization_codes`, `consents`, `refresh_families`, `refresh_tokens`). All
//! failures of one table are reported together, each naming its case.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use serde_json::{json, Value};

use crate::helpers::{
    consent_action, location, pkce_pair, query_param, run_cli, spawn_app, TestApp, TestClient,
    REDIRECT,
};

const USER: (&str, &str) = ("adversary-victim", "victim's long password");
const PLR: &str = "http://127.0.0.1:9/bye";
const PLR2: &str = "http://127.0.0.1:9/bye2";
/// A `state` with non-ASCII UTF-8 and characters that need escaping.
const UTF8_STATE: &str = "état ☃ 🚀 &=+?#%/ \u{7f}end";

/// Collects a case's failure instead of panicking, so one run reports every failing case.
macro_rules! ensure {
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            return Err(format!($($arg)+));
        }
    };
}

fn report(table: &str, failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "{} of the {table} cases failed:\n  - {}",
        failures.len(),
        failures.join("\n  - ")
    );
}

// ---------------------------------------------------------------------------------------------
// Fixture: one server, one victim user logged in (in `app.client`) who consented to `conf`,
// `conf2` and `public` for "openid profile".
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    /// Confidential, client_secret_basic, REDIRECT, post-logout PLR.
    Conf,
    /// A second confidential client, post-logout PLR2.
    Conf2,
    /// Confidential, client_credentials only, registered as client_secret_post.
    Post,
    /// Public (PKCE, no secret), REDIRECT (loopback: any port).
    Public,
    /// Confidential, client_credentials only, client_secret_basic, with REDIRECT registered.
    Cc,
    /// Confidential, client_credentials only, no redirect URI at all.
    CcBare,
}

struct Fx {
    app: TestApp,
    conf: TestClient,
    conf2: TestClient,
    post: TestClient,
    public: TestClient,
    cc: TestClient,
    cc_bare: TestClient,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Counts {
    codes: i64,
    consents: i64,
    families: i64,
    refresh: i64,
    denylist: i64,
}

fn count_sql(app: &TestApp, sql: &str) -> i64 {
    use diesel::prelude::*;
    use diesel::sql_types::BigInt;
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let mut conn = app.db.conn();
    diesel::sql_query(sql)
        .get_result::<N>(&mut conn)
        .expect("count")
        .n
}

fn exec_sql(app: &TestApp, sql: &str) {
    use diesel::prelude::*;
    let mut conn = app.db.conn();
    diesel::sql_query(sql).execute(&mut conn).expect("sql");
}

impl Fx {
    fn c(&self, who: Who) -> &TestClient {
        match who {
            Who::Conf => &self.conf,
            Who::Conf2 => &self.conf2,
            Who::Post => &self.post,
            Who::Public => &self.public,
            Who::Cc => &self.cc,
            Who::CcBare => &self.cc_bare,
        }
    }

    fn counts(&self) -> Counts {
        let n = |t: &str| count_sql(&self.app, &format!("SELECT count(*) AS n FROM {t}"));
        Counts {
            codes: n("authorization_codes"),
            consents: n("consents"),
            families: n("refresh_families"),
            refresh: n("refresh_tokens"),
            denylist: n("access_token_denylist"),
        }
    }

    fn logged_in_sessions(&self) -> i64 {
        count_sql(
            &self.app,
            "SELECT count(*) AS n FROM sessions WHERE user_id IS NOT NULL",
        )
    }

    fn auth_params(&self, who: Who, scope: &str, challenge: Option<&str>) -> Vec<(String, String)> {
        let c = self.c(who);
        let mut p = vec![
            ("response_type".to_owned(), "code".to_owned()),
            ("client_id".to_owned(), c.id.clone()),
            ("redirect_uri".to_owned(), c.redirect_uri.clone()),
            ("scope".to_owned(), scope.to_owned()),
            ("state".to_owned(), "st".to_owned()),
            ("nonce".to_owned(), "n-1".to_owned()),
        ];
        if let Some(ch) = challenge {
            p.push(("code_challenge".to_owned(), ch.to_owned()));
            p.push(("code_challenge_method".to_owned(), "S256".to_owned()));
        }
        p
    }

    /// A fresh code for `who` (already consented), with a PKCE verifier when `pkce`.
    async fn code(&self, who: Who, pkce: bool) -> (String, Option<String>) {
        let (verifier, challenge) = pkce_pair();
        let params = self.auth_params(who, "openid profile", pkce.then_some(challenge.as_str()));
        let res = self.app.authorize(&pairs(&params)).await;
        let loc = location(&res);
        assert_eq!(res.status(), 302, "fixture code for {who:?}: {loc}");
        let url = url::Url::parse(&loc).expect("redirect");
        (
            query_param(&url, "code").expect("fixture code"),
            pkce.then_some(verifier),
        )
    }

    /// Redeems a fresh code for `who`: (code, verifier, token response).
    async fn tokens(&self, who: Who) -> (String, Option<String>, Value) {
        let pkce = who == Who::Public;
        let (code, verifier) = self.code(who, pkce).await;
        let c = self.c(who);
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", c.redirect_uri.as_str()),
        ];
        if let Some(v) = &verifier {
            form.push(("code_verifier", v.as_str()));
        }
        let res = self.app.token(c, &form).await;
        assert_eq!(res.status(), 200, "fixture tokens for {who:?}");
        let body: Value = res.json().await.expect("json");
        (code, verifier, body)
    }

    async fn refresh(&self, who: Who, token: &str) -> reqwest::Response {
        self.app
            .token(
                self.c(who),
                &[("grant_type", "refresh_token"), ("refresh_token", token)],
            )
            .await
    }

    async fn cc_token(&self, scope: &str) -> String {
        let res = self
            .app
            .token(
                &self.cc,
                &[("grant_type", "client_credentials"), ("scope", scope)],
            )
            .await;
        assert_eq!(res.status(), 200, "fixture client_credentials token");
        let body: Value = res.json().await.expect("json");
        body["access_token"].as_str().expect("at").to_owned()
    }
}

fn pairs(p: &[(String, String)]) -> Vec<(&str, &str)> {
    p.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

async fn fixture() -> Fx {
    let app = spawn_app().await;
    app.user(USER.0, USER.1).await;
    let conf = app
        .client(&[
            "--post-logout-redirect-uri",
            PLR,
            "--scope",
            "openid profile email",
        ])
        .await;
    let conf2 = app.client(&["--post-logout-redirect-uri", PLR2]).await;
    let post = app
        .client(&[
            "--grant-type",
            "client_credentials",
            "--auth-method",
            "client_secret_post",
        ])
        .await;
    let public = app.client(&["--public"]).await;
    let cc = app.client(&["--grant-type", "client_credentials"]).await;
    let out = run_cli(
        &app.db,
        &[
            "client",
            "add",
            "--name",
            "Bare machine client",
            "--json",
            "--grant-type",
            "client_credentials",
        ],
        None,
    )
    .await;
    assert!(out.ok(), "client add (no redirect): {}", out.stderr);
    let v: Value = serde_json::from_str(out.stdout.trim()).expect("json");
    let cc_bare = TestClient {
        id: v["client_id"].as_str().expect("id").to_owned(),
        secret: v["client_secret"].as_str().map(str::to_owned),
        redirect_uri: String::new(),
    };
    let fx = Fx {
        app,
        conf,
        conf2,
        post,
        public,
        cc,
        cc_bare,
    };
    // Log the victim in and consent once per client, so a wrongly accepted request below would
    // come straight back with a code (and the count of codes would show it).
    for who in [Who::Conf, Who::Conf2, Who::Public] {
        let (_, challenge) = pkce_pair();
        let params = fx.auth_params(who, "openid profile", Some(&challenge));
        fx.app.code_flow(fx.c(who), &pairs(&params), USER).await;
    }
    fx
}

// ---------------------------------------------------------------------------------------------
// Table 1: the authorization endpoint.
// ---------------------------------------------------------------------------------------------

/// A change to the base request (response_type=code, client_id, redirect_uri, scope="openid
/// profile", state=st, S256 challenge). Values may use {cid}, {cid2}, {redirect}, {challenge},
/// {verifier}, {big}, {utf8}.
#[derive(Debug)]
enum M {
    /// Replace (or add) a parameter.
    Set(&'static str, &'static str),
    /// Remove a parameter.
    Del(&'static str),
    /// Append a parameter (a repeat if it is already there).
    Add(&'static str, &'static str),
    /// Append already-encoded text to the query string, e.g. `state=%FF`.
    Raw(&'static str),
}

#[derive(Debug)]
enum Az {
    /// 400 error page, no Location; `code` shown on the page; `mention` somewhere in it.
    Page {
        code: Option<&'static str>,
        mention: Option<&'static str>,
    },
    /// 302 to the registered redirect URI with error, error_description, state echoed, iss.
    Redirect(&'static str),
    /// 302 to the registered redirect URI with a code, state echoed, iss (positive control).
    Code,
    /// Any 4xx without a Location header (and never a 5xx).
    Rejected,
}

struct AzCase {
    name: &'static str,
    rfc: &'static str,
    who: Who,
    mods: &'static [M],
    expect: Az,
}

const fn page(code: &'static str, mention: &'static str) -> Az {
    Az::Page {
        code: Some(code),
        mention: Some(mention),
    }
}

const BAD_REDIRECT: Az = page("invalid_request", "redirect_uri");

fn az(name: &'static str, rfc: &'static str, who: Who, mods: &'static [M], expect: Az) -> AzCase {
    AzCase {
        name,
        rfc,
        who,
        mods,
        expect,
    }
}

fn authorize_table() -> Vec<AzCase> {
    use M::*;
    let c = az;
    vec![
        // Positive controls: the runner's expectations are reachable.
        c(
            "baseline confidential request gets a code",
            "RFC 9207 §2",
            Who::Conf,
            &[],
            Az::Code,
        ),
        c(
            "baseline public request gets a code",
            "RFC 9207 §2",
            Who::Public,
            &[],
            Az::Code,
        ),
        c(
            "public native client may vary the loopback port",
            "RFC 8252 §7.3 / RFC 9700 §2.1",
            Who::Public,
            &[Set("redirect_uri", "http://127.0.0.1:53124/callback")],
            Az::Code,
        ),
        c(
            "non-ASCII state is echoed byte-exact with the code",
            "RFC 6749 §4.1.2",
            Who::Conf,
            &[Set("state", "{utf8}")],
            Az::Code,
        ),
        // Redirect-URI manipulation (RFC 9700 §4.1, §2.1: exact string matching).
        c(
            "redirect_uri on another host",
            "RFC 9700 §4.1.1",
            Who::Conf,
            &[Set("redirect_uri", "https://evil.example/callback")],
            BAD_REDIRECT,
        ),
        c(
            "redirect_uri with another path",
            "RFC 9700 §4.1.1",
            Who::Conf,
            &[Set("redirect_uri", "http://127.0.0.1:9/other")],
            BAD_REDIRECT,
        ),
        c(
            "redirect_uri with a longer path",
            "RFC 9700 §4.1.1",
            Who::Conf,
            &[Set("redirect_uri", "http://127.0.0.1:9/callback/evil")],
            BAD_REDIRECT,
        ),
        c(
            "redirect_uri path traversal out",
            "RFC 9700 §4.1.1",
            Who::Conf,
            &[Set("redirect_uri", "http://127.0.0.1:9/callback/../evil")],
            BAD_REDIRECT,
        ),
        c(
            "redirect_uri path traversal that normalises to the registered one",
            "RFC 9700 §2.1",
            Who::Conf,
            &[Set("redirect_uri", "http://127.0.0.1:9/evil/../callback")],
            BAD_REDIRECT,
        ),
        c(
            "redirect_uri with a percent-encoded path",
            "RFC 9700 §2.1",
            Who::Conf,
            &[Set("redirect_uri", "http://127.0.0.1:9/%63allback")],
            BAD_REDIRECT,
        ),
        c(
            "redirect_uri with an added query",
            "RFC 9700 §4.1.3",
            Who::Conf,
            &[Set(
                "redirect_uri",
                "http://127.0.0.1:9/callback?next=https://evil.example",
            )],
            BAD_REDIRECT,
        ),
        c(
            "redirect_uri with an empty query",
            "RFC 9700 §2.1",
            Who::Conf,
            &[Set("redirect_uri", "http://127.0.0.1:9/callback?")],
            BAD_REDIRECT,
        ),
        c(
            "redirect_uri with a fragment",
            "RFC 6749 §3.1.2",
            Who::Conf,
            &[Set("redirect_uri", "http://127.0.0.1:9/callback#frag")],
            BAD_REDIRECT,
        ),
        c(
            "redirect_uri with userinfo pointing elsewhere",
            "RFC 9700 §4.1.1",
            Who::Conf,
            &[Set(
                "redirect_uri",
                "http://127.0.0.1:9@evil.example/callback",
            )],
            BAD_REDIRECT,
        ),
        c(
            "redirect_uri with userinfo added",
            "RFC 9700 §4.1.1",
            Who::Conf,
            &[Set("redirect_uri", "http://app@127.0.0.1:9/callback")],
            BAD_REDIRECT,
        ),
        c(
            "redirect_uri with an upper-case scheme",
            "RFC 9700 §2.1",
            Who::Conf,
            &[Set("redirect_uri", "HTTP://127.0.0.1:9/callback")],
            BAD_REDIRECT,
        ),
        c(
            "redirect_uri with an upper-case path",
            "RFC 9700 §2.1",
            Who::Conf,
            &[Set("redirect_uri", "http://127.0.0.1:9/Callback")],
            BAD_REDIRECT,
        ),
        c(
            "redirect_uri with a trailing slash",
            "RFC 9700 §2.1",
            Who::Conf,
            &[Set("redirect_uri", "http://127.0.0.1:9/callback/")],
            BAD_REDIRECT,
        ),
        c(
            "redirect_uri on another port (confidential client)",
            "RFC 9700 §2.1",
            Who::Conf,
            &[Set("redirect_uri", "http://127.0.0.1:10/callback")],
            BAD_REDIRECT,
        ),
        c(
            "redirect_uri with the default port spelled out differently",
            "RFC 9700 §2.1",
            Who::Conf,
            &[Set("redirect_uri", "http://127.0.0.1:09/callback")],
            BAD_REDIRECT,
        ),
        c(
            "redirect_uri javascript:",
            "RFC 9700 §4.1",
            Who::Conf,
            &[Set("redirect_uri", "javascript:alert(1)//")],
            BAD_REDIRECT,
        ),
        c(
            "redirect_uri with CRLF header injection",
            "RFC 9700 §4.1",
            Who::Conf,
            &[Set(
                "redirect_uri",
                "http://127.0.0.1:9/callback\r\nSet-Cookie: x=1",
            )],
            BAD_REDIRECT,
        ),
        c(
            "empty redirect_uri",
            "RFC 6749 §3.1.2",
            Who::Conf,
            &[Set("redirect_uri", "")],
            BAD_REDIRECT,
        ),
        c(
            "redirect_uri registered for another client",
            "RFC 9700 §4.1",
            Who::Conf,
            &[Set("redirect_uri", "http://127.0.0.1:9/bye")],
            BAD_REDIRECT,
        ),
        c(
            "public: loopback port variation with a fragment",
            "RFC 8252 §7.3",
            Who::Public,
            &[Set("redirect_uri", "http://127.0.0.1:53124/callback#x")],
            BAD_REDIRECT,
        ),
        c(
            "public: loopback port variation with userinfo",
            "RFC 8252 §7.3",
            Who::Public,
            &[Set("redirect_uri", "http://evil@127.0.0.1:53124/callback")],
            BAD_REDIRECT,
        ),
        c(
            "public: loopback port variation with a query",
            "RFC 8252 §7.3",
            Who::Public,
            &[Set("redirect_uri", "http://127.0.0.1:53124/callback?x=1")],
            BAD_REDIRECT,
        ),
        c(
            "public: localhost instead of the registered IP literal",
            "RFC 8252 §7.3",
            Who::Public,
            &[Set("redirect_uri", "http://localhost:9/callback")],
            BAD_REDIRECT,
        ),
        c(
            "public: another loopback address",
            "RFC 8252 §7.3",
            Who::Public,
            &[Set("redirect_uri", "http://127.0.0.2:9/callback")],
            BAD_REDIRECT,
        ),
        c(
            "public: https instead of http",
            "RFC 8252 §7.3",
            Who::Public,
            &[Set("redirect_uri", "https://127.0.0.1:9/callback")],
            BAD_REDIRECT,
        ),
        // Client identification.
        c(
            "missing client_id",
            "RFC 6749 §4.1.2.1",
            Who::Conf,
            &[Del("client_id")],
            Az::Page {
                code: Some("invalid_request"),
                mention: None,
            },
        ),
        c(
            "unknown client_id",
            "RFC 6749 §4.1.2.1",
            Who::Conf,
            &[Set("client_id", "no-such-client")],
            Az::Page {
                code: Some("invalid_request"),
                mention: None,
            },
        ),
        c(
            "client_id repeated",
            "RFC 6749 §3.1",
            Who::Conf,
            &[Add("client_id", "{cid2}")],
            page("invalid_request", "repeated"),
        ),
        c(
            "client_id repeated with the same value",
            "RFC 6749 §3.1",
            Who::Conf,
            &[Add("client_id", "{cid}")],
            page("invalid_request", "repeated"),
        ),
        c(
            "redirect_uri repeated",
            "RFC 6749 §3.1",
            Who::Conf,
            &[Add("redirect_uri", "{redirect}")],
            page("invalid_request", "repeated"),
        ),
        c(
            "state repeated",
            "RFC 6749 §3.1",
            Who::Conf,
            &[Add("state", "other")],
            page("invalid_request", "repeated"),
        ),
        c(
            "response_type repeated",
            "RFC 6749 §3.1",
            Who::Conf,
            &[Add("response_type", "token")],
            page("invalid_request", "repeated"),
        ),
        c(
            "code_challenge repeated",
            "RFC 6749 §3.1",
            Who::Conf,
            &[Add("code_challenge", "{challenge}")],
            page("invalid_request", "repeated"),
        ),
        // Implicit and hybrid flows are refused (RFC 9700 §2.1.2).
        c(
            "response_type=token (implicit)",
            "RFC 9700 §2.1.2",
            Who::Conf,
            &[Set("response_type", "token")],
            Az::Redirect("unsupported_response_type"),
        ),
        c(
            "response_type=id_token (implicit)",
            "RFC 9700 §2.1.2",
            Who::Conf,
            &[Set("response_type", "id_token")],
            Az::Redirect("unsupported_response_type"),
        ),
        c(
            "response_type=id_token token",
            "RFC 9700 §2.1.2",
            Who::Conf,
            &[Set("response_type", "id_token token")],
            Az::Redirect("unsupported_response_type"),
        ),
        c(
            "response_type=code token (hybrid)",
            "RFC 9700 §2.1.2",
            Who::Conf,
            &[Set("response_type", "code token")],
            Az::Redirect("unsupported_response_type"),
        ),
        c(
            "response_type=code id_token (hybrid)",
            "RFC 9700 §2.1.2",
            Who::Conf,
            &[Set("response_type", "code id_token")],
            Az::Redirect("unsupported_response_type"),
        ),
        c(
            "response_type=CODE",
            "RFC 6749 §3.1.1",
            Who::Conf,
            &[Set("response_type", "CODE")],
            Az::Redirect("unsupported_response_type"),
        ),
        c(
            "response_type missing",
            "RFC 6749 §4.1.2.1",
            Who::Conf,
            &[Del("response_type")],
            Az::Redirect("invalid_request"),
        ),
        // PKCE (RFC 7636, RFC 9700 §2.1.1).
        c(
            "public client without PKCE",
            "RFC 9700 §2.1.1",
            Who::Public,
            &[Del("code_challenge"), Del("code_challenge_method")],
            Az::Redirect("invalid_request"),
        ),
        c(
            "public client with plain PKCE",
            "RFC 9700 §2.1.1",
            Who::Public,
            &[
                Set("code_challenge", "{verifier}"),
                Set("code_challenge_method", "plain"),
            ],
            Az::Redirect("invalid_request"),
        ),
        c(
            "confidential client with plain PKCE",
            "RFC 9700 §2.1.1",
            Who::Conf,
            &[
                Set("code_challenge", "{verifier}"),
                Set("code_challenge_method", "plain"),
            ],
            Az::Redirect("invalid_request"),
        ),
        c(
            "challenge without method means plain",
            "RFC 7636 §4.3",
            Who::Public,
            &[Del("code_challenge_method")],
            Az::Redirect("invalid_request"),
        ),
        c(
            "challenge too short",
            "RFC 7636 §4.2",
            Who::Public,
            &[Set(
                "code_challenge",
                "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF",
            )],
            Az::Redirect("invalid_request"),
        ),
        c(
            "challenge with characters outside base64url",
            "RFC 7636 §4.2",
            Who::Public,
            &[Set(
                "code_challenge",
                "abcdefghijklmnopqrstuvwxyz0123456789ABC+/=",
            )],
            Az::Redirect("invalid_request"),
        ),
        c(
            "unknown challenge method",
            "RFC 7636 §4.3",
            Who::Public,
            &[Set("code_challenge_method", "S512")],
            Az::Redirect("invalid_request"),
        ),
        c(
            "method without challenge",
            "RFC 7636 §4.3",
            Who::Public,
            &[Del("code_challenge")],
            Az::Redirect("invalid_request"),
        ),
        // Scope.
        c(
            "scope partly beyond the client's: narrowed to what it may have, not refused",
            "RFC 6749 §3.3",
            Who::Conf,
            &[Set("scope", "openid admin")],
            Az::Code,
        ),
        c(
            "scope wholly beyond the client's",
            "RFC 6749 §4.1.2.1",
            Who::Conf,
            &[Set("scope", "admin payments:write")],
            Az::Redirect("invalid_scope"),
        ),
        c(
            "scope with a forbidden character",
            "RFC 6749 §3.3",
            Who::Conf,
            &[Set("scope", "openid \"profile\"")],
            Az::Redirect("invalid_scope"),
        ),
        // Grants the client was not registered for (lead's change (a)).
        c(
            "client_credentials-only client at /authorize (redirect registered)",
            "RFC 6749 §4.1.2.1",
            Who::Cc,
            &[],
            Az::Redirect("unauthorized_client"),
        ),
        c(
            "client_credentials-only client at /authorize (no redirect registered)",
            "RFC 6749 §4.1.2.1",
            Who::CcBare,
            &[],
            Az::Page {
                code: Some("unauthorized_client"),
                mention: None,
            },
        ),
        c(
            "client_credentials-only client naming an unregistered redirect_uri",
            "RFC 9700 §4.1",
            Who::CcBare,
            &[Set("redirect_uri", "{redirect}")],
            Az::Page {
                code: None,
                mention: None,
            },
        ),
        // state handling.
        c(
            "non-ASCII state echoed byte-exact on an error",
            "RFC 6749 §4.1.2.1",
            Who::Conf,
            &[Set("response_type", "token"), Set("state", "{utf8}")],
            Az::Redirect("unsupported_response_type"),
        ),
        c(
            "state with invalid UTF-8 (lead's change (b))",
            "RFC 6749 §4.1.2.1",
            Who::Conf,
            &[Del("state"), Raw("state=%FF%FE")],
            Az::Page {
                code: Some("invalid_request"),
                mention: None,
            },
        ),
        c(
            "state with invalid UTF-8 on an erroneous request",
            "RFC 6749 §4.1.2.1",
            Who::Conf,
            &[
                Set("response_type", "token"),
                Del("state"),
                Raw("state=ok%C3%28"),
            ],
            Az::Page {
                code: Some("invalid_request"),
                mention: None,
            },
        ),
        c(
            "4 KB state on a valid request is fine (control)",
            "RFC 6749 §4.1.2",
            Who::Conf,
            &[Set("state", "{4k}")],
            Az::Code,
        ),
        c(
            "50 KB state on a valid request (logged in, consented)",
            "RFC 9700 §4 (resource limits)",
            Who::Conf,
            &[Set("state", "{big}")],
            Az::Rejected,
        ),
        c(
            "50 KB state on an erroneous request",
            "RFC 9700 §4 (resource limits)",
            Who::Conf,
            &[Set("response_type", "token"), Set("state", "{big}")],
            Az::Rejected,
        ),
        c(
            "100 KB state on a valid request (raw HTTP, no session)",
            "RFC 9700 §4 (resource limits)",
            Who::Conf,
            &[Set("state", "{huge}")],
            Az::Rejected,
        ),
        c(
            "100 KB state on an erroneous request (raw HTTP)",
            "RFC 9700 §4 (resource limits)",
            Who::Conf,
            &[Set("response_type", "token"), Set("state", "{huge}")],
            Az::Rejected,
        ),
        c(
            "100 KB scope (raw HTTP)",
            "RFC 9700 §4 (resource limits)",
            Who::Conf,
            &[Set("scope", "{huge}")],
            Az::Rejected,
        ),
        c(
            "baseline still gets a code after the oversize cases (control)",
            "RFC 9207 §2",
            Who::Conf,
            &[],
            Az::Code,
        ),
        c(
            "prompt=none combined with login",
            "OIDC Core §3.1.2.1",
            Who::Conf,
            &[Set("prompt", "none login")],
            Az::Redirect("invalid_request"),
        ),
        c(
            "negative max_age",
            "OIDC Core §3.1.2.1",
            Who::Conf,
            &[Set("max_age", "-1")],
            Az::Redirect("invalid_request"),
        ),
    ]
}

/// 50 KB: still fits in a request reqwest can send with the victim's cookies.
fn big_state() -> String {
    "a".repeat(50 * 1024)
}

fn subst(fx: &Fx, who: Who, s: &str, verifier: &str, challenge: &str) -> String {
    if s == "{big}" {
        return big_state();
    }
    if s == "{4k}" {
        return "b".repeat(4096);
    }
    if s == "{huge}" {
        return "a".repeat(100 * 1024);
    }
    let c = fx.c(who);
    s.replace("{cid2}", &fx.conf2.id)
        .replace("{cid}", &c.id)
        .replace(
            "{redirect}",
            if c.redirect_uri.is_empty() {
                REDIRECT
            } else {
                &c.redirect_uri
            },
        )
        .replace("{challenge}", challenge)
        .replace("{verifier}", verifier)
        .replace("{utf8}", UTF8_STATE)
}

fn security_headers(headers: &reqwest::header::HeaderMap) -> Result<(), String> {
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    ensure!(
        h("x-frame-options").eq_ignore_ascii_case("DENY"),
        "X-Frame-Options is {:?}",
        h("x-frame-options")
    );
    ensure!(
        h("content-security-policy").contains("frame-ancestors 'none'"),
        "CSP is {:?}",
        h("content-security-policy")
    );
    // Images from us (and, on a page showing a verified client's logo, that logo's origin):
    // never any host at all (a tracking pixel in a client's logo_uri).
    let img = img_src(&h("content-security-policy"));
    ensure!(
        img.starts_with("'self' data:")
            && !img
                .split_whitespace()
                .any(|s| matches!(s, "https:" | "http:" | "*")),
        "CSP img-src is {img:?}"
    );
    ensure!(
        h("referrer-policy") == "no-referrer",
        "Referrer-Policy is {:?}",
        h("referrer-policy")
    );
    ensure!(
        h("x-content-type-options") == "nosniff",
        "X-Content-Type-Options is {:?}",
        h("x-content-type-options")
    );
    Ok(())
}

/// Checks a redirect to `registered` and returns its query.
fn redirect_to(
    fx: &Fx,
    registered: &str,
    status: u16,
    loc: &str,
) -> Result<Vec<(String, String)>, String> {
    ensure!(
        status == 302 || status == 303,
        "expected a 302/303 redirect, got {status} (Location {loc:?})"
    );
    ensure!(
        loc.starts_with(&format!("{registered}?")),
        "redirect goes to {loc:.200}, not the registered {registered}"
    );
    let url = url::Url::parse(loc).map_err(|e| format!("Location unparsable: {e}"))?;
    let q: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    ensure!(
        get("iss").as_deref() == Some(fx.app.address.as_str()),
        "iss is {:?}, want {} (RFC 9207)",
        get("iss"),
        fx.app.address
    );
    ensure!(
        q.iter().filter(|(k, _)| k == "iss").count() == 1,
        "iss appears more than once"
    );
    ensure!(
        !loc.contains('\u{FFFD}') && !loc.contains("%EF%BF%BD"),
        "Location carries U+FFFD"
    );
    Ok(q)
}

/// An answer from /authorize, read the same way whether it came through reqwest or raw TCP.
struct Resp {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

/// GETs /authorize with the victim's browser; a query too long for an `http::Uri` (64 KB) goes
/// over a raw HTTP/1.1 connection instead, without the session cookie.
async fn fetch_authorize(fx: &Fx, query: &str) -> Result<Resp, String> {
    if query.len() < 60_000 {
        let res = fx
            .app
            .client
            .get(format!("{}/authorize?{query}", fx.app.address))
            .send()
            .await
            .map_err(|e| format!("request failed: {e:.200}"))?;
        return Ok(Resp {
            status: res.status().as_u16(),
            headers: res.headers().clone(),
            body: res.text().await.unwrap_or_default(),
        });
    }
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", fx.app.port))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let request = format!(
        "GET /authorize?{query} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n",
        fx.app.port
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("write: {e}"))?;
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw).await;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text.as_str(), ""));
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| {
            format!(
                "no HTTP response (connection closed after {} bytes)",
                raw.len()
            )
        })?;
    let mut headers = reqwest::header::HeaderMap::new();
    for line in lines {
        if let Some((k, v)) = line.split_once(':') {
            if let (Ok(k), Ok(v)) = (
                reqwest::header::HeaderName::from_bytes(k.trim().as_bytes()),
                reqwest::header::HeaderValue::from_str(v.trim()),
            ) {
                headers.append(k, v);
            }
        }
    }
    Ok(Resp {
        status,
        headers,
        body: body.to_owned(),
    })
}

async fn run_authorize_case(fx: &Fx, case: &AzCase) -> Result<(), String> {
    let (verifier, challenge) = pkce_pair();
    let c = fx.c(case.who);
    let mut params: Vec<(String, String)> = vec![
        ("response_type".into(), "code".into()),
        ("client_id".into(), c.id.clone()),
    ];
    if !c.redirect_uri.is_empty() {
        params.push(("redirect_uri".into(), c.redirect_uri.clone()));
    }
    params.extend([
        ("scope".into(), "openid profile".into()),
        ("state".into(), "st".into()),
        ("code_challenge".into(), challenge.clone()),
        ("code_challenge_method".into(), "S256".into()),
    ]);
    let mut raw = Vec::new();
    for m in case.mods {
        match m {
            M::Set(k, v) => {
                let v = subst(fx, case.who, v, &verifier, &challenge);
                match params.iter_mut().find(|(n, _)| n == k) {
                    Some(p) => p.1 = v,
                    None => params.push(((*k).into(), v)),
                }
            }
            M::Del(k) => params.retain(|(n, _)| n != k),
            M::Add(k, v) => {
                params.push(((*k).into(), subst(fx, case.who, v, &verifier, &challenge)))
            }
            M::Raw(r) => raw.push((*r).to_owned()),
        }
    }
    let state = params
        .iter()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.clone());
    let mut query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params.iter())
        .finish();
    for r in raw {
        query.push('&');
        query.push_str(&r);
    }
    let before = fx.counts();
    let res = fetch_authorize(fx, &query).await?;
    let status = res.status;
    let loc = res
        .headers
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    ensure!(status < 500, "server error {status}");
    if query.len() < 60_000 {
        security_headers(&res.headers)?;
    }
    let registered = if c.redirect_uri.is_empty() {
        REDIRECT
    } else {
        c.redirect_uri.as_str()
    };
    // A public native client's port may vary; the redirect then goes to the requested URI.
    let requested = params
        .iter()
        .find(|(k, _)| k == "redirect_uri")
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| registered.to_owned());
    let mut issued_expected = false;
    match &case.expect {
        Az::Page { code, mention } => {
            ensure!(
                status == 400,
                "expected the 400 error page, got {status} (Location {loc:.200})"
            );
            ensure!(
                res.headers.get("location").is_none(),
                "an error page must not redirect (Location {loc:.200})"
            );
            let body = res.body.clone();
            if let Some(code) = code {
                ensure!(
                    body.contains(&format!("<code>{code}</code>")),
                    "the page does not show error code {code}: {:.400}",
                    body
                );
            }
            if let Some(m) = mention {
                ensure!(
                    body.contains(m),
                    "the page does not mention {m:?}: {body:.400}"
                );
            }
            ensure!(!body.contains('\u{FFFD}'), "the page echoes U+FFFD");
        }
        Az::Redirect(error) => {
            let q = redirect_to(fx, registered, status, &loc)?;
            let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
            ensure!(
                get("error").as_deref() == Some(*error),
                "error is {:?}, want {error} (Location {loc:.300})",
                get("error")
            );
            ensure!(get("error_description").is_some(), "no error_description");
            ensure!(get("code").is_none(), "an error redirect carries a code");
            ensure!(
                get("state") == state,
                "state is {:?}, want {:?} (byte-exact echo)",
                get("state"),
                state
            );
        }
        Az::Code => {
            let q = redirect_to(fx, &requested, status, &loc)?;
            let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
            ensure!(get("code").is_some(), "no code in {loc:.300}");
            ensure!(get("error").is_none(), "error {:?}", get("error"));
            ensure!(
                get("state") == state,
                "state is {:?}, want {:?} (byte-exact echo)",
                get("state"),
                state
            );
            issued_expected = true;
        }
        Az::Rejected => {
            ensure!(
                (400..500).contains(&status),
                "expected a 4xx refusal, got {status} ({} bytes of Location: {:.200})",
                loc.len(),
                loc
            );
            ensure!(
                res.headers.get("location").is_none(),
                "the refusal redirects (Location {:.200})",
                loc
            );
        }
    }
    let after = fx.counts();
    if issued_expected {
        ensure!(after.codes == before.codes + 1, "one code should be stored");
    } else {
        ensure!(
            after.codes == before.codes,
            "a code was stored ({} → {})",
            before.codes,
            after.codes
        );
    }
    ensure!(
        after.consents == before.consents,
        "a consent was stored ({} → {})",
        before.consents,
        after.consents
    );
    Ok(())
}

#[tokio::test]
async fn authorization_endpoint_attacks() {
    let fx = fixture().await;
    let table = authorize_table();
    assert!(table.len() >= 60, "{} cases", table.len());
    let mut failures = Vec::new();
    for case in &table {
        if let Err(e) = run_authorize_case(&fx, case).await {
            failures.push(format!("{} [{}]: {e}", case.name, case.rfc));
        }
    }
    report("authorization-endpoint", failures);
}

// ---------------------------------------------------------------------------------------------
// Table 2: the token endpoint.
// ---------------------------------------------------------------------------------------------

/// What a case needs before its request. Provides {code}, {verifier}, {refresh}, {successor},
/// {access}, {redirect}, {cid}, {secret} for the setup's client.
#[derive(Debug, Clone, Copy)]
enum Setup {
    None,
    /// A fresh code for the client; with a PKCE challenge if true.
    Code(Who, bool),
    /// A code already redeemed once ({refresh} and {access} from that first redemption).
    Redeemed(Who),
    /// A code whose lifetime has passed.
    ExpiredCode(Who),
    /// A live refresh token ({refresh}) and its access token.
    Refresh(Who),
    /// A refresh token rotated once: {refresh} is the old one, {successor} the new one.
    Rotated(Who),
    /// A refresh token whose lifetime has passed.
    ExpiredRefresh(Who),
}

#[derive(Debug, Clone, Copy)]
enum Auth {
    /// Basic with the client's own credentials (or client_id in the body for a public client).
    Own(Who),
    /// Basic with the client's id and this secret.
    BasicSecret(Who, &'static str),
    /// client_id and client_secret in the body.
    Post(Who),
    /// client_id and this client_secret in the body.
    PostSecret(Who, &'static str),
    /// Only client_id in the body.
    IdOnly(Who),
    /// Basic and body secret at once.
    Both(Who),
    /// A raw Authorization header.
    Header(&'static str),
    /// Two Basic headers (both the client's own).
    TwoHeaders(Who),
    None,
}

#[derive(Debug, Clone, Copy)]
enum Body {
    Form(&'static [(&'static str, &'static str)]),
    /// Already-encoded body with this content type.
    Raw(&'static str, &'static str),
    /// A form of about 100 KB.
    Huge,
}

#[derive(Debug, Clone, Copy)]
enum Tok {
    Ok,
    Err(u16, &'static str),
    /// Any 4xx (e.g. 413) but never 5xx and never tokens.
    Refused,
}

/// What must hold afterwards, checked with the setup's client.
#[derive(Debug, Clone, Copy)]
enum After {
    Nothing,
    /// This refresh token ({refresh} or {successor}) no longer works.
    RefreshDead(&'static str),
    /// This refresh token still works.
    RefreshAlive(&'static str),
    /// The first access token is refused at /userinfo.
    AccessRevoked,
}

struct TokCase {
    name: &'static str,
    rfc: &'static str,
    setup: Setup,
    auth: Auth,
    body: Body,
    expect: Tok,
    after: After,
}

const CODE_FORM: &[(&str, &str)] = &[
    ("grant_type", "authorization_code"),
    ("code", "{code}"),
    ("redirect_uri", "{redirect}"),
    ("code_verifier", "{verifier}"),
];
const CODE_FORM_NO_VERIFIER: &[(&str, &str)] = &[
    ("grant_type", "authorization_code"),
    ("code", "{code}"),
    ("redirect_uri", "{redirect}"),
];
const REFRESH_FORM: &[(&str, &str)] = &[
    ("grant_type", "refresh_token"),
    ("refresh_token", "{refresh}"),
];
const CC_FORM: &[(&str, &str)] = &[("grant_type", "client_credentials")];

fn token_table() -> Vec<TokCase> {
    use After::*;
    use Auth::*;
    use Body::*;
    use Setup::*;
    let c = |name, rfc, setup, auth, body, expect, after| TokCase {
        name,
        rfc,
        setup,
        auth,
        body,
        expect,
        after,
    };
    let grant = |s: u16| Tok::Err(s, "invalid_grant");
    let client = Tok::Err(401, "invalid_client");
    let request = Tok::Err(400, "invalid_request");
    vec![
        // Positive controls.
        c("baseline code exchange", "RFC 6749 §4.1.3", Code(Who::Conf, true), Own(Who::Conf), Form(CODE_FORM), Tok::Ok, Nothing),
        c("baseline public code exchange", "RFC 7636 §4.5", Code(Who::Public, true), Own(Who::Public), Form(CODE_FORM), Tok::Ok, Nothing),
        c("baseline refresh", "RFC 6749 §6", Refresh(Who::Conf), Own(Who::Conf), Form(REFRESH_FORM), Tok::Ok, RefreshDead("{refresh}")),
        // PKCE (RFC 9700 §2.1.1, §4.8).
        c("wrong code_verifier", "RFC 7636 §4.6", Code(Who::Conf, true), Own(Who::Conf), Form(&[("grant_type", "authorization_code"), ("code", "{code}"), ("redirect_uri", "{redirect}"), ("code_verifier", "{other_verifier}")]), grant(400), Nothing),
        c("missing code_verifier for a code with a challenge", "RFC 9700 §4.8.2", Code(Who::Conf, true), Own(Who::Conf), Form(CODE_FORM_NO_VERIFIER), grant(400), Nothing),
        c("public client: wrong code_verifier", "RFC 7636 §4.6", Code(Who::Public, true), Own(Who::Public), Form(&[("grant_type", "authorization_code"), ("code", "{code}"), ("redirect_uri", "{redirect}"), ("code_verifier", "{other_verifier}")]), grant(400), Nothing),
        c("public client: missing code_verifier", "RFC 9700 §2.1.1", Code(Who::Public, true), Own(Who::Public), Form(CODE_FORM_NO_VERIFIER), grant(400), Nothing),
        c("code_verifier on a code issued without a challenge (downgrade)", "RFC 9700 §4.8.2", Code(Who::Conf, false), Own(Who::Conf), Form(&[("grant_type", "authorization_code"), ("code", "{code}"), ("redirect_uri", "{redirect}"), ("code_verifier", "{other_verifier}")]), grant(400), Nothing),
        c("code_verifier too short", "RFC 7636 §4.1", Code(Who::Conf, true), Own(Who::Conf), Form(&[("grant_type", "authorization_code"), ("code", "{code}"), ("redirect_uri", "{redirect}"), ("code_verifier", "short")]), grant(400), Nothing),
        c("code_verifier equal to the challenge (plain downgrade)", "RFC 9700 §4.8.2", Code(Who::Conf, true), Own(Who::Conf), Form(&[("grant_type", "authorization_code"), ("code", "{code}"), ("redirect_uri", "{redirect}"), ("code_verifier", "{challenge}")]), grant(400), Nothing),
        // Code binding (RFC 6749 §4.1.3, RFC 9700 §4.5).
        c("code redeemed by another client", "RFC 9700 §4.5", Code(Who::Conf, true), Own(Who::Conf2), Form(CODE_FORM), grant(400), Nothing),
        c("code redeemed with another redirect_uri", "RFC 6749 §4.1.3", Code(Who::Conf, true), Own(Who::Conf), Form(&[("grant_type", "authorization_code"), ("code", "{code}"), ("redirect_uri", "http://127.0.0.1:9/callback/"), ("code_verifier", "{verifier}")]), grant(400), Nothing),
        c("code redeemed without redirect_uri", "RFC 6749 §4.1.3", Code(Who::Conf, true), Own(Who::Conf), Form(&[("grant_type", "authorization_code"), ("code", "{code}"), ("code_verifier", "{verifier}")]), request, Nothing),
        c("public client's code redeemed by a confidential client", "RFC 9700 §4.5", Code(Who::Public, true), Own(Who::Conf), Form(CODE_FORM), grant(400), Nothing),
        c("confidential client's code redeemed as a public client", "RFC 6749 §3.2.1", Code(Who::Conf, true), IdOnly(Who::Conf), Form(CODE_FORM), client, Nothing),
        c("unknown code", "RFC 6749 §5.2", Setup::None, Own(Who::Conf), Form(&[("grant_type", "authorization_code"), ("code", "not-a-code"), ("redirect_uri", REDIRECT)]), grant(400), Nothing),
        c("refresh token presented as a code", "RFC 6749 §5.2", Refresh(Who::Conf), Own(Who::Conf), Form(&[("grant_type", "authorization_code"), ("code", "{refresh}"), ("redirect_uri", REDIRECT)]), grant(400), RefreshAlive("{refresh}")),
        c("code replay is refused and revokes the first tokens", "RFC 9700 §4.5 / RFC 6749 §4.1.2", Redeemed(Who::Conf), Own(Who::Conf), Form(CODE_FORM), grant(400), RefreshDead("{refresh}")),
        c("code replay revokes the first access token", "RFC 6749 §4.1.2", Redeemed(Who::Conf), Own(Who::Conf), Form(CODE_FORM), grant(400), AccessRevoked),
        c("expired code", "RFC 6749 §4.1.2", ExpiredCode(Who::Conf), Own(Who::Conf), Form(CODE_FORM), grant(400), Nothing),
        c("client_credentials-only client redeeming a code", "RFC 6749 §5.2", Code(Who::Conf, true), Own(Who::Cc), Form(CODE_FORM), Tok::Err(400, "unauthorized_client"), Nothing),
        // Client authentication (RFC 6749 §2.3, §5.2).
        c("wrong secret (Basic)", "RFC 6749 §5.2", Code(Who::Conf, true), BasicSecret(Who::Conf, "ost_wrong"), Form(CODE_FORM), client, Nothing),
        c("wrong secret (body)", "RFC 6749 §5.2", Code(Who::Conf, true), PostSecret(Who::Conf, "ost_wrong"), Form(CODE_FORM), client, Nothing),
        c("empty secret (Basic)", "RFC 6749 §5.2", Code(Who::Conf, true), BasicSecret(Who::Conf, ""), Form(CODE_FORM), client, Nothing),
        c("unknown client (Basic)", "RFC 6749 §5.2", Setup::None, Header("Basic bm8tc3VjaC1jbGllbnQ6c2VjcmV0"), Form(CC_FORM), client, Nothing),
        c("two authentication methods at once", "RFC 6749 §2.3", Code(Who::Conf, true), Both(Who::Conf), Form(CODE_FORM), request, Nothing),
        c("two Authorization headers", "RFC 6749 §2.3", Setup::None, TwoHeaders(Who::Cc), Form(CC_FORM), request, Nothing),
        c("Basic with malformed base64", "RFC 6749 §2.3.1", Setup::None, Header("Basic %%%not-base64%%%"), Form(CC_FORM), client, Nothing),
        c("Basic without a colon", "RFC 6749 §2.3.1", Setup::None, Header("Basic YWJjZGVm"), Form(CC_FORM), client, Nothing),
        c("Basic with invalid UTF-8", "RFC 6749 §2.3.1", Setup::None, Header("Basic //79Og=="), Form(CC_FORM), client, Nothing),
        c("Bearer instead of Basic", "RFC 6749 §2.3.1", Setup::None, Header("Bearer abc"), Form(CC_FORM), client, Nothing),
        c("public client presenting a secret in the body", "RFC 6749 §2.3 (lead's change (c))", Code(Who::Public, true), PostSecret(Who::Public, "guessed-secret"), Form(CODE_FORM), client, Nothing),
        c("public client presenting a secret in Basic", "RFC 6749 §2.3 (lead's change (c))", Code(Who::Public, true), BasicSecret(Who::Public, "guessed-secret"), Form(CODE_FORM), client, Nothing),
        c("confidential client without any secret", "RFC 6749 §3.2.1", Setup::None, IdOnly(Who::Cc), Form(CC_FORM), client, Nothing),
        c("no client authentication at all", "RFC 6749 §3.2.1", Setup::None, Auth::None, Form(CC_FORM), client, Nothing),
        c("client_secret_basic client may post its secret (lead's change (c))", "RFC 6749 §2.3.1", Setup::None, Post(Who::Cc), Form(CC_FORM), Tok::Ok, Nothing),
        c("client_secret_post client may use Basic (lead's change (c))", "RFC 6749 §2.3.1", Setup::None, Own(Who::Post), Form(CC_FORM), Tok::Ok, Nothing),
        c("body client_id differs from the Basic client", "RFC 6749 §2.3", Setup::None, Own(Who::Cc), Form(&[("grant_type", "client_credentials"), ("client_id", "{cid2}")]), request, Nothing),
        // Refresh tokens (RFC 9700 §4.14, RFC 6749 §6).
        c("refresh token used by another client", "RFC 9700 §4.14.2", Refresh(Who::Conf), Own(Who::Conf2), Form(REFRESH_FORM), grant(400), RefreshAlive("{refresh}")),
        c("public client's refresh token used by a confidential client", "RFC 9700 §4.14.2", Refresh(Who::Public), Own(Who::Conf), Form(REFRESH_FORM), grant(400), RefreshAlive("{refresh}")),
        c("refresh asking for a wider scope", "RFC 6749 §6", Refresh(Who::Conf), Own(Who::Conf), Form(&[("grant_type", "refresh_token"), ("refresh_token", "{refresh}"), ("scope", "openid profile email")]), Tok::Err(400, "invalid_scope"), RefreshAlive("{refresh}")),
        c("refresh asking for a scope the client lacks", "RFC 6749 §6", Refresh(Who::Conf), Own(Who::Conf), Form(&[("grant_type", "refresh_token"), ("refresh_token", "{refresh}"), ("scope", "openid admin")]), Tok::Err(400, "invalid_scope"), Nothing),
        c("rotated-out refresh token reused at once (lead's change (d))", "RFC 9700 §4.14.2", Rotated(Who::Conf), Own(Who::Conf), Form(REFRESH_FORM), grant(400), RefreshDead("{successor}")),
        c("public client: rotated-out refresh token reused", "RFC 9700 §4.14.2", Rotated(Who::Public), Own(Who::Public), Form(REFRESH_FORM), grant(400), RefreshDead("{successor}")),
        c("expired refresh token", "RFC 6749 §6", ExpiredRefresh(Who::Conf), Own(Who::Conf), Form(REFRESH_FORM), grant(400), Nothing),
        c("access token presented as a refresh token", "RFC 6749 §6", Refresh(Who::Conf), Own(Who::Conf), Form(&[("grant_type", "refresh_token"), ("refresh_token", "{access}")]), grant(400), RefreshAlive("{refresh}")),
        c("unknown refresh token", "RFC 6749 §6", Setup::None, Own(Who::Conf), Form(&[("grant_type", "refresh_token"), ("refresh_token", "ostr_forged")]), grant(400), Nothing),
        c("client_credentials-only client refreshing", "RFC 6749 §5.2", Refresh(Who::Conf), Own(Who::Cc), Form(REFRESH_FORM), Tok::Err(400, "unauthorized_client"), RefreshAlive("{refresh}")),
        // Grants and malformed requests.
        c("resource owner password grant", "RFC 9700 §2.4", Setup::None, Own(Who::Conf), Form(&[("grant_type", "password"), ("username", "adversary-victim"), ("password", "victim's long password")]), Tok::Err(400, "unsupported_grant_type"), Nothing),
        c("implicit as a grant_type", "RFC 6749 §5.2", Setup::None, Own(Who::Conf), Form(&[("grant_type", "implicit")]), Tok::Err(400, "unsupported_grant_type"), Nothing),
        c("client_credentials by a code client", "RFC 6749 §5.2", Setup::None, Own(Who::Conf), Form(CC_FORM), Tok::Err(400, "unauthorized_client"), Nothing),
        c("client_credentials asking for an unregistered scope", "RFC 6749 §5.2", Setup::None, Own(Who::Cc), Form(&[("grant_type", "client_credentials"), ("scope", "admin")]), Tok::Err(400, "invalid_scope"), Nothing),
        c("grant_type missing", "RFC 6749 §5.2", Setup::None, Own(Who::Cc), Form(&[("scope", "openid")]), request, Nothing),
        c("grant_type repeated", "RFC 6749 §3.2", Setup::None, Own(Who::Cc), Raw("application/x-www-form-urlencoded", "grant_type=client_credentials&grant_type=client_credentials"), request, Nothing),
        c("code repeated", "RFC 6749 §3.2", Code(Who::Conf, true), Own(Who::Conf), Raw("application/x-www-form-urlencoded", "grant_type=authorization_code&code={code}&code={code}&redirect_uri={redirect_enc}&code_verifier={verifier}"), request, Nothing),
        c("client_id repeated by a public client", "RFC 6749 §3.2", Code(Who::Public, true), Auth::None, Raw("application/x-www-form-urlencoded", "grant_type=authorization_code&client_id={cid}&client_id={cid}&code={code}&redirect_uri={redirect_enc}&code_verifier={verifier}"), request, Nothing),
        c("JSON body", "RFC 6749 §4.1.3", Setup::None, Own(Who::Cc), Raw("application/json", "{\"grant_type\":\"client_credentials\"}"), request, Nothing),
        c("form without a content type", "RFC 6749 §4.1.3", Setup::None, Own(Who::Cc), Raw("", "grant_type=client_credentials"), request, Nothing),
        c("100 KB form", "RFC 9700 §4 (resource limits)", Setup::None, Own(Who::Cc), Huge, Tok::Refused, Nothing),
    ]
}

struct Vars(Vec<(&'static str, String)>);

impl Vars {
    fn sub(&self, s: &str) -> String {
        let mut out = s.to_owned();
        for (k, v) in &self.0 {
            out = out.replace(k, v);
        }
        out
    }
    fn get(&self, k: &str) -> String {
        self.0
            .iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn prepare(fx: &Fx, setup: Setup) -> (Option<Who>, Vars) {
    let (other_verifier, _) = pkce_pair();
    let mut v = vec![("{other_verifier}", other_verifier)];
    let who = match setup {
        Setup::None => None,
        Setup::Code(w, _)
        | Setup::Redeemed(w)
        | Setup::ExpiredCode(w)
        | Setup::Refresh(w)
        | Setup::Rotated(w)
        | Setup::ExpiredRefresh(w) => Some(w),
    };
    match setup {
        Setup::None => {}
        Setup::Code(w, _) | Setup::ExpiredCode(w) => {
            let pkce = !matches!(setup, Setup::Code(_, false)) || w == Who::Public;
            let (verifier, challenge) = pkce_pair();
            let params = fx.auth_params(w, "openid profile", pkce.then_some(challenge.as_str()));
            let res = fx.app.authorize(&pairs(&params)).await;
            let url = url::Url::parse(&location(&res)).expect("code redirect");
            let code = query_param(&url, "code").expect("code");
            if matches!(setup, Setup::ExpiredCode(_)) {
                let hash = ostiary::random::sha256_hex(&code);
                exec_sql(
                    &fx.app,
                    &format!(
                        "UPDATE authorization_codes SET expires_at = created_at - 10, created_at = created_at - 100 WHERE code_hash = '{hash}'"
                    ),
                );
            }
            v.push(("{code}", code));
            v.push(("{verifier}", if pkce { verifier } else { String::new() }));
            v.push(("{challenge}", challenge));
        }
        Setup::Redeemed(w) | Setup::Refresh(w) | Setup::Rotated(w) | Setup::ExpiredRefresh(w) => {
            let (code, verifier, body) = fx.tokens(w).await;
            let refresh = body["refresh_token"].as_str().expect("refresh").to_owned();
            v.push(("{code}", code));
            v.push(("{verifier}", verifier.unwrap_or_default()));
            v.push((
                "{access}",
                body["access_token"].as_str().expect("at").to_owned(),
            ));
            if let Setup::Rotated(w) = setup {
                let res = fx.refresh(w, &refresh).await;
                assert_eq!(res.status(), 200, "fixture rotation");
                let b: Value = res.json().await.expect("json");
                v.push((
                    "{successor}",
                    b["refresh_token"].as_str().expect("rt").to_owned(),
                ));
            }
            if let Setup::ExpiredRefresh(_) = setup {
                let hash = ostiary::random::sha256_hex(&refresh);
                exec_sql(
                    &fx.app,
                    &format!(
                        "UPDATE refresh_tokens SET expires_at = 1 WHERE token_hash = '{hash}'"
                    ),
                );
            }
            v.push(("{refresh}", refresh));
        }
    }
    if let Some(w) = who {
        let c = fx.c(w);
        v.push(("{redirect_enc}", enc(&c.redirect_uri)));
        v.push(("{redirect}", c.redirect_uri.clone()));
    } else {
        v.push(("{redirect_enc}", enc(REDIRECT)));
        v.push(("{redirect}", REDIRECT.to_owned()));
    }
    (who, Vars(v))
}

fn client_vars(fx: &Fx, auth: Auth, vars: &mut Vars) {
    let who = match auth {
        Auth::Own(w)
        | Auth::BasicSecret(w, _)
        | Auth::Post(w)
        | Auth::PostSecret(w, _)
        | Auth::IdOnly(w)
        | Auth::Both(w)
        | Auth::TwoHeaders(w) => w,
        _ => Who::Public,
    };
    vars.0.push(("{cid2}", fx.conf2.id.clone()));
    vars.0.push(("{cid}", fx.c(who).id.clone()));
}

fn basic(id: &str, secret: &str) -> String {
    use base64::engine::general_purpose::STANDARD;
    format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", enc(id), enc(secret)))
    )
}

async fn send_token(fx: &Fx, auth: Auth, body: Body, vars: &Vars) -> reqwest::Response {
    let mut req = reqwest::Client::new().post(fx.app.url("/token"));
    let mut form: Vec<(String, String)> = Vec::new();
    match auth {
        Auth::Own(w) => {
            let c = fx.c(w);
            match &c.secret {
                Some(s) => req = req.header("authorization", basic(&c.id, s)),
                None => form.push(("client_id".into(), c.id.clone())),
            }
        }
        Auth::BasicSecret(w, s) => req = req.header("authorization", basic(&fx.c(w).id, s)),
        Auth::Post(w) => {
            let c = fx.c(w);
            form.push(("client_id".into(), c.id.clone()));
            form.push(("client_secret".into(), c.secret.clone().unwrap_or_default()));
        }
        Auth::PostSecret(w, s) => {
            form.push(("client_id".into(), fx.c(w).id.clone()));
            form.push(("client_secret".into(), s.into()));
        }
        Auth::IdOnly(w) => form.push(("client_id".into(), fx.c(w).id.clone())),
        Auth::Both(w) => {
            let c = fx.c(w);
            let s = c.secret.clone().unwrap_or_default();
            req = req.header("authorization", basic(&c.id, &s));
            form.push(("client_secret".into(), s));
        }
        Auth::Header(h) => req = req.header("authorization", h),
        Auth::TwoHeaders(w) => {
            let c = fx.c(w);
            let h = basic(&c.id, c.secret.as_deref().unwrap_or(""));
            let mut headers = reqwest::header::HeaderMap::new();
            headers.append("authorization", h.parse().expect("header"));
            headers.append("authorization", h.parse().expect("header"));
            req = req.headers(headers);
        }
        Auth::None => {}
    }
    match body {
        Body::Form(f) => {
            for (k, v) in f {
                let value = vars.sub(v);
                if *v == "{verifier}" && value.is_empty() {
                    continue;
                }
                form.push(((*k).into(), value));
            }
            req = req.form(&form);
        }
        Body::Raw(ct, b) => {
            let mut b = vars.sub(b);
            for (k, v) in &form {
                b.push_str(&format!("&{}={}", enc(k), enc(v)));
            }
            if !ct.is_empty() {
                req = req.header("content-type", ct);
            }
            req = req.body(b);
        }
        Body::Huge => {
            form.push(("grant_type".into(), "client_credentials".into()));
            form.push(("padding".into(), "x".repeat(100 * 1024)));
            req = req.form(&form);
        }
    }
    req.send().await.expect("token request")
}

async fn run_token_case(fx: &Fx, case: &TokCase) -> Result<(), String> {
    let (who, mut vars) = prepare(fx, case.setup).await;
    client_vars(fx, case.auth, &mut vars);
    let before = fx.counts();
    let res = send_token(fx, case.auth, case.body, &vars).await;
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let text = res.text().await.unwrap_or_default();
    ensure!(status < 500, "server error {status}: {text:.300}");
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let after = fx.counts();
    match case.expect {
        Tok::Ok => {
            ensure!(status == 200, "expected 200, got {status}: {text:.300}");
            ensure!(body["access_token"].is_string(), "no access_token");
        }
        Tok::Err(want_status, error) => {
            ensure!(
                status == want_status && body["error"] == error,
                "expected {want_status} {error}, got {status} {text:.300}"
            );
            ensure!(
                body["error_description"].is_string(),
                "no error_description"
            );
            ensure!(
                headers
                    .get("cache-control")
                    .is_some_and(|v| v == "no-store"),
                "no Cache-Control: no-store"
            );
            if error == "invalid_client" {
                // RFC 6749 §5.2: a Basic challenge exactly when the client used the header.
                let challenge = headers
                    .get("www-authenticate")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                let used_header = match case.auth {
                    Auth::Own(w) => fx.c(w).secret.is_some(),
                    Auth::BasicSecret(..)
                    | Auth::Both(_)
                    | Auth::Header(_)
                    | Auth::TwoHeaders(_) => true,
                    Auth::Post(_) | Auth::PostSecret(..) | Auth::IdOnly(_) | Auth::None => false,
                };
                ensure!(
                    challenge.starts_with("Basic") == used_header,
                    "invalid_client: WWW-Authenticate {challenge:?} (Authorization header used: {used_header})"
                );
            }
        }
        Tok::Refused => {
            ensure!(
                (400..500).contains(&status),
                "expected a 4xx refusal, got {status}"
            );
        }
    }
    if !matches!(case.expect, Tok::Ok) {
        ensure!(
            body.get("access_token").is_none(),
            "an access token was issued"
        );
        ensure!(
            after.families == before.families && after.refresh == before.refresh,
            "refresh tokens were issued (families {} → {}, tokens {} → {})",
            before.families,
            after.families,
            before.refresh,
            after.refresh
        );
        ensure!(after.codes == before.codes, "codes were created");
    }
    let owner = who.unwrap_or(Who::Conf);
    match case.after {
        After::Nothing => {}
        After::RefreshDead(var) => {
            let res = fx.refresh(owner, &vars.get(var)).await;
            let s = res.status().as_u16();
            let b: Value = res.json().await.unwrap_or(Value::Null);
            ensure!(
                s == 400 && b["error"] == "invalid_grant",
                "afterwards {var} should be dead (400 invalid_grant), got {s} {b}"
            );
        }
        After::RefreshAlive(var) => {
            let res = fx.refresh(owner, &vars.get(var)).await;
            let s = res.status().as_u16();
            ensure!(s == 200, "afterwards {var} should still work, got {s}");
        }
        After::AccessRevoked => {
            let res = fx
                .app
                .client
                .get(fx.app.url("/userinfo"))
                .bearer_auth(vars.get("{access}"))
                .send()
                .await
                .expect("userinfo");
            ensure!(
                res.status() == 401,
                "the first access token still works at /userinfo ({})",
                res.status()
            );
            ensure!(
                fx.counts().denylist > before.denylist,
                "the first access token was not deny-listed"
            );
        }
    }
    Ok(())
}

#[tokio::test]
async fn token_endpoint_attacks() {
    let fx = fixture().await;
    let table = token_table();
    assert!(table.len() >= 50, "{} cases", table.len());
    let mut failures = Vec::new();
    for case in &table {
        if let Err(e) = run_token_case(&fx, case).await {
            failures.push(format!("{} [{}]: {e}", case.name, case.rfc));
        }
    }
    report("token-endpoint", failures);
}

// ---------------------------------------------------------------------------------------------
// Table 3: bearer tokens at /userinfo (RFC 6750) and the same tokens at /introspect (RFC 7662).
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
enum Forge {
    /// The user's real access token.
    Real,
    /// No token at all.
    Missing,
    Garbage,
    /// 16 KB of base64url.
    Huge,
    AlgNone,
    AlgNoneUpper,
    /// HS256 keyed with the RS256 key's PEM public key (algorithm confusion).
    Hs256WithPemPublicKey,
    /// HS256 keyed with the published JWK JSON.
    Hs256WithJwk,
    /// Our ES256 kid, signed by another ES256 key.
    ForeignKeyRealKid,
    /// An unknown kid, signed by another key.
    UnknownKid,
    /// No kid, the attacker's key embedded as `jwk`.
    EmbeddedJwk,
    /// A `jku` pointing elsewhere.
    Jku,
    /// A kid that tries SQL.
    SqlKid,
    /// Signed by our key, but the header names RS256 over the ES256 key.
    AlgMismatch,
    /// Validly signed, expired.
    Expired,
    /// Validly signed, no exp.
    NoExp,
    /// Validly signed, `nbf` 120 s ahead.
    NotYetValid,
    /// Validly signed, `nbf` 10 s ago.
    NbfPast,
    /// Validly signed, `iat` an hour ahead.
    IssuedInFuture,
    /// Validly signed, another issuer.
    WrongIss,
    /// Validly signed, issuer with a trailing slash.
    IssTrailingSlash,
    /// Validly signed, typ JWT (an id_token-like header).
    TypJwt,
    /// Validly signed, no typ.
    NoTyp,
    /// The user's id_token.
    IdToken,
    /// The real token with a flipped signature byte.
    FlippedSignature,
    /// The real token with a flipped payload byte.
    FlippedPayload,
    /// The real token without its signature.
    Unsigned,
    /// Validly signed for a user that does not exist.
    GhostUser,
    /// A client_credentials token that has the openid scope.
    ClientCredentialsOpenid,
    /// A client_credentials token without openid.
    ClientCredentials,
    /// The real token after it was revoked.
    Revoked,
}

#[derive(Debug, Clone, Copy)]
enum Placement {
    Header,
    /// `Authorization: bearer …` (the scheme is case-insensitive).
    LowerScheme,
    /// `?access_token=` in the query (RFC 9700 §4.3.2 / RFC 6750 §2.3: not accepted).
    Query,
    /// Form body of a POST.
    Body,
    /// Header and body at once.
    HeaderAndBody,
    /// `Authorization: Basic`.
    Basic,
    /// `Authorization: Bearer` with nothing after it.
    EmptyBearer,
}

#[derive(Debug, Clone, Copy)]
enum Ui {
    Claims,
    /// 401 with a bare `Bearer` challenge (no error: no credentials were sent).
    Bare,
    /// Status and RFC 6750 error code in WWW-Authenticate.
    Err(u16, &'static str),
}

struct BearerCase {
    name: &'static str,
    rfc: &'static str,
    forge: Forge,
    placement: Placement,
    userinfo: Ui,
    /// The `active` introspection must report (None: not introspected).
    active: Option<bool>,
}

fn bearer_table() -> Vec<BearerCase> {
    use Forge::*;
    use Placement::*;
    let c = |name, rfc, forge, placement, userinfo, active| BearerCase {
        name,
        rfc,
        forge,
        placement,
        userinfo,
        active,
    };
    let bad = Ui::Err(401, "invalid_token");
    vec![
        c(
            "the real token (control)",
            "RFC 6750 §2.1",
            Real,
            Header,
            Ui::Claims,
            Some(true),
        ),
        c(
            "the real token, lower-case scheme",
            "RFC 9110 §11.1",
            Real,
            LowerScheme,
            Ui::Claims,
            None,
        ),
        c(
            "the real token in a form body",
            "RFC 6750 §2.2",
            Real,
            Body,
            Ui::Claims,
            None,
        ),
        c("no token", "RFC 6750 §3.1", Missing, Header, Ui::Bare, None),
        c(
            "the real token in the query string",
            "RFC 9700 §4.3.2 / RFC 6750 §2.3",
            Real,
            Query,
            Ui::Bare,
            None,
        ),
        c(
            "token in header and body",
            "RFC 6750 §2",
            Real,
            HeaderAndBody,
            Ui::Err(400, "invalid_request"),
            None,
        ),
        c(
            "Basic credentials at a bearer resource",
            "RFC 6750 §3.1",
            Real,
            Basic,
            Ui::Err(400, "invalid_request"),
            None,
        ),
        c(
            "empty Bearer",
            "RFC 6750 §3.1",
            Real,
            EmptyBearer,
            Ui::Err(400, "invalid_request"),
            None,
        ),
        c(
            "garbage",
            "RFC 6750 §3.1",
            Garbage,
            Header,
            bad,
            Some(false),
        ),
        c(
            "16 KB token",
            "RFC 6750 §3.1",
            Huge,
            Header,
            bad,
            Some(false),
        ),
        c(
            "alg none",
            "RFC 8725 §2.1",
            AlgNone,
            Header,
            bad,
            Some(false),
        ),
        c(
            "alg NONE",
            "RFC 8725 §2.1",
            AlgNoneUpper,
            Header,
            bad,
            Some(false),
        ),
        c(
            "HS256 keyed with the RSA public key PEM",
            "RFC 8725 §2.1",
            Hs256WithPemPublicKey,
            Header,
            bad,
            Some(false),
        ),
        c(
            "HS256 keyed with the published JWK",
            "RFC 8725 §2.1",
            Hs256WithJwk,
            Header,
            bad,
            Some(false),
        ),
        c(
            "our kid, another key",
            "RFC 9068 §4",
            ForeignKeyRealKid,
            Header,
            bad,
            Some(false),
        ),
        c(
            "unknown kid",
            "RFC 9068 §4",
            UnknownKid,
            Header,
            bad,
            Some(false),
        ),
        c(
            "embedded jwk header",
            "RFC 8725 §3.10",
            EmbeddedJwk,
            Header,
            bad,
            Some(false),
        ),
        c(
            "jku header",
            "RFC 8725 §3.10",
            Jku,
            Header,
            bad,
            Some(false),
        ),
        c(
            "kid with SQL",
            "RFC 8725 §3.10",
            SqlKid,
            Header,
            bad,
            Some(false),
        ),
        c(
            "alg in the header differs from the key's",
            "RFC 8725 §3.1",
            AlgMismatch,
            Header,
            bad,
            Some(false),
        ),
        c("expired", "RFC 9068 §4", Expired, Header, bad, Some(false)),
        c("no exp", "RFC 9068 §2.2", NoExp, Header, bad, Some(false)),
        c(
            "nbf 120 s ahead",
            "RFC 7519 §4.1.5",
            NotYetValid,
            Header,
            bad,
            Some(false),
        ),
        c(
            "nbf 10 s ago (control)",
            "RFC 7519 §4.1.5",
            NbfPast,
            Header,
            Ui::Claims,
            Some(true),
        ),
        c(
            "issued an hour in the future",
            "RFC 7519 §4.1.6",
            IssuedInFuture,
            Header,
            bad,
            Some(false),
        ),
        c(
            "another issuer",
            "RFC 9068 §4",
            WrongIss,
            Header,
            bad,
            Some(false),
        ),
        c(
            "issuer with a trailing slash",
            "RFC 9068 §4",
            IssTrailingSlash,
            Header,
            bad,
            Some(false),
        ),
        c(
            "typ JWT instead of at+jwt",
            "RFC 9068 §4",
            TypJwt,
            Header,
            bad,
            Some(false),
        ),
        c("no typ", "RFC 9068 §4", NoTyp, Header, bad, Some(false)),
        c(
            "id_token used as an access token",
            "RFC 9068 §4 / RFC 8725 §3.11",
            IdToken,
            Header,
            bad,
            Some(false),
        ),
        c(
            "flipped signature byte",
            "RFC 7515 §5.2",
            FlippedSignature,
            Header,
            bad,
            Some(false),
        ),
        c(
            "flipped payload byte",
            "RFC 7515 §5.2",
            FlippedPayload,
            Header,
            bad,
            Some(false),
        ),
        c(
            "signature stripped",
            "RFC 7515 §5.2",
            Unsigned,
            Header,
            bad,
            Some(false),
        ),
        c(
            "validly signed for a user that does not exist",
            "OIDC Core §5.3",
            GhostUser,
            Header,
            bad,
            None,
        ),
        c(
            "client_credentials token with openid",
            "OIDC Core §5.3",
            ClientCredentialsOpenid,
            Header,
            bad,
            Some(true),
        ),
        c(
            "client_credentials token without openid",
            "RFC 6750 §3.1",
            ClientCredentials,
            Header,
            Ui::Err(403, "insufficient_scope"),
            Some(true),
        ),
        c(
            "revoked token",
            "RFC 7009 §2",
            Revoked,
            Header,
            bad,
            Some(false),
        ),
    ]
}

fn b64(v: &[u8]) -> String {
    B64.encode(v)
}

fn jws(header: &Value, claims: &Value, sign: impl FnOnce(&[u8]) -> Vec<u8>) -> String {
    let msg = format!(
        "{}.{}",
        b64(&serde_json::to_vec(header).expect("json")),
        b64(&serde_json::to_vec(claims).expect("json"))
    );
    let sig = sign(msg.as_bytes());
    format!("{msg}.{}", b64(&sig))
}

fn flip(token: &str, part: usize) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut bytes = B64.decode(&parts[part]).expect("b64");
    let i = bytes.len() / 2;
    bytes[i] ^= 0x01;
    parts[part] = b64(&bytes);
    parts.join(".")
}

struct Forger {
    keys: std::sync::Arc<ostiary::crypto::keys::KeySet>,
    issuer: String,
    claims: Value,
}

impl Forger {
    fn new(fx: &Fx, real: &str) -> Forger {
        let mut conn = fx.app.db.conn();
        let keys = fx.app.state.keys.current(&mut conn).expect("keys");
        let payload = real.split('.').nth(1).expect("payload");
        let claims: Value =
            serde_json::from_slice(&B64.decode(payload).expect("b64")).expect("claims");
        Forger {
            keys,
            issuer: fx.app.address.clone(),
            claims,
        }
    }

    fn key(&self, alg: ostiary::domain::signing::SigningAlg) -> &ostiary::crypto::keys::LoadedKey {
        self.keys
            .keys
            .iter()
            .find(|k| k.alg == alg)
            .expect("key of alg")
    }

    /// Signed by our real ES256 key, with this header and these claims.
    fn ours(&self, header: Value, claims: Value) -> String {
        let key = self.key(ostiary::domain::signing::SigningAlg::Es256);
        jws(&header, &claims, |m| key.pair.sign(m).expect("sign"))
    }

    fn es_header(&self, typ: Option<&str>) -> Value {
        let key = self.key(ostiary::domain::signing::SigningAlg::Es256);
        let mut h = json!({"alg": "ES256", "kid": key.kid});
        if let Some(t) = typ {
            h["typ"] = json!(t);
        }
        h
    }

    fn with(&self, changes: Value) -> Value {
        let mut c = self.claims.clone();
        for (k, v) in changes.as_object().expect("object") {
            if v.is_null() {
                c.as_object_mut().expect("object").remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c
    }
}

fn attacker_es256() -> (aws_lc_rs::signature::EcdsaKeyPair, Value) {
    use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
    let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("keygen");
    let point = pair.public_key().as_ref().to_vec();
    let jwk =
        json!({"kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..65])});
    (pair, jwk)
}

fn attacker_sign(pair: &aws_lc_rs::signature::EcdsaKeyPair, m: &[u8]) -> Vec<u8> {
    pair.sign(&aws_lc_rs::rand::SystemRandom::new(), m)
        .expect("sign")
        .as_ref()
        .to_vec()
}

fn hmac(secret: &[u8], m: &[u8]) -> Vec<u8> {
    use aws_lc_rs::hmac;
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), m)
        .as_ref()
        .to_vec()
}

fn rsa_pem(jwk: &Value) -> String {
    use rsa::pkcs8::EncodePublicKey;
    let n = B64.decode(jwk["n"].as_str().expect("n")).expect("n");
    let e = B64.decode(jwk["e"].as_str().expect("e")).expect("e");
    rsa::RsaPublicKey::new(
        rsa::BigUint::from_bytes_be(&n),
        rsa::BigUint::from_bytes_be(&e),
    )
    .expect("rsa")
    .to_public_key_pem(rsa::pkcs8::LineEnding::LF)
    .expect("pem")
}

struct Tokens {
    access: String,
    id_token: String,
    revoked: String,
    cc_openid: String,
    cc: String,
}

fn forge(f: &Forger, t: &Tokens, kind: Forge) -> String {
    use ostiary::domain::signing::SigningAlg;
    let now = ostiary::db::now();
    let claims = f.claims.clone();
    match kind {
        Forge::Real | Forge::Missing => t.access.clone(),
        Forge::Garbage => "not-a-jwt".into(),
        Forge::Huge => "A".repeat(16 * 1024),
        Forge::AlgNone => jws(
            &json!({"alg": "none", "typ": "at+jwt", "kid": f.es_header(None)["kid"]}),
            &claims,
            |_| Vec::new(),
        ),
        Forge::AlgNoneUpper => jws(&json!({"alg": "NONE", "typ": "at+jwt"}), &claims, |_| {
            Vec::new()
        }),
        Forge::Hs256WithPemPublicKey => {
            let key = f.key(SigningAlg::Rs256);
            let pem = rsa_pem(&key.jwk);
            jws(
                &json!({"alg": "HS256", "typ": "at+jwt", "kid": key.kid}),
                &claims,
                |m| hmac(pem.as_bytes(), m),
            )
        }
        Forge::Hs256WithJwk => {
            let key = f.key(SigningAlg::Es256);
            let secret = serde_json::to_vec(&key.jwk).expect("json");
            jws(
                &json!({"alg": "HS256", "typ": "at+jwt", "kid": key.kid}),
                &claims,
                |m| hmac(&secret, m),
            )
        }
        Forge::ForeignKeyRealKid => {
            let (pair, _) = attacker_es256();
            jws(&f.es_header(Some("at+jwt")), &claims, |m| {
                attacker_sign(&pair, m)
            })
        }
        Forge::UnknownKid => {
            let (pair, _) = attacker_es256();
            jws(
                &json!({"alg": "ES256", "typ": "at+jwt", "kid": "attacker-key"}),
                &claims,
                |m| attacker_sign(&pair, m),
            )
        }
        Forge::EmbeddedJwk => {
            let (pair, jwk) = attacker_es256();
            jws(
                &json!({"alg": "ES256", "typ": "at+jwt", "jwk": jwk}),
                &claims,
                |m| attacker_sign(&pair, m),
            )
        }
        Forge::Jku => {
            let (pair, _) = attacker_es256();
            jws(
                &json!({"alg": "ES256", "typ": "at+jwt", "kid": "k1", "jku": "https://evil.example/jwks.json"}),
                &claims,
                |m| attacker_sign(&pair, m),
            )
        }
        Forge::SqlKid => {
            let (pair, _) = attacker_es256();
            jws(
                &json!({"alg": "ES256", "typ": "at+jwt", "kid": "x' OR '1'='1"}),
                &claims,
                |m| attacker_sign(&pair, m),
            )
        }
        Forge::AlgMismatch => {
            let mut h = f.es_header(Some("at+jwt"));
            h["alg"] = json!("RS256");
            f.ours(h, claims)
        }
        Forge::Expired => f.ours(
            f.es_header(Some("at+jwt")),
            f.with(json!({"exp": now - 60, "iat": now - 1000})),
        ),
        Forge::NoExp => f.ours(f.es_header(Some("at+jwt")), f.with(json!({"exp": null}))),
        Forge::NotYetValid => f.ours(
            f.es_header(Some("at+jwt")),
            f.with(json!({"nbf": now + 120})),
        ),
        Forge::NbfPast => f.ours(
            f.es_header(Some("at+jwt")),
            f.with(json!({"nbf": now - 10})),
        ),
        Forge::IssuedInFuture => f.ours(
            f.es_header(Some("at+jwt")),
            f.with(json!({"iat": now + 3600})),
        ),
        Forge::WrongIss => f.ours(
            f.es_header(Some("at+jwt")),
            f.with(json!({"iss": "https://evil.example"})),
        ),
        Forge::IssTrailingSlash => f.ours(
            f.es_header(Some("at+jwt")),
            f.with(json!({"iss": format!("{}/", f.issuer)})),
        ),
        Forge::TypJwt => f.ours(f.es_header(Some("JWT")), claims),
        Forge::NoTyp => f.ours(f.es_header(None), claims),
        Forge::IdToken => t.id_token.clone(),
        Forge::FlippedSignature => flip(&t.access, 2),
        Forge::FlippedPayload => flip(&t.access, 1),
        Forge::Unsigned => {
            let mut parts: Vec<&str> = t.access.split('.').collect();
            parts[2] = "";
            parts.join(".")
        }
        Forge::GhostUser => f.ours(
            f.es_header(Some("at+jwt")),
            f.with(json!({"sub": "ghost-user-id", "jti": "ghost-jti"})),
        ),
        Forge::ClientCredentialsOpenid => t.cc_openid.clone(),
        Forge::ClientCredentials => t.cc.clone(),
        Forge::Revoked => t.revoked.clone(),
    }
}

async fn run_bearer_case(fx: &Fx, f: &Forger, t: &Tokens, case: &BearerCase) -> Result<(), String> {
    let token = forge(f, t, case.forge);
    let http = reqwest::Client::new();
    let url = fx.app.url("/userinfo");
    let req = match (case.forge, case.placement) {
        (Forge::Missing, _) => http.get(url),
        (_, Placement::Header) => http
            .get(url)
            .header("authorization", format!("Bearer {token}")),
        (_, Placement::LowerScheme) => http
            .get(url)
            .header("authorization", format!("bearer {token}")),
        (_, Placement::Query) => http.get(format!("{url}?access_token={token}")),
        (_, Placement::Body) => http.post(url).form(&[("access_token", token.as_str())]),
        (_, Placement::HeaderAndBody) => http
            .post(url)
            .header("authorization", format!("Bearer {token}"))
            .form(&[("access_token", token.as_str())]),
        (_, Placement::Basic) => http
            .get(url)
            .header("authorization", basic(&fx.conf.id, "x")),
        (_, Placement::EmptyBearer) => http.get(url).header("authorization", "Bearer "),
    };
    let res = req.send().await.map_err(|e| format!("userinfo: {e}"))?;
    let status = res.status().as_u16();
    let challenge = res
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    ensure!(status < 500, "userinfo server error {status}");
    match case.userinfo {
        Ui::Claims => {
            ensure!(
                status == 200 && body["sub"].is_string(),
                "expected claims, got {status} {body}"
            );
        }
        Ui::Bare => {
            ensure!(status == 401, "expected 401, got {status} {body}");
            ensure!(challenge.starts_with("Bearer"), "challenge {challenge:?}");
            ensure!(
                !challenge.contains("error="),
                "no credentials were presented, yet the challenge has an error: {challenge:?}"
            );
            ensure!(body.get("sub").is_none(), "claims were returned");
        }
        Ui::Err(want, error) => {
            ensure!(
                status == want,
                "expected {want} {error}, got {status} {body} ({challenge})"
            );
            ensure!(challenge.starts_with("Bearer"), "challenge {challenge:?}");
            ensure!(
                challenge.contains(&format!("error=\"{error}\"")),
                "challenge {challenge:?} lacks error=\"{error}\""
            );
        }
    }
    if let Some(active) = case.active {
        let res = reqwest::Client::new()
            .post(fx.app.url("/introspect"))
            .basic_auth(&fx.cc.id, fx.cc.secret.as_deref())
            .form(&[("token", token.as_str())])
            .send()
            .await
            .map_err(|e| format!("introspect: {e}"))?;
        let s = res.status().as_u16();
        let doc: Value = res.json().await.unwrap_or(Value::Null);
        ensure!(s == 200, "introspection answered {s} {doc}");
        if active {
            ensure!(
                doc["active"] == true,
                "introspection says {doc}, want active"
            );
        } else {
            ensure!(
                doc == json!({"active": false}),
                "introspection says {doc}, want exactly {{\"active\": false}}"
            );
        }
    }
    Ok(())
}

#[tokio::test]
async fn forged_and_misplaced_bearer_tokens() {
    let fx = fixture().await;
    let (_, _, body) = fx.tokens(Who::Conf).await;
    let access = body["access_token"].as_str().expect("at").to_owned();
    let id_token = body["id_token"].as_str().expect("id_token").to_owned();
    let (_, _, other) = fx.tokens(Who::Conf).await;
    let revoked = other["access_token"].as_str().expect("at").to_owned();
    let res = reqwest::Client::new()
        .post(fx.app.url("/revoke"))
        .basic_auth(&fx.conf.id, fx.conf.secret.as_deref())
        .form(&[("token", revoked.as_str())])
        .send()
        .await
        .expect("revoke");
    assert_eq!(res.status(), 200);
    let tokens = Tokens {
        access: access.clone(),
        id_token,
        revoked,
        cc_openid: fx.cc_token("openid").await,
        cc: fx.cc_token("profile").await,
    };
    let forger = Forger::new(&fx, &access);
    let table = bearer_table();
    let mut failures = Vec::new();
    for case in &table {
        if let Err(e) = run_bearer_case(&fx, &forger, &tokens, case).await {
            failures.push(format!("{} [{}]: {e}", case.name, case.rfc));
        }
    }
    report("bearer-token", failures);
}

// ---------------------------------------------------------------------------------------------
// Table 4: revocation (RFC 7009) and introspection (RFC 7662) client authentication and scope.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
enum Ep {
    Revoke,
    Introspect,
}

#[derive(Debug, Clone, Copy)]
enum Subject {
    /// conf's live refresh token.
    Refresh,
    /// conf's live access token.
    Access,
    Unknown,
    /// No token parameter.
    Missing,
    /// The token parameter twice.
    Repeated,
    /// A JSON body.
    Json,
}

#[derive(Debug, Clone, Copy)]
enum RiExpect {
    /// 200, and (for introspection) this `active`.
    Ok(Option<bool>),
    Err(u16, &'static str),
}

struct RiCase {
    name: &'static str,
    rfc: &'static str,
    ep: Ep,
    auth: Auth,
    subject: Subject,
    expect: RiExpect,
    /// Whether conf's refresh token must still work afterwards.
    refresh_alive: bool,
}

fn revoke_introspect_table() -> Vec<RiCase> {
    use Auth::*;
    use Ep::*;
    use Subject::*;
    let c = |name, rfc, ep, auth, subject, expect, refresh_alive| RiCase {
        name,
        rfc,
        ep,
        auth,
        subject,
        expect,
        refresh_alive,
    };
    let client = RiExpect::Err(401, "invalid_client");
    let request = RiExpect::Err(400, "invalid_request");
    vec![
        c(
            "revoke with a wrong secret",
            "RFC 7009 §2.1",
            Revoke,
            BasicSecret(Who::Conf, "ost_wrong"),
            Refresh,
            client,
            true,
        ),
        c(
            "revoke without client authentication",
            "RFC 7009 §2.1",
            Revoke,
            Auth::None,
            Refresh,
            client,
            true,
        ),
        c(
            "revoke by a confidential client without its secret",
            "RFC 7009 §2.1",
            Revoke,
            IdOnly(Who::Conf),
            Refresh,
            client,
            true,
        ),
        c(
            "revoke another client's refresh token",
            "RFC 7009 §2.1",
            Revoke,
            Own(Who::Conf2),
            Refresh,
            RiExpect::Ok(Option::None),
            true,
        ),
        c(
            "revoke an unknown token",
            "RFC 7009 §2.2",
            Revoke,
            Own(Who::Conf),
            Unknown,
            RiExpect::Ok(Option::None),
            true,
        ),
        c(
            "revoke without a token",
            "RFC 7009 §2.1",
            Revoke,
            Own(Who::Conf),
            Missing,
            request,
            true,
        ),
        c(
            "revoke with the token twice",
            "RFC 6749 §3.2",
            Revoke,
            Own(Who::Conf),
            Repeated,
            request,
            true,
        ),
        c(
            "revoke with a JSON body",
            "RFC 7009 §2.1",
            Revoke,
            Own(Who::Conf),
            Json,
            request,
            true,
        ),
        c(
            "introspect by a public client",
            "RFC 7662 §2.1",
            Introspect,
            IdOnly(Who::Public),
            Access,
            client,
            true,
        ),
        c(
            "introspect with a wrong secret",
            "RFC 7662 §2.1",
            Introspect,
            BasicSecret(Who::Cc, "ost_wrong"),
            Access,
            client,
            true,
        ),
        c(
            "introspect without client authentication",
            "RFC 7662 §2.1",
            Introspect,
            Auth::None,
            Access,
            client,
            true,
        ),
        c(
            "introspect with malformed Basic",
            "RFC 7662 §2.1",
            Introspect,
            Header("Basic %%%"),
            Access,
            client,
            true,
        ),
        c(
            "introspect without a token",
            "RFC 7662 §2.1",
            Introspect,
            Own(Who::Cc),
            Missing,
            request,
            true,
        ),
        c(
            "introspect with the token twice",
            "RFC 6749 §3.2",
            Introspect,
            Own(Who::Cc),
            Repeated,
            request,
            true,
        ),
        c(
            "introspect another client's refresh token",
            "RFC 7662 §2.2",
            Introspect,
            Own(Who::Cc),
            Refresh,
            RiExpect::Ok(Some(false)),
            true,
        ),
        c(
            "introspect an access token (resource server, control)",
            "RFC 7662 §2.2",
            Introspect,
            Own(Who::Cc),
            Access,
            RiExpect::Ok(Some(true)),
            true,
        ),
        c(
            "introspect one's own refresh token (control)",
            "RFC 7662 §2.2",
            Introspect,
            Own(Who::Conf),
            Refresh,
            RiExpect::Ok(Some(true)),
            true,
        ),
        c(
            "revoke one's own refresh token (control)",
            "RFC 7009 §2.1",
            Revoke,
            Own(Who::Conf),
            Refresh,
            RiExpect::Ok(Option::None),
            false,
        ),
    ]
}

async fn run_ri_case(fx: &Fx, case: &RiCase) -> Result<(), String> {
    let (_, _, body) = fx.tokens(Who::Conf).await;
    let refresh = body["refresh_token"].as_str().expect("rt").to_owned();
    let access = body["access_token"].as_str().expect("at").to_owned();
    let token = match case.subject {
        Subject::Refresh => refresh.clone(),
        Subject::Access => access,
        _ => "ostr_unknown".to_owned(),
    };
    let path = match case.ep {
        Ep::Revoke => "/revoke",
        Ep::Introspect => "/introspect",
    };
    let mut req = reqwest::Client::new().post(fx.app.url(path));
    let mut form: Vec<(String, String)> = Vec::new();
    match case.auth {
        Auth::Own(w) => {
            let c = fx.c(w);
            match &c.secret {
                Some(s) => req = req.header("authorization", basic(&c.id, s)),
                None => form.push(("client_id".into(), c.id.clone())),
            }
        }
        Auth::BasicSecret(w, s) => req = req.header("authorization", basic(&fx.c(w).id, s)),
        Auth::IdOnly(w) => form.push(("client_id".into(), fx.c(w).id.clone())),
        Auth::Header(h) => req = req.header("authorization", h),
        _ => {}
    }
    match case.subject {
        Subject::Missing => form.push(("token_type_hint".into(), "refresh_token".into())),
        Subject::Repeated => {
            form.push(("token".into(), token.clone()));
            form.push(("token".into(), token.clone()));
        }
        _ => form.push(("token".into(), token.clone())),
    }
    let req = match case.subject {
        Subject::Json => req.json(&json!({"token": token})),
        _ => req.form(&form),
    };
    let res = req.send().await.map_err(|e| format!("request: {e}"))?;
    let status = res.status().as_u16();
    let challenge = res
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let text = res.text().await.unwrap_or_default();
    let doc: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    ensure!(status < 500, "server error {status}");
    match case.expect {
        RiExpect::Ok(active) => {
            ensure!(status == 200, "expected 200, got {status} {text:.200}");
            if let Some(a) = active {
                ensure!(doc["active"] == a, "active is {}, want {a}", doc["active"]);
                if !a {
                    ensure!(
                        doc == json!({"active": false}),
                        "inactive answer leaks {doc}"
                    );
                }
            }
        }
        RiExpect::Err(want, error) => {
            ensure!(
                status == want && doc["error"] == error,
                "expected {want} {error}, got {status} {text:.200}"
            );
            if error == "invalid_client" {
                // RFC 6749 §5.2: a Basic challenge exactly when the header was used.
                let used_header = match case.auth {
                    Auth::Own(w) => fx.c(w).secret.is_some(),
                    Auth::BasicSecret(..) | Auth::Header(_) => true,
                    _ => false,
                };
                ensure!(
                    challenge.starts_with("Basic") == used_header,
                    "challenge {challenge:?} (Authorization header used: {used_header})"
                );
            }
        }
    }
    let res = fx.refresh(Who::Conf, &refresh).await;
    let alive = res.status() == 200;
    ensure!(
        alive == case.refresh_alive,
        "afterwards conf's refresh token {} (want {})",
        if alive { "works" } else { "is dead" },
        if case.refresh_alive {
            "working"
        } else {
            "dead"
        }
    );
    Ok(())
}

#[tokio::test]
async fn revocation_and_introspection_attacks() {
    let fx = fixture().await;
    let mut failures = Vec::new();
    for case in &revoke_introspect_table() {
        if let Err(e) = run_ri_case(&fx, case).await {
            failures.push(format!("{} [{}]: {e}", case.name, case.rfc));
        }
    }
    report("revocation/introspection", failures);
}

// ---------------------------------------------------------------------------------------------
// Table 5: RP-initiated logout never redirects to an unregistered URI.
// ---------------------------------------------------------------------------------------------

struct LogoutCase {
    name: &'static str,
    rfc: &'static str,
    post: bool,
    /// Parameters; values may use {hint}, {cid}, {cid2}, {access}.
    params: &'static [(&'static str, &'static str)],
    /// None: a 400 page without Location; Some: exactly this Location.
    redirect: Option<&'static str>,
}

fn lo(
    name: &'static str,
    rfc: &'static str,
    post: bool,
    params: &'static [(&'static str, &'static str)],
    redirect: Option<&'static str>,
) -> LogoutCase {
    LogoutCase {
        name,
        rfc,
        post,
        params,
        redirect,
    }
}

fn logout_table() -> Vec<LogoutCase> {
    let c = lo;
    vec![
        c(
            "registered URI with client_id (control)",
            "RP-Initiated Logout §3",
            false,
            &[
                ("client_id", "{cid}"),
                ("post_logout_redirect_uri", PLR),
                ("state", "s 1"),
            ],
            Some("http://127.0.0.1:9/bye?state=s+1"),
        ),
        c(
            "registered URI with id_token_hint (control)",
            "RP-Initiated Logout §3",
            false,
            &[
                ("id_token_hint", "{hint}"),
                ("post_logout_redirect_uri", PLR),
            ],
            Some(PLR),
        ),
        c(
            "unregistered URI with client_id",
            "RP-Initiated Logout §3",
            false,
            &[
                ("client_id", "{cid}"),
                ("post_logout_redirect_uri", "https://evil.example/"),
            ],
            None,
        ),
        c(
            "unregistered URI with id_token_hint",
            "RP-Initiated Logout §3",
            false,
            &[
                ("id_token_hint", "{hint}"),
                ("post_logout_redirect_uri", "https://evil.example/"),
            ],
            None,
        ),
        c(
            "unregistered URI by POST",
            "RP-Initiated Logout §3",
            true,
            &[
                ("client_id", "{cid}"),
                ("post_logout_redirect_uri", "https://evil.example/"),
            ],
            None,
        ),
        c(
            "URI without hint or client_id",
            "RP-Initiated Logout §3",
            false,
            &[("post_logout_redirect_uri", PLR)],
            None,
        ),
        c(
            "URI registered for another client",
            "RP-Initiated Logout §3",
            false,
            &[("client_id", "{cid}"), ("post_logout_redirect_uri", PLR2)],
            None,
        ),
        c(
            "the authorization redirect_uri is not a post-logout URI",
            "RP-Initiated Logout §3",
            false,
            &[
                ("client_id", "{cid}"),
                ("post_logout_redirect_uri", REDIRECT),
            ],
            None,
        ),
        c(
            "registered URI with a trailing slash",
            "RP-Initiated Logout §3",
            false,
            &[
                ("client_id", "{cid}"),
                ("post_logout_redirect_uri", "http://127.0.0.1:9/bye/"),
            ],
            None,
        ),
        c(
            "registered URI with an added query",
            "RP-Initiated Logout §3",
            false,
            &[
                ("client_id", "{cid}"),
                (
                    "post_logout_redirect_uri",
                    "http://127.0.0.1:9/bye?next=https://evil.example",
                ),
            ],
            None,
        ),
        c(
            "registered URI in upper case",
            "RP-Initiated Logout §3",
            false,
            &[
                ("client_id", "{cid}"),
                ("post_logout_redirect_uri", "HTTP://127.0.0.1:9/bye"),
            ],
            None,
        ),
        c(
            "javascript: URI",
            "RP-Initiated Logout §3",
            false,
            &[
                ("client_id", "{cid}"),
                ("post_logout_redirect_uri", "javascript:alert(1)"),
            ],
            None,
        ),
        c(
            "forged id_token_hint",
            "RP-Initiated Logout §2",
            false,
            &[
                ("id_token_hint", "a.b.c"),
                ("post_logout_redirect_uri", PLR),
            ],
            None,
        ),
        c(
            "id_token_hint for one client, client_id of another",
            "RP-Initiated Logout §2",
            false,
            &[
                ("id_token_hint", "{hint}"),
                ("client_id", "{cid2}"),
                ("post_logout_redirect_uri", PLR2),
            ],
            None,
        ),
        c(
            "id_token_hint with nbf 10 s ago (control)",
            "RP-Initiated Logout §2 / RFC 7519 §4.1.5",
            false,
            &[
                ("id_token_hint", "{hint_nbf_past}"),
                ("post_logout_redirect_uri", PLR),
            ],
            Some(PLR),
        ),
        c(
            "id_token_hint with nbf 120 s ahead",
            "RP-Initiated Logout §2 / RFC 7519 §4.1.5",
            false,
            &[
                ("id_token_hint", "{hint_nbf_ahead}"),
                ("post_logout_redirect_uri", PLR),
            ],
            None,
        ),
        c(
            "id_token_hint issued an hour in the future",
            "RP-Initiated Logout §2 / RFC 7519 §4.1.6",
            false,
            &[
                ("id_token_hint", "{hint_iat_ahead}"),
                ("post_logout_redirect_uri", PLR),
            ],
            None,
        ),
        c(
            "access token as id_token_hint",
            "RP-Initiated Logout §2",
            false,
            &[
                ("id_token_hint", "{access}"),
                ("post_logout_redirect_uri", PLR),
            ],
            None,
        ),
        c(
            "unknown client_id",
            "RP-Initiated Logout §2",
            false,
            &[
                ("client_id", "no-such-client"),
                ("post_logout_redirect_uri", PLR),
            ],
            None,
        ),
    ]
}

async fn run_logout_case(fx: &Fx, vars: &Vars, case: &LogoutCase) -> Result<(), String> {
    let params: Vec<(String, String)> = case
        .params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), vars.sub(v)))
        .collect();
    // A browser without a session: nothing to confirm, so only the redirect rules decide.
    let http = crate::helpers::browser();
    let url = fx.app.url("/logout");
    let req = if case.post {
        http.post(url).form(&params)
    } else {
        http.get(url).query(&params)
    };
    let res = req.send().await.map_err(|e| format!("logout: {e}"))?;
    let status = res.status().as_u16();
    let loc = location(&res);
    ensure!(status < 500, "server error {status}");
    match case.redirect {
        Some(want) => {
            ensure!(
                status == 302 || status == 303,
                "expected a redirect, got {status}"
            );
            ensure!(loc == want, "Location {loc:?}, want {want:?}");
        }
        None => {
            ensure!(
                status == 400,
                "expected the 400 page, got {status} (Location {loc:?})"
            );
            ensure!(
                res.headers().get("location").is_none(),
                "redirects to {loc:?}"
            );
        }
    }
    Ok(())
}

#[tokio::test]
async fn logout_never_redirects_to_unregistered_uris() {
    let fx = fixture().await;
    let (_, _, body) = fx.tokens(Who::Conf).await;
    let id_token = body["id_token"].as_str().expect("id");
    // The id_token's own claims with one time claim changed, signed by our real key.
    let f = Forger::new(&fx, id_token);
    let now = ostiary::db::now();
    let hint = |changes: Value| f.ours(f.es_header(Some("JWT")), f.with(changes));
    let vars = Vars(vec![
        ("{hint_nbf_past}", hint(json!({"nbf": now - 10}))),
        ("{hint_nbf_ahead}", hint(json!({"nbf": now + 120}))),
        ("{hint_iat_ahead}", hint(json!({"iat": now + 3600}))),
        ("{hint}", id_token.to_owned()),
        (
            "{access}",
            body["access_token"].as_str().expect("at").to_owned(),
        ),
        ("{cid2}", fx.conf2.id.clone()),
        ("{cid}", fx.conf.id.clone()),
    ]);
    let mut failures = Vec::new();
    for case in &logout_table() {
        if let Err(e) = run_logout_case(&fx, &vars, case).await {
            failures.push(format!("{} [{}]: {e}", case.name, case.rfc));
        }
    }
    report("logout", failures);
}

// ---------------------------------------------------------------------------------------------
// Table 6: CSRF on the consent and login forms, login open redirects, failed logins.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
enum Csrf {
    /// The form's own token (control).
    Own,
    Missing,
    Empty,
    /// Another browser's token.
    Foreign,
    /// The right token, but sent by a browser without the session cookie.
    NoCookie,
}

#[derive(Debug, Clone, Copy)]
enum FormKind {
    Consent,
    Login {
        password: &'static str,
        return_to: &'static str,
    },
}

#[derive(Debug, Clone, Copy)]
enum FormExpect {
    /// 400 "form expired" page, nothing stored.
    Refused,
    /// Consent: 302 (never 307) to the client with a code.
    Granted,
    /// Login: 303 to exactly this local path.
    LoggedIn(&'static str),
    /// Login: the form again, status 200, with the failure message.
    FormAgain,
}

struct FormCase {
    name: &'static str,
    rfc: &'static str,
    form: FormKind,
    csrf: Csrf,
    expect: FormExpect,
}

fn form_table() -> Vec<FormCase> {
    use Csrf::*;
    use FormExpect::*;
    let c = |name, rfc, form, csrf, expect| FormCase {
        name,
        rfc,
        form,
        csrf,
        expect,
    };
    let login = |password, return_to| FormKind::Login {
        password,
        return_to,
    };
    vec![
        c(
            "consent without a CSRF token",
            "RFC 9700 §4.7",
            FormKind::Consent,
            Missing,
            Refused,
        ),
        c(
            "consent with an empty CSRF token",
            "RFC 9700 §4.7",
            FormKind::Consent,
            Empty,
            Refused,
        ),
        c(
            "consent with another browser's CSRF token",
            "RFC 9700 §4.7",
            FormKind::Consent,
            Foreign,
            Refused,
        ),
        c(
            "consent from a browser without the session",
            "RFC 9700 §4.7",
            FormKind::Consent,
            NoCookie,
            Refused,
        ),
        c(
            "consent with its own token (control; 302, never 307)",
            "RFC 9700 §4.12",
            FormKind::Consent,
            Own,
            Granted,
        ),
        c(
            "login without a CSRF token",
            "RFC 9700 §4.7",
            login(USER.1, "/"),
            Missing,
            Refused,
        ),
        c(
            "login with another browser's CSRF token",
            "RFC 9700 §4.7",
            login(USER.1, "/"),
            Foreign,
            Refused,
        ),
        c(
            "login from a browser without the session",
            "RFC 9700 §4.7",
            login(USER.1, "/"),
            NoCookie,
            Refused,
        ),
        c(
            "failed login shows the form again with 200 (lead's change (e))",
            "RFC 9110 §15.5.2",
            login("wrong password", "/"),
            Own,
            FormAgain,
        ),
        c(
            "login return_to on another origin",
            "RFC 9700 §4.11",
            login(USER.1, "https://evil.example/"),
            Own,
            LoggedIn("/"),
        ),
        c(
            "login return_to protocol-relative",
            "RFC 9700 §4.11",
            login(USER.1, "//evil.example/authorize?x"),
            Own,
            LoggedIn("/"),
        ),
        c(
            "login return_to with a backslash",
            "RFC 9700 §4.11",
            login(USER.1, "/\\evil.example"),
            Own,
            LoggedIn("/"),
        ),
        c(
            "login return_to to our authorize endpoint (control)",
            "RFC 9700 §4.11",
            login(USER.1, "/authorize?client_id=x"),
            Own,
            LoggedIn("/authorize?client_id=x"),
        ),
    ]
}

fn hidden(html: &str, name: &str) -> Option<String> {
    let doc = scraper::Html::parse_document(html);
    let sel = scraper::Selector::parse(&format!("input[name={name}]")).expect("selector");
    doc.select(&sel)
        .next()
        .and_then(|e| e.value().attr("value"))
        .map(str::to_owned)
}

async fn foreign_csrf(fx: &Fx) -> String {
    let other = crate::helpers::browser();
    let html = other
        .get(fx.app.url("/login"))
        .send()
        .await
        .expect("login page")
        .text()
        .await
        .expect("html");
    TestApp::csrf_of(&html)
}

async fn run_form_case(fx: &Fx, idx: usize, case: &FormCase) -> Result<(), String> {
    let foreign = foreign_csrf(fx).await;
    let pick = |own: &str| -> Option<String> {
        match case.csrf {
            Csrf::Own | Csrf::NoCookie => Some(own.to_owned()),
            Csrf::Missing => None,
            Csrf::Empty => Some(String::new()),
            Csrf::Foreign => Some(foreign.clone()),
        }
    };
    let before = fx.counts();
    let sessions_before = fx.logged_in_sessions();
    let res = match case.form {
        FormKind::Consent => {
            // A request needing consent: conf was granted only "openid profile".
            let params = fx.auth_params(Who::Conf, "openid profile email", None);
            let page = fx.app.authorize(&pairs(&params)).await;
            ensure!(page.status() == 200, "no consent page ({})", page.status());
            security_headers(page.headers())?;
            let html = page.text().await.unwrap_or_default();
            let action = consent_action(&html);
            let mut form = vec![("decision".to_owned(), "allow".to_owned())];
            if let Some(t) = pick(&TestApp::csrf_of(&html)) {
                form.push(("csrf_token".into(), t));
            }
            let http = match case.csrf {
                Csrf::NoCookie => crate::helpers::browser(),
                _ => fx.app.client.clone(),
            };
            http.post(fx.app.url(&action))
                .form(&form)
                .send()
                .await
                .map_err(|e| format!("consent post: {e}"))?
        }
        FormKind::Login {
            password,
            return_to,
        } => {
            // Each case that reaches the password check signs in as its own user, so the
            // per-account admission bucket (a burst of 3) does not turn later cases into 429s.
            let username = format!("formcase{idx}");
            fx.app.user(&username, USER.1).await;
            let browser = crate::helpers::browser();
            let page = browser
                .get(fx.app.url("/login"))
                .send()
                .await
                .map_err(|e| format!("login page: {e}"))?;
            security_headers(page.headers())?;
            let html = page.text().await.unwrap_or_default();
            let mut form = vec![
                ("username".to_owned(), username.clone()),
                ("password".to_owned(), password.to_owned()),
                ("return_to".to_owned(), return_to.to_owned()),
            ];
            if let Some(t) = pick(&hidden(&html, "csrf_token").unwrap_or_default()) {
                form.push(("csrf_token".into(), t));
            }
            let http = match case.csrf {
                Csrf::NoCookie => crate::helpers::browser(),
                _ => browser,
            };
            http.post(fx.app.url("/login"))
                .form(&form)
                .send()
                .await
                .map_err(|e| format!("login post: {e}"))?
        }
    };
    let status = res.status().as_u16();
    let loc = location(&res);
    let html = res.text().await.unwrap_or_default();
    let after = fx.counts();
    let sessions_after = fx.logged_in_sessions();
    match case.expect {
        FormExpect::Refused => {
            ensure!(
                status == 400,
                "expected 400, got {status} (Location {loc:?})"
            );
            ensure!(loc.is_empty(), "redirects to {loc:?}");
            ensure!(after.codes == before.codes, "a code was stored");
            ensure!(after.consents == before.consents, "a consent row was added");
            ensure!(
                sessions_after == sessions_before,
                "a logged-in session was created"
            );
            if let FormKind::Consent = case.form {
                // The consent was not widened: asking again still shows the consent page.
                let params = fx.auth_params(Who::Conf, "openid profile email", None);
                let again = fx.app.authorize(&pairs(&params)).await;
                ensure!(
                    again.status() == 200,
                    "the refused consent was stored anyway"
                );
            }
        }
        FormExpect::Granted => {
            ensure!(
                status == 302 || status == 303,
                "expected 302/303 (never 307), got {status}"
            );
            ensure!(loc.starts_with(&format!("{REDIRECT}?")), "Location {loc:?}");
            ensure!(
                loc.contains("code=") && loc.contains("iss="),
                "Location {loc:?}"
            );
            ensure!(after.codes == before.codes + 1, "no code stored");
        }
        FormExpect::LoggedIn(want) => {
            ensure!(status == 303, "expected 303, got {status}");
            ensure!(loc == want, "Location {loc:?}, want {want:?}");
        }
        FormExpect::FormAgain => {
            ensure!(
                status == 200,
                "expected the form again with 200, got {status}"
            );
            ensure!(
                html.contains(ostiary::web::login::FAILED_LOGIN),
                "no failure message"
            );
            ensure!(hidden(&html, "csrf_token").is_some(), "no form");
            ensure!(
                sessions_after == sessions_before,
                "a logged-in session was created"
            );
        }
    }
    Ok(())
}

#[tokio::test]
async fn csrf_open_redirect_and_login_forms() {
    let fx = fixture().await;
    let mut failures = Vec::new();
    for (idx, case) in form_table().iter().enumerate() {
        if let Err(e) = run_form_case(&fx, idx, case).await {
            failures.push(format!("{} [{}]: {e}", case.name, case.rfc));
        }
    }
    report("form", failures);
}

// ---------------------------------------------------------------------------------------------
// Headers on every kind of page (RFC 9700 §4.16 clickjacking, §4.2.4 Referrer-Policy; the CSP's
// img-src names no host at large, RFC 7591 §5).
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn every_page_forbids_framing_and_referrers() {
    let fx = fixture().await;
    let fresh = crate::helpers::browser();
    let cases: Vec<(&str, reqwest::RequestBuilder)> = vec![
        ("login page", fresh.get(fx.app.url("/login"))),
        (
            "authorize error page",
            fresh.get(fx.app.url("/authorize?client_id=nope")),
        ),
        (
            "logout confirmation",
            fx.app.client.get(fx.app.url("/logout")),
        ),
        ("token error", fresh.post(fx.app.url("/token"))),
        ("userinfo error", fresh.get(fx.app.url("/userinfo"))),
        (
            "discovery",
            fresh.get(fx.app.url("/.well-known/openid-configuration")),
        ),
    ];
    let mut failures = Vec::new();
    for (name, req) in cases {
        let res = req.send().await.expect("request");
        if let Err(e) = security_headers(res.headers()) {
            failures.push(format!("{name} [RFC 9700 §4.16]: {e}"));
        }
    }
    report("header", failures);
}

// ---------------------------------------------------------------------------------------------
// Table 7: every JWT from outside meets one validation profile (`crypto::jwt::decode`): `nbf`
// checked whenever present, `iat` not in the future, 30 s of clock skew and no more. Client
// assertions (RFC 7523 §3) and token-exchange subject tokens (RFC 8693 §2.1; ours, re-signed
// here with our real key so only the time claims differ). The same rows for bearer tokens are
// in table 3 and for id_token_hint in table 5.
// ---------------------------------------------------------------------------------------------

const EXCHANGE_GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

#[derive(Debug, Clone, Copy)]
enum Presented {
    /// A private_key_jwt assertion at /token (client_credentials), signed by the client's key.
    Assertion,
    /// A subject token at /token (token exchange), signed by our ES256 key.
    SubjectToken,
}

/// A time claim's value: now plus these seconds, or a string where a NumericDate belongs.
#[derive(Debug, Clone, Copy)]
enum At {
    Now(i64),
    Text(&'static str),
}

struct JwtCase {
    name: &'static str,
    rfc: &'static str,
    presented: Presented,
    /// Claims replaced (the rest: a valid token of its kind, `exp` a minute ahead).
    times: &'static [(&'static str, At)],
    expect: Tok,
}

fn jwt_table() -> Vec<JwtCase> {
    use At::*;
    use Presented::*;
    let c = |name, rfc, presented, times, expect| JwtCase {
        name,
        rfc,
        presented,
        times,
        expect,
    };
    let client = Tok::Err(401, "invalid_client");
    let grant = Tok::Err(400, "invalid_grant");
    vec![
        c(
            "assertion (control)",
            "RFC 7523 §3",
            Assertion,
            &[],
            Tok::Ok,
        ),
        c(
            "assertion with nbf 120 s ahead",
            "RFC 7523 §3 item 5",
            Assertion,
            &[("nbf", Now(120))],
            client,
        ),
        c(
            "assertion with nbf 240 s ahead",
            "RFC 7523 §3 item 5",
            Assertion,
            &[("nbf", Now(240))],
            client,
        ),
        c(
            "assertion with nbf 10 s ago",
            "RFC 7523 §3 item 5",
            Assertion,
            &[("nbf", Now(-10))],
            Tok::Ok,
        ),
        c(
            "assertion with nbf 20 s ahead (within the 30 s leeway)",
            "RFC 7523 §3 item 5",
            Assertion,
            &[("nbf", Now(20))],
            Tok::Ok,
        ),
        c(
            "assertion with nbf that is not a number",
            "RFC 7519 §4.1.5",
            Assertion,
            &[("nbf", Text("soon"))],
            client,
        ),
        c(
            "assertion issued an hour in the future",
            "RFC 7519 §4.1.6 / RFC 7523 §3 item 6",
            Assertion,
            &[("iat", Now(3600))],
            client,
        ),
        c(
            "assertion issued 20 s in the future (within the leeway)",
            "RFC 7519 §4.1.6",
            Assertion,
            &[("iat", Now(20))],
            Tok::Ok,
        ),
        c(
            "assertion expired 40 s ago (beyond the leeway)",
            "RFC 7523 §3 item 4",
            Assertion,
            &[("exp", Now(-40)), ("iat", Now(-100))],
            client,
        ),
        c(
            "subject token (control, nbf 10 s ago)",
            "RFC 8693 §2.1",
            SubjectToken,
            &[("nbf", Now(-10))],
            Tok::Ok,
        ),
        c(
            "subject token with nbf 120 s ahead",
            "RFC 8693 §2.1 / RFC 7519 §4.1.5",
            SubjectToken,
            &[("nbf", Now(120))],
            grant,
        ),
        c(
            "subject token issued an hour in the future",
            "RFC 8693 §2.1 / RFC 7519 §4.1.6",
            SubjectToken,
            &[("iat", Now(3600))],
            grant,
        ),
    ]
}

/// The claims a case changes, as a JSON object of absolute values.
fn case_times(case: &JwtCase, now: i64) -> Value {
    let mut changes = json!({});
    for (claim, at) in case.times {
        changes[*claim] = match at {
            At::Now(d) => json!(now + d),
            At::Text(t) => json!(t),
        };
    }
    changes
}

struct JwtFx {
    key: aws_lc_rs::signature::EcdsaKeyPair,
    /// The private_key_jwt client.
    pk: TestClient,
    /// A client allowed to exchange tokens for https://api.example.
    exchanger: TestClient,
    forger: Forger,
}

fn assertion_for(fx: &Fx, j: &JwtFx, changes: &Value) -> String {
    let now = ostiary::db::now();
    let mut claims = json!({
        "iss": j.pk.id, "sub": j.pk.id, "aud": fx.app.address,
        "iat": now, "exp": now + 60, "jti": ostiary::random::token::<16>(),
    });
    for (k, v) in changes.as_object().expect("object") {
        claims[k] = v.clone();
    }
    jws(
        &json!({"alg": "ES256", "typ": "JWT", "kid": "pk-1"}),
        &claims,
        |m| attacker_sign(&j.key, m),
    )
}

async fn run_jwt_case(fx: &Fx, j: &JwtFx, case: &JwtCase) -> Result<(), String> {
    let changes = case_times(case, ostiary::db::now());
    let res = match case.presented {
        Presented::Assertion => {
            let assertion = assertion_for(fx, j, &changes);
            reqwest::Client::new()
                .post(fx.app.url("/token"))
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("client_assertion_type", ASSERTION_TYPE),
                    ("client_assertion", assertion.as_str()),
                ])
                .send()
                .await
                .map_err(|e| format!("token: {e}"))?
        }
        Presented::SubjectToken => {
            let f = &j.forger;
            let subject = f.ours(f.es_header(Some("at+jwt")), f.with(changes));
            fx.app
                .token(
                    &j.exchanger,
                    &[
                        ("grant_type", EXCHANGE_GRANT),
                        ("subject_token", subject.as_str()),
                        ("subject_token_type", ACCESS_TOKEN_TYPE),
                        ("audience", "https://api.example"),
                    ],
                )
                .await
        }
    };
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    match case.expect {
        Tok::Ok => ensure!(
            status == 200 && body["access_token"].is_string(),
            "expected a token, got {status} {body}"
        ),
        Tok::Err(want, error) => {
            ensure!(
                status == want && body["error"] == error,
                "expected {want} {error}, got {status} {body}"
            );
            ensure!(body.get("access_token").is_none(), "a token was issued");
        }
        Tok::Refused => ensure!((400..500).contains(&status), "got {status}"),
    }
    Ok(())
}

#[tokio::test]
async fn jwts_from_outside_are_refused_before_nbf_and_from_the_future() {
    let fx = fixture().await;
    let (key, mut jwk) = attacker_es256();
    jwk["kid"] = json!("pk-1");
    jwk["alg"] = json!("ES256");
    let jwks = json!({ "keys": [jwk] }).to_string();
    let pk = fx
        .app
        .client(&[
            "--auth-method",
            "private_key_jwt",
            "--jwks",
            &jwks,
            "--grant-type",
            "client_credentials",
        ])
        .await;
    let exchanger = fx
        .app
        .client(&[
            "--grant-type",
            EXCHANGE_GRANT,
            "--token-exchange-audience",
            "https://api.example",
        ])
        .await;
    let (_, _, body) = fx.tokens(Who::Conf).await;
    let forger = Forger::new(&fx, body["access_token"].as_str().expect("at"));
    let j = JwtFx {
        key,
        pk,
        exchanger,
        forger,
    };
    let mut failures = Vec::new();
    for case in &jwt_table() {
        if let Err(e) = run_jwt_case(&fx, &j, case).await {
            failures.push(format!("{} [{}]: {e}", case.name, case.rfc));
        }
    }
    report("JWT profile", failures);
}

// ---------------------------------------------------------------------------------------------
// Table 8: pages load no image from a host no administrator vouched for (RFC 7591 §5: a client's
// URLs shown to users are its own claim). An unverified client's logo_uri is neither shown nor
// referenced; a verified client's logo is, and the page's Content-Security-Policy lets that
// logo's origin, and no other, into img-src.
// ---------------------------------------------------------------------------------------------

const PIXEL: &str = "https://pixel.example/track.png?who=victim";
const LOGO: &str = "https://logos.example:8443/app.png";

#[derive(Debug, Clone, Copy)]
enum LogoClient {
    /// Registered itself (RFC 7591) with `logo_uri` PIXEL.
    SelfRegistered,
    /// The same kind of client after an administrator verified it.
    SelfRegisteredVerified,
    /// Created by an administrator (verified) with `logo_uri` LOGO.
    AdminCreated,
}

struct LogoCase {
    name: &'static str,
    rfc: &'static str,
    client: LogoClient,
    /// The logo the consent page must show, or None: no reference to the client's logo_uri.
    shows: Option<&'static str>,
    /// The consent page's img-src, exactly.
    img_src: &'static str,
}

fn logo_table() -> Vec<LogoCase> {
    use LogoClient::*;
    let c = |name, rfc, client, shows, img_src| LogoCase {
        name,
        rfc,
        client,
        shows,
        img_src,
    };
    vec![
        c(
            "unverified self-registered client: no logo, no reference",
            "RFC 7591 §5",
            SelfRegistered,
            None,
            "'self' data:",
        ),
        c(
            "the same client once verified: its logo",
            "RFC 7591 §5",
            SelfRegisteredVerified,
            Some(PIXEL),
            "'self' data: https://pixel.example",
        ),
        c(
            "administrator-created client: its logo",
            "RFC 7591 §5",
            AdminCreated,
            Some(LOGO),
            "'self' data: https://logos.example:8443",
        ),
    ]
}

fn img_src(csp: &str) -> String {
    csp.split(';')
        .map(str::trim)
        .find_map(|d| d.strip_prefix("img-src "))
        .unwrap_or_default()
        .to_owned()
}

async fn consent_page(
    app: &TestApp,
    b: &reqwest::Client,
    client_id: &str,
    redirect: &str,
) -> (String, String) {
    let (_, challenge) = pkce_pair();
    let res = b
        .get(app.url("/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", redirect),
            ("scope", "openid"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await
        .expect("authorize");
    let csp = res
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (res.text().await.expect("html"), csp)
}

/// A client that registers itself with PIXEL as its logo; verified by the admin in `b` if asked.
async fn self_registered(app: &TestApp, b: &reqwest::Client, verify: bool) -> String {
    let out = app
        .cli(
            &["registration", "token", "create", "--json", "--uses", "1"],
            None,
        )
        .await;
    assert!(out.ok(), "{}", out.stderr);
    let token: Value = serde_json::from_str(out.stdout.trim()).expect("json");
    let res = reqwest::Client::new()
        .post(app.url("/register"))
        .bearer_auth(token["token"].as_str().expect("token"))
        .json(&json!({"client_name": "Pixel App", "redirect_uris": [REDIRECT], "logo_uri": PIXEL}))
        .send()
        .await
        .expect("register");
    assert_eq!(res.status(), 201);
    let reg: Value = res.json().await.expect("json");
    let id = reg["client_id"].as_str().expect("id").to_owned();
    if verify {
        let csrf = TestApp::csrf_of(&app.html(b, "/admin/clients").await);
        let res = b
            .post(app.url(&format!("/admin/clients/{id}/state/verify")))
            .form(&[("csrf_token", csrf.as_str())])
            .send()
            .await
            .expect("verify");
        assert_eq!(res.status(), 303);
    }
    id
}

async fn run_logo_case(app: &TestApp, b: &reqwest::Client, case: &LogoCase) -> Result<(), String> {
    let id = match case.client {
        LogoClient::SelfRegistered => self_registered(app, b, false).await,
        LogoClient::SelfRegisteredVerified => self_registered(app, b, true).await,
        LogoClient::AdminCreated => app.client(&["--logo-uri", LOGO]).await.id,
    };
    let (html, csp) = consent_page(app, b, &id, REDIRECT).await;
    ensure!(
        html.contains("wants to access your account"),
        "not the consent page: {html}"
    );
    match case.shows {
        Some(logo) => {
            let doc = scraper::Html::parse_document(&html);
            let sel = scraper::Selector::parse("img.client-logo").expect("selector");
            let src = doc.select(&sel).next().and_then(|e| e.value().attr("src"));
            ensure!(src == Some(logo), "the logo shown is {src:?}, want {logo}");
        }
        None => {
            ensure!(
                !html.contains("pixel.example"),
                "the page references the client's logo_uri"
            );
            ensure!(
                html.contains("client-initial"),
                "no placeholder for the logo"
            );
        }
    }
    ensure!(
        img_src(&csp) == case.img_src,
        "img-src is {:?}, want {:?}",
        img_src(&csp),
        case.img_src
    );
    Ok(())
}

#[tokio::test]
async fn unverified_clients_logos_are_never_loaded() {
    let app = spawn_app().await;
    crate::helpers::add_user(&app.db, "root", "root's password", true).await;
    let b = crate::helpers::browser();
    assert_eq!(
        app.login_with(&b, "root", "root's password").await.status(),
        303
    );
    let mut failures = Vec::new();
    for case in &logo_table() {
        if let Err(e) = run_logo_case(&app, &b, case).await {
            failures.push(format!("{} [{}]: {e}", case.name, case.rfc));
        }
    }
    // Every other page: images from us only.
    let res = b.get(app.url("/account")).send().await.expect("account");
    let csp = res
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if img_src(&csp) != "'self' data:" {
        failures.push(format!(
            "account page [CSP]: img-src is {:?}",
            img_src(&csp)
        ));
    }
    report("client logo", failures);
}

// ---------------------------------------------------------------------------------------------
// Table 9: what a client may make of itself (RFC 7591 §3.2.2, RFC 7592 §2.2): every way a client comes to
// exist is held to one policy; `/register` and updates here, metadata documents in
// `metadata_document::a_document_is_held_to_the_registration_limits`, consents ending on a moved
// redirect in `registration::moving_redirects_to_a_new_host_or_widening_scopes_ends_consents_and_verification`.
// ---------------------------------------------------------------------------------------------

const REG_CB: &str = "http://127.0.0.1:9/reg-cb";

#[derive(Clone, Copy)]
enum Via {
    /// `POST /register` with the body.
    Register,
    /// A valid registration first, then `PUT` of the body (with the client's id) by its
    /// registration access token.
    Update,
}

struct RegCase {
    name: &'static str,
    rfc: &'static str,
    via: Via,
    body: Value,
    /// Status and `error` (empty: success).
    expect: (u16, &'static str),
}

fn reg(
    name: &'static str,
    rfc: &'static str,
    via: Via,
    body: Value,
    expect: (u16, &'static str),
) -> RegCase {
    RegCase {
        name,
        rfc,
        via,
        body,
        expect,
    }
}

fn registration_table() -> Vec<RegCase> {
    let cb = json!([REG_CB]);
    vec![
        reg(
            "scope beyond the registration policy",
            "RFC 7591 §2 scope; issue 21.1",
            Via::Register,
            json!({"redirect_uris": cb, "scope": "openid admin payments:write"}),
            (400, "invalid_client_metadata"),
        ),
        reg(
            "a grant beyond the policy",
            "RFC 7591 §2 grant_types",
            Via::Register,
            json!({"redirect_uris": cb, "grant_types": ["authorization_code", "client_credentials"]}),
            (400, "invalid_client_metadata"),
        ),
        reg(
            "token exchange by a client of its own making",
            "RFC 8693 §5",
            Via::Register,
            json!({"redirect_uris": cb, "grant_types": ["urn:ietf:params:oauth:grant-type:token-exchange"]}),
            (400, "invalid_client_metadata"),
        ),
        reg(
            "a redirect URI outside registration_redirect_hosts",
            "RFC 7591 §2 redirect_uris",
            Via::Register,
            json!({"redirect_uris": ["https://collector.example/cb"]}),
            (400, "invalid_redirect_uri"),
        ),
        reg(
            "a post-logout redirect outside the allowed hosts",
            "OIDC RP-Initiated Logout §3.1",
            Via::Register,
            json!({"redirect_uris": cb, "post_logout_redirect_uris": ["https://collector.example/bye"]}),
            (400, "invalid_redirect_uri"),
        ),
        reg(
            "administrator's fields in the metadata are ignored",
            "RFC 7591 §2 (unknown members)",
            Via::Register,
            json!({"redirect_uris": cb, "minimum_acr": "urn:ostiary:acr:password", "token_exchange_audiences": ["https://api.example"]}),
            (201, ""),
        ),
        reg(
            "an update widening the scope beyond the policy",
            "RFC 7592 §2.2",
            Via::Update,
            json!({"redirect_uris": cb, "scope": "openid admin"}),
            (400, "invalid_client_metadata"),
        ),
        reg(
            "an update adding a grant beyond the policy",
            "RFC 7592 §2.2",
            Via::Update,
            json!({"redirect_uris": cb, "grant_types": ["client_credentials"]}),
            (400, "invalid_client_metadata"),
        ),
        reg(
            "an update moving the redirect outside the allowed hosts",
            "RFC 7592 §2.2",
            Via::Update,
            json!({"redirect_uris": ["https://collector.example/cb"]}),
            (400, "invalid_redirect_uri"),
        ),
    ]
}

async fn run_registration_case(app: &TestApp, case: &RegCase) -> Result<(), String> {
    let http = reqwest::Client::new();
    let res = match case.via {
        Via::Register => http.post(app.url("/register")).json(&case.body),
        Via::Update => {
            let first: Value = http
                .post(app.url("/register"))
                .json(&json!({"redirect_uris": [REG_CB], "scope": "openid"}))
                .send()
                .await
                .map_err(|e| e.to_string())?
                .json()
                .await
                .map_err(|e| e.to_string())?;
            let mut body = case.body.clone();
            body["client_id"] = first["client_id"].clone();
            let uri = first["registration_client_uri"]
                .as_str()
                .unwrap_or_default();
            let rat = first["registration_access_token"]
                .as_str()
                .unwrap_or_default();
            http.put(uri).bearer_auth(rat).json(&body)
        }
    };
    let before = app.count("clients");
    let res = res.send().await.map_err(|e| e.to_string())?;
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    let error = body["error"].as_str().unwrap_or("");
    ensure!(
        (status, error) == case.expect,
        "got {status} {body}, expected {:?}",
        case.expect
    );
    if status >= 400 {
        ensure!(
            app.count("clients") == before,
            "a refused registration stored a client"
        );
        ensure!(
            app.count(
                "clients WHERE scopes LIKE '%admin%' OR grant_types LIKE '%client_credentials%'"
            ) == 0,
            "a refused update changed the stored client"
        );
    } else {
        let id = body["client_id"].as_str().unwrap_or_default();
        ensure!(
            app.count(&format!("clients WHERE client_id = '{id}' AND minimum_acr IS NULL AND token_exchange_audiences IS NULL AND NOT verified")) == 1,
            "a client set what only an administrator sets: {body}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn clients_cannot_register_beyond_the_registration_policy() {
    let app = crate::helpers::spawn_app_on(crate::helpers::test_db(), |a| {
        a.registration = Some("open".into());
        a.registrations_per_address = Some(1000);
        a.registration_redirect_hosts = Some("127.0.0.1".into());
    })
    .await;
    let mut failures = Vec::new();
    for case in registration_table() {
        if let Err(e) = run_registration_case(&app, &case).await {
            failures.push(format!("{} [{}]: {e}", case.name, case.rfc));
        }
    }
    report("registration", failures);
}

// ---------------------------------------------------------------------------------------------
// Table 10 (issue 21, accounts): links mailed before an email change, used after it; and account
// enumeration at sign-up (OWASP WSTG-IDNT-04) where verification is required.
// ---------------------------------------------------------------------------------------------

/// Which link, mailed before the change was confirmed, is used afterwards.
#[derive(Debug, Clone, Copy)]
enum OldLink {
    /// The reset link sent to the old address.
    Reset,
    /// The verification link sent to the old address.
    Verify,
    /// A second email-change link (to another new address), pending when the first was confirmed.
    OtherChange,
}

#[derive(Debug, Clone, Copy)]
enum LinkUse {
    /// GET the link (its page).
    Open,
    /// POST its token with the form (a new password for a reset).
    Post,
}

struct StaleLinkCase {
    name: &'static str,
    rfc: &'static str,
    link: OldLink,
    request: LinkUse,
    /// The exact status; the page always says the link cannot be used and nothing changes.
    status: u16,
}

fn stale_link_table() -> Vec<StaleLinkCase> {
    use LinkUse::*;
    use OldLink::*;
    let c = |name, rfc, link, request| StaleLinkCase {
        name,
        rfc,
        link,
        request,
        status: 400,
    };
    vec![
        c(
            "old reset link opened",
            "WSTG-ATHN-09; ASVS 4.0 2.5",
            Reset,
            Open,
        ),
        c(
            "old reset link posted with a new password",
            "WSTG-ATHN-09",
            Reset,
            Post,
        ),
        c("old verification link opened", "ASVS 4.0 2.5", Verify, Open),
        c(
            "old verification link confirmed",
            "ASVS 4.0 2.5",
            Verify,
            Post,
        ),
        c(
            "second pending change link opened",
            "ASVS 4.0 2.5",
            OtherChange,
            Open,
        ),
        c(
            "second pending change link confirmed",
            "ASVS 4.0 2.5",
            OtherChange,
            Post,
        ),
    ]
}

/// A mail app, "vic" signed in (in `app.client`) with a reset link, a verification link and two
/// email-change links outstanding; the change to vic.new@ is then confirmed. Returns the links.
async fn stale_link_fixture() -> (crate::mail::SmtpSink, TestApp, [String; 3]) {
    use crate::mail::{ask_email_change, ask_reset, confirm_link, link_in, SmtpSink, MAIL_WAIT};
    let sink = SmtpSink::start().await;
    let app = crate::mail::mail_app(sink.url()).await;
    app.user("vic", "vic's long password").await;
    assert_eq!(
        ask_reset(&app, &crate::helpers::browser(), "vic").await.0,
        200
    );
    let res = app
        .login_with(&app.client, "vic", "vic's long password")
        .await;
    assert_eq!(res.status(), 303);
    let html = app.html(&app.client, "/account/email").await;
    let res = app
        .client
        .post(app.url("/account/email/verify"))
        .form(&[("csrf_token", TestApp::csrf_of(&html).as_str())])
        .send()
        .await
        .expect("resend");
    assert_eq!(res.status(), 200);
    for to in ["vic.new@example.test", "vic.other@example.test"] {
        assert_eq!(ask_email_change(&app, "vic's long password", to).await, 200);
    }
    // Two from the requests, two change notices: all to the old address.
    let old = sink.wait_for_mails("vic@example.test", 4, MAIL_WAIT).await;
    let of = |subject: &str, path: &str| {
        let m = old
            .iter()
            .find(|m| {
                m["subject"]
                    .as_str()
                    .is_some_and(|s| s.starts_with(subject))
            })
            .unwrap_or_else(|| panic!("no {subject} mail"));
        link_in(m, path)
    };
    let reset = of("Reset your password", "/reset-password");
    let verify = of("Confirm your email address", "/verify-email");
    let other = link_in(
        &sink
            .wait_for_mail("vic.other@example.test", MAIL_WAIT)
            .await,
        "/email-change/confirm",
    );
    let first = link_in(
        &sink.wait_for_mail("vic.new@example.test", MAIL_WAIT).await,
        "/email-change/confirm",
    );
    let (s, body) = confirm_link(
        &app,
        &crate::helpers::browser(),
        &first,
        "/email-change/confirm",
    )
    .await;
    assert_eq!(s, 200, "{body}");
    (sink, app, [reset, verify, other])
}

async fn run_stale_link_case(
    app: &TestApp,
    links: &[String; 3],
    case: &StaleLinkCase,
) -> Result<(), String> {
    let (link, path) = match case.link {
        OldLink::Reset => (&links[0], "/reset-password"),
        OldLink::Verify => (&links[1], "/verify-email"),
        OldLink::OtherChange => (&links[2], "/email-change/confirm"),
    };
    let before = crate::mail::password_hash(app, "vic");
    let b = crate::helpers::browser();
    let status = match case.request {
        LinkUse::Open => {
            let res = b.get(link).send().await.map_err(|e| e.to_string())?;
            let status = res.status().as_u16();
            let body = res.text().await.map_err(|e| e.to_string())?;
            ensure!(
                body.contains("This link cannot be used"),
                "the page does not say the link cannot be used"
            );
            status
        }
        LinkUse::Post => {
            let pw = [
                ("new_password", "an attacker's choice"),
                ("confirm_password", "an attacker's choice"),
            ];
            let extra: &[(&str, &str)] = match case.link {
                OldLink::Reset => &pw,
                _ => &[],
            };
            crate::mail::post_token(app, &b, link, path, extra).await
        }
    };
    ensure!(
        status == case.status,
        "status {status}, expected {}",
        case.status
    );
    ensure!(
        crate::mail::password_hash(app, "vic") == before,
        "the password changed"
    );
    let moved = count_sql(
        app,
        "SELECT count(*) AS n FROM users WHERE username = 'vic' \
         AND email = 'vic.new@example.test' AND email_verified = TRUE",
    );
    ensure!(moved == 1, "the address is no longer vic.new@example.test");
    Ok(())
}

#[tokio::test]
async fn links_mailed_before_an_email_change_are_dead_after_it() {
    let (_sink, app, links) = stale_link_fixture().await;
    let mut failures = Vec::new();
    for case in stale_link_table() {
        if let Err(e) = run_stale_link_case(&app, &links, &case).await {
            failures.push(format!("{} [{}]: {e}", case.name, case.rfc));
        }
    }
    report("stale account link", failures);
}

/// What a sign-up attempt must get, verification required.
#[derive(Debug, Clone, Copy)]
enum SignupExpect {
    /// Exactly the answer a new address gets (status, Location, cookies, page but CSRF tokens);
    /// `owner_mailed`: the address is olive's, who gets one notice; no account is created.
    LikeNew { owner_mailed: bool },
    /// 400, the page contains the first text and not the second; nothing stored or mailed.
    Refused(&'static str, &'static str),
}

struct SignupCase {
    name: &'static str,
    rfc: &'static str,
    username: &'static str,
    email: &'static str,
    expect: SignupExpect,
}

fn signup_table() -> Vec<SignupCase> {
    use SignupExpect::*;
    let c = |name, rfc, username, email, expect| SignupCase {
        name,
        rfc,
        username,
        email,
        expect,
    };
    let notified = LikeNew { owner_mailed: true };
    let taken = Refused("is taken", "already in use");
    vec![
        c(
            "new address (control)",
            "WSTG-IDNT-04",
            "mal-1",
            "mal-1@example.test",
            LikeNew {
                owner_mailed: false,
            },
        ),
        c(
            "address in use",
            "WSTG-IDNT-04",
            "mal-2",
            "olive@example.test",
            notified,
        ),
        c(
            "address in use, other case",
            "WSTG-IDNT-04",
            "mal-3",
            "OLIVE@example.TEST",
            notified,
        ),
        c(
            "address in use, spaces around",
            "WSTG-IDNT-04",
            "mal-4",
            " olive@example.test ",
            notified,
        ),
        c(
            "username taken, new address",
            "RFC 8265 (names are shown)",
            "olive",
            "mal-5@example.test",
            taken,
        ),
        c(
            "username taken, address in use",
            "WSTG-IDNT-04; RFC 8265",
            "Olive",
            "olive@example.test",
            taken,
        ),
    ]
}

async fn run_signup_case(
    app: &TestApp,
    like_new: &(u16, String, Vec<String>, String),
    case: &SignupCase,
) -> Result<(), String> {
    use crate::signup::{observable, stranger_signs_up};
    let mails = |app| {
        count_sql(
            app,
            "SELECT count(*) AS n FROM outbox WHERE recipient = 'olive@example.test'",
        )
    };
    let (users, owner_mails) = (
        count_sql(app, "SELECT count(*) AS n FROM users"),
        mails(app),
    );
    let res = stranger_signs_up(app, "/signup", case.username, case.email).await;
    let created = count_sql(app, "SELECT count(*) AS n FROM users") - users;
    let mailed = mails(app) - owner_mails;
    match case.expect {
        SignupExpect::LikeNew { owner_mailed } => {
            let got = observable(res).await;
            ensure!(
                got == *like_new,
                "answered {:?}, a new address gets {:?}",
                got,
                like_new
            );
            ensure!(
                created == i64::from(!owner_mailed),
                "{created} accounts created"
            );
            ensure!(
                mailed == i64::from(owner_mailed),
                "{mailed} mails to the owner"
            );
        }
        SignupExpect::Refused(has, lacks) => {
            let status = res.status().as_u16();
            let body = res.text().await.map_err(|e| e.to_string())?;
            ensure!(status == 400, "status {status}");
            ensure!(
                body.contains(has) && !body.contains(lacks),
                "the page: {body}"
            );
            ensure!(
                created == 0 && mailed == 0,
                "{created} created, {mailed} mailed"
            );
        }
    }
    Ok(())
}

#[tokio::test]
async fn sign_up_does_not_tell_which_addresses_are_registered() {
    let (_sink, app) = crate::signup::verifying_app().await;
    let like_new = crate::signup::observable(
        crate::signup::stranger_signs_up(&app, "/signup", "baseline", "baseline@example.test")
            .await,
    )
    .await;
    let mut failures = Vec::new();
    for case in signup_table() {
        if let Err(e) = run_signup_case(&app, &like_new, &case).await {
            failures.push(format!("{} [{}]: {e}", case.name, case.rfc));
        }
    }
    report("sign-up enumeration", failures);
}

// ---------------------------------------------------------------------------------------------
// Table 11: names that pass for other names (issue 21 items 4 and 5). A self-registered client's
// name is shown on the consent page: a bidi control reorders it (UAX #9: `Evil\u{202e}elgooG`
// reads "EvilGoogle"), an invisible character hides in it (Unicode Cf, Zl, Zp), a look-alike
// (UTS #39 §4 confusable skeleton) passes for an administrator's client. RFC 7591 §3.2.2:
// refused with `invalid_client_metadata`, nothing stored.
// ---------------------------------------------------------------------------------------------

struct NameCase {
    name: &'static str,
    reference: &'static str,
    client_name: &'static str,
    /// Status, `error`, and a part of `error_description`.
    expect: (u16, Option<&'static str>, &'static str),
}

fn nm(
    name: &'static str,
    reference: &'static str,
    client_name: &'static str,
    expect: (u16, Option<&'static str>, &'static str),
) -> NameCase {
    NameCase {
        name,
        reference,
        client_name,
        expect,
    }
}

const INVISIBLE: (u16, Option<&str>, &str) = (
    400,
    Some("invalid_client_metadata"),
    "client_name: must not contain control, formatting",
);
const LOOK_ALIKE: (u16, Option<&str>, &str) = (
    400,
    Some("invalid_client_metadata"),
    "client_name: too similar to the name of another application",
);

fn name_table() -> Vec<NameCase> {
    let bidi = "UAX #9 §2 (Cf)";
    let invisible = "Unicode Cf";
    vec![
        nm(
            "right-to-left override",
            bidi,
            "Evil\u{202e}elgooG",
            INVISIBLE,
        ),
        nm("left-to-right override", bidi, "a\u{202d}b", INVISIBLE),
        nm("right-to-left embedding", bidi, "a\u{202b}b", INVISIBLE),
        nm("left-to-right embedding", bidi, "a\u{202a}b", INVISIBLE),
        nm("pop directional formatting", bidi, "a\u{202c}b", INVISIBLE),
        nm("right-to-left isolate", bidi, "a\u{2067}b", INVISIBLE),
        nm("left-to-right isolate", bidi, "a\u{2066}b", INVISIBLE),
        nm("first strong isolate", bidi, "a\u{2068}b", INVISIBLE),
        nm("pop directional isolate", bidi, "a\u{2069}b", INVISIBLE),
        nm("right-to-left mark", bidi, "a\u{200f}b", INVISIBLE),
        nm("left-to-right mark", bidi, "a\u{200e}b", INVISIBLE),
        nm("Arabic letter mark", bidi, "a\u{61c}b", INVISIBLE),
        nm(
            "zero-width space",
            invisible,
            "Exam\u{200b}ple Bank",
            INVISIBLE,
        ),
        nm("zero-width joiner", invisible, "a\u{200d}b", INVISIBLE),
        nm("zero-width non-joiner", invisible, "a\u{200c}b", INVISIBLE),
        nm("word joiner", invisible, "a\u{2060}b", INVISIBLE),
        nm("byte-order mark", invisible, "\u{feff}App", INVISIBLE),
        nm("soft hyphen", invisible, "Pay\u{ad}Pal", INVISIBLE),
        nm(
            "tag characters",
            invisible,
            "App\u{e0041}\u{e007f}",
            INVISIBLE,
        ),
        nm("line separator", "Unicode Zl", "a\u{2028}b", INVISIBLE),
        nm("paragraph separator", "Unicode Zp", "a\u{2029}b", INVISIBLE),
        nm("C0 control", "Unicode Cc", "a\u{1b}[31mb", INVISIBLE),
        nm("C1 control", "Unicode Cc", "a\u{9b}b", INVISIBLE),
        nm(
            "Hangul filler as a name",
            "UAX #44 Default_Ignorable",
            "\u{3164}",
            INVISIBLE,
        ),
        nm(
            "the admin client's name",
            "UTS #39 §4",
            "Example Bank",
            LOOK_ALIKE,
        ),
        nm("another case", "UTS #39 §4", "EXAMPLE BANK", LOOK_ALIKE),
        nm(
            "Cyrillic а and е",
            "UTS #39 §4",
            "Ex\u{430}mpl\u{435} Bank",
            LOOK_ALIKE,
        ),
        nm("digit one for l", "UTS #39 §4", "Examp1e Bank", LOOK_ALIKE),
        nm("doubled space", "UTS #39 §4", "Example  Bank", LOOK_ALIKE),
        nm(
            "a name of its own",
            "RFC 7591 §3.2.1",
            "Examples Bank",
            (201, None, ""),
        ),
    ]
}

async fn run_name_case(app: &TestApp, token: &str, case: &NameCase) -> Result<(), String> {
    let before = app.count("clients");
    let res = reqwest::Client::new()
        .post(app.url("/register"))
        .bearer_auth(token)
        .json(&json!({"client_name": case.client_name, "redirect_uris": [REDIRECT]}))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    let (want_status, want_error, want_description) = case.expect;
    ensure!(
        status == want_status,
        "status {status}, want {want_status}: {body}"
    );
    if let Some(error) = want_error {
        ensure!(
            body["error"] == error,
            "error {}, want {error}",
            body["error"]
        );
        let description = body["error_description"].as_str().unwrap_or("");
        ensure!(
            description.contains(want_description),
            "error_description {description:?} lacks {want_description:?}"
        );
        ensure!(
            app.count("clients") == before,
            "a refused client was stored"
        );
    }
    Ok(())
}

#[tokio::test]
async fn client_names_that_pass_for_others_are_refused_at_registration() {
    let app = spawn_app().await;
    let out = app
        .cli(
            &[
                "client",
                "add",
                "--name",
                "Example Bank",
                "--redirect-uri",
                REDIRECT,
            ],
            None,
        )
        .await;
    assert!(out.ok(), "{}", out.stderr);
    let out = app
        .cli(&["registration", "token", "create", "--json"], None)
        .await;
    assert!(out.ok(), "{}", out.stderr);
    let token: Value = serde_json::from_str(out.stdout.trim()).expect("json");
    let token = token["token"].as_str().expect("token").to_owned();
    let mut failures = Vec::new();
    for case in name_table() {
        if let Err(e) = run_name_case(&app, &token, &case).await {
            failures.push(format!("{} [{}]: {e}", case.name, case.reference));
        }
    }
    report("client name", failures);
}
