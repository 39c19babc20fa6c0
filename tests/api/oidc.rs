//! OpenID Connect: discovery, JWKS and rotation, id_token claims, userinfo, revocation,
//! introspection, logout, prompt and max_age.

use serde_json::Value;

use crate::helpers::{
    location, pkce_pair, query_param, spawn_app_on, test_db, TestApp, TestClient,
};
use crate::jws;

const USER: (&str, &str) = ("olga", "olga's password");

async fn app() -> TestApp {
    let app = spawn_app_on(test_db(), |a| a.key_cache_ttl = Some(1)).await;
    app.user(USER.0, USER.1).await;
    assert!(app
        .cli(
            &["user", "set-password", USER.0, "--password-stdin"],
            Some(&format!("{}\n", USER.1))
        )
        .await
        .ok());
    app
}

async fn jwks(app: &TestApp) -> Value {
    app.get("/jwks.json").await.json().await.expect("jwks")
}

/// Full login with `scope` and a nonce; returns the token response.
async fn tokens(app: &TestApp, client: &TestClient, scope: &str, nonce: &str) -> Value {
    let (verifier, challenge) = pkce_pair();
    let url = app
        .code_flow(
            client,
            &[
                ("response_type", "code"),
                ("client_id", client.id.as_str()),
                ("redirect_uri", client.redirect_uri.as_str()),
                ("scope", scope),
                ("nonce", nonce),
                ("state", "st"),
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "S256"),
            ],
            USER,
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

#[tokio::test]
async fn discovery_documents_are_exact_and_honest() {
    let app = app().await;
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let res = app.get(path).await;
        assert_eq!(res.status(), 200);
        let d: Value = res.json().await.expect("json");
        assert_eq!(d["issuer"], app.address.as_str(), "no trailing-slash drift");
        for (k, p) in [
            ("authorization_endpoint", "/authorize"),
            ("token_endpoint", "/token"),
            ("userinfo_endpoint", "/userinfo"),
            ("jwks_uri", "/jwks.json"),
            ("revocation_endpoint", "/revoke"),
            ("introspection_endpoint", "/introspect"),
            ("end_session_endpoint", "/logout"),
            ("registration_endpoint", "/register"),
        ] {
            assert_eq!(d[k], format!("{}{p}", app.address), "{k}");
        }
        assert_eq!(d["response_types_supported"], serde_json::json!(["code"]));
        assert_eq!(
            d["code_challenge_methods_supported"],
            serde_json::json!(["S256"])
        );
        assert_eq!(d["authorization_response_iss_parameter_supported"], true);
        assert_eq!(
            d["id_token_signing_alg_values_supported"],
            serde_json::json!(["RS256", "ES256", "EdDSA"])
        );
        assert!(d["grant_types_supported"]
            .as_array()
            .is_some_and(|g| !g.iter().any(|x| x == "implicit" || x == "password")));
    }
    // Registration closed by configuration: no registration_endpoint.
    let closed = crate::helpers::spawn_app_on(crate::helpers::test_db(), |a| {
        a.registration = Some("closed".into())
    })
    .await;
    let d: Value = closed
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .expect("json");
    assert!(d.get("registration_endpoint").is_none());
    // Every advertised endpoint exists (none answers 404).
    for p in ["/userinfo", "/jwks.json"] {
        assert_ne!(app.get(p).await.status(), 404);
    }
}

#[tokio::test]
async fn jwks_publishes_every_key_with_kid_use_alg_and_caching() {
    let app = app().await;
    let res = app.get("/jwks.json").await;
    assert_eq!(res.status(), 200);
    let cc = res.headers()["cache-control"]
        .to_str()
        .unwrap_or("")
        .to_owned();
    assert!(cc.contains("max-age"), "{cc}");
    let doc: Value = res.json().await.expect("json");
    let keys = doc["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 3);
    for k in keys {
        assert!(k["kid"].is_string());
        assert_eq!(k["use"], "sig");
        assert!(["RS256", "ES256", "EdDSA"].contains(&k["alg"].as_str().unwrap_or("")));
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(k.get(private).is_none(), "no private member {private}");
        }
    }
}

