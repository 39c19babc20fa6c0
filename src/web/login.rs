//! The login page. Passwords are checked on the bounded argon2 pool; unknown users, wrong
//! passwords and disabled accounts get the same message after the same work.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::db;
use super::session;
use super::templates::{render, LoginPage, SignedInPage};
use crate::db::models::{audit, clients, login_attempts, users};
use crate::db::{self};
use crate::error::AppError;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct LoginQuery {
    return_to: Option<String>,
}

#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    csrf_token: Option<String>,
    return_to: Option<String>,
}

pub const FAILED_LOGIN: &str = "Incorrect username or password.";

/// Only local paths we know may follow a login: never another origin (no open redirect).
pub fn safe_return_to(raw: Option<&str>) -> String {
    match raw {
        Some(p)
            if (p.starts_with("/authorize?")
                || p == "/"
                || p.starts_with("/account")
                || p.starts_with("/admin"))
                && !p.contains('\\')
                && !p.starts_with("//") =>
        {
            p.to_owned()
        }
        _ => "/".to_owned(),
    }
}

/// The name of the client an `/authorize?…` return path is for, to show on the login page.
async fn client_name_for(state: &web::Data<AppState>, return_to: &str) -> Option<String> {
    let query = return_to.strip_prefix("/authorize?")?;
    let client_id = url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "client_id")
        .map(|(_, v)| v.into_owned())?;
    let st = state.clone();
    web::block(move || {
        let mut conn = st.pool.get().ok()?;
        clients::by_id(&mut conn, &client_id)
            .ok()
            .flatten()
            .map(|c| c.row.name)
    })
    .await
    .ok()
    .flatten()
}

pub async fn page(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<LoginQuery>,
) -> Result<HttpResponse, AppError> {
    let return_to = safe_return_to(query.return_to.as_deref());
    let (session, cookie) = session::current_or_new(&req, &state).await?;
    let client_name = client_name_for(&state, &return_to).await;
    // OIDC login_hint pre-fills the username (only as a hint: nothing is trusted from it).
    let hint: String = return_to
        .strip_prefix("/authorize?")
        .and_then(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "login_hint")
                .map(|(_, v)| v.chars().take(256).collect())
        })
        .unwrap_or_default();
    render(
        HttpResponse::Ok(),
        &LoginPage {
            csrf_token: &session.csrf_token,
            return_to: &return_to,
            username: &hint,
            error: None,
            client_name: client_name.as_deref(),
        },
        cookie,
    )
}

pub async fn submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, AppError> {
    let form = form.into_inner();
    let current = session::current(&req, &state).await?;
    session::check_csrf(current.as_ref(), form.csrf_token.as_deref())?;
    let return_to = safe_return_to(form.return_to.as_deref());
    let username = users::normalize_username(&form.username);
    if username.is_empty() || username.len() > 256 || form.password.len() > 4096 {
        return failed(&req, &state, current.as_ref(), &form.username, &return_to).await;
    }

    let lookup = username.clone();
    let user = db(&state, move |conn| Ok(users::by_username(conn, &lookup)?)).await?;
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let ok = state.passwords.verify(form.password, stored).await?;
    let user = user.filter(|u| ok && !u.disabled);

    let ip = session::client_ip(&req);
    let st = state.clone();
    let (name, uid, ip2) = (
        username.clone(),
        user.as_ref().map(|u| u.id.clone()),
        ip.clone(),
    );
    web::block(move || {
        let mut conn = st.pool.get()?;
        let now = db::now();
        login_attempts::record(&mut conn, &name, ip2.as_deref(), uid.is_some(), now)?;
        audit::record(
            &mut conn,
            &audit::NewAuditEvent {
                at: now,
                actor: uid.as_deref(),
                action: if uid.is_some() {
                    "login.success"
                } else {
                    "login.failure"
                },
                target: Some(&name),
                ip: ip2.as_deref(),
                detail: None,
            },
        )?;
        Ok::<_, AppError>(())
    })
    .await??;

    let Some(user) = user else {
        return failed(&req, &state, current.as_ref(), &form.username, &return_to).await;
    };
    let ttl = state.settings.session_ttl;
    let (_, cookie) = session::create(
        &req,
        &state,
        Some(user.id.clone()),
        current.map(|s| s.id_hash),
        ttl,
    )
    .await?;
    Ok(HttpResponse::SeeOther()
        .cookie(cookie)
        .insert_header((header::LOCATION, return_to))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish())
}

async fn failed(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    current: Option<&crate::db::models::sessions::SessionRow>,
    username: &str,
    return_to: &str,
) -> Result<HttpResponse, AppError> {
    let (session, cookie) = match current {
        Some(s) => (s.clone(), None),
        None => session::current_or_new(req, state).await?,
    };
    let client_name = client_name_for(state, return_to).await;
    let shown: String = username.chars().take(256).collect();
    render(
        HttpResponse::Unauthorized(),
        &LoginPage {
            csrf_token: &session.csrf_token,
            return_to,
            username: &shown,
            error: Some(FAILED_LOGIN),
            client_name: client_name.as_deref(),
        },
        cookie,
    )
}

/// `/`: who is signed in, or the way to sign in.
pub async fn home(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let current = session::current(&req, &state).await?;
    let user = match current.as_ref().and_then(|s| s.user_id.clone()) {
        Some(uid) => {
            let st = state.clone();
            web::block(move || {
                let mut conn = st.pool.get()?;
                Ok::<_, AppError>(users::by_id(&mut conn, &uid)?)
            })
            .await??
        }
        None => None,
    };
    match (current, user) {
        (Some(s), Some(u)) => render(
            HttpResponse::Ok(),
            &SignedInPage {
                username: &u.username,
                csrf_token: &s.csrf_token,
            },
            None,
        ),
        _ => Ok(HttpResponse::SeeOther()
            .insert_header((header::LOCATION, "/login"))
            .finish()),
    }
}
