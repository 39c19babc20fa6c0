//! Admin pages for a user's browser sessions: list them (as the user sees them on /account),
//! end one, end all. Ending sessions is destructive: it needs a recent login or the admin's
//! password, and it is audited.

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::see_other;
use crate::db::models::sessions;
use crate::db::models::users::{self, User};
use crate::db::{self};
use crate::error::AppError;
use crate::state::AppState;
use crate::web::auth;
use crate::web::db;
use crate::web::devices::{self, DeviceView};
use crate::web::templates::render;

#[derive(Template)]
#[template(path = "admin/user_sessions.html")]
struct SessionsPage<'a> {
    user: &'a User,
    devices: Vec<DeviceView>,
    csrf_token: &'a str,
    back: String,
}

fn back_to(user_id: &str) -> String {
    format!(
        "/admin/users/{}/sessions",
        url::form_urlencoded::byte_serialize(user_id.as_bytes()).collect::<String>()
    )
}

async fn load(state: &web::Data<AppState>, id: String) -> Result<User, AppError> {
    db(state, move |conn| Ok(users::by_id(conn, &id)?))
        .await?
        .ok_or(AppError::NotFound)
}

/// GET /admin/users/{id}/sessions
pub async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let who = auth::require_admin(&req, &state).await?;
    let user = load(&state, path.into_inner()).await?;
    let uid = user.id.clone();
    let mine = who.session.id_hash.clone();
    let devices = db(&state, move |conn| {
        let now = db::now();
        let rows = sessions::for_user(conn, &uid, now)?;
        Ok(devices::views(&rows, Some(&mine), now))
    })
    .await?;
    render(
        HttpResponse::Ok(),
        &SessionsPage {
            back: back_to(&user.id),
            user: &user,
            devices,
            csrf_token: &who.session.csrf_token,
        },
        None,
    )
}

/// POST /admin/users/{id}/sessions/end (`session` = a handle from the list): ends one session.
pub async fn end(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let (who, form) = auth::admin_post(&req, &state, &body).await?;
    auth::require_recent_auth(&state, &req, &who, &form).await?;
    let user = load(&state, path.into_inner()).await?;
    let wanted = form.text("session");
    let uid = user.id.clone();
    let ended = db(&state, move |conn| {
        let rows = sessions::for_user(conn, &uid, db::now())?;
        Ok(match devices::find(&rows, &wanted) {
            Some(r) => sessions::delete_of_user(conn, &uid, &r.id_hash)?,
            None => 0,
        })
    })
    .await?;
    if ended == 0 {
        return Err(AppError::NotFound);
    }
    auth::audit(&state, &req, &who, "user.end_session", user.id.clone()).await?;
    Ok(see_other(&back_to(&user.id)))
}

/// POST /admin/users/{id}/sessions/end-all: signs the user out everywhere.
pub async fn end_all(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let (who, form) = auth::admin_post(&req, &state, &body).await?;
    auth::require_recent_auth(&state, &req, &who, &form).await?;
    let user = load(&state, path.into_inner()).await?;
    let uid = user.id.clone();
    db(&state, move |conn| {
        sessions::delete_for_user(conn, &uid)?;
        Ok(())
    })
    .await?;
    auth::audit(&state, &req, &who, "user.end_sessions", user.id.clone()).await?;
    Ok(see_other(&back_to(&user.id)))
}
