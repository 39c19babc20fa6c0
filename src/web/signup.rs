//! /signup: a person creates an account, when the policy allows (see `accounts::signup`). From an
//! authorization request (`return_to` is its interaction), the new user is logged in within it
//! and the request continues. Where verification is required, an address in use is answered
//! exactly like a new one (its owner is mailed instead).

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::login::safe_return_to;
use super::templates::render;
use super::{client_addr, db, session};
use crate::accounts::signup::{self, SignedUp};
use crate::authn::interaction;
use crate::authn::journey::Creation;
use crate::config::SignupPolicy;
use crate::state::AppState;
use crate::web::error::{error_page, AppError};

#[derive(Template)]
#[template(path = "signup.html")]
struct SignupPage<'a> {
    csrf_token: &'a str,
    return_to: &'a str,
    invite: Option<&'a str>,
    username: &'a str,
    email: &'a str,
    errors: Vec<String>,
    client_name: Option<&'a str>,
    mail_enabled: bool,
}

#[derive(Deserialize)]
pub struct SignupQuery {
    return_to: Option<String>,
    invite: Option<String>,
}

fn closed() -> HttpResponse {
    error_page(
        StatusCode::NOT_FOUND,
        "Sign-up is not open",
        "Accounts on this server are created by its administrators.",
        None,
    )
}

fn bad_invite() -> HttpResponse {
    error_page(
        StatusCode::BAD_REQUEST,
        "This invitation cannot be used",
        "It is unknown, was used already or has expired. Ask for a new one.",
        None,
    )
}

#[allow(clippy::too_many_arguments)]
async fn form(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    status: StatusCode,
    return_to: &str,
    invite: Option<&str>,
    username: &str,
    email: &str,
    errors: Vec<String>,
) -> Result<HttpResponse, AppError> {
    let (token, _) = session::form_token(req, state).await?;
    let name = super::login::pending_request(req, state, return_to)
        .await
        .map(|p| p.client_name);
    render(
        HttpResponse::build(status),
        &SignupPage {
            csrf_token: &token.token,
            return_to,
            invite,
            username,
            email,
            errors,
            client_name: name.as_deref(),
            mail_enabled: state.settings.mail_enabled(),
        },
        token.cookie,
    )
}

async fn invite_ok(state: &web::Data<AppState>, invite: Option<&str>) -> Result<bool, AppError> {
    let Some(t) = invite.filter(|t| t.len() <= 64).map(str::to_owned) else {
        return Ok(false);
    };
    db(state, move |conn| {
        Ok(signup::invite_usable(conn, &t, crate::db::now())?)
    })
    .await
}

pub async fn page(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<SignupQuery>,
) -> Result<HttpResponse, AppError> {
    let return_to = safe_return_to(query.return_to.as_deref());
    let invite = query.invite.as_deref();
    match state.settings.signup.policy {
        SignupPolicy::Closed => return Ok(closed()),
        SignupPolicy::Invite if !invite_ok(&state, invite).await? => return Ok(bad_invite()),
        _ => {}
    }
    form(
        &req,
        &state,
        StatusCode::OK,
        &return_to,
        invite,
        "",
        "",
        Vec::new(),
    )
    .await
}

#[derive(Deserialize)]
pub struct SignupForm {
    csrf_token: Option<String>,
    return_to: Option<String>,
    invite: Option<String>,
    username: String,
    email: String,
    password: String,
    confirm_password: String,
}

pub async fn submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Form<SignupForm>,
) -> Result<HttpResponse, AppError> {
    let f = body.into_inner();
    let current = session::current(&req, &state).await?;
    session::check_form_csrf(&req, &state, current.as_ref(), f.csrf_token.as_deref())?;
    let return_to = safe_return_to(f.return_to.as_deref());
    let invite = f.invite.as_deref().filter(|t| t.len() <= 64);
    let settings = &state.settings.signup;
    match settings.policy {
        SignupPolicy::Closed => return Ok(closed()),
        SignupPolicy::Invite if !invite_ok(&state, invite).await? => return Ok(bad_invite()),
        _ => {}
    }
    let again = |errors: Vec<String>| {
        form(
            &req,
            &state,
            StatusCode::BAD_REQUEST,
            &return_to,
            invite,
            &f.username,
            &f.email,
            errors,
        )
    };
    let account = match signup::check(
        settings,
        &f.username,
        &f.email,
        &f.password,
        &f.confirm_password,
    ) {
        Ok(a) => a,
        Err(signup::Refusal::Fields(errors)) => return again(errors).await,
        Err(signup::Refusal::Closed) => return Ok(closed()),
        Err(signup::Refusal::BadInvite) => return Ok(bad_invite()),
    };
    // Checked before the (slow) hash, and per address: one source cannot mass-create accounts.
    let subject = client_addr::of(&req)
        .map(crate::authn::throttle::address_subject)
        .unwrap_or_else(|| "unknown".into());
    if let Err(wait) = state.admission.signups.take(&subject) {
        let secs = wait.as_secs().max(1);
        let mut res = again(vec![format!(
            "Too many accounts were created from your address. Try again in {secs} seconds."
        )])
        .await?;
        *res.status_mut() = StatusCode::TOO_MANY_REQUESTS;
        if let Ok(v) = header::HeaderValue::from_str(&secs.to_string()) {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return Ok(res);
    }
    // Hashed even when the address turns out to be in use: the time taken does not tell.
    let hash = state.passwords.hash(f.password.clone()).await?;
    let st = state.clone();
    let invite_owned = invite.map(str::to_owned);
    let continue_to = interaction::id_in_path(&return_to).map(|_| return_to.clone());
    let ip = client_addr::of(&req).map(|a| a.to_string());
    let created = db(&state, move |conn| {
        let now = crate::db::now();
        Ok(signup::create(
            conn,
            &st.settings,
            account,
            hash,
            invite_owned.as_deref(),
            continue_to.as_deref(),
            ip.as_deref(),
            now,
        )?)
    })
    .await?;
    let user = match created {
        Ok(SignedUp::Created(u)) => *u,
        Ok(SignedUp::OwnerNotified) => {
            // The answer a new account that must verify its address gets, to the byte: no
            // cookie, no session, the same page (`login::account_created`).
            state.outbox.wake();
            return Ok(super::login::confirm_your_address());
        }
        Err(signup::Refusal::Fields(errors)) => return again(errors).await,
        Err(signup::Refusal::BadInvite) => return Ok(bad_invite()),
        Err(signup::Refusal::Closed) => return Ok(closed()),
    };
    state.outbox.wake();
    // Logged in at once (within the authorization request's interaction if there is one), a
    // factor set up first, or the address verified first: the journey decides.
    let replaces = current.map(|s| s.id_hash);
    super::login::account_created(&req, &state, user, Creation::SignUp, &return_to, replaces).await
}
