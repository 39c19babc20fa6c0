//! Client ID Metadata Documents: the test serves documents itself on loopback (a tiny HTTP/1.1
//! server answering one canned response per connection) and Ostiary fetches them at /authorize.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::helpers::{
    location, pkce_pair, query_param, spawn_app_on, test_db, TestApp, TestClient, REDIRECT,
};

const USER: (&str, &str) = ("alice", "correct horse battery staple");

/// What the document server answers.
#[derive(Clone)]
struct Reply {
    status: &'static str,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    /// Send Content-Length (else the body ends when the connection closes).
    content_length: bool,
}

impl Reply {
    fn json(doc: &Value) -> Reply {
        Reply {
            status: "200 OK",
            headers: vec![("Content-Type", "application/json".into())],
            body: doc.to_string().into_bytes(),
            content_length: true,
        }
    }

    fn header(mut self, name: &'static str, value: &str) -> Reply {
        self.headers.push((name, value.to_owned()));
        self
    }
}

struct DocServer {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
    reply: Arc<Mutex<Reply>>,
}

impl DocServer {
    async fn start() -> DocServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let hits = Arc::new(AtomicUsize::new(0));
        let reply = Arc::new(Mutex::new(Reply {
            status: "404 Not Found",
            headers: vec![],
            body: vec![],
            content_length: true,
        }));
        let (h, r) = (hits.clone(), reply.clone());
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let (h, r) = (h.clone(), r.clone());
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 65536 {
                        match sock.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    h.fetch_add(1, Ordering::SeqCst);
                    let reply = r.lock().expect("reply").clone();
                    let mut head = format!("HTTP/1.1 {}\r\nConnection: close\r\n", reply.status);
                    for (k, v) in &reply.headers {
                        head.push_str(&format!("{k}: {v}\r\n"));
                    }
                    if reply.content_length {
                        head.push_str(&format!("Content-Length: {}\r\n", reply.body.len()));
                    }
                    head.push_str("\r\n");
                    let _ = sock.write_all(head.as_bytes()).await;
                    let _ = sock.write_all(&reply.body).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        DocServer { addr, hits, reply }
    }

    fn client_id(&self) -> String {
        format!("http://{}/oauth/client.json", self.addr)
    }

    fn serve(&self, reply: Reply) {
        *self.reply.lock().expect("reply") = reply;
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// A valid document for this server's client_id.
    fn document(&self) -> Value {
        json!({
            "client_id": self.client_id(),
            "client_name": "Loopback Agent",
            "client_uri": format!("http://{}/", self.addr),
            "redirect_uris": [REDIRECT],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
            "scope": "openid profile",
        })
    }
}

async fn app(documents: bool, allow_loopback: bool) -> TestApp {
    let app = spawn_app_on(test_db(), |a| {
        a.client_id_metadata_documents = Some(documents);
        if allow_loopback {
            a.outbound_allow = Some("127.0.0.0/8".into());
        }
    })
    .await;
    app.user(USER.0, USER.1).await;
    app
}

fn client_of(server: &DocServer) -> TestClient {
    TestClient {
        id: server.client_id(),
        secret: None,
        redirect_uri: REDIRECT.to_owned(),
    }
}

fn auth_params<'a>(client_id: &'a str, challenge: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT),
        ("scope", "openid"),
        ("state", "st"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ]
}

fn stored_documents(app: &TestApp) -> i64 {
    app.count("clients WHERE origin = 'metadata_document'")
}

fn expires_at(app: &TestApp, client_id: &str) -> Option<i64> {
    use diesel::prelude::*;
    use ostiary::db::schema::clients;
    clients::table
        .find(client_id)
        .select(clients::metadata_expires_at)
        .first::<Option<i64>>(&mut app.db.conn())
        .expect("client row")
}

