//! Admin console access control, first-run setup, and server-side form validation.

use crate::helpers::{add_user, location, spawn_app, spawn_app_on, test_db, TestApp};

const GET_ROUTES: [&str; 12] = [
    "/admin",
    "/admin/registration",
    "/admin/signup",
    "/admin/clients",
    "/admin/clients/new",
    "/admin/clients/CID",
    "/admin/clients/CID/delete",
    "/admin/users",
    "/admin/users/new",
    "/admin/users/UID/profile",
    "/admin/keys",
    "/admin/audit",
];

const POST_ROUTES: [&str; 23] = [
    "/admin/reauth",
    "/admin/users/UID/profile",
    "/admin/clients/CID/state/verify",
    "/admin/clients/CID/state/disable",
    "/admin/users/UID/unlock",
    "/admin/lockouts/unlock-address",
    "/admin/registration/policy",
    "/admin/registration/tokens",
    "/admin/registration/tokens/abcdef012345/revoke",
    "/admin/signup/invites",
    "/admin/signup/resend-verification",
    "/admin/clients/new",
    "/admin/clients/CID",
    "/admin/clients/CID/rotate-secret",
    "/admin/clients/CID/delete",
    "/admin/users/new",
    "/admin/users/UID/password",
    "/admin/users/UID/disable",
    "/admin/users/UID/enable",
    "/admin/users/UID/grant-admin",
    "/admin/users/UID/revoke-admin",
    "/admin/keys/rotate",
    "/admin/users/UID/password",
];

pub async fn login_as(app: &TestApp, user: &str, pw: &str) -> String {
    let res = app.login("/login", user, pw).await;
    assert_eq!(res.status(), 303);
    let html = app.get("/account").await.text().await.expect("account");
    TestApp::csrf_of(&html)
}

async fn ids(app: &TestApp) -> (String, String) {
    let client = app.client(&[]).await;
    let mut conn = app.db.conn();
    let user = ostiary::db::models::users::by_username(&mut conn, "victim")
        .expect("q")
        .expect("victim");
    (client.id, user.id)
}

fn path(p: &str, cid: &str, uid: &str) -> String {
    p.replace("CID", cid).replace("UID", uid)
}

#[tokio::test]
async fn anonymous_users_are_sent_to_login_and_non_admins_get_403_everywhere() {
    let app = spawn_app().await;
    add_user(&app.db, "victim", "victim password", false).await;
    add_user(&app.db, "mallory", "mallory password", false).await;
    let (cid, uid) = ids(&app).await;

    let anon = crate::helpers::browser();
    for p in GET_ROUTES {
        let res = anon
            .get(app.url(&path(p, &cid, &uid)))
            .send()
            .await
            .expect("get");
        assert_eq!(res.status(), 303, "{p}");
        assert!(
            location(&res).starts_with("/login?return_to=%2Fadmin"),
            "{p}: {}",
            location(&res)
        );
    }
    for p in POST_ROUTES {
        let res = anon
            .post(app.url(&path(p, &cid, &uid)))
            .form(&[("x", "y")])
            .send()
            .await
            .expect("post");
        assert_eq!(res.status(), 303, "{p}");
        assert!(location(&res).starts_with("/login"), "{p}");
    }

    let csrf = login_as(&app, "mallory", "mallory password").await;
    for p in GET_ROUTES {
        let res = app.get(&path(p, &cid, &uid)).await;
        assert_eq!(res.status(), 403, "{p}");
    }
    for p in POST_ROUTES {
        let res = app
            .client
            .post(app.url(&path(p, &cid, &uid)))
            .form(&[
                ("csrf_token", csrf.as_str()),
                ("password", "mallory password"),
                ("new_password", "hijacked password"),
                ("name", "x"),
                ("redirect_uris", "https://x.example/cb"),
            ])
            .send()
            .await
            .expect("post");
        assert_eq!(res.status(), 403, "{p}");
    }
    // Nothing changed: the victim is still an enabled non-admin with the old password.
    let mut conn = app.db.conn();
    let victim = ostiary::db::models::users::by_id(&mut conn, &uid)
        .expect("q")
        .expect("victim");
    assert!(!victim.is_admin && !victim.disabled);
    assert!(ostiary::crypto::password::verify_blocking(
        "victim password",
        &victim.password_hash
    ));
    assert!(ostiary::db::models::clients::by_id(&mut conn, &cid)
        .expect("q")
        .is_some());
}

