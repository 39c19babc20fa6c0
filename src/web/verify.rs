//! Email verification: `/verify-email?token=…` (opened from the mail; asks before acting, so a
//! mail scanner that follows links verifies nothing) and `/account/email/verify` (a signed-in
//! user asks for a new link). Thin: the rules are in `accounts::verification`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::auth::{self, FormData};
use super::db;
use super::email_change::{page as account_email_page, View};
use super::reset::{invalid_link, link_form, link_page, on_link};
use crate::accounts::verification::{self, Confirmed, Requested};
use crate::db::{self as store};
use crate::state::AppState;
use crate::web::error::AppError;

#[derive(Template)]
#[template(path = "verify_email.html")]
struct VerifyPage<'a> {
    done: bool,
    csrf_token: String,
    token: &'a str,
    username: &'a str,
    email: &'a str,
    /// A pending authorization request to continue afterwards (its local resume path).
    continue_to: Option<&'a str>,
}

#[derive(serde::Deserialize)]
pub struct VerifyQuery {
    token: Option<String>,
    #[serde(rename = "continue")]
    continue_to: Option<String>,
}

/// Only a pending authorization request's resume path may be continued to.
fn continuation(raw: Option<&str>) -> Option<String> {
    raw.filter(|p| crate::authn::interaction::id_in_path(p).is_some())
        .map(|p| super::login::safe_return_to(Some(p)))
}

const EXPIRED: &str = "This verification link has expired or was already used. Signed in, you \
     can ask for a new one on your account page.";

/// GET /verify-email?token=…
pub async fn confirm_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<VerifyQuery>,
) -> Result<HttpResponse, AppError> {
    let query = query.into_inner();
    let continue_to = continuation(query.continue_to.as_deref());
    let token = query.token.unwrap_or_default();
    let Some(p) = on_link(&state, &token, verification::check).await? else {
        return Ok(invalid_link(EXPIRED));
    };
    link_page(&req, &state, StatusCode::OK, |csrf_token| VerifyPage {
        done: false,
        csrf_token,
        token: &token,
        username: &p.username,
        email: &p.email,
        continue_to: continue_to.as_deref(),
    })
    .await
}

/// POST /verify-email
pub async fn confirm_submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let (form, token, current) = link_form(&req, &state, &body).await?;
    let continue_to = continuation(form.get("continue"));
    let outcome = on_link(&state, &token, verification::confirm).await?;
    match outcome {
        Confirmed::Verified { email } => {
            if let Some(path) = continue_to {
                // Back to the application that sent the person to sign up: through the login
                // when this browser is not signed in, straight on when it is.
                let signed_in = current.as_ref().is_some_and(|s| s.user_id.is_some());
                let target = if signed_in {
                    path
                } else {
                    format!(
                        "/login?{}",
                        url::form_urlencoded::Serializer::new(String::new())
                            .append_pair("return_to", &path)
                            .finish()
                    )
                };
                return Ok(HttpResponse::SeeOther()
                    .insert_header((actix_web::http::header::LOCATION, target))
                    .finish());
            }
            let page = |csrf_token| VerifyPage {
                done: true,
                csrf_token,
                token: "",
                username: "",
                email: &email,
                continue_to: None,
            };
            link_page(&req, &state, StatusCode::OK, page).await
        }
        Confirmed::Invalid => Ok(invalid_link(EXPIRED)),
        Confirmed::AddressChanged => Ok(invalid_link(
            "This link was sent to an address your account no longer uses, so it verified nothing.",
        )),
    }
}

/// POST /account/email/verify: mail a (new) verification link to the signed-in user.
pub async fn resend(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let who = auth::require_user(&req, &state, "/account/email").await?;
    let form = FormData::parse(&body);
    form.check_csrf(&who)?;
    if !state.settings.mail_enabled() {
        return account_email_page(&state, &who, StatusCode::NOT_FOUND, View::default()).await;
    }
    let st = state.clone();
    let uid = who.user.id.clone();
    let outcome = db(&state, move |conn| {
        Ok(verification::request(
            conn,
            &st.settings,
            &uid,
            store::now(),
        )?)
    })
    .await?;
    let (status, notice, error) = match outcome {
        Requested::Sent => {
            state.outbox.wake();
            (
                StatusCode::OK,
                Some("We sent a verification link to your address. Open it to finish."),
                None,
            )
        }
        Requested::AlreadyVerified => (
            StatusCode::OK,
            Some("Your address is verified already."),
            None,
        ),
        Requested::TooMany => (
            StatusCode::TOO_MANY_REQUESTS,
            None,
            Some("We sent several links in the last hour. Look for them in your mail (and spam folder), or try again later."),
        ),
    };
    let view = View {
        notice,
        error,
        ..View::default()
    };
    account_email_page(&state, &who, status, view).await
}