#[tokio::test]
async fn id_token_claims_and_signature_verify_independently() {
    let app = app().await;
    let client = app.client(&[]).await;
    let body = tokens(&app, &client, "openid profile email", "n-0S6_WzA2Mj").await;
    let id_token = body["id_token"].as_str().expect("id_token");
    let (header, c) = jws::verify(id_token, &jwks(&app).await);
    assert_eq!(header["alg"], "RS256", "RS256 by default");
    assert_eq!(c["iss"], app.address.as_str());
    assert_eq!(c["aud"], client.id.as_str());
    assert_eq!(c["azp"], client.id.as_str());
    assert_eq!(c["nonce"], "n-0S6_WzA2Mj");
    let now = ostiary::db::now();
    let iat = c["iat"].as_i64().expect("iat");
    let exp = c["exp"].as_i64().expect("exp");
    assert!((now - 5..=now + 1).contains(&iat));
    assert!(exp > now && exp <= now + 3601);
    let auth_time = c["auth_time"].as_i64().expect("auth_time");
    assert!(auth_time <= iat && auth_time > now - 60);
    assert!(c["sid"].is_string());
    let access = body["access_token"].as_str().expect("access token");
    assert_eq!(c["at_hash"], jws::at_hash(access, "RS256"));
    assert_eq!(c["email"], "olga@example.test");
    assert_eq!(c["preferred_username"], "olga");
    // The access token verifies too, and its sub is the id_token's.
    let (ah, ac) = jws::verify(access, &jwks(&app).await);
    assert_eq!(ah["typ"], "at+jwt");
    assert_eq!(ac["sub"], c["sub"]);

    // userinfo's sub equals the id_token's.
    let info: Value = app
        .client
        .get(app.url("/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .expect("userinfo")
        .json()
        .await
        .expect("json");
    assert_eq!(info["sub"], c["sub"]);

    // A refresh brings a new id_token for the same user, without the nonce.
    let refresh = body["refresh_token"].as_str().expect("refresh");
    let r: Value = app
        .token(
            &client,
            &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
        )
        .await
        .json()
        .await
        .expect("json");
    let (_, rc) = jws::verify(
        r["id_token"].as_str().expect("id_token on refresh"),
        &jwks(&app).await,
    );
    assert_eq!(rc["sub"], c["sub"]);
    assert_eq!(
        rc["auth_time"], c["auth_time"],
        "auth_time is the original login's"
    );
    assert!(rc.get("nonce").is_none());
}

#[tokio::test]
async fn per_client_id_token_algorithms() {
    let app = app().await;
    for alg in ["ES256", "EdDSA"] {
        let client = app.client(&["--id-token-alg", alg]).await;
        let body = tokens(&app, &client, "openid", "n").await;
        let id_token = body["id_token"].as_str().expect("id_token");
        let (h, c) = jws::verify(id_token, &jwks(&app).await);
        assert_eq!(h["alg"], alg);
        assert_eq!(
            c["at_hash"],
            jws::at_hash(body["access_token"].as_str().unwrap_or(""), alg)
        );
    }
}

#[tokio::test]
async fn no_openid_scope_means_no_id_token() {
    let app = app().await;
    let client = app
        .client(&["--scope", "profile", "--scope", "openid"])
        .await;
    let body = tokens(&app, &client, "profile", "n").await;
    assert!(body.get("id_token").is_none());
}

#[tokio::test]
async fn tokens_signed_before_a_rotation_still_verify_after_it() {
    let app = app().await;
    let client = app.client(&[]).await;
    let before = tokens(&app, &client, "openid", "n1").await;
    let old_kid = jsonwebtoken::decode_header(before["id_token"].as_str().unwrap_or(""))
        .expect("h")
        .kid;
    let out = app
        .cli(&["keys", "rotate", "--activate-in", "0"], None)
        .await;
    assert!(out.ok(), "{}", out.stderr);
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let after = tokens(&app, &client, "openid", "n2").await;
    let new_kid = jsonwebtoken::decode_header(after["id_token"].as_str().unwrap_or(""))
        .expect("h")
        .kid;
    assert_ne!(old_kid, new_kid, "the new key signs");
    let set = jwks(&app).await;
    assert_eq!(
        set["keys"].as_array().map(Vec::len),
        Some(6),
        "old and new keys published"
    );
    for t in [&before, &after] {
        jws::verify(t["id_token"].as_str().expect("id"), &set);
        jws::verify(t["access_token"].as_str().expect("at"), &set);
        // The server itself still accepts the older access token.
        let res = app
            .client
            .get(app.url("/userinfo"))
            .bearer_auth(t["access_token"].as_str().unwrap_or(""))
            .send()
            .await
            .expect("ui");
        assert_eq!(res.status(), 200);
    }
    // A delayed rotation publishes a key that does not sign yet.
    assert!(app
        .cli(&["keys", "rotate", "--activate-in", "3600"], None)
        .await
        .ok());
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let later = tokens(&app, &client, "openid", "n3").await;
    let kid3 = jsonwebtoken::decode_header(later["id_token"].as_str().unwrap_or(""))
        .expect("h")
        .kid;
    assert_eq!(
        kid3, new_kid,
        "a published-but-not-active key does not sign"
    );
    assert_eq!(jwks(&app).await["keys"].as_array().map(Vec::len), Some(9));
}

fn challenge_of(res: &reqwest::Response) -> String {
    res.headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn userinfo_by_header_or_body_and_its_refusals() {
    let app = spawn_app_on(test_db(), |a| a.access_token_ttl = Some(2)).await;
    app.user(USER.0, USER.1).await;
    let client = app.client(&[]).await;
    let body = tokens(&app, &client, "openid profile", "n").await;
    let access = body["access_token"].as_str().expect("at").to_owned();

    let info: Value = app
        .client
        .post(app.url("/userinfo"))
        .form(&[("access_token", access.as_str())])
        .send()
        .await
        .expect("post")
        .json()
        .await
        .expect("json");
    assert_eq!(info["preferred_username"], "olga");
    assert!(info.get("email").is_none(), "email scope was not granted");

    let res = app
        .client
        .get(app.url("/userinfo"))
        .send()
        .await
        .expect("no token");
    assert_eq!(res.status(), 401);
    assert!(challenge_of(&res).starts_with("Bearer"));

    let res = app
        .client
        .get(app.url("/userinfo"))
        .bearer_auth("garbage.token.here")
        .send()
        .await
        .expect("bad");
    assert_eq!(res.status(), 401);
    assert!(challenge_of(&res).contains("error=\"invalid_token\""));

    // A token signed by someone else's key with our kid is refused.
    let mut parts: Vec<String> = access.split('.').map(str::to_owned).collect();
    parts[2] = "AAAA".into();
    let res = app
        .client
        .get(app.url("/userinfo"))
        .bearer_auth(parts.join("."))
        .send()
        .await
        .expect("forged");
    assert_eq!(res.status(), 401);

    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    let res = app
        .client
        .get(app.url("/userinfo"))
        .bearer_auth(&access)
        .send()
        .await
        .expect("expired");
    assert_eq!(res.status(), 401);
    assert!(challenge_of(&res).contains("invalid_token"));
}

#[tokio::test]
async fn client_credentials_tokens_have_no_userinfo() {
    let app = app().await;
    let client = app
        .client(&["--grant-type", "client_credentials", "--scope", "api"])
        .await;
    let body: Value = app
        .token(&client, &[("grant_type", "client_credentials")])
        .await
        .json()
        .await
        .expect("json");
    let res = app
        .client
        .get(app.url("/userinfo"))
        .bearer_auth(body["access_token"].as_str().unwrap_or(""))
        .send()
        .await
        .expect("ui");
    assert_eq!(res.status(), 403);
    assert!(challenge_of(&res).contains("insufficient_scope"));
}

async fn introspect(app: &TestApp, caller: &TestClient, token: &str) -> Value {
    let res = reqwest::Client::new()
        .post(app.url("/introspect"))
        .basic_auth(&caller.id, caller.secret.as_deref())
        .form(&[("token", token)])
        .send()
        .await
        .expect("introspect");
    assert_eq!(res.status(), 200);
    res.json().await.expect("json")
}

async fn revoke(app: &TestApp, caller: &TestClient, token: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(app.url("/revoke"))
        .basic_auth(&caller.id, caller.secret.as_deref())
        .form(&[("token", token)])
        .send()
        .await
        .expect("revoke")
}

#[tokio::test]
async fn introspection_and_revocation() {
    let app = app().await;
    let client = app.client(&[]).await;
    let resource_server = app.client(&["--grant-type", "client_credentials"]).await;
    let body = tokens(&app, &client, "openid profile", "n").await;
    let access = body["access_token"].as_str().expect("at");
    let refresh = body["refresh_token"].as_str().expect("rt");

    let i = introspect(&app, &resource_server, access).await;
    assert_eq!(i["active"], true);
    assert_eq!(i["client_id"], client.id.as_str());
    assert_eq!(i["scope"], "openid profile");
    assert_eq!(i["username"], "olga");
    assert!(i["exp"].is_i64() && i["sub"].is_string());
    assert_eq!(introspect(&app, &client, refresh).await["active"], true);
    assert_eq!(
        introspect(&app, &resource_server, refresh).await["active"],
        false,
        "not the caller's refresh token"
    );
    assert_eq!(
        introspect(&app, &resource_server, "nonsense").await["active"],
        false
    );

    // Public clients cannot introspect; bad credentials get 401.
    let public = app.client(&["--public"]).await;
    let res = reqwest::Client::new()
        .post(app.url("/introspect"))
        .form(&[("token", access), ("client_id", public.id.as_str())])
        .send()
        .await
        .expect("i");
    assert_eq!(res.status(), 401);
    let mut wrong = resource_server.clone();
    wrong.secret = Some("ost_nope".into());
    assert_eq!(revoke(&app, &wrong, access).await.status(), 401);

    // Another client's revocation has no effect; unknown tokens get 200 too.
    assert_eq!(revoke(&app, &resource_server, access).await.status(), 200);
    assert_eq!(
        introspect(&app, &resource_server, access).await["active"],
        true
    );
    assert_eq!(revoke(&app, &client, "unknown-token").await.status(), 200);
    let res = reqwest::Client::new()
        .post(app.url("/revoke"))
        .basic_auth(&client.id, client.secret.as_deref())
        .form(&[("x", "y")])
        .send()
        .await
        .expect("r");
    assert_eq!(res.status(), 400, "token parameter is required");

    // Revoking the access token: deny-listed everywhere.
    assert_eq!(revoke(&app, &client, access).await.status(), 200);
    assert_eq!(
        introspect(&app, &resource_server, access).await["active"],
        false
    );
    let res = app
        .client
        .get(app.url("/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .expect("ui");
    assert_eq!(res.status(), 401);

    // Revoking the refresh token revokes its family.
    assert_eq!(revoke(&app, &client, refresh).await.status(), 200);
    assert_eq!(introspect(&app, &client, refresh).await["active"], false);
    let res = app
        .token(
            &client,
            &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
        )
        .await;
    assert_eq!(res.status(), 400);
}

#[tokio::test]
async fn logout_with_a_valid_hint_redirects_to_a_registered_uri_and_ends_the_session() {
    let app = app().await;
    let client = app
        .client(&["--post-logout-redirect-uri", "http://127.0.0.1:9/bye"])
        .await;
    let body = tokens(&app, &client, "openid", "n").await;
    let hint = body["id_token"].as_str().expect("id_token");

    // Unregistered target: an error page, no redirect.
    let res = app
        .client
        .get(app.url("/logout"))
        .query(&[
            ("id_token_hint", hint),
            ("post_logout_redirect_uri", "https://evil.example/"),
        ])
        .send()
        .await
        .expect("l");
    assert_eq!(res.status(), 400);
    assert!(res.headers().get("location").is_none());
    // A forged hint: refused.
    let res = app
        .client
        .get(app.url("/logout"))
        .query(&[("id_token_hint", "a.b.c")])
        .send()
        .await
        .expect("l");
    assert_eq!(res.status(), 400);

    let res = app
        .client
        .get(app.url("/logout"))
        .query(&[
            ("id_token_hint", hint),
            ("post_logout_redirect_uri", "http://127.0.0.1:9/bye"),
            ("state", "s9"),
        ])
        .send()
        .await
        .expect("logout");
    assert_eq!(res.status(), 302);
    assert_eq!(location(&res), "http://127.0.0.1:9/bye?state=s9");
    // The session is gone: authorize asks for a login again.
    let (_, challenge) = pkce_pair();
    let res = app
        .authorize(&[
            ("response_type", "code"),
            ("client_id", client.id.as_str()),
            ("redirect_uri", client.redirect_uri.as_str()),
            ("scope", "openid"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ])
        .await;
    assert!(location(&res).starts_with("/login"), "{}", location(&res));
}

#[tokio::test]
async fn logout_without_a_hint_asks_for_confirmation() {
    let app = app().await;
    let client = app.client(&[]).await;
    tokens(&app, &client, "openid", "n").await;
    let res = app
        .client
        .get(app.url("/logout"))
        .send()
        .await
        .expect("logout");
    assert_eq!(res.status(), 200);
    let html = res.text().await.expect("html");
    assert!(html.contains("Sign out?"));
    let csrf = TestApp::csrf_of(&html);
    // Without the CSRF token the POST does not log out.
    let res = app
        .client
        .post(app.url("/logout"))
        .form(&[("confirm", "yes")])
        .send()
        .await
        .expect("p");
    assert_eq!(res.status(), 200);
    assert!(res.text().await.expect("html").contains("Sign out?"));
    let res = app
        .client
        .post(app.url("/logout"))
        .form(&[("confirm", "yes"), ("csrf_token", csrf.as_str())])
        .send()
        .await
        .expect("p");
    assert_eq!(res.status(), 200);
    assert!(res.text().await.expect("html").contains("signed out"));
    assert!(location(&app.get("/").await).starts_with("/login"));
}

#[tokio::test]
async fn prompt_none_login_consent_and_max_age() {
    let app = app().await;
    let client = app.client(&[]).await;
    let (_, challenge) = pkce_pair();
    let params = |extra: Vec<(&'static str, &'static str)>| {
        let mut p = vec![
            ("response_type", "code".to_owned()),
            ("client_id", client.id.clone()),
            ("redirect_uri", client.redirect_uri.clone()),
            ("scope", "openid".to_owned()),
            ("state", "q".to_owned()),
            ("code_challenge", challenge.clone()),
            ("code_challenge_method", "S256".to_owned()),
        ];
        p.extend(extra.into_iter().map(|(k, v)| (k, v.to_owned())));
        p
    };
    let get = |p: Vec<(&'static str, String)>| {
        let app = &app;
        async move {
            app.client
                .get(app.url("/authorize"))
                .query(&p)
                .send()
                .await
                .expect("authorize")
        }
    };
    let err = |res: &reqwest::Response| {
        url::Url::parse(&location(res))
            .ok()
            .and_then(|u| query_param(&u, "error"))
    };
    let res = get(params(vec![("prompt", "none")])).await;
    assert_eq!(err(&res).as_deref(), Some("login_required"));
    // Log in (consent not yet given).
    let res = get(params(vec![])).await;
    let login = app.login(&location(&res), USER.0, USER.1).await;
    assert_eq!(login.status(), 303);
    let res = get(params(vec![("prompt", "none")])).await;
    assert_eq!(err(&res).as_deref(), Some("consent_required"));
    // Consent once, then prompt=none succeeds silently.
    tokens(&app, &client, "openid", "n").await;
    let res = get(params(vec![("prompt", "none")])).await;
    let u = url::Url::parse(&location(&res)).expect("url");
    assert!(query_param(&u, "code").is_some());
    // prompt=consent shows the consent page again; prompt=login and max_age=0 ask for a login.
    assert_eq!(get(params(vec![("prompt", "consent")])).await.status(), 200);
    assert!(location(&get(params(vec![("prompt", "login")])).await).starts_with("/login"));
    assert!(location(&get(params(vec![("max_age", "0")])).await).starts_with("/login"));
    let res = get(params(vec![("prompt", "none login")])).await;
    assert_eq!(err(&res).as_deref(), Some("invalid_request"));
    // After a fresh login with max_age the flow completes without looping.
    let res = get(params(vec![("max_age", "0")])).await;
    let login = app.login(&location(&res), USER.0, USER.1).await;
    let back = app
        .client
        .get(app.url(&location(&login)))
        .send()
        .await
        .expect("back");
    assert_eq!(back.status(), 302);
    assert!(
        location(&back).starts_with(&client.redirect_uri),
        "{}",
        location(&back)
    );
}
