//! Admin pages for users: search and paging, create, disable/enable, reset password,
//! grant/revoke admin.

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::see_other;
use crate::account_policy::{check_new_account, check_password, new_user, taken};
use crate::authn::throttle;
use crate::db::models::users::{self, User};
use crate::db::{self};
use crate::error::AppError;
use crate::state::AppState;
use crate::web::auth;
use crate::web::db;
use crate::web::templates::render;

const PAGE_SIZE: i64 = 25;

#[derive(Deserialize)]
pub struct ListQuery {
    q: Option<String>,
    page: Option<i64>,
}

#[derive(Template)]
#[template(path = "admin/users.html")]
struct ListPage<'a> {
    users: Vec<User>,
    q: &'a str,
    prev_page: Option<i64>,
    next_page: Option<i64>,
    csrf_token: &'a str,
    notice: Option<&'a str>,
    /// Accounts (by username) and client addresses that are locked out or slowed down now.
    locked: Vec<String>,
    locked_addresses: Vec<String>,
}

#[derive(Template)]
#[template(path = "admin/user_form.html")]
struct UserForm<'a> {
    heading: &'a str,
    action: &'a str,
    submit_label: &'a str,
    csrf_token: &'a str,
    creating: bool,
    username: &'a str,
    email: &'a str,
    name: &'a str,
    errors: Vec<String>,
}

pub async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, AppError> {
    let who = auth::require_admin(&req, &state).await?;
    let q: String = query
        .q
        .clone()
        .unwrap_or_default()
        .chars()
        .take(100)
        .collect();
    let page = query.page.unwrap_or(1).clamp(1, 100_000);
    let search = q.clone();
    let limits = state.settings.throttle;
    let (mut rows, locked, locked_addresses) = db(&state, move |conn| {
        let now = db::now();
        let rows = users::list(
            conn,
            Some(search.trim()),
            PAGE_SIZE + 1,
            (page - 1) * PAGE_SIZE,
        )?;
        let locked = throttle::restricted(conn, &limits, throttle::ACCOUNT, now)?
            .into_iter()
            .map(|c| c.subject)
            .collect::<Vec<_>>();
        let addresses = throttle::restricted(conn, &limits, throttle::ADDRESS, now)?
            .into_iter()
            .map(|c| c.subject)
            .collect::<Vec<_>>();
        Ok((rows, locked, addresses))
    })
    .await?;
    let more = rows.len() as i64 > PAGE_SIZE;
    rows.truncate(PAGE_SIZE as usize);
    render(
        HttpResponse::Ok(),
        &ListPage {
            users: rows,
            q: &q,
            prev_page: (page > 1).then_some(page - 1),
            next_page: more.then_some(page + 1),
            csrf_token: &who.session.csrf_token,
            notice: None,
            locked,
            locked_addresses,
        },
        None,
    )
}

/// Lifts the lockout of a client address (a form field: IPv6 subjects contain a slash).
pub async fn unlock_address(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let (who, form) = auth::admin_post(&req, &state, &body).await?;
    let subject = form.text("address");
    let s = subject.clone();
    db(&state, move |conn| {
        throttle::unlock(conn, throttle::ADDRESS, &s)?;
        Ok(())
    })
    .await?;
    auth::audit(&state, &req, &who, "lockout.unlock_address", subject).await?;
    Ok(see_other("/admin/users"))
}

pub async fn new_form(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let who = auth::require_admin(&req, &state).await?;
    render(
        HttpResponse::Ok(),
        &UserForm {
            heading: "Create a user",
            action: "/admin/users/new",
            submit_label: "Create user",
            csrf_token: &who.session.csrf_token,
            creating: true,
            username: "",
            email: "",
            name: "",
            errors: Vec::new(),
        },
        None,
    )
}

pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let (who, form) = auth::admin_post(&req, &state, &body).await?;
    let (username_raw, email, name) =
        (form.text("username"), form.text("email"), form.text("name"));
    let password = form.get("new_password").unwrap_or("").to_owned();
    let checked = match check_new_account(&username_raw, &email, &password) {
        Ok(account) => {
            let st = state.clone();
            web::block(move || {
                let mut conn = st.pool.get()?;
                let problems = taken(&mut conn, &account)?;
                Ok::<_, AppError>(if problems.is_empty() {
                    Ok(account)
                } else {
                    Err(problems)
                })
            })
            .await??
        }
        Err(errors) => Err(errors),
    };
    let account = match checked {
        Ok(account) => account,
        Err(errors) => {
            return render(
                HttpResponse::BadRequest(),
                &UserForm {
                    heading: "Create a user",
                    action: "/admin/users/new",
                    submit_label: "Create user",
                    csrf_token: &who.session.csrf_token,
                    creating: true,
                    username: &username_raw,
                    email: &email,
                    name: &name,
                    errors,
                },
                None,
            )
        }
    };
    let hash = state.passwords.hash(password).await?;
    let is_admin = form.get("is_admin") == Some("yes");
    let user = new_user(
        account.username,
        account.email,
        Some(name),
        hash,
        is_admin,
        false,
    );
    let insert = user.clone();
    db(&state, move |conn| Ok(users::insert(conn, &insert)?)).await?;
    auth::audit(&state, &req, &who, "user.add", user.id.clone()).await?;
    Ok(see_other("/admin/users"))
}

async fn load(state: &web::Data<AppState>, id: String) -> Result<User, AppError> {
    let st = state.clone();
    web::block(move || {
        let mut conn = st.pool.get()?;
        Ok::<_, AppError>(users::by_id(&mut conn, &id)?)
    })
    .await??
    .ok_or(AppError::NotFound)
}

pub async fn password_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let who = auth::require_admin(&req, &state).await?;
    let user = load(&state, path.into_inner()).await?;
    let action = format!("/admin/users/{}/password", user.id);
    render(
        HttpResponse::Ok(),
        &UserForm {
            heading: "Reset password",
            action: &action,
            submit_label: "Set password",
            csrf_token: &who.session.csrf_token,
            creating: false,
            username: &user.username,
            email: "",
            name: "",
            errors: Vec::new(),
        },
        None,
    )
}

pub async fn set_password(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let (who, form) = auth::admin_post(&req, &state, &body).await?;
    auth::require_recent_auth(&state, &req, &who, &form).await?;
    let user = load(&state, path.into_inner()).await?;
    let password = form.get("new_password").unwrap_or("").to_owned();
    check_password(&password).map_err(AppError::BadRequest)?;
    let hash = state.passwords.hash(password).await?;
    let st = state.clone();
    let id = user.id.clone();
    web::block(move || {
        let mut conn = st.pool.get()?;
        // Whoever was signed in with the old password is signed out, and their apps' refresh
        // tokens stop working.
        users::set_password_hash(&mut conn, &id, &hash, db::now(), None)?;
        Ok::<_, AppError>(())
    })
    .await??;
    auth::audit(&state, &req, &who, "user.reset_password", user.id).await?;
    Ok(see_other("/admin/users"))
}

pub async fn act(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let (who, form) = auth::admin_post(&req, &state, &body).await?;
    let (id, action) = path.into_inner();
    let (audit_action, destructive): (&'static str, bool) = match action.as_str() {
        "disable" => ("user.disable", true),
        "enable" => ("user.enable", false),
        "grant-admin" => ("user.grant_admin", false),
        "revoke-admin" => ("user.revoke_admin", true),
        "unlock" => ("lockout.unlock_account", false),
        _ => return Err(AppError::NotFound),
    };
    if destructive {
        auth::require_recent_auth(&state, &req, &who, &form).await?;
        if id == who.user.id {
            return Err(AppError::BadRequest(
                "You cannot disable yourself or remove your own admin rights.".into(),
            ));
        }
    }
    let user = load(&state, id).await?;
    let uid = user.id.clone();
    let uname = user.username.clone();
    let act = action.clone();
    db(&state, move |conn| {
        let now = db::now();
        match act.as_str() {
            "disable" => {
                users::set_disabled(conn, &uid, true, now)?;
            }
            "enable" => {
                users::set_disabled(conn, &uid, false, now)?;
            }
            "grant-admin" => {
                users::set_admin(conn, &uid, true, now)?;
            }
            "unlock" => {
                throttle::unlock(conn, throttle::ACCOUNT, &uname)?;
            }
            _ => {
                users::set_admin(conn, &uid, false, now)?;
            }
        }
        Ok(())
    })
    .await?;
    auth::audit(&state, &req, &who, audit_action, user.id).await?;
    Ok(see_other("/admin/users"))
}
