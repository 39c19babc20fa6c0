//! /account: the signed-in user's profile, password change, and the apps they consented to,
//! each with a "revoke access" button that deletes the consent and that app's refresh tokens.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::auth::{self, FormData, SignedIn};
use super::db;
use super::templates::render;
use crate::account_policy::check_password;
use crate::authn::password::Purpose;
use crate::db::models::{clients, consents, refresh, users};
use crate::db::{self};
use crate::error::AppError;
use crate::state::AppState;

pub struct ConsentView {
    pub client_id: String,
    pub client_name: String,
    pub scope: String,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage<'a> {
    username: &'a str,
    email: &'a str,
    name: &'a str,
    is_admin: bool,
    csrf_token: &'a str,
    consents: Vec<ConsentView>,
    notice: Option<&'a str>,
    error: Option<&'a str>,
}

async fn page(
    state: &web::Data<AppState>,
    who: &SignedIn,
    notice: Option<&str>,
    error: Option<&str>,
) -> Result<HttpResponse, AppError> {
    let uid = who.user.id.clone();
    let consents = db(state, move |conn| {
        let mut out = Vec::new();
        for c in consents::for_user(conn, &uid)? {
            let name = clients::by_id(conn, &c.client_id)?
                .map(|cl| cl.row.name)
                .unwrap_or_else(|| c.client_id.clone());
            out.push(ConsentView {
                client_id: c.client_id,
                client_name: name,
                scope: c.scope,
            });
        }
        Ok(out)
    })
    .await?;
    let status = if error.is_some() {
        HttpResponse::BadRequest()
    } else {
        HttpResponse::Ok()
    };
    render(
        status,
        &AccountPage {
            username: &who.user.username,
            email: &who.user.email,
            name: who.user.name.as_deref().unwrap_or(""),
            is_admin: who.user.is_admin,
            csrf_token: &who.session.csrf_token,
            consents,
            notice,
            error,
        },
        None,
    )
}

pub async fn show(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let who = auth::require_user(&req, &state, "/account").await?;
    page(&state, &who, None, None).await
}

pub async fn change_password(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let who = auth::require_user(&req, &state, "/account").await?;
    let form = FormData::parse(&body);
    form.check_csrf(&who)?;
    let new = form.get("new_password").unwrap_or("").to_owned();
    if new != form.get("confirm_password").unwrap_or("") {
        return page(&state, &who, None, Some("The new passwords do not match.")).await;
    }
    if let Err(m) = check_password(&new) {
        return page(&state, &who, None, Some(&m)).await;
    }
    let current = form.get("current_password").unwrap_or("");
    let ok =
        auth::verify_own_password(&state, &req, &who, current, Purpose::PasswordChange).await?;
    if !ok {
        return page(
            &state,
            &who,
            None,
            Some("The current password is not correct."),
        )
        .await;
    }
    let hash = state.passwords.hash(new).await?;
    let uid = who.user.id.clone();
    let keep = who.session.id_hash.clone();
    db(&state, move |conn| {
        users::set_password_hash(conn, &uid, &hash, db::now(), Some(&keep))?;
        Ok(())
    })
    .await?;
    auth::audit(&state, &req, &who, "account.password", who.user.id.clone()).await?;
    page(
        &state,
        &who,
        Some("Your password was changed. You were signed out everywhere else, and apps must sign you in again."),
        None,
    )
    .await
}

pub async fn revoke_consent(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let who = auth::require_user(&req, &state, "/account").await?;
    let form = FormData::parse(&body);
    form.check_csrf(&who)?;
    let client_id = path.into_inner();
    let uid = who.user.id.clone();
    let cid = client_id.clone();
    db(&state, move |conn| {
        let now = db::now();
        consents::revoke(conn, &uid, &cid)?;
        refresh::revoke_for_user_client(conn, &uid, &cid, now)?;
        Ok(())
    })
    .await?;
    auth::audit(&state, &req, &who, "account.revoke_consent", client_id).await?;
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/account"))
        .finish())
}
