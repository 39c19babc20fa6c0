//! `/account/email`: the signed-in user's address (verify it, change it) and
//! `/email-change/confirm?token=…`, opened from the mail sent to the new address. Thin: the
//! rules are in `accounts::email_change`.

use crate::audit::Event;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::auth::{self, FormData, SignedIn};
use super::reset::{invalid_link, link_form, link_page, on_link, TokenQuery};
use super::templates::render;
use super::{db, session};
use crate::accounts::email_change::{self, Confirmed, Requested};
use crate::authn::password::Purpose;
use crate::db::{self as store};
use crate::domain::email::check_email;
use crate::state::AppState;
use crate::web::error::AppError;

#[derive(Template)]
#[template(path = "email_change.html")]
struct AccountEmailPage<'a> {
    email: &'a str,
    verified: bool,
    mail_enabled: bool,
    csrf_token: &'a str,
    new_email: &'a str,
    notice: Option<&'a str>,
    error: Option<&'a str>,
    email_error: Option<&'a str>,
    password_error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "email_change_confirm.html")]
struct ConfirmPage<'a> {
    done: bool,
    csrf_token: String,
    token: &'a str,
    username: &'a str,
    old_email: &'a str,
    new_email: &'a str,
}

/// What the /account/email page shows besides the account.
#[derive(Default)]
pub(crate) struct View<'a> {
    pub new_email: &'a str,
    pub notice: Option<&'a str>,
    pub error: Option<&'a str>,
    pub email_error: Option<&'a str>,
    pub password_error: Option<&'a str>,
}

pub(crate) async fn page(
    state: &web::Data<AppState>,
    who: &SignedIn,
    status: StatusCode,
    v: View<'_>,
) -> Result<HttpResponse, AppError> {
    // Read again: the page may follow a change made a moment ago.
    let uid = who.user.id.clone();
    let user = db(state, move |conn| {
        Ok(crate::db::models::users::by_id(conn, &uid)?)
    })
    .await?
    .unwrap_or_else(|| who.user.clone());
    render(
        HttpResponse::build(status),
        &AccountEmailPage {
            email: &user.email,
            verified: user.email_verified,
            mail_enabled: state.settings.mail_enabled(),
            csrf_token: &who.session.csrf_token,
            new_email: v.new_email,
            notice: v.notice,
            error: v.error,
            email_error: v.email_error,
            password_error: v.password_error,
        },
        None,
    )
}

/// GET /account/email
pub async fn show(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let who = auth::require_user(&req, &state, "/account/email").await?;
    page(&state, &who, StatusCode::OK, View::default()).await
}

/// POST /account/email: new address + current password → link to the new address, notice to
/// the old one.
pub async fn request(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let who = auth::require_user(&req, &state, "/account/email").await?;
    let form = FormData::parse(&body);
    form.check_csrf(&who)?;
    let raw = form.text("new_email");
    let mut view = View {
        new_email: &raw,
        ..View::default()
    };
    if !state.settings.mail_enabled() {
        return page(&state, &who, StatusCode::NOT_FOUND, view).await;
    }
    let new_email = match check_email(&raw) {
        Ok(e) => e,
        Err(_) => {
            view.email_error = Some("Enter an email address, such as name@example.com.");
            return page(&state, &who, StatusCode::BAD_REQUEST, view).await;
        }
    };
    let password = form.get("current_password").unwrap_or("");
    if password.is_empty() {
        view.password_error = Some("Enter your current password.");
        return page(&state, &who, StatusCode::BAD_REQUEST, view).await;
    }
    if !auth::verify_own_password(&state, &req, &who, password, Purpose::PasswordChange).await? {
        view.password_error = Some("The password is not correct.");
        return page(&state, &who, StatusCode::BAD_REQUEST, view).await;
    }
    let st = state.clone();
    let user = who.user.clone();
    let to = new_email.clone();
    let outcome = db(&state, move |conn| {
        Ok(email_change::request(
            conn,
            &st.settings,
            &user,
            &to,
            store::now(),
        )?)
    })
    .await?;
    let sent;
    match outcome {
        Requested::Sent => {
            state.outbox.wake();
            auth::audit(
                &state,
                &req,
                who.as_user(),
                Event::AccountEmailChangeRequested,
                new_email.clone(),
            )
            .await?;
            sent = format!(
                "We sent a link to {new_email}. Open it to confirm the change; until then your address stays as it is."
            );
            page(
                &state,
                &who,
                StatusCode::OK,
                View {
                    notice: Some(&sent),
                    ..View::default()
                },
            )
            .await
        }
        Requested::Same => {
            view.email_error = Some("That is your address already.");
            page(&state, &who, StatusCode::BAD_REQUEST, view).await
        }
        Requested::InUse => {
            view.email_error = Some("Another account uses that address.");
            page(&state, &who, StatusCode::BAD_REQUEST, view).await
        }
        Requested::TooMany => {
            view.error = Some("You asked for several changes in the last hour. Try again later.");
            page(&state, &who, StatusCode::TOO_MANY_REQUESTS, view).await
        }
    }
}

const EXPIRED: &str = "This link has expired or was already used, and nothing was changed. \
     To change your address, ask again from your account page.";

/// GET /email-change/confirm?token=…: asks before acting (mail scanners follow links).
pub async fn confirm_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<TokenQuery>,
) -> Result<HttpResponse, AppError> {
    let token = query.into_inner().token.unwrap_or_default();
    let Some(p) = on_link(&state, &token, email_change::check).await? else {
        return Ok(invalid_link(EXPIRED));
    };
    link_page(&req, &state, StatusCode::OK, |csrf_token| ConfirmPage {
        done: false,
        csrf_token,
        token: &token,
        username: &p.username,
        old_email: &p.old_email,
        new_email: &p.new_email,
    })
    .await
}

/// POST /email-change/confirm: makes the change.
pub async fn confirm_submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let (_, token, _) = link_form(&req, &state, &body).await?;
    let ip = session::client_ip(&req);
    let outcome = db(&state, move |conn| {
        let now = store::now();
        Ok(email_change::confirm(conn, &token, ip.as_deref(), now)?)
    })
    .await?;
    match outcome {
        Confirmed::Changed { email } => {
            let page = |csrf_token| ConfirmPage {
                done: true,
                csrf_token,
                token: "",
                username: "",
                old_email: "",
                new_email: &email,
            };
            link_page(&req, &state, StatusCode::OK, page).await
        }
        Confirmed::Invalid => Ok(invalid_link(EXPIRED)),
        Confirmed::InUse => Ok(invalid_link(
            "Another account uses that address now, so your address was not changed.",
        )),
    }
}
