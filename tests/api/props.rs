//! Property tests: request parsing at /authorize and /token never fails with a 5xx or a panic
//! and always answers with a standard error; redirect-URI matching and registration rules;
//! forged and mutated JWTs are always refused at /userinfo and /introspect.
//!
//! The HTTP properties run a bounded number of cases against one server per test (a
//! multi-thread runtime owned by the test, `block_on` inside proptest's synchronous closure).

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{json, Value};

use ostiary::oauth::client_policy::check_redirect_uri;
use ostiary::oauth::registrar::redirect_matches;

use crate::helpers::{location, pkce_pair, query_param, spawn_app, TestApp, TestClient, REDIRECT};

const USER: (&str, &str) = ("prop-user", "prop user's password");

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        // No regression files written into the source tree.
        failure_persistence: None,
        max_shrink_iters: 256,
        ..Config::default()
    })
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

struct PropApp {
    app: TestApp,
    conf: TestClient,
    public: TestClient,
    cc: TestClient,
    /// A user's access token (openid profile) and a client_credentials one.
    user_access: String,
    cc_access: String,
}

async fn prop_app() -> PropApp {
    let app = spawn_app().await;
    app.user(USER.0, USER.1).await;
    let conf = app.client(&[]).await;
    let public = app.client(&["--public"]).await;
    let cc = app.client(&["--grant-type", "client_credentials"]).await;
    let mut user_access = String::new();
    for c in [&conf, &public] {
        let (verifier, challenge) = pkce_pair();
        let url = app
            .code_flow(
                c,
                &[
                    ("response_type", "code"),
                    ("client_id", c.id.as_str()),
                    ("redirect_uri", c.redirect_uri.as_str()),
                    ("scope", "openid profile"),
                    ("state", "s"),
                    ("code_challenge", challenge.as_str()),
                    ("code_challenge_method", "S256"),
                ],
                USER,
            )
            .await;
        let code = query_param(&url, "code").expect("code");
        let res = app
            .token(
                c,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", &c.redirect_uri),
                    ("code_verifier", &verifier),
                ],
            )
            .await;
        let body: Value = res.json().await.expect("json");
        user_access = body["access_token"].as_str().expect("at").to_owned();
    }
    let body: Value = app
        .token(&cc, &[("grant_type", "client_credentials")])
        .await
        .json()
        .await
        .expect("json");
    let cc_access = body["access_token"].as_str().expect("at").to_owned();
    PropApp {
        app,
        conf,
        public,
        cc,
        user_access,
        cc_access,
    }
}

// ---------------------------------------------------------------------------------------------
// (1) Parameter parsing at /authorize and /token.
// ---------------------------------------------------------------------------------------------

/// One generated parameter: a key, a value, and whether the value goes in raw (possibly with
/// invalid percent-escapes) or properly encoded.
#[derive(Debug, Clone)]
struct P {
    key: String,
    value: String,
    raw: bool,
    /// Replace the base request's parameter of that key instead of adding one.
    replace: bool,
}

fn value_strategy(known: Vec<String>) -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(known),
        2 => "\\PC{0,40}",
        2 => "[A-Za-z0-9%+=&._~ -]{0,30}",
        1 => proptest::sample::select(vec![
            "%FF".to_owned(),
            "%C3%28".to_owned(),
            "%ED%A0%80".to_owned(),
            "%".to_owned(),
            "%G1".to_owned(),
            "%00".to_owned(),
            "a%2".to_owned(),
            String::new(),
        ]),
    ]
}

fn param_strategy(keys: Vec<&'static str>, known: Vec<String>) -> impl Strategy<Value = P> {
    let keys: Vec<String> = keys.into_iter().map(str::to_owned).collect();
    (
        prop_oneof![4 => proptest::sample::select(keys), 1 => "[a-z_%]{1,12}"],
        value_strategy(known),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(key, value, raw, replace)| P {
            key,
            value,
            raw,
            replace,
        })
}

fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The base pairs with the generated ones applied, as a query string or form body.
fn build(base: &[(String, String)], keep: &[bool], extra: &[P]) -> String {
    let mut pairs: Vec<(String, String, bool)> = base
        .iter()
        .zip(keep.iter().chain(std::iter::repeat(&true)))
        .filter(|(_, k)| **k)
        .map(|((k, v), _)| (k.clone(), v.clone(), false))
        .collect();
    for p in extra {
        match pairs.iter_mut().find(|(k, _, _)| *k == p.key) {
            Some(slot) if p.replace => {
                slot.1 = p.value.clone();
                slot.2 = p.raw;
            }
            _ => pairs.push((p.key.clone(), p.value.clone(), p.raw)),
        }
    }
    pairs
        .iter()
        .map(|(k, v, raw)| {
            if *raw {
                // Raw: only what would break the URL itself is escaped.
                let v = v.replace('#', "%23").replace(' ', "+");
                format!("{}={v}", encode(k))
            } else {
                format!("{}={}", encode(k), encode(v))
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

const AUTHORIZE_KEYS: [&str; 14] = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "nonce",
    "prompt",
    "max_age",
    "response_mode",
    "request",
    "login_hint",
    "claims",
];

#[test]
fn authorize_parsing_never_fails_and_redirects_only_to_registered_uris() {
    let rt = rt();
    let pa = rt.block_on(prop_app());
    let (_, challenge) = pkce_pair();
    let who = |i: usize| if i == 0 { &pa.conf } else { &pa.public };
    let mut known: Vec<String> = vec![
        "code".into(),
        "token".into(),
        "code id_token".into(),
        "openid".into(),
        "openid profile".into(),
        "openid email admin".into(),
        "none".into(),
        "login".into(),
        "consent".into(),
        "0".into(),
        "-1".into(),
        "S256".into(),
        "plain".into(),
        challenge.clone(),
        REDIRECT.into(),
        "http://127.0.0.1:5000/callback".into(),
        "https://evil.example/callback".into(),
        "http://127.0.0.1:9/callback#x".into(),
        "état ☃".into(),
        "no-such-client".into(),
    ];
    known.push(pa.conf.id.clone());
    known.push(pa.public.id.clone());
    known.push(pa.cc.id.clone());
    let strategy = (
        0..2usize,
        proptest::collection::vec(any::<bool>(), 7),
        proptest::collection::vec(param_strategy(AUTHORIZE_KEYS.to_vec(), known), 0..6),
    );
    let result = runner(64).run(&strategy, |(client_idx, keep, extra)| {
        let client = who(client_idx);
        let base: Vec<(String, String)> = vec![
            ("response_type".into(), "code".into()),
            ("client_id".into(), client.id.clone()),
            ("redirect_uri".into(), client.redirect_uri.clone()),
            ("scope".into(), "openid profile".into()),
            ("state".into(), "st".into()),
            ("code_challenge".into(), challenge.clone()),
            ("code_challenge_method".into(), "S256".into()),
        ];
        let query = build(&base, &keep, &extra);
        let (status, loc, body) = rt.block_on(async {
            let res = pa
                .app
                .client
                .get(format!("{}/authorize?{query}", pa.app.address))
                .send()
                .await
                .map_err(|e| TestCaseError::fail(format!("request failed: {e}")))?;
            let status = res.status().as_u16();
            let loc = location(&res);
            let body = res.text().await.unwrap_or_default();
            Ok::<_, TestCaseError>((status, loc, body))
        })?;
        prop_assert!(status < 500, "{status} for ?{query}");
        match status {
            302 | 303 => {
                if loc.starts_with('/') {
                    prop_assert!(loc.starts_with("/login?"), "local redirect {loc}");
                } else {
                    let url = url::Url::parse(&loc)
                        .map_err(|e| TestCaseError::fail(format!("{loc}: {e}")))?;
                    // Only to one of the registered clients' URIs (a public client's loopback
                    // port may vary).
                    let base = loc.split('?').next().unwrap_or("");
                    let to_registered = base == REDIRECT
                        || (redirect_matches(REDIRECT, base, true)
                            && query.contains(&pa.public.id));
                    prop_assert!(to_registered, "redirect to {loc} for ?{query}");
                    let iss = query_param(&url, "iss");
                    prop_assert_eq!(
                        iss.as_deref(),
                        Some(pa.app.address.as_str()),
                        "iss for ?{}",
                        query
                    );
                    // U+FFFD comes back only when the client sent it (never as a replacement
                    // for bytes that were not UTF-8).
                    let sent_replacement_char =
                        query.to_uppercase().contains("%EF%BF%BD") || query.contains('\u{FFFD}');
                    prop_assert!(
                        sent_replacement_char || !loc.contains("%EF%BF%BD"),
                        "U+FFFD echoed: {}",
                        loc
                    );
                }
            }
            200 => prop_assert!(body.contains("csrf_token"), "200 without a form"),
            400 => prop_assert!(loc.is_empty(), "400 with a Location"),
            // Requests that would store an interaction are admitted per address.
            429 => prop_assert!(loc.is_empty(), "429 with a Location"),
            other => prop_assert!(false, "unexpected status {other} for ?{query}"),
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

const TOKEN_KEYS: [&str; 9] = [
    "grant_type",
    "code",
    "redirect_uri",
    "code_verifier",
    "refresh_token",
    "scope",
    "client_id",
    "client_secret",
    "token",
];

const RFC6749_ERRORS: [&str; 6] = [
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
];

#[test]
fn token_parsing_never_fails_and_answers_rfc6749_errors() {
    let rt = rt();
    let pa = rt.block_on(prop_app());
    let secret = pa.cc.secret.clone().unwrap_or_default();
    let known: Vec<String> = vec![
        "authorization_code".into(),
        "refresh_token".into(),
        "client_credentials".into(),
        "password".into(),
        "urn:ietf:params:oauth:grant-type:device_code".into(),
        "openid".into(),
        "openid profile email".into(),
        REDIRECT.into(),
        "ostr_forged".into(),
        pa.conf.id.clone(),
        pa.cc.id.clone(),
        pa.public.id.clone(),
        secret.clone(),
        pa.user_access.clone(),
    ];
    let basic = |id: &str, s: &str| {
        use base64::engine::general_purpose::STANDARD;
        format!("Basic {}", STANDARD.encode(format!("{id}:{s}")))
    };
    let auths: Vec<Option<String>> = vec![
        None,
        Some(basic(&pa.cc.id, &secret)),
        Some(basic(&pa.conf.id, "wrong")),
        Some(basic(&pa.public.id, "")),
        Some("Basic %%%".into()),
        Some("Basic YWJj".into()),
        Some("Bearer abc".into()),
        Some("basic".into()),
    ];
    let content_types = [
        Some("application/x-www-form-urlencoded"),
        Some("application/x-www-form-urlencoded; charset=utf-8"),
        Some("application/json"),
        Some("text/plain"),
        None,
    ];
    let strategy = (
        proptest::sample::select(auths),
        prop_oneof![4 => Just(0usize), 1 => 1..5usize],
        proptest::collection::vec(any::<bool>(), 2),
        proptest::collection::vec(param_strategy(TOKEN_KEYS.to_vec(), known), 0..7),
        "[ -~]{0,40}",
    );
    let result = runner(64).run(&strategy, |(auth, ct_idx, keep, extra, raw_auth)| {
        let base: Vec<(String, String)> = vec![
            ("grant_type".into(), "client_credentials".into()),
            ("scope".into(), "openid".into()),
        ];
        let body = build(&base, &keep, &extra);
        let used_header = if raw_auth.len() > 30 {
            !raw_auth.trim().is_empty()
        } else {
            auth.as_deref().is_some_and(|h| !h.is_empty())
        };
        let (status, challenge, text) = rt.block_on(async {
            let mut req = reqwest::Client::new().post(pa.app.url("/token"));
            if let Some(ct) = content_types[ct_idx] {
                req = req.header("content-type", ct);
            }
            // Mostly the chosen credentials; sometimes an arbitrary printable header.
            let header = if raw_auth.len() > 30 {
                Some(raw_auth.trim().to_owned())
            } else {
                auth
            };
            if let Some(h) = header.filter(|h| !h.is_empty()) {
                req = req.header("authorization", h);
            }
            let res = req
                .body(body.clone())
                .send()
                .await
                .map_err(|e| TestCaseError::fail(format!("request failed: {e}")))?;
            let status = res.status().as_u16();
            let challenge = res
                .headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            Ok::<_, TestCaseError>((status, challenge, res.text().await.unwrap_or_default()))
        })?;

        prop_assert!(status < 500, "{status} for body {body:?}: {text}");
        let doc: Value = serde_json::from_str(&text)
            .map_err(|_| TestCaseError::fail(format!("not JSON ({status}): {text:.200}")))?;
        if status == 200 {
            prop_assert!(doc["access_token"].is_string(), "200 without a token");
            prop_assert_eq!(&doc["token_type"], "Bearer");
            return Ok(());
        }
        let error = doc["error"].as_str().unwrap_or("");
        prop_assert!(
            RFC6749_ERRORS.contains(&error),
            "error {error:?} is not RFC 6749 §5.2 ({status}, body {body:?})"
        );
        prop_assert!(doc["error_description"].is_string(), "no error_description");
        prop_assert!(doc.get("access_token").is_none());
        match status {
            401 => {
                prop_assert_eq!(error, "invalid_client");
                // RFC 6749 §5.2: challenged with Basic exactly when the header was used.
                prop_assert_eq!(
                    challenge.starts_with("Basic"),
                    used_header,
                    "401 challenge {:?}",
                    challenge
                );
            }
            400 => prop_assert_ne!(error, "invalid_client", "invalid_client must be 401 here"),
            other => prop_assert!(false, "unexpected status {other}"),
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

// ---------------------------------------------------------------------------------------------
// (2) Redirect-URI matching and registration rules (pure functions).
// ---------------------------------------------------------------------------------------------

fn https_uri() -> impl Strategy<Value = String> {
    (
        // No label may start "xn--": that is an IDNA A-label, and random ones are not valid
        // Punycode (a URL parser rightly refuses them).
        "[a-z][a-z0-9-]{0,8}(\\.[a-z]{2,6}){1,2}".prop_filter("not an A-label", |h: &String| {
            !h.split('.').any(|l| l.starts_with("xn--"))
        }),
        proptest::option::of(1u16..65535),
        "(/[A-Za-z0-9._~-]{1,8}){0,3}",
        proptest::option::of("[a-z]{1,4}=[a-z0-9]{0,4}"),
    )
        .prop_map(|(host, port, path, query)| {
            let port = port.map(|p| format!(":{p}")).unwrap_or_default();
            let path = if path.is_empty() {
                "/".to_owned()
            } else {
                path
            };
            let query = query.map(|q| format!("?{q}")).unwrap_or_default();
            format!("https://{host}{port}{path}{query}")
        })
}

fn loopback_uri() -> impl Strategy<Value = String> {
    (
        proptest::sample::select(vec!["127.0.0.1", "[::1]", "localhost"]),
        proptest::option::of(1u16..65535),
        "(/[A-Za-z0-9._~-]{1,8}){1,3}",
    )
        .prop_map(|(host, port, path)| {
            let port = port.map(|p| format!(":{p}")).unwrap_or_default();
            format!("http://{host}{port}{path}")
        })
}

fn registered_uri() -> impl Strategy<Value = String> {
    prop_oneof![https_uri(), loopback_uri()]
}

/// A one-byte change: replace, insert or delete at a position.
fn mutate(s: &str, op: u8, at: proptest::sample::Index, c: char) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    let i = at.index(chars.len() + 1);
    match op % 3 {
        0 if i < chars.len() => chars[i] = c,
        1 if i < chars.len() => {
            chars.remove(i);
        }
        _ => chars.insert(i, c),
    }
    chars.into_iter().collect()
}

fn mutation_char() -> impl Strategy<Value = char> {
    prop_oneof![
        proptest::sample::select(vec![
            '/', '.', ':', '@', '#', '?', '&', '%', '\\', 'A', 'a', '0', '9', '-', '_', '~', ' ',
            '*', '\u{0}', '\u{ff0f}', 'ı',
        ]),
        any::<char>(),
    ]
}

proptest! {
    #![proptest_config(Config { cases: 512, failure_persistence: None, ..Config::default() })]

    #[test]
    fn generated_registered_uris_are_accepted_and_match_themselves(uri in registered_uri(), public in any::<bool>()) {
        prop_assert!(check_redirect_uri(&uri, public).is_ok(), "{uri} refused: {:?}", check_redirect_uri(&uri, public));
        prop_assert!(redirect_matches(&uri, &uri, public));
    }

    #[test]
    fn any_one_byte_change_never_matches_for_a_confidential_client(
        uri in registered_uri(), op in any::<u8>(), at in any::<proptest::sample::Index>(), c in mutation_char()
    ) {
        let m = mutate(&uri, op, at, c);
        prop_assume!(m != uri);
        prop_assert!(!redirect_matches(&uri, &m, false), "{m:?} matched {uri:?}");
    }

    #[test]
    fn a_public_client_may_vary_only_the_loopback_port(
        uri in registered_uri(), op in any::<u8>(), at in any::<proptest::sample::Index>(), c in mutation_char()
    ) {
        let m = mutate(&uri, op, at, c);
        prop_assume!(m != uri);
        if redirect_matches(&uri, &m, true) {
            let r = url::Url::parse(&uri).expect("registered parses");
            let q = url::Url::parse(&m).expect("a match parses");
            prop_assert_eq!(r.scheme(), "http", "only loopback http may vary: {} vs {}", uri, m);
            prop_assert_eq!(q.scheme(), "http");
            prop_assert_eq!(r.host(), q.host(), "{} vs {}", uri, m);
            prop_assert_eq!(r.path(), q.path(), "{} vs {}", uri, m);
            prop_assert_eq!(r.query(), q.query(), "{} vs {}", uri, m);
            prop_assert!(q.fragment().is_none() && !m.contains('#'), "fragment in {}", m);
            prop_assert!(q.username().is_empty() && q.password().is_none(), "userinfo in {}", m);
        }
    }

    #[test]
    fn https_registrations_match_public_clients_exactly(uri in https_uri(), other in registered_uri()) {
        prop_assume!(uri != other);
        prop_assert!(!redirect_matches(&uri, &other, true), "{other} matched {uri}");
    }

    #[test]
    fn fragments_are_always_refused(uri in registered_uri(), frag in "[a-z0-9=&]{0,8}", public in any::<bool>()) {
        let with = format!("{uri}#{frag}");
        prop_assert!(check_redirect_uri(&with, public).is_err(), "{with} accepted");
    }

    #[test]
    fn wildcards_are_always_refused(uri in registered_uri(), at in any::<proptest::sample::Index>(), public in any::<bool>()) {
        let mut chars: Vec<char> = uri.chars().collect();
        let i = at.index(chars.len() + 1);
        chars.insert(i, '*');
        let with: String = chars.into_iter().collect();
        prop_assert!(check_redirect_uri(&with, public).is_err(), "{with} accepted");
    }

    #[test]
    fn plain_http_is_refused_off_loopback(
        host in "[a-z][a-z0-9-]{0,10}(\\.[a-z0-9-]{1,8}){0,3}", path in "(/[a-z0-9]{0,6}){0,2}", public in any::<bool>()
    ) {
        prop_assume!(!host.eq_ignore_ascii_case("localhost"));
        let uri = format!("http://{host}{path}");
        if let Ok(u) = url::Url::parse(&uri) {
            prop_assume!(!ostiary::domain::net::is_loopback_host(u.host()));
        }
        prop_assert!(check_redirect_uri(&uri, public).is_err(), "{uri} accepted");
    }

    #[test]
    fn lookalike_loopback_hosts_are_refused(
        prefix in proptest::sample::select(vec!["localhost", "127.0.0.1", "localhost.", "127.0.0.1."]),
        suffix in "\\.[a-z]{2,8}(\\.[a-z]{2,4})?", public in any::<bool>()
    ) {
        let uri = format!("http://{prefix}{suffix}/cb");
        prop_assert!(check_redirect_uri(&uri, public).is_err(), "{uri} accepted");
    }

    #[test]
    fn userinfo_is_always_refused(uri in registered_uri(), user in "[a-z]{1,6}(:[a-z]{0,6})?", public in any::<bool>()) {
        let with = uri.replacen("://", &format!("://{user}@"), 1);
        prop_assert!(check_redirect_uri(&with, public).is_err(), "{with} accepted");
    }

    #[test]
    fn relative_and_schemeless_uris_are_refused(path in "/{0,2}[a-z0-9./]{0,12}", public in any::<bool>()) {
        prop_assert!(check_redirect_uri(&path, public).is_err(), "{path} accepted");
    }

    #[test]
    fn private_use_schemes_only_for_public_clients(
        scheme in "[a-z]{2,6}\\.[a-z]{2,8}(\\.[a-z]{2,6})?", path in "(/[a-z0-9]{1,6}){1,2}"
    ) {
        let uri = format!("{scheme}:{path}");
        prop_assert!(check_redirect_uri(&uri, false).is_err(), "confidential accepted {uri}");
        prop_assert!(check_redirect_uri(&uri, true).is_ok(), "public refused {uri}");
        prop_assert!(redirect_matches(&uri, &uri, true));
        let longer = format!("{uri}x");
        prop_assert!(!redirect_matches(&uri, &longer, true));
    }
}

// ---------------------------------------------------------------------------------------------
// (3) JWTs: arbitrary and mutated tokens are always refused.
// ---------------------------------------------------------------------------------------------

/// Decodes one segment, flips one bit of one byte, re-encodes: the bytes always differ.
fn flip_bit(token: &str, part: usize, at: proptest::sample::Index, bit: u8) -> Option<String> {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut bytes = B64.decode(&parts[part]).ok()?;
    if bytes.is_empty() {
        return None;
    }
    let i = at.index(bytes.len());
    bytes[i] ^= 1 << (bit % 8);
    parts[part] = B64.encode(&bytes);
    Some(parts.join("."))
}

/// (userinfo status, its WWW-Authenticate, introspection document).
async fn present(pa: &PropApp, token: &str, header: bool) -> Result<(u16, String, Value), String> {
    let http = reqwest::Client::new();
    let req = if header {
        http.get(pa.app.url("/userinfo"))
            .header("authorization", format!("Bearer {token}"))
    } else {
        http.post(pa.app.url("/userinfo"))
            .form(&[("access_token", token)])
    };
    let res = req.send().await.map_err(|e| format!("userinfo: {e}"))?;
    let status = res.status().as_u16();
    let challenge = res
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let res = http
        .post(pa.app.url("/introspect"))
        .basic_auth(&pa.cc.id, pa.cc.secret.as_deref())
        .form(&[("token", token)])
        .send()
        .await
        .map_err(|e| format!("introspect: {e}"))?;
    let s = res.status().as_u16();
    let doc: Value = res.json().await.unwrap_or(Value::Null);
    if s != 200 {
        return Err(format!("introspection answered {s}: {doc}"));
    }
    Ok((status, challenge, doc))
}

fn refused(status: u16, challenge: &str, doc: &Value, what: &str) -> Result<(), TestCaseError> {
    prop_assert!(status < 500, "userinfo {status} for {what}");
    prop_assert_eq!(status, 401, "userinfo must refuse {}", what);
    prop_assert!(
        challenge.contains("error=\"invalid_token\""),
        "challenge {challenge:?} for {what}"
    );
    prop_assert_eq!(doc, &json!({"active": false}), "introspection of {}", what);
    Ok(())
}

#[test]
fn mutated_real_tokens_are_always_refused() {
    let rt = rt();
    let pa = rt.block_on(prop_app());
    // The unmutated tokens work (else the property would be vacuous).
    let (s, _, doc) = rt
        .block_on(present(&pa, &pa.user_access, true))
        .expect("present");
    assert_eq!((s, &doc["active"]), (200, &json!(true)));
    let strategy = (
        any::<bool>(),
        0..3usize,
        any::<proptest::sample::Index>(),
        0..8u8,
    );
    let result = runner(64).run(&strategy, |(user, part, at, bit)| {
        let original = if user { &pa.user_access } else { &pa.cc_access };
        let Some(token) = flip_bit(original, part, at, bit) else {
            return Ok(());
        };
        prop_assume!(&token != original);
        let (status, challenge, doc) = rt
            .block_on(present(&pa, &token, true))
            .map_err(TestCaseError::fail)?;
        refused(
            status,
            &challenge,
            &doc,
            &format!("part {part} flipped: {token}"),
        )
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

fn forged_jwt(kids: Vec<String>) -> impl Strategy<Value = String> {
    let algs = vec![
        "none", "None", "HS256", "HS512", "RS256", "ES256", "EdDSA", "PS256", "ES384", "",
    ];
    let typs = vec!["at+jwt", "JWT", "application/at+jwt", "", "AT+JWT"];
    (
        proptest::sample::select(algs),
        prop_oneof![proptest::sample::select(kids), "\\PC{0,12}"],
        proptest::sample::select(typs),
        proptest::collection::btree_map("[a-z]{1,5}", prop_oneof![any::<i64>().prop_map(|n| json!(n)), "\\PC{0,10}".prop_map(|s| json!(s))], 0..6),
        proptest::collection::vec(any::<u8>(), 0..80),
    )
        .prop_map(|(alg, kid, typ, extra, sig)| {
            let header = json!({"alg": alg, "kid": kid, "typ": typ});
            let now = ostiary::db::now();
            let mut claims = json!({"iss": "http://127.0.0.1", "sub": "x", "aud": "x", "client_id": "x", "scope": "openid", "iat": now, "exp": now + 600, "jti": "j"});
            for (k, v) in extra {
                claims[k] = v;
            }
            format!(
                "{}.{}.{}",
                B64.encode(serde_json::to_vec(&header).unwrap_or_default()),
                B64.encode(serde_json::to_vec(&claims).unwrap_or_default()),
                B64.encode(&sig)
            )
        })
}

#[test]
fn arbitrary_and_forged_tokens_are_always_refused() {
    let rt = rt();
    let pa = rt.block_on(prop_app());
    let kids: Vec<String> = {
        let mut conn = pa.app.db.conn();
        ostiary::db::models::signing_keys::all(&mut conn)
            .expect("keys")
            .into_iter()
            .map(|k| k.kid)
            .collect()
    };
    let strategy = prop_oneof![
        // Arbitrary bytes, through the form body (any byte can be percent-encoded there).
        proptest::collection::vec(any::<u8>(), 0..300).prop_map(|b| (b, false)),
        // Printable tokens in the header.
        "[!-~]{1,300}".prop_map(|s| (s.into_bytes(), true)),
        // JWT-shaped forgeries with our kids and every algorithm.
        forged_jwt(kids).prop_map(|s| (s.into_bytes(), true)),
    ];
    let result = runner(96).run(&strategy, |(bytes, header)| {
        let (status, challenge, doc) = rt
            .block_on(async {
                if header {
                    let token = String::from_utf8(bytes.clone()).unwrap_or_default();
                    present(&pa, &token, true).await
                } else {
                    // Send the raw bytes percent-encoded, bypassing UTF-8 string handling.
                    let http = reqwest::Client::new();
                    let enc: String = url::form_urlencoded::byte_serialize(&bytes).collect();
                    let res = http
                        .post(pa.app.url("/userinfo"))
                        .header("content-type", "application/x-www-form-urlencoded")
                        .body(format!("access_token={enc}"))
                        .send()
                        .await
                        .map_err(|e| e.to_string())?;
                    let status = res.status().as_u16();
                    let challenge = res
                        .headers()
                        .get("www-authenticate")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_owned();
                    let res = http
                        .post(pa.app.url("/introspect"))
                        .basic_auth(&pa.cc.id, pa.cc.secret.as_deref())
                        .header("content-type", "application/x-www-form-urlencoded")
                        .body(format!("token={enc}"))
                        .send()
                        .await
                        .map_err(|e| e.to_string())?;
                    let doc: Value = res.json().await.unwrap_or(Value::Null);
                    Ok((status, challenge, doc))
                }
            })
            .map_err(TestCaseError::fail)?;
        let what = format!("{:?}", String::from_utf8_lossy(&bytes));
        if !header && std::str::from_utf8(&bytes).is_err() {
            // A form that is not UTF-8 once decoded is a malformed request: 400 invalid_request
            // is as right as refusing the token; never a 5xx, never accepted.
            prop_assert!(status < 500, "userinfo {status} for {what}");
            prop_assert!(
                (status == 401 && challenge.contains("error=\"invalid_token\""))
                    || (status == 400 && challenge.contains("error=\"invalid_request\"")),
                "userinfo {status} {challenge:?} for {what}"
            );
            prop_assert!(
                doc == json!({"active": false}) || doc["error"] == "invalid_request",
                "introspection {doc} for {what}"
            );
            return Ok(());
        }
        refused(status, &challenge, &doc, &what)
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
