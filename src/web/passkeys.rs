//! The WebAuthn ceremonies `static/passkeys.js` drives, as JSON (`application/json` only, so a
//! cross-site form cannot post here; each body carries the page's CSRF token too):
//! - `/webauthn/register/{begin,finish}`: add a passkey, from `/account/security` (a recent
//!   login needed) or from `/login/enrol` (a login that must set up a factor);
//! - `/webauthn/authenticate/{begin,finish}`: a passkey as the second step of a login (or a
//!   step-up), or alone from the login page (username-less).
//!
//! Answers: `{"ceremony", "options"}` to begin, `{"location"}` where the page goes next, or
//! `{"error", "error_description"}` with a 4xx.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::{self, SignedIn};
use super::login::safe_return_to;
use super::second_factor::{claim, finish, Claim};
use super::security::{gained, passkey_name};
use super::{client_addr, db, session};
use crate::audit::{self, Actor, Entry, Event};
use crate::authn::journey::{self, Next, Proof, Refused, Rules, Stage, State};
use crate::authn::passkey::{self, Begun, PasskeyError};
use crate::db::models::users;
use crate::domain::ids::UserId;
use crate::state::AppState;
use crate::web::error::AppError;

#[derive(Deserialize)]
pub struct Request {
    csrf_token: Option<String>,
    /// register: `account` or `enrol`; authenticate: `second_factor` or `passwordless`.
    mode: String,
    ceremony: Option<String>,
    credential: Option<Value>,
    name: Option<String>,
    return_to: Option<String>,
}

fn refusal(status: StatusCode, error: &str, description: &str) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({ "error": error, "error_description": description }))
}

fn refused(e: &PasskeyError) -> HttpResponse {
    match e {
        PasskeyError::Db(_) | PasskeyError::Stored(_) => {
            tracing::error!(error = %e, "passkey ceremony failed");
            refusal(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "The passkey could not be checked. Try again.",
            )
        }
        PasskeyError::Rejected(cause) => {
            tracing::info!(error = %cause, "passkey refused");
            refusal(
                StatusCode::BAD_REQUEST,
                "invalid_credential",
                &e.to_string(),
            )
        }
        _ => refusal(StatusCode::BAD_REQUEST, "invalid_request", &e.to_string()),
    }
}

fn begun(b: Begun) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({ "ceremony": b.ceremony, "options": b.options }))
}

fn go(location: &str, cookies: Vec<actix_web::cookie::Cookie<'static>>) -> HttpResponse {
    let mut b = HttpResponse::Ok();
    for c in cookies {
        b.cookie(c);
    }
    b.insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({ "location": location }))
}

/// Runs a ceremony step on the blocking pool.
async fn step<T: Send + 'static>(
    state: &web::Data<AppState>,
    f: impl FnOnce(&mut crate::db::DbConn, &webauthn_rs::prelude::Webauthn) -> Result<T, PasskeyError>
        + Send
        + 'static,
) -> Result<Result<T, PasskeyError>, AppError> {
    let st = state.clone();
    web::block(move || {
        let Some(wa) = st.webauthn.as_ref() else {
            return Ok(Err(PasskeyError::Unavailable));
        };
        let mut conn = st.pool.get()?;
        Ok::<_, AppError>(f(&mut conn, wa))
    })
    .await?
}

/// Who registers: the signed-in user (recent login), or the login that must enrol.
enum Registrant {
    Account(Box<SignedIn>),
    Enrolling(Claim),
}

impl Registrant {
    fn user(&self) -> &users::User {
        match self {
            Registrant::Account(who) => &who.user,
            Registrant::Enrolling(c) => c.user(),
        }
    }
}

async fn registrant(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    body: &Request,
) -> Result<Result<Registrant, HttpResponse>, AppError> {
    match body.mode.as_str() {
        "account" => {
            let who = auth::require_user(req, state, "/account/security").await?;
            session::check_csrf(Some(&who.session), body.csrf_token.as_deref())?;
            if let Err(e) = super::security::may_change_factors(state, req, &who, None).await {
                let message = match &e {
                    AppError::BadRequest(m) => m.clone(),
                    _ => return Err(e),
                };
                return Ok(Err(refusal(
                    StatusCode::FORBIDDEN,
                    "login_required",
                    &message,
                )));
            }
            Ok(Ok(Registrant::Account(Box::new(who))))
        }
        "enrol" => match claim(req, state, Stage::Enrol).await? {
            Some(c) => {
                session::check_form_csrf(req, state, None, body.csrf_token.as_deref())?;
                Ok(Ok(Registrant::Enrolling(c)))
            }
            None => Ok(Err(refusal(
                StatusCode::BAD_REQUEST,
                "login_required",
                "This sign-in expired. Sign in again.",
            ))),
        },
        _ => Ok(Err(refusal(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "unknown mode",
        ))),
    }
}

