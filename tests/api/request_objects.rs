//! Request objects (OpenID Connect Core 1.0 §6, RFC 9101): `request` by value, `request_uri`
//! from a URL the client registered (served here by a tiny loopback HTTP server), signed with
//! the client's registered keys or — for a client that registered `none` — unsigned; the
//! refusals the specifications name (`invalid_request_object`, `invalid_request_uri`),
//! redirected only to registered redirect URIs. Test names follow the OpenID conformance
//! suite's modules where one matches.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::helpers::{location, query_param, spawn_app_on, test_db, TestApp, TestClient, REDIRECT};

const USER: (&str, &str) = ("alice", "correct horse battery staple");

/// A client's signing key: what signs (jsonwebtoken) and its public JWK.
struct Key {
    encoding: EncodingKey,
    jwk: Value,
}

fn rsa_key(kid: &str) -> Key {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::traits::PublicKeyParts;
    let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("rsa");
    let der = key.to_pkcs1_der().expect("der");
    Key {
        encoding: EncodingKey::from_rsa_der(der.as_bytes()),
        jwk: json!({
            "kty": "RSA", "kid": kid, "use": "sig",
            "n": B64.encode(key.n().to_bytes_be()),
            "e": B64.encode(key.e().to_bytes_be()),
        }),
    }
}

fn ec_key(kid: &str) -> Key {
    use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).expect("key");
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref()).expect("pair");
    let point = pair.public_key().as_ref().to_vec();
    Key {
        encoding: EncodingKey::from_ec_der(doc.as_ref()),
        jwk: json!({
            "kty": "EC", "crv": "P-256", "kid": kid,
            "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..65]),
        }),
    }
}

fn ed_key(kid: &str) -> Key {
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
    let doc = Ed25519KeyPair::generate_pkcs8(&aws_lc_rs::rand::SystemRandom::new()).expect("key");
    let pair = Ed25519KeyPair::from_pkcs8(doc.as_ref()).expect("pair");
    Key {
        encoding: EncodingKey::from_ed_der(doc.as_ref()),
        jwk: json!({
            "kty": "OKP", "crv": "Ed25519", "kid": kid,
            "x": B64.encode(pair.public_key().as_ref()),
        }),
    }
}

fn sign(alg: Algorithm, key: &Key, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = key.jwk["kid"].as_str().map(str::to_owned);
    header.typ = Some("oauth-authz-req+jwt".into());
    jsonwebtoken::encode(&header, claims, &key.encoding).expect("sign")
}

