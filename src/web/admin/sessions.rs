//! Admin pages for a user's browser sessions: list them (as the user sees them on /account),
//! end one, end all. Ending sessions is destructive: it needs a recent login or the admin's
//! password, and it is audited.

use crate::audit::Event;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::users::{apply, destructive_post, load};
use crate::db::models::sessions;
use crate::db::models::users::User;
use crate::db::{self, DbConn};
use crate::state::AppState;
use crate::web::auth;
use crate::web::db;
use crate::web::devices::{self, DeviceView};
use crate::web::error::AppError;
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
    let (who, form, user) = destructive_post(&req, &state, &body, path.into_inner()).await?;
    let wanted = form.text("session");
    let change = move |conn: &mut DbConn, uid: &str| {
        let rows = sessions::for_user(conn, uid, db::now())?;
        let ended = match devices::find(&rows, &wanted) {
            Some(r) => sessions::delete_of_user(conn, uid, &r.id_hash)?,
            None => 0,
        };
        // Nothing ended, nothing to audit: the handle named no session of this user.
        if ended == 0 {
            return Err(AppError::NotFound);
        }
        Ok(())
    };
    let back = back_to(&user.id);
    apply(
        &req,
        &state,
        &who,
        &user.id,
        Event::UserEndSession,
        &back,
        change,
    )
    .await
}

/// POST /admin/users/{id}/sessions/end-all: signs the user out everywhere.
pub async fn end_all(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let (who, _, user) = destructive_post(&req, &state, &body, path.into_inner()).await?;
    let change = |conn: &mut DbConn, uid: &str| Ok(sessions::delete_for_user(conn, uid)?);
    let back = back_to(&user.id);
    apply(
        &req,
        &state,
        &who,
        &user.id,
        Event::UserEndSessions,
        &back,
        change,
    )
    .await
}
