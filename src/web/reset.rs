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
use crate::db::models::sessions::SessionRow;
use crate::db::{self as store, DbConn};
use crate::mail::messages::lifetime;
use crate::state::AppState;
use crate::web::error::{error_page, AppError};

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
    csrf_token: String,
    token: &'a str,
    username: &'a str,
    password_error: Option<&'a str>,
    confirm_error: Option<&'a str>,
}

#[derive(Deserialize)]
pub struct TokenQuery {
    pub token: Option<String>,
}

// The pages opened from a mailed link (password reset, email verification, email change) share
// one flow: GET looks the token up without using it, because mail scanners follow links, and
// shows a form; POST, from whoever holds the link (signed in or not), uses it.

pub(crate) fn invalid_link(message: &str) -> HttpResponse {
    error_page(
        StatusCode::BAD_REQUEST,
        "This link cannot be used",
        message,
        None,
    )
}

/// An `accounts` step on a link's token: a check (which leaves the token unused) or a confirm.
pub(crate) async fn on_link<T: Send + 'static>(
    state: &web::Data<AppState>,
    token: &str,
    step: fn(&mut DbConn, &str, i64) -> diesel::QueryResult<T>,
) -> Result<T, AppError> {
    let t = token.to_owned();
    db(state, move |conn| Ok(step(conn, &t, store::now())?)).await
}

/// The form posted from a link's page, its CSRF token checked: the form, the link's token, and
/// the poster's session if any.
pub(crate) async fn link_form(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    body: &[u8],
) -> Result<(FormData, String, Option<SessionRow>), AppError> {
    let form = FormData::parse(body);
    let current = session::current(req, state).await?;
    session::check_form_csrf(req, state, current.as_ref(), form.get("csrf_token"))?;
    let token = form.text("token");
    Ok((form, token, current))
}

/// A link's page, given the CSRF token of its form: the visitor may have no session, so the
/// token may come with a cookie.
pub(crate) async fn link_page<P: Template>(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    status: StatusCode,
    page: impl FnOnce(String) -> P,
) -> Result<HttpResponse, AppError> {
    let (ft, _) = session::form_token(req, state).await?;
    render(HttpResponse::build(status), &page(ft.token), ft.cookie)
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

const EXPIRED: &str = "This password-reset link has expired or was already used, and nothing \
     was changed. Ask for a new link on the “Forgot your password?” page.";

/// GET /reset-password?token=…: the new-password form, when the link is live.
pub async fn reset_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<TokenQuery>,
) -> Result<HttpResponse, AppError> {
    let token = query.token.clone().unwrap_or_default();
    let Some(user) = on_link(&state, &token, reset::check).await? else {
        return Ok(invalid_link(EXPIRED));
    };
    link_page(&req, &state, StatusCode::OK, |csrf_token| ResetPage {
        done: false,
        csrf_token,
        token: &token,
        username: &user.username,
        password_error: None,
        confirm_error: None,
    })
    .await
}

/// POST /reset-password: sets the new password (ending every session and refresh family).
pub async fn reset_submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let (form, token, _) = link_form(&req, &state, &body).await?;
    let Some(user) = on_link(&state, &token, reset::check).await? else {
        return Ok(invalid_link(EXPIRED));
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
        let page = |csrf_token| ResetPage {
            done: false,
            csrf_token,
            token: &token,
            username: &user.username,
            password_error: problem.as_deref(),
            confirm_error: mismatch.then_some("The two passwords do not match."),
        };
        return link_page(&req, &state, StatusCode::BAD_REQUEST, page).await;
    }
    let hash = state.passwords.hash(new).await?;
    let ip = session::client_ip(&req);
    let outcome = db(&state, move |conn| {
        let now = store::now();
        Ok(reset::complete(conn, &token, &hash, ip.as_deref(), now)?)
    })
    .await?;
    match outcome {
        Completed::Invalid => Ok(invalid_link(EXPIRED)),
        Completed::Reset { username } => {
            let page = |csrf_token| ResetPage {
                done: true,
                csrf_token,
                token: "",
                username: &username,
                password_error: None,
                confirm_error: None,
            };
            // Every session ended, this browser's too: drop its cookie.
            let mut res = link_page(&req, &state, StatusCode::OK, page).await?;
            res.add_cookie(&session::clearing_cookie(&state))
                .map_err(AppError::internal)?;
            Ok(res)
        }
    }
}
