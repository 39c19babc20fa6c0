//! The login page. Passwords are checked by `authn::password` (admission, lockout, argon2);
//! unknown users, wrong passwords and disabled accounts get the same message after the same
//! work, and an anonymous visitor's page view stores nothing.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use actix_web::cookie::Cookie;
use actix_web::http::StatusCode;

use super::client_addr;
use super::pending_login;
use super::session;
use super::templates::{render, ClientLinks, LoginPage, SignedInPage};
use crate::authn::interaction;
use crate::authn::journey::{self, Completed, Creation, Next, Pending, Proof, Refused, Rules};
use crate::authn::journey::{Stage, State};
use crate::authn::login::{self, Step};
use crate::db::models::users::{self, User};
use crate::state::AppState;
use crate::web::error::{error_page, AppError};

#[derive(Deserialize)]
pub struct LoginQuery {
    return_to: Option<String>,
    /// Set on the way back from a failed upstream login: show the page, whatever `idp_hint`
    /// the request carries.
    choose: Option<String>,
}

#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    csrf_token: Option<String>,
    return_to: Option<String>,
}

/// Where provider `id`'s login starts, coming back to `return_to`.
pub fn start_path(id: &str, return_to: &str) -> String {
    format!(
        "/login/upstream/{id}?{}",
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("return_to", return_to)
            .finish()
    )
}

/// The login page's buttons: (start path, name) per enabled provider.
pub use super::templates::UpstreamButton;

pub async fn buttons(state: &web::Data<AppState>, return_to: &str) -> Vec<UpstreamButton> {
    let found = super::db(state, |c| Ok(crate::federation::providers::enabled(c)?)).await;
    found
        .unwrap_or_default()
        .into_iter()
        .map(|p| UpstreamButton {
            href: start_path(&p.id, return_to),
            name: p.name,
            icon: p.icon,
        })
        .collect()
}

/// The enabled provider an `idp_hint` names, if any.
pub async fn hinted(state: &web::Data<AppState>, hint: &str) -> Option<String> {
    let hint = hint.to_owned();
    super::db(state, move |c| {
        Ok(crate::federation::providers::usable(c, &hint)?)
    })
    .await
    .ok()
    .flatten()
    .map(|p| p.id)
}

pub const FAILED_LOGIN: &str = "Incorrect username or password.";

/// Only local paths we know may follow a login: never another origin (no open redirect).
pub fn safe_return_to(raw: Option<&str>) -> String {
    match raw {
        Some(p)
            if (p.starts_with("/authorize?")
                || p.starts_with("/authorize/resume?")
                || p == "/device"
                || p.starts_with("/device/resume?")
                || p == "/"
                || p.starts_with("/account")
                || p.starts_with("/admin"))
                && !p.contains('\\')
                && !p.starts_with("//") =>
        {
            p.to_owned()
        }
        _ => "/".to_owned(),
    }
}

/// The pending authorization request a return path continues, when this browser started it:
/// its client's name (for the login page) and its query string (for `login_hint`).
pub(super) async fn pending_request(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    return_to: &str,
) -> Option<PendingRequest> {
    let handle = super::browser::interaction_in(req, state, return_to)?;
    let st = state.clone();
    web::block(move || {
        let mut conn = st.pool.get().ok()?;
        let interaction::Lookup::Pending(row) =
            interaction::find(&mut conn, &handle, crate::db::now()).ok()?
        else {
            return None;
        };
        let client = st
            .caches
            .load_client(&mut conn, &row.client_id)
            .ok()
            .flatten()?;
        Some(PendingRequest {
            client_name: client.row.name.clone(),
            links: ClientLinks::of(&client),
            request: row.request,
        })
    })
    .await
    .ok()
    .flatten()
}

/// What the login pages show of the request a login continues.
pub(super) struct PendingRequest {
    pub client_name: String,
    /// Its client's privacy policy and terms of service.
    pub links: ClientLinks,
    /// The authorization request's query string (for `login_hint`).
    pub request: String,
}