/// The authorization endpoint refused with its error page (no redirect), showing `message`, and
/// nothing was stored: no client, code or consent.
async fn assert_refused(app: &TestApp, client_id: &str, message: &str) {
    let (_, challenge) = pkce_pair();
    let res = app.authorize(&auth_params(client_id, &challenge)).await;
    assert_eq!(res.status(), 400, "an error page, not a redirect");
    assert!(location(&res).is_empty());
    let html = res.text().await.expect("html");
    assert!(
        html.contains(message),
        "page should say {message:?}: {html}"
    );
    assert_eq!(stored_documents(app), 0, "nothing stored");
    assert_eq!(app.count("authorization_codes"), 0);
    assert_eq!(app.count("consents"), 0);
}

#[tokio::test]
async fn a_metadata_document_logs_a_user_in_as_a_public_client() {
    let server = DocServer::start().await;
    server.serve(Reply::json(&server.document()));
    let app = app(true, true).await;
    let client = client_of(&server);
    let (verifier, challenge) = pkce_pair();

    let url = app
        .code_flow(&client, &auth_params(&client.id, &challenge), USER)
        .await;
    let code = query_param(&url, "code").expect("code");
    assert_eq!(query_param(&url, "state").as_deref(), Some("st"));

    let res = app
        .token(
            &client,
            &[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", REDIRECT),
                ("code_verifier", verifier.as_str()),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.expect("token json");
    assert!(body["access_token"].is_string());
    assert!(body["id_token"].is_string());
    assert!(body["refresh_token"].is_string());

    // Stored as an unverified public client described by its document, fetched once for the
    // whole sign-in (authorize, the return from login and the consent all came back).
    assert_eq!(server.hits(), 1);
    let row = app.count(&format!(
        "clients WHERE client_id = '{}' AND origin = 'metadata_document' AND is_public \
         AND NOT verified AND secret_hash IS NULL AND auth_method = 'none'",
        client.id
    ));
    assert_eq!(row, 1);
}

#[tokio::test]
async fn a_document_naming_another_client_id_is_refused() {
    let server = DocServer::start().await;
    let mut doc = server.document();
    doc["client_id"] = json!("https://elsewhere.example/client.json");
    server.serve(Reply::json(&doc));
    let app = app(true, true).await;
    assert_refused(&app, &server.client_id(), "names another client_id").await;
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn a_loopback_document_is_refused_without_the_allow_list() {
    let server = DocServer::start().await;
    server.serve(Reply::json(&server.document()));
    let app = app(true, false).await;
    assert_refused(
        &app,
        &server.client_id(),
        // Which address the name resolved to stays in the log (it would map internal DNS).
        "could not be fetched from its address",
    )
    .await;
    assert_eq!(server.hits(), 0, "nothing is sent to a forbidden address");
}

#[tokio::test]
async fn a_too_large_document_is_refused() {
    let server = DocServer::start().await;
    let mut doc = server.document();
    doc["x-padding"] = json!("x".repeat(200 * 1024));
    server.serve(Reply::json(&doc));
    let app = app(true, true).await;
    assert_refused(&app, &server.client_id(), "larger than 65536 bytes").await;
    // Without Content-Length, the body is cut off while it is read.
    let mut reply = Reply::json(&doc);
    reply.content_length = false;
    server.serve(reply);
    assert_refused(&app, &server.client_id(), "larger than 65536 bytes").await;
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn a_document_asking_for_a_client_secret_is_refused() {
    let server = DocServer::start().await;
    let mut doc = server.document();
    doc["token_endpoint_auth_method"] = json!("client_secret_basic");
    server.serve(Reply::json(&doc));
    let app = app(true, true).await;
    assert_refused(&app, &server.client_id(), "asks for a client secret").await;
}

/// A document is held to the limits `/register` applies (the one client policy): scopes, grant
/// types and redirect hosts the deployment allows self-registered clients.
#[tokio::test]
async fn a_document_is_held_to_the_registration_limits() {
    let server = DocServer::start().await;
    let mut doc = server.document();
    doc["scope"] = json!("openid admin payments:write");
    server.serve(Reply::json(&doc));
    let app = app(true, true).await;
    assert_refused(&app, &server.client_id(), "scope admin is not allowed").await;

    let narrow = spawn_app_on(test_db(), |a| {
        a.client_id_metadata_documents = Some(true);
        a.outbound_allow = Some("127.0.0.0/8".into());
        a.registration_redirect_hosts = Some("apps.example".into());
    })
    .await;
    server.serve(Reply::json(&server.document()));
    assert_refused(&narrow, &server.client_id(), "must point at apps.example").await;

    let no_refresh = spawn_app_on(test_db(), |a| {
        a.client_id_metadata_documents = Some(true);
        a.outbound_allow = Some("127.0.0.0/8".into());
        a.registration_grant_types = Some("authorization_code".into());
    })
    .await;
    assert_refused(
        &no_refresh,
        &server.client_id(),
        "grant type refresh_token is not allowed",
    )
    .await;
}

/// A refreshed document that moves the redirect to a new host ends users' consents (the new host
/// would otherwise collect codes silently); one on the same hosts and scopes keeps them.
#[tokio::test]
async fn a_refreshed_document_with_a_new_redirect_host_ends_consents() {
    let server = DocServer::start().await;
    server.serve(Reply::json(&server.document()));
    let app = app(true, true).await;
    let client = client_of(&server);
    let (_, challenge) = pkce_pair();
    app.code_flow(&client, &auth_params(&client.id, &challenge), USER)
        .await;
    let consents = || app.count(&format!("consents WHERE client_id = '{}'", client.id));
    assert_eq!(consents(), 1);

    set_expired(&app, &client.id);
    let mut renamed = server.document();
    renamed["client_name"] = json!("Loopback Agent 2");
    server.serve(Reply::json(&renamed));
    app.code_flow(&client, &auth_params(&client.id, &challenge), USER)
        .await;
    assert_eq!(server.hits(), 2);
    assert_eq!(consents(), 1, "same hosts and scopes: the consent stands");

    set_expired(&app, &client.id);
    let elsewhere = "http://127.0.0.2:9/collect";
    let mut moved = server.document();
    moved["redirect_uris"] = json!([elsewhere]);
    server.serve(Reply::json(&moved));
    let mut params = auth_params(&client.id, &challenge);
    params.retain(|(k, _)| *k != "redirect_uri");
    params.push(("redirect_uri", elsewhere));
    let res = app.authorize(&params).await;
    assert_eq!(server.hits(), 3);
    assert_eq!(consents(), 0, "a new redirect host ends every consent");
    assert_eq!(res.status(), 200, "the user is asked again");
}

#[tokio::test]
async fn documents_that_are_not_plain_json_answers_are_refused() {
    let server = DocServer::start().await;
    let app = app(true, true).await;
    let id = server.client_id();
    // The draft: redirects are not followed.
    server.serve(Reply {
        status: "302 Found",
        headers: vec![("Location", "/other.json".into())],
        body: vec![],
        content_length: true,
    });
    assert_refused(&app, &id, "redirected").await;
    let mut html = Reply::json(&server.document());
    html.headers = vec![("Content-Type", "text/html".into())];
    server.serve(html);
    assert_refused(&app, &id, "instead of application/json").await;
    let mut gone = Reply::json(&server.document());
    gone.status = "404 Not Found";
    server.serve(gone);
    assert_refused(&app, &id, "HTTP status 404").await;
    let mut bad_uri = server.document();
    bad_uri["redirect_uris"] = json!(["http://app.example/cb"]);
    server.serve(Reply::json(&bad_uri));
    assert_refused(&app, &id, "http is allowed only on loopback").await;
    // A client_id URL with dot segments is not even fetched.
    let hits = server.hits();
    assert_refused(
        &app,
        &format!("http://{}/a/../client.json", server.addr),
        "path segments",
    )
    .await;
    assert_eq!(server.hits(), hits);
}

#[tokio::test]
async fn with_the_setting_off_a_url_client_id_is_an_unknown_client() {
    let server = DocServer::start().await;
    server.serve(Reply::json(&server.document()));
    let app = app(false, true).await;
    assert_refused(&app, &server.client_id(), "unknown").await;
    assert_eq!(server.hits(), 0, "nothing fetched");
}

#[tokio::test]
async fn documents_are_cached_per_their_headers_and_fetched_again_when_expired() {
    let server = DocServer::start().await;
    server.serve(Reply::json(&server.document()).header("Cache-Control", "public, max-age=600"));
    let app = app(true, true).await;
    let id = server.client_id();
    let (_, challenge) = pkce_pair();
    let params = auth_params(&id, &challenge);

    let before = ostiary::db::now();
    let res = app.authorize(&params).await;
    assert_eq!(res.status(), 302);
    assert!(
        location(&res).starts_with("/login"),
        "known client, sign-in needed"
    );
    assert_eq!(server.hits(), 1);
    let expires = expires_at(&app, &id).expect("an expiry");
    assert!(
        (before + 600..=ostiary::db::now() + 600).contains(&expires),
        "{expires}"
    );

    // Within max-age: the stored client serves, nothing is fetched.
    let res = app.authorize(&params).await;
    assert_eq!(res.status(), 302);
    assert_eq!(server.hits(), 1);

    // Expired: fetched again, and the new expiry follows the new headers (no-store → the
    // 60-second minimum).
    set_expired(&app, &id);
    server.serve(Reply::json(&server.document()).header("Cache-Control", "no-store"));
    let res = app.authorize(&params).await;
    assert_eq!(res.status(), 302);
    assert_eq!(server.hits(), 2);
    let expires = expires_at(&app, &id).expect("an expiry");
    assert!(
        expires >= before + 60 && expires <= ostiary::db::now() + 60,
        "{expires}"
    );

    // Expired and the document is gone: refused, no stale use; the row stays as it was.
    set_expired(&app, &id);
    let mut gone = Reply::json(&server.document());
    gone.status = "500 Internal Server Error";
    server.serve(gone);
    let res = app.authorize(&params).await;
    assert_eq!(res.status(), 400);
    assert_eq!(server.hits(), 3);
    assert_eq!(expires_at(&app, &id), Some(1));
    assert_eq!(stored_documents(&app), 1);
}

fn set_expired(app: &TestApp, client_id: &str) {
    use diesel::prelude::*;
    // The client_id is ours (http://127.0.0.1:port/oauth/client.json): no quoting needed.
    diesel::sql_query(format!(
        "UPDATE clients SET metadata_expires_at = 1 WHERE client_id = '{client_id}'"
    ))
    .execute(&mut app.db.conn())
    .expect("expire");
}

#[tokio::test]
async fn discovery_advertises_metadata_documents_only_when_on() {
    let on = app(true, false).await;
    let doc: Value = on
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(doc["client_id_metadata_document_supported"], json!(true));
    let off = app(false, false).await;
    let doc: Value = off
        .get("/.well-known/oauth-authorization-server")
        .await
        .json()
        .await
        .expect("json");
    assert!(doc.get("client_id_metadata_document_supported").is_none());
}

/// A document client is nobody's to vouch for: its name may not pass for an administrator's
/// client (UTS #39 skeletons) nor carry bidi or invisible characters (issue 21, items 4–5).
#[tokio::test]
async fn a_document_whose_name_passes_for_another_client_is_refused() {
    let server = DocServer::start().await;
    let app = app(true, true).await;
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
    let mut doc = server.document();
    doc["client_name"] = json!("Ex\u{430}mple Bank");
    server.serve(Reply::json(&doc));
    assert_refused(
        &app,
        &server.client_id(),
        "client_name: too similar to the name of another application",
    )
    .await;
    doc["client_name"] = json!("Evil\u{202e}elgooG");
    server.serve(Reply::json(&doc));
    assert_refused(
        &app,
        &server.client_id(),
        "must not contain control, formatting",
    )
    .await;
}