/// POST /webauthn/register/begin
pub async fn register_begin(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<Request>,
) -> Result<HttpResponse, AppError> {
    let body = body.into_inner();
    let who = match registrant(&req, &state, &body).await? {
        Ok(w) => w,
        Err(res) => return Ok(res),
    };
    let user = who.user().clone();
    Ok(
        match step(&state, move |conn, wa| {
            passkey::begin_registration(conn, wa, &user, crate::db::now())
        })
        .await?
        {
            Ok(b) => begun(b),
            Err(e) => refused(&e),
        },
    )
}

/// POST /webauthn/register/finish
pub async fn register_finish(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<Request>,
) -> Result<HttpResponse, AppError> {
    let body = body.into_inner();
    let who = match registrant(&req, &state, &body).await? {
        Ok(w) => w,
        Err(res) => return Ok(res),
    };
    let name = passkey_name(body.name.as_deref().unwrap_or("Passkey"))?;
    let (Some(ceremony), Some(credential)) = (body.ceremony.clone(), body.credential.clone())
    else {
        return Ok(refusal(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "ceremony and credential are required",
        ));
    };
    let user = who.user().clone();
    let done = step(&state, move |conn, wa| {
        passkey::finish_registration(
            conn,
            wa,
            &user,
            &ceremony,
            &name,
            &credential,
            crate::db::now(),
        )
    })
    .await?;
    let (row, methods) = match done {
        Ok(d) => d,
        Err(e) => return Ok(refused(&e)),
    };
    record(
        &state,
        &req,
        &row.user_id,
        Event::PasskeyAdded,
        Some(&row.name),
    )
    .await?;
    let return_to = safe_return_to(body.return_to.as_deref());
    match who {
        Registrant::Account(who) => {
            gained(&state, &who, &methods).await?;
            let next = if return_to == "/account/security" || body.return_to.is_none() {
                "/account/security?notice=passkey-added".to_owned()
            } else {
                return_to
            };
            Ok(go(&next, Vec::new()))
        }
        Registrant::Enrolling(claim) => {
            let proof = Proof::Enrolled(&methods);
            let (cookies, onwards) = finish(&req, &state, claim, proof, &return_to).await?;
            Ok(go(&onwards, cookies))
        }
    }
}

/// POST /webauthn/authenticate/begin
pub async fn authenticate_begin(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<Request>,
) -> Result<HttpResponse, AppError> {
    let body = body.into_inner();
    let now = crate::db::now();
    let result = match body.mode.as_str() {
        "second_factor" => {
            let c = match second_step(&req, &state, &body).await? {
                Ok(c) => c,
                Err(res) => return Ok(res),
            };
            let uid = c.user().id.clone();
            step(&state, move |conn, wa| {
                passkey::begin_second_factor(conn, wa, &uid, now)
            })
            .await?
        }
        "passwordless" => {
            visitor_csrf(&req, &state, &body).await?;
            // Each begin stores a ceremony: admitted per client address, like interactions.
            let address = client_addr::of(&req)
                .map(crate::authn::throttle::address_subject)
                .unwrap_or_else(|| "unknown".into());
            if let Err(wait) = state.admission.interactions.take(&address) {
                return Err(AppError::Throttled {
                    retry_after: wait.as_secs().max(1),
                });
            }
            step(&state, move |conn, wa| {
                passkey::begin_passwordless(conn, wa, now)
            })
            .await?
        }
        _ => {
            return Ok(refusal(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "unknown mode",
            ))
        }
    };
    Ok(match result {
        Ok(b) => begun(b),
        Err(e) => refused(&e),
    })
}

