//! The database goes away under load and comes back: requests fail fast with 503 and
//! Retry-After (no hang, no panic), /readyz says so, and everything recovers by itself with
//! nothing acknowledged lost. PostgreSQL is reached through a TCP proxy the test controls, so
//! "stopping the database" cuts every connection and refuses new ones without disturbing the
//! other tests that share the cluster.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::{pg_db, spawn_app_on};

struct Proxy {
    port: u16,
    up: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl Proxy {
    async fn start(upstream: u16) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let up = Arc::new(AtomicBool::new(true));
        let links: Arc<Mutex<Vec<tokio::task::AbortHandle>>> = Arc::default();
        let (u, l) = (up.clone(), links.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !u.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let task = tokio::spawn(async move {
                    if let Ok(mut server) =
                        tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await
                    {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                l.lock().expect("lock").push(task.abort_handle());
            }
        });
        Proxy { port, up, links }
    }

    /// The database "stops": every open connection is cut, new ones are refused.
    fn down(&self) {
        self.up.store(false, Ordering::SeqCst);
        for link in self.links.lock().expect("lock").drain(..) {
            link.abort();
        }
    }

    fn up(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

/// The app's `cache_sync_ms` here.
const CACHE_SYNC_MS: u64 = 100;

#[tokio::test]
async fn a_database_outage_is_answered_503_fast_and_recovered_from_by_itself() {
    let db = pg_db();
    let url = url::Url::parse(&db.url).expect("url");
    let upstream = url.port().unwrap_or(5432);
    let proxy = Proxy::start(upstream).await;
    let mut through = url.clone();
    through.set_port(Some(proxy.port)).expect("port");
    let through = through.to_string();
    let app = spawn_app_on(db, move |a| {
        a.database_url = Some(through);
        a.db_timeout = Some(2);
        a.cache_sync_ms = Some(CACHE_SYNC_MS);
    })
    .await;
    let client = app.client(&["--grant-type", "client_credentials"]).await;
    let token = |app: &crate::helpers::TestApp| {
        let client = client.clone();
        let url = app.url("/token");
        async move {
            let res = reqwest::Client::new()
                .post(url)
                .basic_auth(&client.id, client.secret.as_deref())
                .form(&[("grant_type", "client_credentials")])
                .timeout(Duration::from_secs(20))
                .send()
                .await
                .expect("an answer, not a hang");
            let status = res.status().as_u16();
            let retry = res
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            (
                status,
                retry,
                res.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    // Before: a token, acknowledged.
    let (status, _, before) = token(&app).await;
    assert_eq!(status, 200);
    let acknowledged = before["access_token"].as_str().expect("at").to_owned();

    proxy.down();
    // The caches may answer client_credentials for their bound (twice the sync interval) after
    // the last successful check; past it, nothing is served from what may be stale.
    tokio::time::sleep(Duration::from_millis(2 * CACHE_SYNC_MS)).await;
    // Under load: every answer is a quick 503 with Retry-After, never a 500 or a hang.
    let started = Instant::now();
    let mut answers = Vec::new();
    for _ in 0..8 {
        answers.push(tokio::spawn(token(&app)));
    }
    for a in answers {
        let (status, retry, body) = a.await.expect("task");
        assert_eq!(status, 503, "{body}");
        assert!(retry.is_some(), "503 carries Retry-After");
        assert_eq!(body["error"], "temporarily_unavailable");
    }
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "bounded by the connection timeout, took {:?}",
        started.elapsed()
    );
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 503);
    // A sign-in request gets a page saying so (never a redirect), 503 with Retry-After.
    let mut authorize = url::Url::parse(&app.url("/authorize")).expect("url");
    authorize
        .query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &client.id)
        .append_pair("redirect_uri", &client.redirect_uri)
        .append_pair("scope", "openid");
    let page = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .get(authorize)
        .send()
        .await
        .expect("an answer");
    assert_eq!(page.status(), 503);
    assert!(page.headers().contains_key("retry-after"));
    let page = app.get("/login").await;
    assert!(
        page.status() == 200 || page.status() == 503,
        "{}",
        page.status()
    );

    proxy.up();
    // It recovers by itself.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, _, _) = token(&app).await;
        if status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no recovery after the database came back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(app.get("/readyz").await.status(), 200);
    // Nothing acknowledged was lost: the token from before still introspects as active.
    assert_eq!(app.introspect(&client, &acknowledged).await["active"], true);
}