pub async fn page(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<LoginQuery>,
) -> Result<HttpResponse, AppError> {
    let return_to = safe_return_to(query.return_to.as_deref());
    let (form_token, _) = session::form_token(&req, &state).await?;
    let pending = pending_request(&req, &state, &return_to).await;
    let client_name = pending.as_ref().map(|p| p.client_name.clone());
    let links = pending
        .as_ref()
        .map(|p| p.links.clone())
        .unwrap_or_default();
    // `idp_hint` names the upstream provider to log in with: straight there.
    let idp_hint = pending.as_ref().and_then(|p| {
        url::form_urlencoded::parse(p.request.as_bytes())
            .find(|(k, _)| k == "idp_hint")
            .map(|(_, v)| v.into_owned())
    });
    if let (Some(hint), None) = (idp_hint, &query.choose) {
        if let Some(id) = hinted(&state, &hint).await {
            return Ok(HttpResponse::SeeOther()
                .insert_header((header::LOCATION, start_path(&id, &return_to)))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .finish());
        }
    }
    let upstreams = buttons(&state, &return_to).await;
    // OIDC login_hint pre-fills the username (only as a hint: nothing is trusted from it).
    let hint: String = pending
        .as_ref()
        .and_then(|p| {
            url::form_urlencoded::parse(p.request.as_bytes())
                .find(|(k, _)| k == "login_hint")
                .map(|(_, v)| v.chars().take(256).collect())
        })
        .unwrap_or_default();
    render(
        HttpResponse::Ok(),
        &LoginPage {
            csrf_token: &form_token.token,
            return_to: &return_to,
            username: &hint,
            error: None,
            client_name: client_name.as_deref(),
            signup_open: state.settings.signup.policy == crate::config::SignupPolicy::Open,
            password_reset: state.settings.mail_enabled(),
            passkeys: state.webauthn.is_some(),
            links,
            upstreams: &upstreams,
        },
        form_token.cookie,
    )
}

pub async fn submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, AppError> {
    let form = form.into_inner();
    let current = session::current(&req, &state).await?;
    session::check_form_csrf(&req, &state, current.as_ref(), form.csrf_token.as_deref())?;
    let return_to = safe_return_to(form.return_to.as_deref());
    let step = login::with_password(
        &state.clone().into_inner(),
        form.username.clone(),
        form.password,
        client_addr::of(&req),
        super::browser::interaction_in(&req, &state, &return_to),
    )
    .await?;
    // A re-rendered form is not an HTTP authentication challenge (RFC 9110 §15.5.2): 200 for a
    // wrong password, like Keycloak; 429 when throttled; 403 when unverified.
    let why = match step {
        Step::Completed(done) => Ok(done),
        Step::Continue(pending) => return Ok(next_step(&state, &pending, &return_to)),
        Step::Rejected => Err(Refusal::WrongPassword),
        Step::Throttled { retry_after } => Err(Refusal::Throttled(retry_after)),
        Step::EmailNotVerified => Err(Refusal::Unverified),
    };
    let done = match why {
        Ok(done) => done,
        Err(why) => {
            let c = current.as_ref();
            return again(&req, &state, c, &form.username, &return_to, why).await;
        }
    };
    let onwards = link_confirmation(&req, &state, &done, &return_to).unwrap_or(return_to);
    let cookie = session::sign_in(&req, &state, &done, current.map(|s| s.id_hash)).await?;
    Ok(signed_in(&state, cookie, onwards))
}

const LINK_COOKIE: &str = "ostiary_upstream_link";
const LINK_HOST_COOKIE: &str = "__Host-ostiary_upstream_link";

fn link_cookie_name(state: &AppState) -> &'static str {
    if state.settings.issuer_is_https() {
        LINK_HOST_COOKIE
    } else {
        LINK_COOKIE
    }
}

