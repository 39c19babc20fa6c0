//! The second step of a login (`/login/second-factor`): a code from an authenticator app, a
//! recovery code, or a passkey (`web::passkeys`). Serves a login whose password just passed (the
//! pending-login cookie) and a signed-in session asked for a stronger class (step-up: the missing
//! factor only, never the password again). `/login/enrol`: a login that may not complete before
//! a factor is set up (policy `required`).

use actix_web::cookie::Cookie;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::login::{pending_request, safe_return_to, too_many_attempts};
use super::pending_login;
use super::templates::render;
use super::{client_addr, db, session};
use crate::authn::acr::{Acr, Method};
use crate::authn::journey::{self, Next, Proof, Rules, Stage, State};
use crate::authn::login;
use crate::authn::requirement::methods_of;
use crate::authn::second_factor::{self, CodeVerdict, Factors};
use crate::authn::{recovery, totp};
use crate::db::models::sessions::SessionRow;
use crate::db::models::users::{self, User};
use crate::state::AppState;
use crate::web::error::AppError;

/// Who is taking the second step, and where their journey stands.
pub struct Claim {
    /// `SecondFactor` or `Enrol` (a login whose password passed a moment ago in this browser), or
    /// `StepUp` (a signed-in session).
    at: State,
    user: Box<User>,
    /// The session stepping up (its CSRF token is the form's).
    session: Option<Box<SessionRow>>,
}

impl Claim {
    pub fn user(&self) -> &User {
        &self.user
    }

    /// The session stepping up, if that is what this is.
    pub fn session(&self) -> Option<&SessionRow> {
        self.session.as_deref()
    }
}

async fn live_user(state: &web::Data<AppState>, id: String) -> Result<Option<User>, AppError> {
    let user = db(state, move |conn| Ok(users::by_id(conn, &id)?)).await?;
    Ok(user.filter(|u| !u.disabled))
}

/// The login in progress in this browser at `stage`, if the journey lets it continue (else it
/// is as good as absent), or else the signed-in session stepping up (for `Verify`).
pub async fn claim(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    stage: Stage,
) -> Result<Option<Claim>, AppError> {
    let now = crate::db::now();
    if let Some(p) = pending_login::read(req, state, now) {
        let resumed = db(state, move |conn| {
            let user = users::by_id(conn, &p.user_id)?;
            let uid = p.user_id.clone();
            let at = journey::resume(p, stage, user.as_ref(), now, || Factors::load(conn, &uid))?;
            Ok(at.ok().zip(user))
        })
        .await?;
        if let Some((at, user)) = resumed {
            return Ok(Some(Claim {
                at,
                user: Box::new(user),
                session: None,
            }));
        }
    }
    if stage == Stage::Verify {
        if let Some(s) = session::current(req, state).await? {
            if let Some(uid) = s.user_id.clone() {
                if let Some(u) = live_user(state, uid).await? {
                    return Ok(Some(Claim {
                        at: State::StepUp(methods_of(s.amr.as_deref())),
                        user: Box::new(u),
                        session: Some(Box::new(s)),
                    }));
                }
            }
        }
    }
    Ok(None)
}

/// The step proved `proof`: a pending login completes (new session, recorded on its
/// interaction); a stepping-up session gains the methods. Returns the cookies to set and where
/// the browser goes next (`return_to`, or first an offered link's confirmation).
pub async fn finish(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    claim: Claim,
    proof: Proof<'_>,
    return_to: &str,
) -> Result<(Vec<Cookie<'static>>, String), AppError> {
    let Claim { at, user, session } = claim;
    let rules = Rules::of(&state.settings);
    match (
        journey::advance(at, user, proof, &rules, crate::db::now()),
        session,
    ) {
        (Ok(Next::Completed(done)), _) => {
            let current = session::current(req, state).await?;
            let replaces = current.map(|s| s.id_hash);
            super::login::completed(req, state, &done, return_to, replaces).await
        }
        (Ok(Next::SteppedUp(methods)), Some(s)) => {
            let id = s.id_hash.clone();
            db(state, move |conn| {
                Ok(login::save_step_up(conn, &id, &methods)?)
            })
            .await?;
            Ok((Vec::new(), return_to.to_owned()))
        }
        // Not reached: each page presents the proof its claim's state takes.
        (Ok(_) | Err(_), _) => Err(AppError::BadRequest(
            "This sign-in expired. Sign in again.".to_owned(),
        )),
    }
}

