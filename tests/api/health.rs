use crate::helpers::{empty_db, spawn_app, spawn_app_on};

#[tokio::test]
async fn healthz_answers_with_request_id_and_security_headers() {
    let app = spawn_app().await;
    let res = app.get("/healthz").await;
    assert_eq!(res.status(), 200);
    let h = res.headers();
    assert!(h.get("x-request-id").is_some(), "request id echoed");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["x-frame-options"], "DENY");
    let body: serde_json::Value = res.json().await.expect("json");
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn readyz_reports_a_reachable_database() {
    let app = spawn_app().await;
    let res = app.get("/readyz").await;
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.expect("json");
    assert_eq!(body["status"], "ready");
}

#[tokio::test]
async fn unknown_paths_are_404_not_500() {
    let app = spawn_app().await;
    assert_eq!(app.get("/no/such/page").await.status(), 404);
}

#[tokio::test]
async fn first_start_creates_keys_and_a_second_start_reuses_them() {
    let db = empty_db();
    let kids = |app: &crate::helpers::TestApp| {
        let mut conn = app.db.conn();
        let mut kids: Vec<(String, String)> = ostiary::db::models::signing_keys::all(&mut conn)
            .expect("keys")
            .into_iter()
            .map(|k| (k.alg, k.kid))
            .collect();
        kids.sort();
        kids
    };
    let first = spawn_app_on(db, |_| {}).await;
    let before = kids(&first);
    let algs: Vec<&str> = before.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(algs, ["ES256", "EdDSA", "RS256"]);
    // A second server on the same database (a restart, or another replica) adds no keys.
    let second = spawn_app_on(first.db, |_| {}).await;
    assert_eq!(kids(&second), before);
    assert_eq!(second.get("/healthz").await.status(), 200);
}