/// The cookie carrying an offered upstream link (`federation::SignedIn::LinkOffered`) to the
/// owner's next sign-in in this browser.
pub(super) fn link_offer_cookie(state: &AppState, token: String) -> Cookie<'static> {
    Cookie::build(link_cookie_name(state), token)
        .path("/")
        .http_only(true)
        .secure(state.settings.issuer_is_https())
        .same_site(actix_web::cookie::SameSite::Lax)
        .max_age(actix_web::cookie::time::Duration::seconds(
            crate::federation::accounts::LINK_TTL,
        ))
        .finish()
}

/// The offered upstream link's token this browser carries, if any.
pub(super) fn link_offer_token(req: &HttpRequest, state: &AppState) -> Option<String> {
    req.cookie(link_cookie_name(state))
        .map(|c| c.value().to_owned())
        .filter(|v| !v.is_empty())
}

/// After a login with the person's own credentials (never one that came from an upstream,
/// `fed`) in a browser holding an offered upstream link: where the person is asked whether to
/// link it (`upstream_link`), coming back to `return_to` after. Nothing is linked without that
/// answer: the next person to sign in on a shared computer is asked, never linked silently.
fn link_confirmation(
    req: &HttpRequest,
    state: &AppState,
    done: &Completed,
    return_to: &str,
) -> Option<String> {
    use crate::authn::acr::{Method, Methods};
    link_offer_token(req, state)?;
    if Methods::parse(&done.amr).has(Method::Fed) {
        return None;
    }
    Some(format!(
        "/account/upstreams/link?{}",
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("return_to", return_to)
            .finish()
    ))
}

