//! OIDC Core §5.1/§5.4 standard claims: a person fills in their profile (or an administrator, or
//! the CLI), and clients get the claims of the scopes they were granted — `profile`, `email`,
//! `address`, `phone` — in the id_token and at userinfo; nothing that was not filled in.

use serde_json::Value;

use crate::admin::login_as;
use crate::helpers::{add_user, pkce_pair, query_param, spawn_app, TestApp, TestClient};
use crate::jws;

const USER: (&str, &str) = ("ada", "ada's long password");

/// The person's own profile form, posted with the CSRF token of their session.
async fn post_profile(app: &TestApp, fields: &[(&str, &str)]) -> (u16, String) {
    let page = app
        .get("/account/profile")
        .await
        .text()
        .await
        .expect("html");
    let csrf = TestApp::csrf_of(&page);
    let mut form = vec![("csrf_token", csrf.as_str())];
    form.extend_from_slice(fields);
    let res = app
        .client
        .post(app.url("/account/profile"))
        .form(&form)
        .send()
        .await
        .expect("post");
    let status = res.status().as_u16();
    (status, res.text().await.expect("html"))
}

/// A code flow for `scope`; the token response.
async fn tokens(app: &TestApp, client: &TestClient, scope: &str) -> Value {
    let (verifier, challenge) = pkce_pair();
    let url = app
        .code_flow(
            client,
            &[
                ("response_type", "code"),
                ("client_id", client.id.as_str()),
                ("redirect_uri", client.redirect_uri.as_str()),
                ("scope", scope),
                ("nonce", "n-0S6_WzA2Mj"),
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

async fn userinfo(app: &TestApp, access_token: &str) -> Value {
    reqwest::Client::new()
        .get(app.url("/userinfo"))
        .bearer_auth(access_token)
        .send()
        .await
        .expect("userinfo")
        .json()
        .await
        .expect("json")
}

async fn id_token_claims(app: &TestApp, tokens: &Value) -> Value {
    let jwks: Value = app.get("/jwks.json").await.json().await.expect("jwks");
    jws::verify(tokens["id_token"].as_str().expect("id_token"), &jwks).1
}

const PROFILE: [(&str, &str); 12] = [
    ("given_name", "Ada"),
    ("family_name", "Lovelace"),
    ("middle_name", "Augusta"),
    ("nickname", "Countess"),
    ("website", "https://ada.example/"),
    ("birthdate", "1815-12-10"),
    ("zoneinfo", "Europe/London"),
    ("locale", "en_GB"),
    ("phone_number", "+44 20 7946 0958"),
    ("address_street_address", "12 St James's Square"),
    ("address_locality", "London"),
    ("address_country", "United Kingdom"),
];

#[tokio::test]
async fn oidcc_scope_all_profile_address_and_phone_claims_reach_the_id_token_and_userinfo() {
    let app = spawn_app().await;
    app.user(USER.0, USER.1).await;
    login_as(&app, USER.0, USER.1).await;
    let (status, html) = post_profile(&app, &PROFILE).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("The profile was saved."), "{html}");

    let client = app
        .client(&[
            "--scope", "openid", "--scope", "profile", "--scope", "email", "--scope", "address",
            "--scope", "phone",
        ])
        .await;
    let t = tokens(&app, &client, "openid profile email address phone").await;
    let info = userinfo(&app, t["access_token"].as_str().expect("at")).await;
    let id = id_token_claims(&app, &t).await;
    for claims in [&info, &id] {
        assert_eq!(claims["given_name"], "Ada", "{claims}");
        assert_eq!(claims["middle_name"], "Augusta");
        assert_eq!(claims["nickname"], "Countess");
        assert_eq!(claims["website"], "https://ada.example/");
        assert_eq!(claims["birthdate"], "1815-12-10");
        assert_eq!(claims["zoneinfo"], "Europe/London");
        assert_eq!(claims["locale"], "en-GB", "BCP 47 with a dash");
        assert_eq!(claims["phone_number"], "+442079460958", "E.164");
        assert_eq!(claims["phone_number_verified"], false);
        assert_eq!(claims["address"]["locality"], "London");
        assert_eq!(claims["address"]["street_address"], "12 St James's Square");
        assert!(claims["picture"].is_null(), "not filled in, not sent");
        assert!(claims["address"]["region"].is_null());
    }

    // Only the scopes granted: profile alone carries no address or phone number.
    let t = tokens(&app, &client, "openid profile").await;
    let info = userinfo(&app, t["access_token"].as_str().expect("at")).await;
    assert_eq!(info["family_name"], "Lovelace");
    assert!(
        info["address"].is_null() && info["phone_number"].is_null(),
        "{info}"
    );
    assert!(info["email"].is_null(), "{info}");

    let audit = app.count("audit_events WHERE action = 'account.profile'");
    assert_eq!(audit, 1);
}

#[tokio::test]
async fn discovery_lists_the_address_and_phone_scopes_and_their_claims() {
    let app = spawn_app().await;
    let doc: Value = app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .expect("json");
    let has = |field: &str, v: &str| doc[field].as_array().expect("array").iter().any(|x| x == v);
    for scope in ["address", "phone", "offline_access", "profile", "email"] {
        assert!(has("scopes_supported", scope), "{scope}");
    }
    for claim in [
        "address",
        "phone_number",
        "phone_number_verified",
        "birthdate",
        "zoneinfo",
        "locale",
        "picture",
        "website",
        "nickname",
        "middle_name",
        "gender",
        "profile",
    ] {
        assert!(has("claims_supported", claim), "{claim}");
    }
}

/// A refused field names itself, and nothing of the form is stored.
#[tokio::test]
async fn a_bad_field_is_refused_by_name_and_nothing_is_stored() {
    let app = spawn_app().await;
    app.user(USER.0, USER.1).await;
    login_as(&app, USER.0, USER.1).await;
    for (field, value, words) in [
        ("birthdate", "1815-02-30", "Birthdate must be"),
        ("website", "javascript:alert(1)", "Website must be"),
        ("phone_number", "020 7946 0958", "Phone number must be"),
        ("nickname", "Ada\u{202e}", "Nickname must not contain"),
    ] {
        let (status, html) = post_profile(&app, &[("given_name", "Ada"), (field, value)]).await;
        assert_eq!(status, 400, "{field}");
        assert!(html.contains(words), "{field}: {html}");
        assert!(html.contains(&format!("id=\"{field}-error\"")), "{field}");
        assert!(html.contains("aria-invalid=\"true\""), "{field}");
    }
    let mut conn = app.db.conn();
    let user = ostiary::db::models::users::by_username(&mut conn, USER.0)
        .expect("q")
        .expect("user");
    assert_eq!(user.given_name, None);
    assert_eq!(user.profile_claims, None);
    assert_eq!(
        app.count("audit_events WHERE action = 'account.profile'"),
        0
    );
}

/// Only an administrator (console or CLI) vouches for a phone number; a person who changes it
/// makes it unverified again.
#[tokio::test]
async fn only_an_administrator_marks_a_phone_number_verified() {
    let app = spawn_app().await;
    add_user(&app.db, "root", "root's long password", true).await;
    app.user(USER.0, USER.1).await;

    // The person cannot set the flag through their own form.
    login_as(&app, USER.0, USER.1).await;
    let (status, _) = post_profile(
        &app,
        &[
            ("phone_number", "+15550100100"),
            ("phone_number_verified", "1"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    let claims = |app: &TestApp| {
        let mut conn = app.db.conn();
        let user = ostiary::db::models::users::by_username(&mut conn, USER.0)
            .expect("q")
            .expect("user");
        ostiary::oidc::claims::for_scope(&user, "phone")
    };
    assert_eq!(claims(&app)["phone_number_verified"], false);

    // The CLI may.
    let out = app
        .cli(
            &["user", "profile", USER.0, "--phone-number-verified", "true"],
            None,
        )
        .await;
    assert!(out.ok(), "{}", out.stderr);
    assert!(
        out.stdout.contains("\"phone_number_verified\": true"),
        "{}",
        out.stdout
    );
    assert_eq!(claims(&app)["phone_number_verified"], true);

    // A change of number by the person makes it unverified again.
    let (status, _) = post_profile(&app, &[("phone_number", "+15550100101")]).await;
    assert_eq!(status, 200);
    assert_eq!(claims(&app)["phone_number_verified"], false);

    // The console may too, and its form shows the flag to the administrator only.
    let own = app
        .get("/account/profile")
        .await
        .text()
        .await
        .expect("html");
    assert!(!own.contains("name=\"phone_number_verified\""));
    let admin = crate::helpers::browser();
    let res = app.login_with(&admin, "root", "root's long password").await;
    assert_eq!(res.status(), 303);
    let uid = {
        let mut conn = app.db.conn();
        ostiary::db::models::users::by_username(&mut conn, USER.0)
            .expect("q")
            .expect("user")
            .id
    };
    let page = app
        .html(&admin, &format!("/admin/users/{uid}/profile"))
        .await;
    assert!(page.contains("name=\"phone_number_verified\""), "{page}");
    let csrf = TestApp::csrf_of(&page);
    let res = admin
        .post(app.url(&format!("/admin/users/{uid}/profile")))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("phone_number", "+15550100101"),
            ("phone_number_verified", "1"),
            ("given_name", "Ada"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), 200);
    assert_eq!(claims(&app)["phone_number_verified"], true);
    assert_eq!(claims(&app)["phone_number"], "+15550100101");
    assert_eq!(app.count("audit_events WHERE action = 'user.profile'"), 2);
}

#[tokio::test]
async fn the_cli_sets_shows_and_refuses_profile_fields() {
    let app = spawn_app().await;
    app.user(USER.0, USER.1).await;
    let out = app
        .cli(
            &[
                "user",
                "profile",
                USER.0,
                "--set",
                "given-name=Ada",
                "--set",
                "address_country=United Kingdom",
            ],
            None,
        )
        .await;
    assert!(out.ok(), "{}", out.stderr);
    let shown: Value = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(shown["given_name"], "Ada");
    assert_eq!(shown["address"]["country"], "United Kingdom");

    for (arg, words) in [
        ("shoe_size=44", "no field"),
        ("birthdate=yesterday", "birthdate must be"),
        ("given_name", "FIELD=VALUE"),
    ] {
        let out = app
            .cli(&["user", "profile", USER.0, "--set", arg], None)
            .await;
        assert!(!out.ok(), "{arg}");
        assert!(out.stderr.contains(words), "{arg}: {}", out.stderr);
        assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
    }
    // An empty value removes a field.
    let out = app
        .cli(&["user", "profile", USER.0, "--set", "given_name="], None)
        .await;
    let shown: Value = serde_json::from_str(&out.stdout).expect("json");
    assert!(shown["given_name"].is_null(), "{shown}");
    assert_eq!(shown["address"]["country"], "United Kingdom");
}

/// OIDC Core §5.3.2 and the Dynamic plan's `oidcc-userinfo-rs256`: a client registered with
/// `userinfo_signed_response_alg` gets userinfo as a signed JWT (`application/jwt`, with `iss`
/// and `aud`); others plain JSON; a registration naming an algorithm we do not sign with is
/// refused.
#[tokio::test]
async fn oidcc_userinfo_rs256_signed_userinfo_for_the_clients_that_ask() {
    let app = crate::helpers::spawn_app_on(crate::helpers::test_db(), |a| {
        a.registration = Some("open".into())
    })
    .await;
    app.user(USER.0, USER.1).await;
    let jwks: Value = app.get("/jwks.json").await.json().await.expect("jwks");
    for alg in ["RS256", "ES256"] {
        let client = app
            .client(&["--scope", "openid email", "--userinfo-alg", alg])
            .await;
        let t = tokens(&app, &client, "openid email").await;
        let res = reqwest::Client::new()
            .get(app.url("/userinfo"))
            .bearer_auth(t["access_token"].as_str().expect("at"))
            .send()
            .await
            .expect("userinfo");
        assert_eq!(res.status(), 200);
        assert_eq!(
            res.headers()["content-type"].to_str().expect("ct"),
            "application/jwt"
        );
        let jwt = res.text().await.expect("body");
        let (header, claims) = jws::verify(&jwt, &jwks);
        assert_eq!(header["alg"], alg);
        assert_eq!(claims["iss"], app.address);
        assert_eq!(claims["aud"], client.id);
        assert_eq!(
            claims["email"],
            format!("{}@example.test", USER.0),
            "{claims}"
        );
        assert!(claims["sub"].is_string());
    }
    let doc: Value = app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .expect("json");
    assert!(doc["userinfo_signing_alg_values_supported"]
        .as_array()
        .expect("array")
        .iter()
        .any(|a| a == "RS256"));

    let register = |alg: &'static str| {
        let url = app.url("/register");
        async move {
            reqwest::Client::new()
                .post(url)
                .json(&serde_json::json!({
                    "redirect_uris": ["https://rp.example/cb"],
                    "userinfo_signed_response_alg": alg,
                }))
                .send()
                .await
                .expect("register")
        }
    };
    let ok = register("RS256").await;
    assert_eq!(ok.status(), 201);
    let body: Value = ok.json().await.expect("json");
    assert_eq!(body["userinfo_signed_response_alg"], "RS256");
    let bad = register("HS256").await;
    assert_eq!(bad.status(), 400);
    let body: Value = bad.json().await.expect("json");
    assert_eq!(body["error"], "invalid_client_metadata", "{body}");
}