fn unsigned(claims: &Value) -> String {
    format!(
        "{}.{}.",
        B64.encode(br#"{"alg":"none"}"#),
        B64.encode(claims.to_string())
    )
}

/// Serves one canned request object, at any path, to whoever asks.
struct ObjectServer {
    addr: SocketAddr,
    reply: Arc<Mutex<(u16, String)>>,
}

impl ObjectServer {
    async fn start() -> ObjectServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let reply = Arc::new(Mutex::new((404, String::new())));
        let serving = reply.clone();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let (status, body) = serving.lock().expect("reply").clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = sock.read(&mut buf).await;
                    let head = format!(
                        "HTTP/1.1 {status} X\r\nContent-Type: application/oauth-authz-req+jwt\r\n\
                         Content-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = sock.write_all(head.as_bytes()).await;
                    let _ = sock.write_all(body.as_bytes()).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        ObjectServer { addr, reply }
    }

    fn uri(&self) -> String {
        format!("http://{}/request.jwt", self.addr)
    }

    fn serve(&self, status: u16, body: &str) {
        *self.reply.lock().expect("reply") = (status, body.to_owned());
    }
}

/// An app whose outbound client may reach loopback (the request_uri server), with a user.
async fn app() -> TestApp {
    let app = spawn_app_on(test_db(), |a| {
        a.outbound_allow = Some("127.0.0.0/8".into());
    })
    .await;
    app.user(USER.0, USER.1).await;
    app
}

/// A client registered by the CLI with request-object metadata (`extra` flags) and `keys`.
async fn client(app: &TestApp, keys: &[&Key], extra: &[&str]) -> TestClient {
    let jwks =
        json!({ "keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() }).to_string();
    let mut args: Vec<&str> = extra.to_vec();
    if !keys.is_empty() {
        args.extend(["--jwks", jwks.as_str()]);
    }
    app.client(&args).await
}

/// The claims of a request object for `client`: every parameter of the request, `iss`, `aud`.
fn claims(app: &TestApp, client: &TestClient, state: &str, nonce: &str) -> Value {
    let now = ostiary::db::now();
    json!({
        "iss": client.id, "aud": app.address, "iat": now, "exp": now + 300,
        "client_id": client.id, "response_type": "code", "scope": "openid",
        "redirect_uri": client.redirect_uri, "state": state, "nonce": nonce,
    })
}

/// The outer parameters OIDC Core §6.1 requires beside a request object.
fn outer(client: &TestClient) -> Vec<(&str, &str)> {
    vec![
        ("client_id", client.id.as_str()),
        ("response_type", "code"),
        ("scope", "openid"),
    ]
}

/// The payload of a JWT, unverified (the id_token's signature is other tests' business).
fn payload(jwt: &str) -> Value {
    let part = jwt.split('.').nth(1).expect("payload");
    serde_json::from_slice(&B64.decode(part).expect("b64")).expect("json")
}

/// The code's id_token: redeemed with the client's secret.
async fn id_token(app: &TestApp, client: &TestClient, code: &str) -> Value {
    let res = app
        .token(
            client,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", client.redirect_uri.as_str()),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.expect("json");
    payload(body["id_token"].as_str().expect("id_token"))
}

/// Runs the whole flow and checks the code comes back with the object's `state`, and the
/// id_token with its `nonce`.
async fn succeeds_with_state_and_nonce(
    app: &TestApp,
    client: &TestClient,
    params: &[(&str, &str)],
    state: &str,
    nonce: &str,
) {
    let url = app.code_flow(client, params, USER).await;
    assert_eq!(
        query_param(&url, "state").as_deref(),
        Some(state),
        "the state inside the object comes back: {url}"
    );
    let code = query_param(&url, "code").unwrap_or_else(|| panic!("a code: {url}"));
    assert_eq!(id_token(app, client, &code).await["nonce"], nonce);
}

/// The error a refused request is redirected with (and that it carries no code).
async fn redirected_error(app: &TestApp, params: &[(&str, &str)]) -> (String, url::Url) {
    let res = app.authorize(params).await;
    assert_eq!(res.status(), 302, "a redirect");
    let loc = location(&res);
    assert!(
        loc.starts_with(REDIRECT),
        "to the registered redirect URI: {loc}"
    );
    let url = url::Url::parse(&loc).expect("url");
    assert!(query_param(&url, "code").is_none(), "no code: {loc}");
    (query_param(&url, "error").unwrap_or_default(), url)
}

#[tokio::test]
async fn oidcc_unsigned_request_object_supported_correctly_or_rejected_as_unsupported() {
    let app = app().await;
    let client = client(&app, &[], &["--request-object-signing-alg", "none"]).await;
    let object = unsigned(&claims(&app, &client, "st-unsigned", "n-unsigned"));
    let mut params = outer(&client);
    params.push(("redirect_uri", client.redirect_uri.as_str()));
    params.push(("request", object.as_str()));
    succeeds_with_state_and_nonce(&app, &client, &params, "st-unsigned", "n-unsigned").await;
}

#[tokio::test]
async fn oidcc_request_uri_unsigned() {
    let app = app().await;
    let server = ObjectServer::start().await;
    let uri = server.uri();
    let client = client(
        &app,
        &[],
        &[
            "--request-object-signing-alg",
            "none",
            "--request-uri",
            &uri,
        ],
    )
    .await;
    server.serve(200, &unsigned(&claims(&app, &client, "st-ru", "n-ru")));
    let mut params = outer(&client);
    params.push(("redirect_uri", client.redirect_uri.as_str()));
    params.push(("request_uri", uri.as_str()));
    succeeds_with_state_and_nonce(&app, &client, &params, "st-ru", "n-ru").await;
}

#[tokio::test]
async fn oidcc_request_uri_signed_rs256() {
    let app = app().await;
    let server = ObjectServer::start().await;
    // Registered with a fragment (OIDC Core §6.2: a hash of the contents); sent without.
    let registered = format!("{}#sha256-abc", server.uri());
    let key = rsa_key("rp-1");
    let client = client(
        &app,
        &[&key],
        &[
            "--request-object-signing-alg",
            "RS256",
            "--request-uri",
            &registered,
        ],
    )
    .await;
    server.serve(
        200,
        &sign(
            Algorithm::RS256,
            &key,
            &claims(&app, &client, "st-rs", "n-rs"),
        ),
    );
    let uri = server.uri();
    let mut params = outer(&client);
    params.push(("redirect_uri", client.redirect_uri.as_str()));
    params.push(("request_uri", uri.as_str()));
    succeeds_with_state_and_nonce(&app, &client, &params, "st-rs", "n-rs").await;
}

#[tokio::test]
async fn oidcc_ensure_request_object_with_redirect_uri() {
    let app = app().await;
    let key = rsa_key("rp-1");
    let client = client(&app, &[&key], &[]).await;
    let object = sign(
        Algorithm::RS256,
        &key,
        &claims(&app, &client, "st-redir", "n-redir"),
    );
    let mut params = outer(&client);
    // The outer redirect_uri is not registered; the object's, which wins, is.
    params.push(("redirect_uri", "https://elsewhere.example/cb"));
    params.push(("request", object.as_str()));
    succeeds_with_state_and_nonce(&app, &client, &params, "st-redir", "n-redir").await;
}

#[tokio::test]
async fn request_objects_signed_with_ps256_es256_and_eddsa_keys_are_accepted() {
    let app = app().await;
    let rsa = rsa_key("rsa-1");
    let ec = ec_key("ec-1");
    let ed = ed_key("ed-1");
    let client = client(&app, &[&rsa, &ec, &ed], &[]).await;
    for (alg, key, state) in [
        (Algorithm::PS256, &rsa, "st-ps"),
        (Algorithm::ES256, &ec, "st-es"),
        (Algorithm::EdDSA, &ed, "st-ed"),
    ] {
        let object = sign(alg, key, &claims(&app, &client, state, "n"));
        let mut params = outer(&client);
        params.push(("request", object.as_str()));
        let url = app.code_flow(&client, &params, USER).await;
        assert_eq!(
            query_param(&url, "state").as_deref(),
            Some(state),
            "{alg:?}"
        );
        assert!(query_param(&url, "code").is_some(), "{alg:?}");
    }
}

#[tokio::test]
async fn refused_request_objects_are_redirected_with_the_standard_error() {
    let app = app().await;
    let server = ObjectServer::start().await;
    let registered_uri = server.uri();
    let key = rsa_key("rp-1");
    let client = client(
        &app,
        &[&key],
        &[
            "--request-object-signing-alg",
            "RS256",
            "--request-uri",
            &registered_uri,
        ],
    )
    .await;
    let other = rsa_key("rp-1");
    let base = claims(&app, &client, "st-inner", "n");
    let with = |changes: Value| {
        let mut c = base.clone();
        for (k, v) in changes.as_object().expect("object") {
            c[k] = v.clone();
        }
        c
    };
    let now = ostiary::db::now();
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "signed with a key the client did not register",
            sign(Algorithm::RS256, &other, &base),
            "invalid_request_object",
        ),
        (
            "alg none from a client that registered RS256",
            unsigned(&base),
            "invalid_request_object",
        ),
        (
            "PS256 from a client that registered RS256",
            sign(Algorithm::PS256, &key, &base),
            "invalid_request_object",
        ),
        (
            "expired",
            sign(
                Algorithm::RS256,
                &key,
                &with(json!({"exp": now - 3600, "iat": now - 4000})),
            ),
            "invalid_request_object",
        ),
        (
            "not valid yet",
            sign(Algorithm::RS256, &key, &with(json!({"nbf": now + 3600}))),
            "invalid_request_object",
        ),
        (
            "client_id inside differs",
            sign(
                Algorithm::RS256,
                &key,
                &with(json!({"client_id": "someone-else"})),
            ),
            "invalid_request_object",
        ),
        (
            "iss is not the client",
            sign(
                Algorithm::RS256,
                &key,
                &with(json!({"iss": "someone-else"})),
            ),
            "invalid_request_object",
        ),
        (
            "aud is another server",
            sign(
                Algorithm::RS256,
                &key,
                &with(json!({"aud": "https://other.example"})),
            ),
            "invalid_request_object",
        ),
        (
            "not a JWT",
            "not-a-jwt".to_owned(),
            "invalid_request_object",
        ),
        (
            "an encrypted object",
            "a.b.c.d.e".to_owned(),
            "invalid_request_object",
        ),
    ];
    let mut failures = Vec::new();
    for (what, object, want) in &cases {
        let mut params = outer(&client);
        params.push(("redirect_uri", REDIRECT));
        params.push(("state", "st-outer"));
        params.push(("request", object.as_str()));
        let (error, url) = redirected_error(&app, &params).await;
        if error != *want || query_param(&url, "state").as_deref() != Some("st-outer") {
            failures.push(format!("{what}: {url}"));
        }
    }
    // A request_uri the client did not register: never fetched.
    let unregistered = format!("http://{}/other.jwt", server.addr);
    server.serve(200, &sign(Algorithm::RS256, &key, &base));
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str);
    let by_reference: Vec<Case> = vec![
        (
            "request_uri not registered",
            vec![("request_uri", unregistered.as_str())],
            "invalid_request_uri",
        ),
        (
            "both request and request_uri",
            vec![
                ("request_uri", registered_uri.as_str()),
                ("request", "a.b.c"),
            ],
            "invalid_request",
        ),
    ];
    for (what, extra, want) in by_reference {
        let mut params = outer(&client);
        params.push(("redirect_uri", REDIRECT));
        params.extend(extra);
        let (error, url) = redirected_error(&app, &params).await;
        if error != want {
            failures.push(format!("{what}: {url}"));
        }
    }
    // A registered request_uri that does not answer a request object.
    server.serve(404, "");
    let mut params = outer(&client);
    params.push(("redirect_uri", REDIRECT));
    params.push(("request_uri", registered_uri.as_str()));
    let (error, url) = redirected_error(&app, &params).await;
    if error != "invalid_request_uri" {
        failures.push(format!("request_uri answering 404: {url}"));
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[tokio::test]
async fn a_refused_object_is_never_redirected_to_a_redirect_uri_the_client_did_not_register() {
    let app = app().await;
    let key = rsa_key("rp-1");
    let client = client(&app, &[&key], &[]).await;
    let forger = rsa_key("rp-1");
    let mut c = claims(&app, &client, "st", "n");
    c["redirect_uri"] = json!("https://attacker.example/cb");
    let object = sign(Algorithm::RS256, &forger, &c);
    let mut params = outer(&client);
    params.push(("request", object.as_str()));
    let res = app.authorize(&params).await;
    assert_eq!(res.status(), 400, "an error page, not a redirect");
    assert!(location(&res).is_empty());
    // An unknown client: a page too.
    let res = app
        .authorize(&[
            ("client_id", "nobody"),
            ("response_type", "code"),
            ("scope", "openid"),
            ("request", object.as_str()),
        ])
        .await;
    assert_eq!(res.status(), 400);
}

#[tokio::test]
async fn a_client_requiring_signed_request_objects_gets_no_code_for_a_plain_request() {
    let app = app().await;
    let key = rsa_key("rp-1");
    let client = client(&app, &[&key], &["--require-signed-request-object"]).await;
    let mut params = outer(&client);
    params.push(("redirect_uri", REDIRECT));
    let res = app.authorize(&params).await;
    assert_eq!(res.status(), 400, "refused on a page");
    let object = sign(
        Algorithm::RS256,
        &key,
        &claims(&app, &client, "st-req", "n-req"),
    );
    let mut params = outer(&client);
    params.push(("request", object.as_str()));
    succeeds_with_state_and_nonce(&app, &client, &params, "st-req", "n-req").await;
    // And the policy refuses the contradiction of unsigned objects with required signatures.
    let out = app
        .cli(
            &[
                "client",
                "add",
                "--name",
                "Contradiction",
                "--redirect-uri",
                REDIRECT,
                "--require-signed-request-object",
                "--request-object-signing-alg",
                "none",
            ],
            None,
        )
        .await;
    assert!(!out.ok(), "{}", out.stdout);
}

#[tokio::test]
async fn a_signed_request_object_can_be_pushed() {
    let app = app().await;
    let key = rsa_key("rp-1");
    let client = client(&app, &[&key], &[]).await;
    let object = sign(
        Algorithm::RS256,
        &key,
        &claims(&app, &client, "st-par", "n-par"),
    );
    let pushed: Value = reqwest::Client::new()
        .post(app.url("/par"))
        .basic_auth(&client.id, client.secret.as_deref())
        .form(&[
            ("client_id", client.id.as_str()),
            ("request", object.as_str()),
        ])
        .send()
        .await
        .expect("par")
        .json()
        .await
        .expect("json");
    let request_uri = pushed["request_uri"]
        .as_str()
        .unwrap_or_else(|| panic!("{pushed}"));
    let url = app
        .code_flow(
            &client,
            &[
                ("client_id", client.id.as_str()),
                ("request_uri", request_uri),
            ],
            USER,
        )
        .await;
    assert_eq!(query_param(&url, "state").as_deref(), Some("st-par"));
    let code = query_param(&url, "code").expect("code");
    assert_eq!(id_token(&app, &client, &code).await["nonce"], "n-par");
    // A tampered object is refused at /par with the standard error.
    let forged = sign(
        Algorithm::RS256,
        &rsa_key("rp-1"),
        &claims(&app, &client, "s", "n"),
    );
    let res = reqwest::Client::new()
        .post(app.url("/par"))
        .basic_auth(&client.id, client.secret.as_deref())
        .form(&[("request", forged.as_str())])
        .send()
        .await
        .expect("par");
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["error"], "invalid_request_object");
}

#[tokio::test]
async fn discovery_and_registration_say_what_is_supported() {
    let app = spawn_app_on(test_db(), |a| {
        a.registration = Some("open".into());
        a.registrations_per_address = Some(30);
    })
    .await;
    let doc: Value = app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(doc["request_parameter_supported"], true);
    assert_eq!(doc["request_uri_parameter_supported"], true);
    assert_eq!(doc["require_request_uri_registration"], true);
    let algs = doc["request_object_signing_alg_values_supported"].to_string();
    for alg in ["RS256", "PS256", "ES256", "EdDSA", "none"] {
        assert!(algs.contains(&format!("\"{alg}\"")), "{algs}");
    }
    let key = rsa_key("rp-1");
    // Each from its own loopback address: open registration admits a burst of 3 per address.
    let register = |body: Value, from: &'static str| {
        let url = app.url("/register");
        async move {
            let res = crate::helpers::browser_from(from)
                .post(url)
                .json(&body)
                .send()
                .await
                .expect("register");
            (
                res.status().as_u16(),
                res.json::<Value>().await.expect("json"),
            )
        }
    };
    let (status, info) = register(
        json!({
            "redirect_uris": ["https://app.example/cb"],
            "jwks": {"keys": [key.jwk]},
            "request_uris": ["https://app.example/request.jwt#hash"],
            "request_object_signing_alg": "RS256",
            "require_signed_request_object": true,
        }),
        "127.0.0.1",
    )
    .await;
    assert_eq!(status, 201, "{info}");
    assert_eq!(
        info["request_uris"],
        json!(["https://app.example/request.jwt#hash"])
    );
    assert_eq!(info["request_object_signing_alg"], "RS256");
    assert_eq!(info["require_signed_request_object"], true);
    for (bad, from) in [
        (
            json!({"redirect_uris": ["https://app.example/cb"], "request_object_signing_alg": "HS256"}),
            "127.0.0.2",
        ),
        (
            json!({"redirect_uris": ["https://app.example/cb"], "request_object_signing_alg": "RS256"}),
            "127.0.0.3",
        ),
        (
            json!({"redirect_uris": ["https://app.example/cb"], "request_uris": ["ftp://app.example/r"]}),
            "127.0.0.4",
        ),
    ] {
        let (status, body) = register(bad.clone(), from).await;
        assert_eq!(status, 400, "{bad} → {body}");
        assert_eq!(body["error"], "invalid_client_metadata", "{bad} → {body}");
    }
}

/// The console stores the request-object metadata (through the one client policy) and
/// `ostiary export` / `ostiary apply` carry it: a changed algorithm is planned and written once.
#[tokio::test]
async fn the_console_and_config_as_code_keep_request_object_metadata() {
    let app = spawn_app_on(test_db(), |_| {}).await;
    crate::helpers::add_user(&app.db, "root", "root password", true).await;
    let csrf = crate::admin::login_as(&app, "root", "root password").await;
    let client = app.client(&[]).await;
    let stored = |app: &TestApp| {
        ostiary::clients::get(None, &mut app.db.conn(), &client.id)
            .expect("q")
            .expect("stored")
            .metadata()
    };
    let edit = |alg: &'static str| {
        app.client
            .post(app.url(&format!("/admin/clients/{}", client.id)))
            .form(&[
                ("csrf_token", csrf.as_str()),
                ("name", "Signed requests"),
                ("redirect_uris", REDIRECT),
                ("grant_types", "authorization_code"),
                ("scopes", "openid"),
                ("auth_method", "client_secret_basic"),
                ("id_token_alg", "RS256"),
                ("jwks_uri", "https://keys.example/jwks.json"),
                ("request_object_signing_alg", alg),
                ("require_signed_request_object", "1"),
                (
                    "request_uris",
                    "https://app.example/a.jwt\nhttps://app.example/b.jwt",
                ),
            ])
            .send()
    };
    // The policy refuses what cannot hold together, on the form.
    let refused = edit("none").await.expect("post");
    assert_eq!(refused.status(), 400, "none with required signatures");
    let page = refused.text().await.expect("page");
    assert!(page.contains("contradicts"), "{page}");
    assert_eq!(edit("PS256").await.expect("post").status(), 303);
    let m = stored(&app);
    assert_eq!(m["request_object_signing_alg"], "PS256");
    assert_eq!(m["require_signed_request_object"], true);
    assert_eq!(
        m["request_uris"],
        json!(["https://app.example/a.jwt", "https://app.example/b.jwt"])
    );

    let export = app.cli(&["export"], None).await;
    assert!(export.ok(), "{}", export.stderr);
    let line = "request_object_signing_alg = \"PS256\"";
    assert!(export.stdout.contains(line), "{}", export.stdout);
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("ostiary.toml");
    std::fs::write(
        &file,
        export
            .stdout
            .replace(line, "request_object_signing_alg = \"ES256\""),
    )
    .expect("write");
    let out = app.cli(&["apply", &file.display().to_string()], None).await;
    assert!(out.ok(), "{}", out.stderr);
    assert!(
        out.stdout.contains("request_object_signing_alg"),
        "{}",
        out.stdout
    );
    assert_eq!(stored(&app)["request_object_signing_alg"], "ES256");
    let again = app.cli(&["apply", &file.display().to_string()], None).await;
    assert!(
        again.stdout.contains("nothing to change"),
        "{}",
        again.stdout
    );
}