/// A login completed by its first step (a password, an upstream provider): the new session's
/// cookie, the pending login cleared, on to `return_to`.
pub(super) fn signed_in(
    state: &AppState,
    session: Cookie<'static>,
    return_to: String,
) -> HttpResponse {
    HttpResponse::SeeOther()
        .cookie(session)
        .cookie(pending_login::clearing(state))
        .insert_header((header::LOCATION, return_to))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// A first step passed and another follows: the pending login goes in its cookie and the
/// browser to the step's page.
pub(super) fn next_step(state: &AppState, pending: &Pending, return_to: &str) -> HttpResponse {
    let path = match pending.stage {
        Stage::Verify => "/login/second-factor",
        Stage::Enrol => "/login/enrol",
    };
    let target = format!(
        "{path}?{}",
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("return_to", return_to)
            .finish()
    );
    HttpResponse::SeeOther()
        .cookie(pending_login::cookie(state, pending))
        .insert_header((header::LOCATION, target))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// A login completed by a later step: recorded on the interaction `return_to` continues (when
/// this browser started it), a new session replacing `replaces` (the browser's session before
/// the login), the pending login cleared. Returns the cookies to set and where the browser goes
/// next: `return_to`, or first the confirmation of an upstream link this browser was offered
/// (`link_confirmation`, as after a password alone).
pub(super) async fn completed(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    done: &Completed,
    return_to: &str,
    replaces: Option<String>,
) -> Result<(Vec<Cookie<'static>>, String), AppError> {
    let interaction = super::browser::interaction_in(req, state, return_to);
    login::record(&state.clone().into_inner(), done, interaction).await?;
    let onwards =
        link_confirmation(req, state, done, return_to).unwrap_or_else(|| return_to.to_owned());
    let cookie = session::sign_in(req, state, done, replaces).await?;
    Ok((vec![cookie, pending_login::clearing(state)], onwards))
}

/// An account was created a moment ago (sign-up, first-run setup): the journey decides whether
/// its login completes at once (then on to `return_to`) or a factor is set up first.
pub(super) async fn account_created(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    user: User,
    by: Creation,
    return_to: &str,
    replaces: Option<String>,
) -> Result<HttpResponse, AppError> {
    let proof = Proof::AccountCreated(by);
    let rules = Rules::of(&state.settings);
    let now = crate::db::now();
    match journey::advance(State::Start, Box::new(user), proof, &rules, now) {
        Ok(Next::Continue(pending)) => Ok(next_step(state, &pending, return_to)),
        Ok(Next::Completed(done)) => {
            let mut res = HttpResponse::SeeOther();
            let (cookies, onwards) = completed(req, state, &done, return_to, replaces).await?;
            for c in cookies {
                res.cookie(c);
            }
            Ok(res
                .insert_header((header::LOCATION, onwards))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .finish())
        }
        Err(Refused::EmailNotVerified) => Ok(confirm_your_address()),
        Ok(Next::SteppedUp(_)) | Err(_) => Err(AppError::internal(
            "a new account's login took an impossible step",
        )),
    }
}

/// The answer to a sign-up whose address must be verified before its first login — and, alike,
/// to a sign-up with an address in use (`accounts::signup::SignedUp::OwnerNotified`): no cookie,
/// and words true for both (the owner of an address in use got a mail too).
pub(super) fn confirm_your_address() -> HttpResponse {
    error_page(
        StatusCode::OK,
        "Confirm your email address",
        "We sent a message to the address you gave. Open it to go on, then sign in.",
        None,
    )
}

/// Why the login form is shown again.
enum Refusal {
    WrongPassword,
    Throttled(u64),
    Unverified,
}

/// The login form again, after a refusal: 200 for a wrong password, 429 with Retry-After when
/// attempts are throttled, 403 when the address must be verified first. The same whether or not
/// the account exists.
async fn again(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    current: Option<&crate::db::models::sessions::SessionRow>,
    username: &str,
    return_to: &str,
    why: Refusal,
) -> Result<HttpResponse, AppError> {
    let token = match current {
        Some(s) => session::FormToken {
            token: s.csrf_token.clone(),
            cookie: None,
        },
        None => session::anonymous_form_token(req, state),
    };
    let pending = pending_request(req, state, return_to).await;
    let links = pending
        .as_ref()
        .map(|p| p.links.clone())
        .unwrap_or_default();
    let client_name = pending.map(|p| p.client_name);
    let upstreams = buttons(state, return_to).await;
    let shown: String = username.chars().take(256).collect();
    let (mut status, message) = match why {
        Refusal::WrongPassword => (HttpResponse::Ok(), FAILED_LOGIN.to_owned()),
        Refusal::Throttled(secs) => {
            let mut b = HttpResponse::TooManyRequests();
            b.insert_header((header::RETRY_AFTER, secs.to_string()));
            (b, too_many_attempts(secs))
        }
        Refusal::Unverified => (
            HttpResponse::Forbidden(),
            "Confirm your email address first: open the link we sent you.".to_owned(),
        ),
    };
    status.insert_header((header::CACHE_CONTROL, "no-store"));
    render(
        status,
        &LoginPage {
            csrf_token: &token.token,
            return_to,
            username: &shown,
            error: Some(&message),
            client_name: client_name.as_deref(),
            signup_open: state.settings.signup.policy == crate::config::SignupPolicy::Open,
            password_reset: state.settings.mail_enabled(),
            passkeys: state.webauthn.is_some(),
            links,
            upstreams: &upstreams,
        },
        token.cookie,
    )
}

pub fn too_many_attempts(secs: u64) -> String {
    format!("Too many sign-in attempts. Try again in {secs} seconds.")
}

/// `/`: who is signed in, or the way to sign in.
pub async fn home(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let current = session::current(&req, &state).await?;
    let user = match current.as_ref().and_then(|s| s.user_id.clone()) {
        Some(uid) => {
            let st = state.clone();
            web::block(move || {
                let mut conn = st.pool.get()?;
                Ok::<_, AppError>(users::by_id(&mut conn, &uid)?)
            })
            .await??
        }
        None => None,
    };
    match (current, user) {
        (Some(s), Some(u)) => render(
            HttpResponse::Ok(),
            &SignedInPage {
                username: &u.username,
                csrf_token: &s.csrf_token,
                is_admin: u.is_admin,
            },
            None,
        ),
        _ => Ok(HttpResponse::SeeOther()
            .insert_header((header::LOCATION, "/login"))
            .finish()),
    }
}