#[tokio::test]
async fn admins_reach_every_page_and_posts_need_the_csrf_token() {
    let app = spawn_app().await;
    add_user(&app.db, "root", "root password", true).await;
    add_user(&app.db, "victim", "victim password", false).await;
    let (cid, uid) = ids(&app).await;
    let csrf = login_as(&app, "root", "root password").await;
    for p in GET_ROUTES {
        let res = app.get(&path(p, &cid, &uid)).await;
        assert_eq!(res.status(), 200, "{p}");
    }
    let res = app
        .client
        .post(app.url(&format!("/admin/users/{uid}/disable")))
        .form(&[("x", "y")])
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), 400, "no CSRF token");
    let res = app
        .client
        .post(app.url(&format!("/admin/users/{uid}/disable")))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), 303);
    let mut conn = app.db.conn();
    assert!(
        ostiary::db::models::users::by_id(&mut conn, &uid)
            .expect("q")
            .expect("u")
            .disabled
    );
    // The audit log shows who did it.
    let audit = app.get("/admin/audit").await.text().await.expect("html");
    assert!(audit.contains("user.disable") && audit.contains("root"));
    // Admins cannot lock themselves out.
    let me = ostiary::db::models::users::by_username(&mut conn, "root")
        .expect("q")
        .expect("root");
    let res = app
        .client
        .post(app.url(&format!("/admin/users/{}/revoke-admin", me.id)))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), 400);
}

#[tokio::test]
async fn destructive_actions_ask_for_the_password_when_the_login_is_old() {
    let app = spawn_app().await;
    add_user(&app.db, "root", "root password", true).await;
    let client = app.client(&[]).await;
    let csrf = login_as(&app, "root", "root password").await;
    {
        use diesel::prelude::*;
        use ostiary::db::schema::sessions;
        diesel::update(sessions::table)
            .set(sessions::auth_time.eq(Some(ostiary::db::now() - 3600)))
            .execute(&mut app.db.conn())
            .expect("age the session");
    }
    let url = app.url(&format!("/admin/clients/{}/delete", client.id));
    let res = app
        .client
        .post(&url)
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), 400);
    let res = app
        .client
        .post(&url)
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("password", "wrong password"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), 400);
    assert!(
        ostiary::db::models::clients::by_id(&mut app.db.conn(), &client.id)
            .expect("q")
            .is_some()
    );
    let res = app
        .client
        .post(&url)
        .form(&[("csrf_token", csrf.as_str()), ("password", "root password")])
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), 303);
    assert!(
        ostiary::db::models::clients::by_id(&mut app.db.conn(), &client.id)
            .expect("q")
            .is_none()
    );
}