/// The login taking its second step (or the session stepping up), its CSRF token checked.
async fn second_step(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    body: &Request,
) -> Result<Result<Claim, HttpResponse>, AppError> {
    let Some(c) = claim(req, state, Stage::Verify).await? else {
        return Ok(Err(refusal(
            StatusCode::BAD_REQUEST,
            "login_required",
            "Sign in again.",
        )));
    };
    session::check_form_csrf(req, state, c.session(), body.csrf_token.as_deref())?;
    Ok(Ok(c))
}

/// A login page's CSRF token: anonymous, or the session's for a signed-in visitor. Returns
/// that session.
async fn visitor_csrf(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    body: &Request,
) -> Result<Option<crate::db::models::sessions::SessionRow>, AppError> {
    let current = session::current(req, state).await?;
    session::check_form_csrf(req, state, current.as_ref(), body.csrf_token.as_deref())?;
    Ok(current)
}

/// POST /webauthn/authenticate/finish
pub async fn authenticate_finish(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<Request>,
) -> Result<HttpResponse, AppError> {
    let body = body.into_inner();
    let now = crate::db::now();
    let return_to = safe_return_to(body.return_to.as_deref());
    let (Some(ceremony), Some(credential)) = (body.ceremony.clone(), body.credential.clone())
    else {
        return Ok(refusal(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "ceremony and credential are required",
        ));
    };
    match body.mode.as_str() {
        "second_factor" => {
            let c = match second_step(&req, &state, &body).await? {
                Ok(c) => c,
                Err(res) => return Ok(res),
            };
            let uid = c.user().id.clone();
            let proved = step(&state, move |conn, wa| {
                passkey::finish_second_factor(conn, wa, &uid, &ceremony, &credential, now)
            })
            .await?;
            let methods = match proved {
                Ok(m) => m,
                Err(e) => {
                    record(
                        &state,
                        &req,
                        &c.user().id.clone(),
                        Event::SecondFactorPasskeyFailure,
                        None,
                    )
                    .await?;
                    return Ok(refused(&e));
                }
            };
            let uid = c.user().id.clone();
            record(&state, &req, &uid, Event::SecondFactorPasskey, None).await?;
            let (cookies, onwards) =
                finish(&req, &state, c, Proof::Factor(&methods), &return_to).await?;
            Ok(go(&onwards, cookies))
        }
        "passwordless" => {
            let current = visitor_csrf(&req, &state, &body).await?;
            let proved = step(&state, move |conn, wa| {
                passkey::finish_passwordless(conn, wa, &ceremony, &credential, now)
            })
            .await?;
            let (uid, methods) = match proved {
                Ok(p) => p,
                Err(e) => return Ok(refused(&e)),
            };
            let lookup = uid.clone();
            let user = db(&state, move |conn| Ok(users::by_id(conn, &lookup)?)).await?;
            let Some(user) = user else {
                return Ok(refused(&PasskeyError::Unknown));
            };
            let rules = Rules::of(&state.settings);
            let proof = Proof::Passkey(&methods);
            let done = match journey::advance(State::Start, Box::new(user), proof, &rules, now) {
                Ok(Next::Completed(done)) => done,
                Err(Refused::EmailNotVerified) => {
                    return Ok(refusal(
                        StatusCode::FORBIDDEN,
                        "access_denied",
                        "Confirm your email address first: open the link we sent you.",
                    ))
                }
                // A disabled account (or, never, another step).
                Ok(_) | Err(_) => return Ok(refused(&PasskeyError::Unknown)),
            };
            record(&state, &req, &uid, Event::LoginPasskey, None).await?;
            let replaces = current.map(|s| s.id_hash);
            let (cookies, onwards) =
                super::login::completed(&req, &state, &done, &return_to, replaces).await?;
            Ok(go(&onwards, cookies))
        }
        _ => Ok(refusal(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "unknown mode",
        )),
    }
}

async fn record(
    state: &web::Data<AppState>,
    req: &HttpRequest,
    user_id: &str,
    event: Event,
    detail: Option<&str>,
) -> Result<(), AppError> {
    let detail = detail.map(str::to_owned);
    let (actor, target, ip) = (
        Actor::User(UserId::from_stored(user_id)),
        user_id.to_owned(),
        session::client_ip(req),
    );
    db(state, move |conn| {
        audit::record(
            conn,
            &Entry::new(&actor, event)
                .target(&target)
                .ip(ip.as_deref())
                .detail(detail.as_deref()),
        )?;
        Ok(())
    })
    .await
}
