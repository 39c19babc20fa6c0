//! /account/security: the signed-in user's second factors — an authenticator app (set up with
//! a QR code, confirmed by one code), passkeys (added by `passkeys.js`, renamed, removed) and
//! recovery codes (made anew, shown once). Adding a factor needs a recent login (or the
//! password); proving a factor while setting it up counts for the session (`amr`), which is
//! how a user sent here by an app's demand for a stronger sign-in continues to it.

use crate::audit::Event;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::auth::{self, FormData, SignedIn};
use super::db;
use super::login::safe_return_to;
use super::second_factor::{self, recovery_codes_page, see_other, SetupAt};
use super::templates::render;
use crate::authn::acr::{Acr, Method};
use crate::authn::journey::{self, Next, Proof, Rules, State};
use crate::authn::recovery;
use crate::authn::requirement::{methods_of, requirement, Demand, Requirement, Signin};
use crate::authn::second_factor::Factors;
use crate::db::models::factors;
use crate::domain::time::utc as admin_time;
use crate::state::AppState;
use crate::web::error::AppError;
use std::convert::Infallible;

pub struct PasskeyView {
    pub id: String,
    pub name: String,
    pub created: String,
    pub last_used: String,
    pub synced: bool,
}

#[derive(Template)]
#[template(path = "security.html")]
struct SecurityPage<'a> {
    csrf_token: &'a str,
    return_to: &'a str,
    notice: Option<&'a str>,
    error: Option<&'a str>,
    totp: bool,
    passkeys: Vec<PasskeyView>,
    recovery_left: i64,
    /// An app's sign-in waits for a stronger factor (`needed=1`; `passkey=1`: a passkey).
    needed: bool,
    needs_passkey: bool,
}

#[derive(Deserialize)]
pub struct SecurityQuery {
    return_to: Option<String>,
    needed: Option<String>,
    notice: Option<String>,
}

const BACK: &str = "/account/security";

async fn show(
    state: &web::Data<AppState>,
    who: &SignedIn,
    return_to: &str,
    notice: Option<&str>,
    error: Option<&str>,
    needed: Option<&str>,
) -> Result<HttpResponse, AppError> {
    let uid = who.user.id.clone();
    let (f, rows) = db(state, move |conn| {
        Ok((
            Factors::load(conn, &uid)?,
            factors::passkeys_of(conn, &uid)?,
        ))
    })
    .await?;
    let passkeys = rows
        .into_iter()
        .map(|p| PasskeyView {
            id: p.credential_id,
            name: p.name,
            created: admin_time(p.created_at),
            last_used: p
                .last_used_at
                .map(admin_time)
                .unwrap_or_else(|| "never".into()),
            synced: p.backup_eligible,
        })
        .collect();
    let status = if error.is_some() {
        HttpResponse::BadRequest()
    } else {
        HttpResponse::Ok()
    };
    render(
        status,
        &SecurityPage {
            csrf_token: &who.session.csrf_token,
            return_to,
            notice,
            error,
            totp: f.totp,
            passkeys,
            recovery_left: f.recovery_left,
            needed: needed.is_some(),
            needs_passkey: needed == Some("passkey"),
        },
        None,
    )
}

/// GET /account/security
pub async fn page(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<SecurityQuery>,
) -> Result<HttpResponse, AppError> {
    let who = auth::require_user(&req, &state, BACK).await?;
    let return_to = match query.return_to.as_deref() {
        Some(r) => safe_return_to(Some(r)),
        None => BACK.to_owned(),
    };
    let notice = match query.notice.as_deref() {
        Some("passkey-added") => Some("Passkey added."),
        Some("totp-on") => Some("Authenticator app turned on."),
        _ => None,
    };
    let needed = query.needed.as_deref().map(|n| match n {
        "passkey" => "passkey",
        _ => "factor",
    });
    show(&state, &who, &return_to, notice, None, needed).await
}

/// Changing sign-in security is what someone holding a stolen session (or a stolen password)
/// would do to keep access. Without a factor yet: a login of the last five minutes, or the
/// password. With one: a login of the last five minutes that used it — the password alone never
/// unlocks the factors that protect it.
pub async fn may_change_factors(
    state: &web::Data<AppState>,
    req: &HttpRequest,
    who: &SignedIn,
    form: Option<&FormData>,
) -> Result<(), AppError> {
    let uid = who.user.id.clone();
    let enrolled = db(state, move |conn| Ok(Factors::load(conn, &uid)?)).await?;
    let fresh = who
        .session
        .auth_time
        .is_some_and(|t| crate::db::now() - t <= auth::RECENT_AUTH_SECONDS);
    if enrolled.any() {
        // A recent login that reached two factors: what a client with that minimum and a
        // max_age of five minutes would ask.
        let signin = Signin {
            user: true,
            auth_time: who.session.auth_time,
            fresh_login_at: None,
            amr: who.session.amr.as_deref(),
        };
        let demand = Demand {
            minimum: Some(Acr::TwoFactor),
            max_age: Some(auth::RECENT_AUTH_SECONDS),
            ..Demand::default()
        };
        let now = crate::db::now();
        let needed = requirement(now, &signin, &demand, || Ok::<_, Infallible>(enrolled));
        if needed == Ok(Requirement::Satisfied) {
            return Ok(());
        }
        return Err(AppError::BadRequest(
            "Changing your sign-in security needs a sign-in with your second factor in the last \
             five minutes: sign out, sign in again, and come back."
                .into(),
        ));
    }
    match form {
        Some(f) => auth::require_recent_auth(state, req, who, f).await,
        None if fresh => Ok(()),
        None => Err(AppError::BadRequest(
            "Your sign-in is more than five minutes old: sign in again first.".into(),
        )),
    }
}