/// Sets the cookies on a 303 to `to`.
pub fn see_other(to: &str, cookies: Vec<Cookie<'static>>) -> HttpResponse {
    let mut b = HttpResponse::SeeOther();
    for c in cookies {
        b.cookie(c);
    }
    b.insert_header((header::LOCATION, to.to_owned()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

#[derive(Template)]
#[template(path = "second_factor.html")]
struct SecondFactorPage<'a> {
    csrf_token: &'a str,
    return_to: &'a str,
    client_name: Option<&'a str>,
    error: Option<&'a str>,
    totp: bool,
    passkey: bool,
    recovery: bool,
    step_up: bool,
}

#[derive(Deserialize)]
pub struct PageQuery {
    return_to: Option<String>,
    /// The class a step-up must reach (`phr` offers passkeys only).
    acr: Option<String>,
}

async fn factors_of(state: &web::Data<AppState>, user_id: &str) -> Result<Factors, AppError> {
    let id = user_id.to_owned();
    db(state, move |conn| Ok(Factors::load(conn, &id)?)).await
}

struct Shown<'a> {
    return_to: &'a str,
    error: Option<&'a str>,
    phishing_resistant: bool,
}

async fn show(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    claim: &Claim,
    mut status: actix_web::HttpResponseBuilder,
    shown: Shown<'_>,
) -> Result<HttpResponse, AppError> {
    let f = factors_of(state, &claim.user().id).await?;
    let token = match claim {
        Claim {
            session: Some(s), ..
        } => session::FormToken {
            token: s.csrf_token.clone(),
            cookie: None,
        },
        Claim { session: None, .. } => session::anonymous_form_token(req, state),
    };
    let client_name = pending_request(req, state, shown.return_to)
        .await
        .map(|p| p.client_name);
    let codes = !shown.phishing_resistant;
    status.insert_header((header::CACHE_CONTROL, "no-store"));
    render(
        status,
        &SecondFactorPage {
            csrf_token: &token.token,
            return_to: shown.return_to,
            client_name: client_name.as_deref(),
            error: shown.error,
            totp: codes && f.totp,
            passkey: f.passkeys > 0,
            recovery: codes && f.recovery_left > 0,
            step_up: matches!(claim.at, State::StepUp(_)),
        },
        token.cookie,
    )
}

fn to_login(return_to: &str) -> HttpResponse {
    let target = format!(
        "/login?{}",
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("return_to", return_to)
            .finish()
    );
    see_other(&target, Vec::new())
}

/// GET /login/second-factor
pub async fn page(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let return_to = safe_return_to(query.return_to.as_deref());
    let Some(claim) = claim(&req, &state, Stage::Verify).await? else {
        return Ok(to_login(&return_to));
    };
    let phishing_resistant =
        query.acr.as_deref().and_then(Acr::parse) == Some(Acr::PhishingResistant);
    let shown = Shown {
        return_to: &return_to,
        error: None,
        phishing_resistant,
    };
    show(&req, &state, &claim, HttpResponse::Ok(), shown).await
}

#[derive(Deserialize)]
pub struct CodeForm {
    csrf_token: Option<String>,
    return_to: Option<String>,
    code: String,
    /// On the set-up page: which secret the code is for.
    secret_id: Option<String>,
}

/// POST /login/second-factor: a TOTP or recovery code.
pub async fn submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<CodeForm>,
) -> Result<HttpResponse, AppError> {
    let form = form.into_inner();
    let return_to = safe_return_to(form.return_to.as_deref());
    let Some(claim) = claim(&req, &state, Stage::Verify).await? else {
        return Ok(to_login(&return_to));
    };
    session::check_form_csrf(&req, &state, claim.session(), form.csrf_token.as_deref())?;
    let verdict = second_factor::check_code(
        &state.clone().into_inner(),
        claim.user(),
        form.code,
        client_addr::of(&req),
    )
    .await?;
    let shown = |error| Shown {
        return_to: &return_to,
        error: Some(error),
        phishing_resistant: false,
    };
    match verdict {
        CodeVerdict::Accepted { .. } => {
            let proof = Proof::Factor(CodeVerdict::methods());
            let (cookies, onwards) = finish(&req, &state, claim, proof, &return_to).await?;
            Ok(see_other(&onwards, cookies))
        }
        CodeVerdict::Rejected => {
            let msg = "That code is not right. Check the app and try again.";
            show(&req, &state, &claim, HttpResponse::Ok(), shown(msg)).await
        }
        CodeVerdict::Reused => {
            let msg = "That code was used already. Wait for the next one.";
            show(&req, &state, &claim, HttpResponse::Ok(), shown(msg)).await
        }
        CodeVerdict::Throttled { retry_after } => {
            let mut b = HttpResponse::TooManyRequests();
            b.insert_header((header::RETRY_AFTER, retry_after.to_string()));
            let msg = too_many_attempts(retry_after);
            show(&req, &state, &claim, b, shown(&msg)).await
        }
    }
}

