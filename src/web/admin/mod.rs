//! The admin console: clients, users, signing keys, audit log. Every page requires an
//! administrator (anonymous → login, others → 403); every POST carries the session's CSRF
//! token; destructive actions need a login less than five minutes old or the password.

pub mod audit;
pub mod clients;
pub mod keys;
pub mod links;
pub mod registration;
pub mod sessions;
pub mod signup;
pub mod upstreams;
pub mod users;

use actix_web::http::header;
use actix_web::web::{self, get, post, ServiceConfig};
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;

use crate::db::models::{clients as client_rows, users as user_rows};
use crate::state::AppState;
use crate::web::auth;
use crate::web::db;
use crate::web::error::AppError;
use crate::web::templates::render;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.route("/admin", get().to(index))
        .route("/admin/reauth", post().to(reauth))
        .route("/admin/clients", get().to(clients::list))
        .route("/admin/clients/new", get().to(clients::new_form))
        .route("/admin/clients/new", post().to(clients::create))
        .route("/admin/clients/{id}", get().to(clients::edit_form))
        .route("/admin/clients/{id}", post().to(clients::update))
        .route(
            "/admin/clients/{id}/rotate-secret",
            post().to(clients::rotate_secret),
        )
        .route(
            "/admin/clients/{id}/state/{action}",
            post().to(clients::set_state),
        )
        .route("/admin/signup", get().to(signup::page))
        .route("/admin/signup/invites", post().to(signup::invite))
        .route(
            "/admin/signup/resend-verification",
            post().to(signup::resend_verification),
        )
        .route("/admin/registration", get().to(registration::page))
        .route(
            "/admin/registration/policy",
            post().to(registration::set_policy),
        )
        .route(
            "/admin/registration/tokens",
            post().to(registration::create_token),
        )
        .route(
            "/admin/registration/tokens/{id}/revoke",
            post().to(registration::revoke_token),
        )
        .route("/admin/clients/{id}/delete", get().to(clients::delete_form))
        .route("/admin/clients/{id}/delete", post().to(clients::delete))
        .route("/admin/users", get().to(users::list))
        .route("/admin/users/new", get().to(users::new_form))
        .route("/admin/users/new", post().to(users::create))
        .route("/admin/users/{id}/profile", get().to(users::profile_form))
        .route("/admin/users/{id}/profile", post().to(users::set_profile))
        .route("/admin/users/{id}/password", get().to(users::password_form))
        .route("/admin/users/{id}/password", post().to(users::set_password))
        .route("/admin/users/{id}/sessions", get().to(sessions::list))
        .route("/admin/users/{id}/links", get().to(links::list))
        .route("/admin/users/{id}/links/unlink", post().to(links::unlink))
        .route("/admin/users/{id}/sessions/end", post().to(sessions::end))
        .route(
            "/admin/users/{id}/sessions/end-all",
            post().to(sessions::end_all),
        )
        .route("/admin/users/{id}/{action}", post().to(users::act))
        .route(
            "/admin/lockouts/unlock-address",
            post().to(users::unlock_address),
        )
        .route("/admin/upstreams", get().to(upstreams::list))
        .route("/admin/upstreams/new", get().to(upstreams::new_form))
        .route("/admin/upstreams/new", post().to(upstreams::create))
        .route("/admin/upstreams/{id}", get().to(upstreams::edit_form))
        .route("/admin/upstreams/{id}", post().to(upstreams::update))
        .route(
            "/admin/upstreams/{id}/state/{action}",
            post().to(upstreams::set_state),
        )
        .route("/admin/upstreams/{id}/delete", post().to(upstreams::delete))
        .route("/admin/keys", get().to(keys::list))
        .route("/admin/keys/rotate", post().to(keys::rotate))
        .route("/admin/audit", get().to(audit::list));
}

#[derive(Template)]
#[template(path = "admin/index.html")]
struct IndexPage<'a> {
    username: &'a str,
    clients: usize,
    users: i64,
}

async fn index(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let who = auth::require_admin(&req, &state).await?;
    let (clients, users) = db(&state, move |conn| {
        Ok((client_rows::list(conn)?.len(), user_rows::count(conn)?))
    })
    .await?;
    render(
        HttpResponse::Ok(),
        &IndexPage {
            username: &who.user.username,
            clients,
            users,
        },
        None,
    )
}

/// Re-enters the password so that the next destructive actions count as recently authenticated.
async fn reauth(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let (who, form) = auth::admin_post(&req, &state, &body).await?;
    auth::confirm_password(&state, &req, &who, form.get("password").unwrap_or("")).await?;
    // Back to the console page the form was on (a local /admin/ path only).
    let back = form
        .get("back")
        .filter(|b| {
            b.starts_with("/admin/")
                && !b.contains("//")
                && b.bytes().all(|c| c.is_ascii_graphic() && c != b'\\')
        })
        .unwrap_or("/admin/users");
    Ok(see_other(back))
}

pub fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to.to_owned()))
        .finish()
}