/// Audits a change of the signed-in user's own sign-in security.
async fn audit_own(
    state: &web::Data<AppState>,
    req: &HttpRequest,
    who: &SignedIn,
    action: Event,
) -> Result<(), AppError> {
    auth::audit(state, req, who.as_user(), action, who.user.username.clone()).await
}

fn form_return_to(form: &FormData) -> String {
    match form.get("return_to") {
        Some(r) if !r.is_empty() => safe_return_to(Some(r)),
        _ => BACK.to_owned(),
    }
}

/// POST /account/security/totp: the set-up page (new secret, or the pending one).
pub async fn totp_start(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let (who, form) = user_post(&req, &state, &body).await?;
    may_change_factors(&state, &req, &who, Some(&form)).await?;
    let return_to = form_return_to(&form);
    let at = SetupAt::Account(who.session.csrf_token.clone());
    second_factor::totp_setup(&state, &who.user, at, &return_to, None).await
}

/// POST /account/security/totp/confirm: the first code turns the factor on.
pub async fn totp_confirm(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let (who, form) = user_post(&req, &state, &body).await?;
    let return_to = form_return_to(&form);
    let secret_id = form.text("secret_id");
    let Some(codes) =
        second_factor::confirm_totp(&state, &who.user, &form.text("code"), &secret_id).await?
    else {
        let at = SetupAt::Account(who.session.csrf_token.clone());
        let msg = "That code is not right. Check the app's clock and try the newest code.";
        let retry = second_factor::Retry {
            message: msg,
            secret_id: &secret_id,
        };
        return second_factor::totp_setup(&state, &who.user, at, &return_to, Some(retry)).await;
    };
    gained(&state, &who, &[Method::Otp]).await?;
    audit_own(&state, &req, &who, Event::TotpEnrolled).await?;
    let next = if return_to == BACK {
        "/account/security?notice=totp-on".to_owned()
    } else {
        return_to
    };
    recovery_codes_page(codes, &next, Vec::new())
}

/// The session proved `step` while setting it up: it counts for this session's class.
pub async fn gained(
    state: &web::Data<AppState>,
    who: &SignedIn,
    step: &[Method],
) -> Result<(), AppError> {
    let at = State::StepUp(methods_of(who.session.amr.as_deref()));
    let rules = Rules::of(&state.settings);
    let user = Box::new(who.user.clone());
    let proof = Proof::Enrolled(step);
    let Ok(Next::SteppedUp(methods)) = journey::advance(at, user, proof, &rules, crate::db::now())
    else {
        // A disabled account has no signed-in session to step up.
        return Ok(());
    };
    let id = who.session.id_hash.clone();
    db(state, move |conn| {
        Ok(crate::authn::login::save_step_up(conn, &id, &methods)?)
    })
    .await
}

/// POST /account/security/totp/remove (password or a recent login).
pub async fn totp_remove(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let (who, form) = user_post(&req, &state, &body).await?;
    may_change_factors(&state, &req, &who, Some(&form)).await?;
    let uid = who.user.id.clone();
    db(&state, move |conn| Ok(factors::delete_totp(conn, &uid)?)).await?;
    audit_own(&state, &req, &who, Event::TotpRemoved).await?;
    Ok(see_other(BACK, Vec::new()))
}

/// POST /account/security/recovery-codes: new codes (the old ones stop working), shown once.
pub async fn recovery_new(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let (who, form) = user_post(&req, &state, &body).await?;
    may_change_factors(&state, &req, &who, Some(&form)).await?;
    let uid = who.user.id.clone();
    let codes = db(&state, move |conn| {
        Ok(recovery::generate(conn, &uid, crate::db::now())?)
    })
    .await?;
    audit_own(&state, &req, &who, Event::RecoveryCodesIssued).await?;
    recovery_codes_page(codes, &form_return_to(&form), Vec::new())
}

/// POST /account/security/passkeys/rename
pub async fn passkey_rename(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let (who, form) = user_post(&req, &state, &body).await?;
    let name = passkey_name(&form.text("name"))?;
    let (uid, cred) = (who.user.id.clone(), form.text("credential"));
    db(&state, move |conn| {
        Ok(factors::rename_passkey(conn, &uid, &cred, &name)?)
    })
    .await?;
    Ok(see_other(BACK, Vec::new()))
}

/// POST /account/security/passkeys/delete (password or a recent login).
pub async fn passkey_delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let (who, form) = user_post(&req, &state, &body).await?;
    may_change_factors(&state, &req, &who, Some(&form)).await?;
    let (uid, cred) = (who.user.id.clone(), form.text("credential"));
    let n = db(&state, move |conn| {
        Ok(factors::delete_passkey(conn, &uid, &cred)?)
    })
    .await?;
    if n == 1 {
        audit_own(&state, &req, &who, Event::PasskeyRemoved).await?;
    }
    Ok(see_other(BACK, Vec::new()))
}

/// A passkey's name: trimmed, 1 to 64 characters, each shown as itself
/// (`domain::text::visible_name`).
pub fn passkey_name(raw: &str) -> Result<String, AppError> {
    let refused = || {
        AppError::BadRequest(
            "A passkey's name has 1 to 64 characters, without control, formatting \
             (bidirectional, zero-width) or line-separator characters."
                .into(),
        )
    };
    let name = crate::domain::text::visible_name(raw).map_err(|_| refused())?;
    if name.is_empty() || name.chars().count() > 64 {
        return Err(refused());
    }
    Ok(name)
}

/// A signed-in user's form POST with its CSRF token checked.
async fn user_post(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    body: &[u8],
) -> Result<(SignedIn, FormData), AppError> {
    let who = auth::require_user(req, state, BACK).await?;
    let form = FormData::parse(body);
    form.check_csrf(&who)?;
    Ok((who, form))
}