#[derive(Template)]
#[template(path = "totp_setup.html")]
pub struct TotpSetupPage<'a> {
    pub csrf_token: &'a str,
    pub return_to: &'a str,
    pub action: &'a str,
    pub qr_svg: &'a str,
    pub secret_text: &'a str,
    pub secret_id: &'a str,
    pub error: Option<&'a str>,
    pub required: bool,
    pub offer_passkey: bool,
    /// What `passkeys.js` does after registering: `enrol` completes the login.
    pub passkey_mode: &'a str,
}

#[derive(Template)]
#[template(path = "recovery_codes.html")]
pub struct RecoveryCodesPage<'a> {
    pub codes: &'a [String],
    pub continue_to: &'a str,
}

/// The name shown in authenticator apps.
pub fn issuer_name(state: &AppState) -> String {
    url::Url::parse(&state.settings.issuer)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| "Ostiary".to_owned())
}

/// A set-up page shown again after a wrong code: the message, and the secret it showed (kept, so
/// the app that scanned it still matches).
pub struct Retry<'a> {
    pub message: &'a str,
    pub secret_id: &'a str,
}

/// Where a TOTP set-up happens: during a login that must enrol (an anonymous form token), or on
/// the account's security page (the session's).
pub enum SetupAt {
    Login(session::FormToken),
    Account(String),
}

/// The TOTP set-up page for `user` (a new secret, or the pending one again).
pub async fn totp_setup(
    state: &web::Data<AppState>,
    user: &User,
    at: SetupAt,
    return_to: &str,
    retry: Option<Retry<'_>>,
) -> Result<HttpResponse, AppError> {
    let error = retry.as_ref().map(|r| r.message);
    let keep = retry.map(|r| r.secret_id.to_owned());
    let (csrf_token, cookie, action, required) = match at {
        SetupAt::Login(t) => (t.token, t.cookie, "/login/enrol", true),
        SetupAt::Account(csrf) => (csrf, None, "/account/security/totp/confirm", false),
    };
    let st = state.clone();
    let (uid, account) = (user.id.clone(), user.username.clone());
    let name = issuer_name(state);
    let enrolment = db(state, move |conn| {
        let now = crate::db::now();
        totp::begin(
            conn,
            st.keys.kek(),
            &uid,
            &account,
            &name,
            now,
            keep.as_deref(),
        )
        .map_err(AppError::internal)
    })
    .await?;
    let Some(e) = enrolment else {
        return Ok(see_other(return_to, Vec::new()));
    };
    let status = if error.is_some() {
        HttpResponse::BadRequest()
    } else {
        HttpResponse::Ok()
    };
    render(
        status,
        &TotpSetupPage {
            csrf_token: &csrf_token,
            return_to,
            action,
            qr_svg: &e.qr_svg,
            secret_text: &e.secret_text,
            secret_id: &e.secret_id,
            error,
            required,
            offer_passkey: required,
            passkey_mode: if required { "enrol" } else { "account" },
        },
        cookie,
    )
}

