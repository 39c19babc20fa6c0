//! Issue 23: what a certifying tester found (OpenID Connect Core, RFC 6749, RFC 7592, RFC 8628,
//! Dynamic Registration), each through real HTTP.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp};

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

struct ClientKey {
    pair: EcdsaKeyPair,
    kid: String,
}

impl ClientKey {
    fn new(kid: &str) -> ClientKey {
        let rng = SystemRandom::new();
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).expect("key");
        ClientKey {
            pair: EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
                .expect("pair"),
            kid: kid.to_owned(),
        }
    }

    fn jwk(&self) -> Value {
        let p = self.pair.public_key().as_ref();
        json!({
            "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": self.kid,
            "x": URL_SAFE_NO_PAD.encode(&p[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&p[33..65]),
        })
    }

    fn assertion(&self, client_id: &str, aud: &str) -> String {
        let now = ostiary::db::now();
        let claims = json!({
            "iss": client_id, "sub": client_id, "aud": aud,
            "iat": now, "exp": now + 60,
            "jti": ostiary::random::token::<16>(),
        });
        let header = json!({ "alg": "ES256", "typ": "JWT", "kid": self.kid });
        let msg = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let sig = self
            .pair
            .sign(&SystemRandom::new(), msg.as_bytes())
            .expect("sign");
        format!("{msg}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
    }
}

// --- item 6: the challenge of a failed client authentication -----------------------------------

/// Every endpoint that authenticates clients, with a form it would otherwise accept.
const CLIENT_ENDPOINTS: &[(&str, &[(&str, &str)])] = &[
    ("/token", &[("grant_type", "client_credentials")]),
    ("/revoke", &[("token", "nothing")]),
    ("/introspect", &[("token", "nothing")]),
    (
        "/par",
        &[
            ("response_type", "code"),
            ("redirect_uri", crate::helpers::REDIRECT),
        ],
    ),
    ("/device_authorization", &[("scope", "openid")]),
];

async fn challenge_of(
    app: &TestApp,
    path: &str,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> (u16, Option<String>, Option<String>) {
    let mut req = reqwest::Client::new().post(app.url(path));
    if let Some((id, secret)) = basic {
        req = req.basic_auth(id, Some(secret));
    }
    let res = req.form(form).send().await.expect("post");
    let status = res.status().as_u16();
    let challenge = res
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body: Value = res.json().await.unwrap_or(Value::Null);
    (status, body["error"].as_str().map(str::to_owned), challenge)
}

/// RFC 6749 §5.2: the challenge of a 401 names the scheme the client used. A client that
/// authenticated in the body (client_secret_post, private_key_jwt) gets `invalid_client`
/// without a Basic challenge at every client-authenticated endpoint; one that used Basic still
/// gets the challenge.
#[tokio::test]
async fn invalid_client_challenges_basic_only_when_the_client_used_basic() {
    let app = spawn_app().await;
    let grants = [
        "--grant-type",
        "client_credentials",
        "--grant-type",
        "authorization_code",
        "--grant-type",
        "urn:ietf:params:oauth:grant-type:device_code",
    ];
    let mut post_args = vec!["--auth-method", "client_secret_post"];
    post_args.extend(grants);
    let post = app.client(&post_args).await;
    let key = ClientKey::new("k1");
    let stranger = ClientKey::new("k1");
    let jwks = json!({ "keys": [key.jwk()] }).to_string();
    let mut jwt_args = vec!["--auth-method", "private_key_jwt", "--jwks", &jwks];
    jwt_args.extend(grants);
    let jwt = app.client(&jwt_args).await;
    let basic = app.client(&grants).await;

    for (path, form) in CLIENT_ENDPOINTS {
        // client_secret_post with a wrong secret.
        let mut f = form.to_vec();
        f.extend([
            ("client_id", post.id.as_str()),
            ("client_secret", "ost_wrong"),
        ]);
        let (status, error, challenge) = challenge_of(&app, path, &f, None).await;
        assert_eq!(
            (status, error.as_deref(), challenge.as_deref()),
            (401, Some("invalid_client"), None),
            "{path}: client_secret_post"
        );
        // private_key_jwt signed by a key the client never registered.
        let assertion = stranger.assertion(&jwt.id, &app.address);
        let mut f = form.to_vec();
        f.extend([
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", assertion.as_str()),
        ]);
        let (status, error, challenge) = challenge_of(&app, path, &f, None).await;
        assert_eq!(
            (status, error.as_deref(), challenge.as_deref()),
            (401, Some("invalid_client"), None),
            "{path}: private_key_jwt"
        );
        // No authentication at all.
        let (status, error, challenge) = challenge_of(&app, path, form, None).await;
        assert_eq!(
            (status, error.as_deref(), challenge.as_deref()),
            (401, Some("invalid_client"), None),
            "{path}: no authentication"
        );
        // Basic with a wrong secret: challenged with Basic.
        let (status, error, challenge) =
            challenge_of(&app, path, form, Some((&basic.id, "ost_wrong"))).await;
        assert_eq!(
            (status, error.as_deref()),
            (401, Some("invalid_client")),
            "{path}: Basic"
        );
        assert!(
            challenge.as_deref().is_some_and(|c| c.starts_with("Basic")),
            "{path}: Basic without a challenge: {challenge:?}"
        );
    }
    // The right credentials still work in each way (the refusals above were the credentials').
    let assertion = key.assertion(&jwt.id, &app.address);
    let (status, _, _) = challenge_of(
        &app,
        "/token",
        &[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", assertion.as_str()),
        ],
        None,
    )
    .await;
    assert_eq!(status, 200);
}
