//! The client store (`ostiary::clients`): what the console writes is what the protocol sees at
//! once, and the console and `ostiary apply` store the same client for the same settings.

use crate::admin::login_as;
use crate::helpers::{add_user, cli_command, spawn_app_on, test_db, TestApp};

/// The console's edit form for a client_credentials client.
async fn console_update(app: &TestApp, csrf: &str, id: &str, scopes: &str) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/admin/clients/{id}")))
        .form(&[
            ("csrf_token", csrf),
            ("name", "Service"),
            ("grant_types", "client_credentials"),
            ("scopes", scopes),
            ("auth_method", "client_secret_basic"),
            ("id_token_alg", "RS256"),
        ])
        .send()
        .await
        .expect("post")
}

#[tokio::test]
async fn a_client_updated_in_the_console_is_seen_by_the_token_endpoint_at_once() {
    // Other processes' changes would take up to two minutes to be noticed: only this process's
    // own write can make the token endpoint see the edit.
    let app = spawn_app_on(test_db(), |a| a.cache_sync_ms = Some(60_000)).await;
    add_user(&app.db, "root", "root password", true).await;
    let csrf = login_as(&app, "root", "root password").await;
    let client = app
        .client(&[
            "--grant-type",
            "client_credentials",
            "--scope",
            "openid",
            "--scope",
            "profile",
        ])
        .await;
    // The first check of the generations makes the caches usable.
    for _ in 0..50 {
        if app.state.caches.fresh() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(app.state.caches.fresh());
    let ask = [("grant_type", "client_credentials"), ("scope", "profile")];
    let res = app.token(&client, &ask).await;
    assert_eq!(
        res.status(),
        200,
        "{}",
        res.text().await.unwrap_or_default()
    );
    assert!(
        app.state.caches.client(&client.id).is_some(),
        "the token endpoint cached the client"
    );

    let res = console_update(&app, &csrf, &client.id, "openid").await;
    assert_eq!(res.status(), 303);
    assert!(app.state.caches.client(&client.id).is_none(), "forgotten");
    let res = app.token(&client, &ask).await;
    assert_eq!(res.status(), 400, "the scope was taken away a moment ago");
    let body: serde_json::Value = res.json().await.expect("json");
    assert_eq!(body["error"], "invalid_scope");
}

#[tokio::test]
async fn the_console_and_apply_store_the_same_client() {
    let app = spawn_app_on(test_db(), |_| {}).await;
    add_user(&app.db, "root", "root password", true).await;
    let csrf = login_as(&app, "root", "root password").await;
    let res = app
        .client
        .post(app.url("/admin/clients/new"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("name", "Same App"),
            ("client_type", "confidential"),
            ("redirect_uris", "https://same.example/cb"),
            ("post_logout_redirect_uris", "https://same.example/bye"),
            ("grant_types", "authorization_code"),
            ("grant_types", "refresh_token"),
            ("scopes", "openid email"),
            ("auth_method", "client_secret_post"),
            ("id_token_alg", "ES256"),
            ("homepage_uri", "https://same.example/"),
            ("minimum_acr", "urn:ostiary:acr:2fa"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), 200);
    let from_console = ostiary::clients::list(&mut app.db.conn())
        .expect("list")
        .pop()
        .expect("one client")
        .client_id;

    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("ostiary.toml");
    let export = app.cli(&["export"], None).await;
    assert!(export.ok(), "{}", export.stderr);
    let doc = format!(
        "{}\n[[clients]]\nclient_id = \"from-file\"\nname = \"Same App\"\n\
         auth_method = \"client_secret_post\"\n\
         grant_types = [\"authorization_code\", \"refresh_token\"]\nscopes = [\"openid\", \"email\"]\n\
         redirect_uris = [\"https://same.example/cb\"]\n\
         post_logout_redirect_uris = [\"https://same.example/bye\"]\n\
         id_token_alg = \"ES256\"\nhomepage_uri = \"https://same.example/\"\n\
         minimum_acr = \"urn:ostiary:acr:2fa\"\nsecret = {{ env = \"SAME_SECRET\" }}\n",
        export.stdout
    );
    std::fs::write(&file, doc).expect("write");
    let mut cmd = cli_command(&app.db);
    cmd.args(["apply", &file.display().to_string()])
        .env("SAME_SECRET", "a secret from elsewhere");
    let out: crate::helpers::CliOutput = cmd.output().await.expect("ostiary").into();
    assert!(out.ok(), "{}", out.stderr);

    let load = |id: &str| {
        let c = ostiary::clients::get(None, &mut app.db.conn(), id)
            .expect("q")
            .expect("stored");
        let mut row = c.row.clone();
        row.client_id = String::new();
        row.secret_hash = row.secret_hash.map(|_| "a hash".into());
        row.created_at = 0;
        row.updated_at = 0;
        (
            row,
            c.redirect_uris.clone(),
            c.post_logout_redirect_uris.clone(),
        )
    };
    let (a, b) = (load(&from_console), load("from-file"));
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
}

#[tokio::test]
async fn apply_writes_a_changed_key_set_and_the_console_retires_a_secret_for_keys() {
    let app = spawn_app_on(test_db(), |_| {}).await;
    add_user(&app.db, "root", "root password", true).await;
    let csrf = login_as(&app, "root", "root password").await;
    let client = app.client(&["--grant-type", "client_credentials"]).await;
    let res = app
        .client
        .post(app.url(&format!("/admin/clients/{}", client.id)))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("name", "Keys"),
            ("grant_types", "client_credentials"),
            ("scopes", "openid"),
            ("auth_method", "private_key_jwt"),
            ("jwks_uri", "https://keys.example/jwks.json"),
            ("id_token_alg", "RS256"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), 303);
    let stored = ostiary::clients::get(None, &mut app.db.conn(), &client.id)
        .expect("q")
        .expect("stored");
    assert_eq!(stored.row.auth_method, "private_key_jwt");
    assert_eq!(stored.row.secret_hash, None, "the old secret is retired");

    // The export names the key URL; a changed URL is planned and written.
    let export = app.cli(&["export"], None).await;
    assert!(export.stdout.contains("https://keys.example/jwks.json"));
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("ostiary.toml");
    std::fs::write(
        &file,
        export.stdout.replace(
            "https://keys.example/jwks.json",
            "https://keys.example/v2.json",
        ),
    )
    .expect("write");
    let out = app.cli(&["apply", &file.display().to_string()], None).await;
    assert!(out.ok(), "{}", out.stderr);
    assert!(out.stdout.contains("jwks_uri"), "{}", out.stdout);
    let stored = ostiary::clients::get(None, &mut app.db.conn(), &client.id)
        .expect("q")
        .expect("stored");
    assert_eq!(
        stored.metadata().get("jwks_uri").and_then(|v| v.as_str()),
        Some("https://keys.example/v2.json")
    );
    let again = app.cli(&["apply", &file.display().to_string()], None).await;
    assert!(
        again.stdout.contains("nothing to change"),
        "{}",
        again.stdout
    );
}