/// Confirms a pending TOTP enrolment with its first code; on success makes recovery codes
/// when the user has none (returned, to be shown once).
pub async fn confirm_totp(
    state: &web::Data<AppState>,
    user: &User,
    code: &str,
    secret_id: &str,
) -> Result<Option<Vec<String>>, AppError> {
    let st = state.clone();
    let (uid, code, id) = (user.id.clone(), code.to_owned(), secret_id.to_owned());
    db(state, move |conn| {
        let now = crate::db::now();
        let check = totp::check(
            conn,
            st.keys.kek(),
            &uid,
            &code,
            now,
            totp::Expect::Pending { secret_id: &id },
        )
        .map_err(AppError::internal)?;
        if check != totp::CodeCheck::Accepted {
            return Ok(None);
        }
        let codes = if crate::db::models::factors::recovery_codes_left(conn, &uid)? == 0 {
            recovery::generate(conn, &uid, now)?
        } else {
            Vec::new()
        };
        Ok(Some(codes))
    })
    .await
}

#[derive(Deserialize)]
pub struct EnrolQuery {
    return_to: Option<String>,
}

/// GET /login/enrol: a login that must set up a factor first.
pub async fn enrol_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<EnrolQuery>,
) -> Result<HttpResponse, AppError> {
    let return_to = safe_return_to(query.return_to.as_deref());
    let Some(claim) = claim(&req, &state, Stage::Enrol).await? else {
        return Ok(to_login(&return_to));
    };
    let token = session::anonymous_form_token(&req, &state);
    totp_setup(
        &state,
        claim.user(),
        SetupAt::Login(token),
        &return_to,
        None,
    )
    .await
}

/// POST /login/enrol: the first code from the app; the login completes, and the recovery codes
/// are shown once.
pub async fn enrol_submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<CodeForm>,
) -> Result<HttpResponse, AppError> {
    let form = form.into_inner();
    let return_to = safe_return_to(form.return_to.as_deref());
    let Some(claim) = claim(&req, &state, Stage::Enrol).await? else {
        return Ok(to_login(&return_to));
    };
    session::check_form_csrf(&req, &state, None, form.csrf_token.as_deref())?;
    let secret_id = form.secret_id.clone().unwrap_or_default();
    let Some(codes) = confirm_totp(&state, claim.user(), &form.code, &secret_id).await? else {
        let token = session::anonymous_form_token(&req, &state);
        let msg = "That code is not right. Check the app's clock and try the newest code.";
        let at = SetupAt::Login(token);
        let retry = Retry {
            message: msg,
            secret_id: &secret_id,
        };
        return totp_setup(&state, claim.user(), at, &return_to, Some(retry)).await;
    };
    let proof = Proof::Enrolled(&[Method::Otp]);
    let (cookies, onwards) = finish(&req, &state, claim, proof, &return_to).await?;
    recovery_codes_page(codes, &onwards, cookies)
}

/// The recovery codes, shown once (or straight on when there are none to show).
pub fn recovery_codes_page(
    codes: Vec<String>,
    continue_to: &str,
    cookies: Vec<Cookie<'static>>,
) -> Result<HttpResponse, AppError> {
    if codes.is_empty() {
        return Ok(see_other(continue_to, cookies));
    }
    let body = RecoveryCodesPage {
        codes: &codes,
        continue_to,
    }
    .render()
    .map_err(AppError::internal)?;
    let mut b = HttpResponse::Ok();
    for c in cookies {
        b.cookie(c);
    }
    Ok(
        b.insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(body),
    )
}
