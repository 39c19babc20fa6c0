//! Forgotten passwords: `/forgot-password` (ask for a link) and `/reset-password?token=…`
//! (choose a new password). Thin: the rules are in `accounts::reset`.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::auth::FormData;
use super::db;
use super::session;
use super::templates::render;
use crate::account_policy::check_password;
use crate::accounts::reset::{self, Completed};
use crate::authn::throttle::address_subject;
use crate::db::models::audit;
use crate::db::{self as store};
use crate::error::{error_page, AppError};
use crate::mail::messages::lifetime;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "reset_request.html")]
struct RequestPage<'a> {
    mail_enabled: bool,
    sent: bool,
    csrf_token: &'a str,
    login: &'a str,
    lifetime: String,
    per_account: i64,
    error: Option<&'a str>,
    field_error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "reset_password.html")]
struct ResetPage<'a> {
    done: bool,
    csrf_token: &'a str,
    token: &'a str,
    username: &'a str,
    password_error: Option<&'a str>,
    confirm_error: Option<&'a str>,
}

#[derive(Deserialize)]
pub struct TokenQuery {
    pub token: Option<String>,
}

/// The longest username or address accepted in the request form.
const MAX_LOGIN_CHARS: usize = 320;

struct RequestView<'a> {
    sent: bool,
    login: &'a str,
    error: Option<&'a str>,
    field_error: Option<&'a str>,
}

async fn request_page(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    status: StatusCode,
    v: RequestView<'_>,
) -> Result<HttpResponse, AppError> {
    let (ft, _) = session::form_token(req, state).await?;
    render(
        HttpResponse::build(status),
        &RequestPage {
            mail_enabled: state.settings.mail_enabled(),
            sent: v.sent,
            csrf_token: &ft.token,
            login: v.login,
            lifetime: lifetime(state.settings.mail.reset_token_ttl),
            per_account: reset::PER_ACCOUNT_PER_HOUR,
            error: v.error,
            field_error: v.field_error,
        },
        ft.cookie,
    )
}

/// GET /forgot-password: the form (or, without mail, what to do instead).
pub async fn request_form(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let blank = RequestView {
        sent: false,
        login: "",
        error: None,
        field_error: None,
    };
    request_page(&req, &state, StatusCode::OK, blank).await
}

/// POST /forgot-password: the same answer whether or not an account exists; throttled per
/// client address here (429) and per account in `accounts::reset` (silently, as the answer says).
pub async fn request_submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let form = FormData::parse(&body);
    let login: String = form.text("login").chars().take(MAX_LOGIN_CHARS).collect();
    let mut view = RequestView {
        sent: false,
        login: &login,
        error: None,
        field_error: None,
    };
    if !state.settings.mail_enabled() {
        return request_page(&req, &state, StatusCode::NOT_FOUND, view).await;
    }
    let current = session::current(&req, &state).await?;
    session::check_form_csrf(&req, &state, current.as_ref(), form.get("csrf_token"))?;
    if login.is_empty() {
        view.field_error = Some("Enter your username or email address.");
        return request_page(&req, &state, StatusCode::BAD_REQUEST, view).await;
    }
    let subject = super::client_addr::of(&req)
        .map(address_subject)
        .unwrap_or_default();
    if let Err(wait) = state.admission.resets.take(&subject) {
        let minutes = wait.as_secs().div_ceil(60).max(1);
        let msg = format!(
            "Too many password-reset requests came from your network. Try again in {minutes} minute{}.",
            if minutes == 1 { "" } else { "s" }
        );
        view.error = Some(&msg);
        let mut res = request_page(&req, &state, StatusCode::TOO_MANY_REQUESTS, view).await?;
        if let Ok(v) = header::HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return Ok(res);
    }
    let st = state.clone();
    let who = login.clone();
    db(&state, move |conn| {
        Ok(reset::request(conn, &st.settings, &who, store::now())?)
    })
    .await?;
    state.outbox.wake();
    view.sent = true;
    request_page(&req, &state, StatusCode::OK, view).await
}

fn invalid_link() -> HttpResponse {
    error_page(
        StatusCode::BAD_REQUEST,
        "This link cannot be used",
        "This password-reset link has expired or was already used, and nothing was changed. \
         Ask for a new link on the “Forgot your password?” page.",
        None,
    )
}

async fn reset_page(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    status: StatusCode,
    page: ResetPage<'_>,
) -> Result<HttpResponse, AppError> {
    let (ft, _) = session::form_token(req, state).await?;
    render(
        HttpResponse::build(status),
        &ResetPage {
            csrf_token: &ft.token,
            ..page
        },
        ft.cookie,
    )
}

/// GET /reset-password?token=…: the new-password form, when the link is live.
pub async fn reset_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<TokenQuery>,
) -> Result<HttpResponse, AppError> {
    let token = query.token.clone().unwrap_or_default();
    let t = token.clone();
    let Some(user) = db(&state, move |conn| {
        Ok(reset::check(conn, &t, store::now())?)
    })
    .await?
    else {
        return Ok(invalid_link());
    };
    let page = ResetPage {
        done: false,
        csrf_token: "",
        token: &token,
        username: &user.username,
        password_error: None,
        confirm_error: None,
    };
    reset_page(&req, &state, StatusCode::OK, page).await
}

/// POST /reset-password: sets the new password (ending every session and refresh family).
pub async fn reset_submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let form = FormData::parse(&body);
    let current = session::current(&req, &state).await?;
    session::check_form_csrf(&req, &state, current.as_ref(), form.get("csrf_token"))?;
    let token = form.text("token");
    let t = token.clone();
    let Some(user) = db(&state, move |conn| {
        Ok(reset::check(conn, &t, store::now())?)
    })
    .await?
    else {
        return Ok(invalid_link());
    };
    let new = form.get("new_password").unwrap_or("").to_owned();
    let problem = check_password(&new).err().map(|m| {
        let mut m = m;
        if let Some(first) = m.get(..1) {
            m = first.to_uppercase() + &m[1..];
        }
        m + "."
    });
    let mismatch = new != form.get("confirm_password").unwrap_or("");
    if problem.is_some() || mismatch {
        let page = ResetPage {
            done: false,
            csrf_token: "",
            token: &token,
            username: &user.username,
            password_error: problem.as_deref(),
            confirm_error: mismatch.then_some("The two passwords do not match."),
        };
        return reset_page(&req, &state, StatusCode::BAD_REQUEST, page).await;
    }
    let hash = state.passwords.hash(new).await?;
    let ip = session::client_ip(&req);
    let outcome = db(&state, move |conn| {
        let now = store::now();
        let outcome = reset::complete(conn, &token, &hash, now)?;
        if let Completed::Reset { username } = &outcome {
            audit::record(
                conn,
                &audit::NewAuditEvent {
                    at: now,
                    actor: Some(username),
                    action: "account.password_reset",
                    target: Some(username),
                    ip: ip.as_deref(),
                    detail: None,
                },
            )?;
        }
        Ok(outcome)
    })
    .await?;
    match outcome {
        Completed::Invalid => Ok(invalid_link()),
        Completed::Reset { username } => {
            let page = ResetPage {
                done: true,
                csrf_token: "",
                token: "",
                username: &username,
                password_error: None,
                confirm_error: None,
            };
            // Every session ended, this browser's too: drop its cookie.
            let mut res = reset_page(&req, &state, StatusCode::OK, page).await?;
            res.add_cookie(&session::clearing_cookie(&state))
                .map_err(AppError::internal)?;
            Ok(res)
        }
    }
}