#[tokio::test]
async fn the_client_form_validates_on_the_server_and_keeps_what_was_typed() {
    let app = spawn_app().await;
    add_user(&app.db, "root", "root password", true).await;
    let csrf = login_as(&app, "root", "root password").await;
    let res = app
        .client
        .post(app.url("/admin/clients/new"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("name", "Typed Name"),
            ("client_type", "confidential"),
            (
                "redirect_uris",
                "http://app.example/cb\nhttps://*.example/cb",
            ),
            ("grant_types", "authorization_code"),
            ("scopes", "openid"),
            ("auth_method", "client_secret_basic"),
            ("id_token_alg", "RS256"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), 400);
    let html = res.text().await.expect("html");
    assert!(html.contains("Typed Name"));
    assert!(html.contains("http://app.example/cb"));
    assert!(
        html.contains("loopback") && html.contains("wildcards"),
        "{html}"
    );
    assert_eq!(
        ostiary::db::models::clients::list(&mut app.db.conn())
            .expect("q")
            .len(),
        0
    );
}

#[tokio::test]
async fn first_run_setup_link_creates_the_first_admin_once() {
    let app = spawn_app_on(test_db(), |_| {}).await;
    let st = app.state.clone();
    let link = tokio::task::spawn_blocking(move || ostiary::web::setup::prepare_link(&st))
        .await
        .expect("task")
        .expect("prepare")
        .expect("no users yet, so a link");
    let path = link
        .strip_prefix(&app.address)
        .expect("local link")
        .to_owned();
    let token = path.split("token=").nth(1).expect("token").to_owned();
    assert_eq!(app.get("/setup?token=wrong").await.status(), 404);
    let page = app.get(&path).await;
    assert_eq!(page.status(), 200);
    let res = app
        .client
        .post(app.url("/setup"))
        .form(&[
            ("token", token.as_str()),
            ("username", "boss"),
            ("email", "boss@example.test"),
            ("password", "short"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), 400, "password too short");
    let res = app
        .client
        .post(app.url("/setup"))
        .form(&[
            ("token", token.as_str()),
            ("username", "boss"),
            ("email", "boss@example.test"),
            ("password", "a fine password"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/admin");
    assert_eq!(
        app.get("/admin").await.status(),
        200,
        "signed in as the new admin"
    );
    // The page is gone now.
    assert_eq!(app.get(&path).await.status(), 404);
    let again = app
        .client
        .post(app.url("/setup"))
        .form(&[
            ("token", token.as_str()),
            ("username", "eve"),
            ("email", "eve@example.test"),
            ("password", "another password"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(again.status(), 404);
    let st = app.state.clone();
    let link = tokio::task::spawn_blocking(move || ostiary::web::setup::prepare_link(&st))
        .await
        .expect("t")
        .expect("p");
    assert!(link.is_none(), "no new link once a user exists");
}

#[tokio::test]
async fn account_password_change() {
    let app = spawn_app().await;
    add_user(&app.db, "nina", "nina's password", false).await;
    let csrf = login_as(&app, "nina", "nina's password").await;
    let post = |cur: &'static str, new: &'static str, confirm: &'static str| {
        let csrf = csrf.clone();
        let app = &app;
        async move {
            app.client
                .post(app.url("/account/password"))
                .form(&[
                    ("csrf_token", csrf.as_str()),
                    ("current_password", cur),
                    ("new_password", new),
                    ("confirm_password", confirm),
                ])
                .send()
                .await
                .expect("post")
        }
    };
    assert_eq!(
        post("wrong", "new password 1", "new password 1")
            .await
            .status(),
        400
    );
    assert_eq!(
        post("nina's password", "new password 1", "mismatch 1234")
            .await
            .status(),
        400
    );
    assert_eq!(
        post("nina's password", "short", "short").await.status(),
        400
    );
    let ok = post("nina's password", "new password 1", "new password 1").await;
    assert_eq!(ok.status(), 200);
    assert!(ok
        .text()
        .await
        .expect("html")
        .contains("password was changed"));
    let fresh = crate::helpers::browser();
    let html = app.html(&fresh, "/login").await;
    let res = fresh
        .post(app.url("/login"))
        .form(&[
            ("username", "nina"),
            ("password", "new password 1"),
            ("csrf_token", TestApp::csrf_of(&html).as_str()),
        ])
        .send()
        .await
        .expect("login");
    assert_eq!(res.status(), 303);
}

/// Two administrators create the same username at the same moment (each form passes the
/// "is it taken" check before either account exists): one account, and the other gets the
/// form back with a clear refusal — never a 500 from the unique index. Three rounds, each with
/// both requests in flight together.
#[tokio::test]
async fn racing_console_creates_of_one_username_make_one_account_and_one_clear_refusal() {
    let app = spawn_app().await;
    add_user(&app.db, "root", "root password", true).await;
    let csrf = login_as(&app, "root", "root password").await;
    for round in 0..3 {
        let name = format!("racer{round}");
        let send = |email: String| {
            let (client, url, csrf, name) = (
                app.client.clone(),
                app.url("/admin/users/new"),
                csrf.clone(),
                name.clone(),
            );
            tokio::spawn(async move {
                let res = client
                    .post(url)
                    .form(&[
                        ("csrf_token", csrf.as_str()),
                        ("username", name.as_str()),
                        ("email", email.as_str()),
                        ("name", "Racer"),
                        ("new_password", "a long password"),
                    ])
                    .send()
                    .await
                    .expect("post");
                let status = res.status().as_u16();
                (status, res.text().await.expect("body"))
            })
        };
        let a = send(format!("{name}-a@example.test"));
        let b = send(format!("{name}-b@example.test"));
        let mut outcomes = [a.await.expect("a"), b.await.expect("b")];
        outcomes.sort_by_key(|(status, _)| *status);
        assert_eq!(outcomes[0].0, 303, "one create wins");
        assert_eq!(
            outcomes[1].0, 400,
            "the other is refused: {}",
            outcomes[1].1
        );
        assert!(
            outcomes[1].1.contains("is taken") || outcomes[1].1.contains("already in use"),
            "{}",
            outcomes[1].1
        );
        assert_eq!(app.count(&format!("users WHERE username = '{name}'")), 1);
        assert_eq!(
            app.count(&format!(
                "audit_events WHERE action = 'user.add' AND actor LIKE 'admin:%' AND target IN \
                 (SELECT id FROM users WHERE username = '{name}')"
            )),
            1,
            "the create is audited once, in its transaction, as the admin"
        );
    }
}

/// Every writer records its actor the same way, and the audit page shows each kind alike: a
/// person (who acted, or who was acted on) by username, linked to their account; the command
/// line by its user.
#[tokio::test]
async fn the_audit_page_shows_every_actor_by_name_whoever_wrote_the_entry() {
    let app = spawn_app().await;
    add_user(&app.db, "root", "root password", true).await;
    let csrf = login_as(&app, "root", "root password").await;
    let res = app
        .client
        .post(app.url("/admin/users/new"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("username", "newcomer"),
            ("email", "newcomer@example.test"),
            ("name", ""),
            ("new_password", "a long password"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), 303);
    let root_id = ostiary::db::models::users::by_username(&mut app.db.conn(), "root")
        .expect("q")
        .expect("root")
        .id;
    // Stored typed: the admin by id, the CLI by its user, the login by the account it proved.
    assert_eq!(
        app.count(&format!(
            "audit_events WHERE action = 'user.add' AND actor = 'admin:{root_id}'"
        )),
        1
    );
    assert_eq!(
        app.count("audit_events WHERE action = 'user.add' AND actor LIKE 'cli:%'"),
        1
    );
    assert_eq!(
        app.count(&format!(
            "audit_events WHERE action = 'login.success' AND actor = 'user:{root_id}'"
        )),
        1
    );
    assert_eq!(
        app.count(
            "audit_events WHERE actor NOT LIKE '%:%' AND actor NOT IN ('anonymous', 'system')"
        ),
        0,
        "no bare usernames or ids"
    );
    let html = app.get("/admin/audit").await.text().await.expect("html");
    assert!(
        html.contains("<a href=\"/admin/users?q=root\">root (admin)</a>"),
        "{html}"
    );
    assert!(
        html.contains("<a href=\"/admin/users?q=root\">root</a>"),
        "the login"
    );
    assert!(html.contains("(command line)"));
    // A person who is the target is shown the same way, never as a raw id.
    let newcomer_id = ostiary::db::models::users::by_username(&mut app.db.conn(), "newcomer")
        .expect("q")
        .expect("newcomer")
        .id;
    assert!(
        html.contains("<a href=\"/admin/users?q=newcomer\">newcomer</a>"),
        "{html}"
    );
    assert!(!html.contains(&newcomer_id), "{html}");
    assert!(!html.contains(&root_id), "{html}");
}
