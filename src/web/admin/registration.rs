//! /admin/registration: who may register clients by themselves (the policy, shared by every
//! replica through the database), and the initial access tokens of the `token` policy.

use crate::audit::Event;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::see_other;
use crate::clients::registration::{
    create_initial_token, initial_tokens, revoke_initial_token, token_id,
};
use crate::config::RegistrationPolicy;
use crate::db::models::server_settings;
use crate::db::{self};
use crate::domain::time::utc;
use crate::oauth::registration::current_policy;
use crate::state::AppState;
use crate::web::auth;
use crate::web::db;
use crate::web::error::AppError;
use crate::web::templates::render;

pub struct TokenView {
    pub id: String,
    pub state: &'static str,
    pub uses_left: String,
    pub expires: String,
    pub note: String,
}

#[derive(Template)]
#[template(path = "admin/registration.html")]
struct Page<'a> {
    policy: &'a str,
    csrf_token: &'a str,
    tokens: Vec<TokenView>,
    /// A token just created: shown this once.
    new_token: Option<&'a str>,
    grant_types: String,
    scopes: String,
    redirect_hosts: String,
    issuer: &'a str,
}

async fn show(
    state: &web::Data<AppState>,
    who: &auth::SignedIn,
    new_token: Option<&str>,
) -> Result<HttpResponse, AppError> {
    let configured = state.settings.registration.policy;
    let (policy, rows) = db(state, move |conn| {
        Ok((
            current_policy(conn, configured)?,
            initial_tokens(conn, db::now())?,
        ))
    })
    .await?;
    let tokens = rows
        .into_iter()
        .map(|t| TokenView {
            id: t.id,
            state: t.state,
            uses_left: t.uses_left,
            expires: t.expires_at.map_or("never".into(), utc),
            note: t.note,
        })
        .collect();
    let reg = &state.settings.registration;
    render(
        HttpResponse::Ok(),
        &Page {
            policy: policy.as_str(),
            csrf_token: &who.session.csrf_token,
            tokens,
            new_token,
            grant_types: reg.grant_types.join(", "),
            scopes: reg.scopes.join(" "),
            redirect_hosts: if reg.redirect_hosts.is_empty() {
                "any".into()
            } else {
                reg.redirect_hosts.join(", ")
            },
            issuer: &state.settings.issuer,
        },
        None,
    )
}

pub async fn page(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let who = auth::require_admin(&req, &state).await?;
    show(&state, &who, None).await
}

pub async fn set_policy(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let (who, form) = auth::admin_post(&req, &state, &body).await?;
    let policy = RegistrationPolicy::parse(&form.text("policy"))
        .ok_or_else(|| AppError::BadRequest("Choose closed, token or open.".into()))?;
    if policy == RegistrationPolicy::Open {
        // Opening registration to anyone is the one change here that needs a fresh login.
        auth::require_recent_auth(&state, &req, &who, &form).await?;
    }
    db(&state, move |conn| {
        server_settings::set(
            conn,
            server_settings::REGISTRATION_POLICY,
            policy.as_str(),
            db::now(),
        )?;
        Ok(())
    })
    .await?;
    auth::audit(
        &state,
        &req,
        who.as_admin(),
        Event::RegistrationPolicy,
        policy.as_str().into(),
    )
    .await?;
    Ok(see_other("/admin/registration"))
}

pub async fn create_token(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let (who, form) = auth::admin_post(&req, &state, &body).await?;
    let number = |key: &str| -> Result<Option<i64>, AppError> {
        match form.text(key).as_str() {
            "" => Ok(None),
            n => n
                .parse::<i64>()
                .ok()
                .filter(|v| *v >= 1)
                .map(Some)
                .ok_or_else(|| {
                    AppError::BadRequest(format!("{key} must be a whole number of at least 1"))
                }),
        }
    };
    let uses = number("uses")?;
    let expires_in = number("expires_hours")?.map(|h| h.saturating_mul(3600));
    let note = Some(form.text("note").chars().take(200).collect::<String>());
    let (token, row) = db(&state, move |conn| {
        Ok(create_initial_token(
            conn,
            uses,
            expires_in,
            note,
            db::now(),
        )?)
    })
    .await?;
    auth::audit(
        &state,
        &req,
        who.as_admin(),
        Event::RegistrationTokenCreate,
        token_id(&row).to_owned(),
    )
    .await?;
    show(&state, &who, Some(&token)).await
}

pub async fn revoke_token(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let (who, _) = auth::admin_post(&req, &state, &body).await?;
    let id = path.into_inner();
    let target = id.clone();
    let n = db(&state, move |conn| {
        Ok(revoke_initial_token(conn, &target, db::now())?)
    })
    .await?;
    if n == 0 {
        return Err(AppError::NotFound);
    }
    auth::audit(
        &state,
        &req,
        who.as_admin(),
        Event::RegistrationTokenRevoke,
        id,
    )
    .await?;
    Ok(see_other("/admin/registration"))
}
