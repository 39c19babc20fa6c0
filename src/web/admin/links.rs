//! Admin pages for a user's upstream links (federation): list them, unlink one. Unlinking is
//! destructive (the person can no longer sign in with that provider into this account): it needs
//! a recent login or the admin's password, and it is audited (`federation::accounts::unlink`).

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::users::{destructive_post, load};
use crate::db::models::users::User;
use crate::state::AppState;
use crate::web::auth;
use crate::web::db;
use crate::web::error::AppError;
use crate::web::templates::render;

#[derive(Template)]
#[template(path = "admin/user_links.html")]
struct LinksPage<'a> {
    user: &'a User,
    links: Vec<(String, String)>,
    csrf_token: &'a str,
    back: String,
}

fn back_to(user_id: &str) -> String {
    format!(
        "/admin/users/{}/links",
        url::form_urlencoded::byte_serialize(user_id.as_bytes()).collect::<String>()
    )
}

/// GET /admin/users/{id}/links
pub async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let who = auth::require_admin(&req, &state).await?;
    let user = load(&state, path.into_inner()).await?;
    let uid = user.id.clone();
    let links = db(&state, move |conn| {
        Ok(crate::federation::accounts::links_of(conn, &uid)?)
    })
    .await?;
    render(
        HttpResponse::Ok(),
        &LinksPage {
            back: back_to(&user.id),
            user: &user,
            links,
            csrf_token: &who.session.csrf_token,
        },
        None,
    )
}

/// POST /admin/users/{id}/links/unlink (`provider` in the form).
pub async fn unlink(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let (who, form, user) = destructive_post(&req, &state, &body, path.into_inner()).await?;
    let provider = form.text("provider");
    let actor = who.as_admin();
    let ip = crate::web::client_addr::of(&req).map(|a| a.to_string());
    let uid = user.id.clone();
    let done = db(&state, move |conn| {
        Ok(crate::federation::accounts::unlink(
            conn,
            &provider,
            &uid,
            &actor,
            ip.as_deref(),
        )?)
    })
    .await?;
    if !done {
        return Err(AppError::NotFound);
    }
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, back_to(&user.id)))
        .finish())
}
