//! Logging in with an upstream provider: `/login/upstream/{id}` starts the round trip,
//! `/login/upstream/callback` (one URL for every provider; the state names it) finishes it.
//! `federation::flow` does the protocol, `federation::sign_in` the account and the journey step;
//! this parses, calls and renders. Every failure is a page with a way back to the sign-in page,
//! never a redirect somewhere the upstream chose.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::login::{link_offer_cookie, next_step, safe_return_to, signed_in};
use super::templates::{render, UpstreamErrorPage};
use super::{browser, client_addr, session};
use crate::authn::journey::{Next, Refused, Rules};
use crate::federation::flow::{self, Callback, Env, FlowError};
use crate::federation::{self, SignedIn};
use crate::state::AppState;
use crate::web::error::AppError;

/// Our callback at every upstream.
pub fn callback_uri(state: &AppState) -> String {
    format!("{}/login/upstream/callback", state.settings.issuer)
}

fn env<'a>(state: &'a AppState, outbound: &'a crate::outbound::Outbound) -> Env<'a> {
    Env {
        pool: &state.pool,
        kek: state.keys.kek(),
        outbound,
        cache: &state.fetched,
        redirect_uri: callback_uri(state),
    }
}

fn failure(
    status: StatusCode,
    title: &str,
    message: &str,
    return_to: Option<&str>,
) -> HttpResponse {
    let back = match return_to {
        Some(ACCOUNT) => ACCOUNT.to_owned(),
        Some(r) => format!(
            "/login?{}",
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("return_to", r)
                .append_pair("choose", "1")
                .finish()
        ),
        None => "/login".to_owned(),
    };
    render(
        HttpResponse::build(status),
        &UpstreamErrorPage {
            title,
            message,
            back: &back,
        },
        None,
    )
    .unwrap_or_else(|_| HttpResponse::build(status).finish())
}

fn status_of(e: &FlowError) -> StatusCode {
    match e {
        FlowError::UnknownProvider => StatusCode::NOT_FOUND,
        FlowError::OtherBrowser => StatusCode::FORBIDDEN,
        FlowError::Unreachable(_) => StatusCode::BAD_GATEWAY,
        e if e.is_internal() => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// Admits one upstream login step from the request's client address (per minute,
/// `upstream_logins_per_address`), before any outbound call or row: else the 429 page.
fn admitted(req: &HttpRequest, state: &AppState) -> Result<(), HttpResponse> {
    let subject = client_addr::of(req)
        .map(crate::authn::throttle::address_subject)
        .unwrap_or_else(|| "unknown".into());
    let Err(wait) = state.admission.upstream_logins.take(&subject) else {
        return Ok(());
    };
    let secs = wait.as_secs().max(1);
    let mut res = failure(
        StatusCode::TOO_MANY_REQUESTS,
        "Too many sign-in attempts",
        &format!("Too many sign-ins with another provider came from your address. Wait {secs} seconds, then try again."),
        None,
    );
    if let Ok(v) = header::HeaderValue::from_str(&secs.to_string()) {
        res.headers_mut().insert(header::RETRY_AFTER, v);
    }
    Err(res)
}

#[derive(Deserialize)]
pub struct StartQuery {
    return_to: Option<String>,
}

/// `GET /login/upstream/{id}`: off to the provider, this browser bound to the round trip.
pub async fn start(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: web::Query<StartQuery>,
) -> HttpResponse {
    if let Err(page) = admitted(&req, &state) {
        return page;
    }
    let return_to = safe_return_to(query.return_to.as_deref());
    let (browser, cookie) = browser::bind(&req, &state);
    let outbound = crate::outbound::Outbound::new(&state.settings.outbound_allow);
    match flow::begin(
        &env(&state, &outbound),
        &id,
        &browser,
        &return_to,
        None,
        crate::db::now(),
    )
    .await
    {
        Ok(url) => HttpResponse::SeeOther()
            .cookie(cookie)
            .insert_header((header::LOCATION, url))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish(),
        Err(e) => {
            if e.is_internal() {
                tracing::error!(error = %e, "starting an upstream login failed");
            } else {
                tracing::info!(provider = %id, error = %e, "an upstream login could not start");
            }
            let message = e.message("The provider");
            failure(
                status_of(&e),
                "Sign-in not possible",
                &message,
                Some(&return_to),
            )
        }
    }
}

/// Where a round trip that links a provider to the signed-in account comes back to.
const ACCOUNT: &str = "/account";

/// POST /account/upstreams/add (`provider` in the form): the signed-in person links another
/// provider to their account. The re-authentication rule of every sensitive account action
/// first (`auth::require_recent_auth`: a login in the last five minutes, or the password in the
/// form), then the round trip, its purpose — link to this account — sealed in its state.
pub async fn link_start(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let who = super::auth::require_user(&req, &state, ACCOUNT).await?;
    let form = super::auth::FormData::parse(&body);
    form.check_csrf(&who)?;
    super::auth::require_recent_auth(&state, &req, &who, &form).await?;
    let id = form.text("provider");
    let (browser, cookie) = browser::bind(&req, &state);
    let outbound = crate::outbound::Outbound::new(&state.settings.outbound_allow);
    match flow::begin(
        &env(&state, &outbound),
        &id,
        &browser,
        ACCOUNT,
        Some(&who.user.id),
        crate::db::now(),
    )
    .await
    {
        Ok(url) => Ok(HttpResponse::SeeOther()
            .cookie(cookie)
            .insert_header((header::LOCATION, url))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish()),
        Err(e) => {
            if e.is_internal() {
                tracing::error!(error = %e, "starting an upstream link failed");
            }
            let message = e.message("The provider");
            Ok(failure(
                status_of(&e),
                "Linking not possible",
                &message,
                Some(ACCOUNT),
            ))
        }
    }
}

/// The end of a round trip started by `link_start`: the upstream account linked to the account
/// that started it — only while that account is still the one signed in, in this browser.
async fn finish_link(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    done: flow::Finished,
    user_id: String,
) -> Result<HttpResponse, AppError> {
    let signed_in = session::current(req, state).await?;
    if signed_in.and_then(|s| s.user_id) != Some(user_id.clone()) {
        return Ok(failure(
            StatusCode::FORBIDDEN,
            "Linking not possible",
            "You are no longer signed in to the account that asked for the link. Sign in and \
             try again.",
            Some(ACCOUNT),
        ));
    }
    let ip = client_addr::of(req).map(|a| a.to_string());
    let name = done.provider.name.clone();
    let st = state.clone();
    let linked = super::db(state, move |c| {
        let Some(user) = crate::db::models::users::by_id(c, &user_id)? else {
            return Ok(None);
        };
        Ok(Some(crate::federation::accounts::link_signed_in(
            c,
            &st.settings,
            &done.provider,
            &done.identity.subject,
            &user,
            ip.as_deref(),
            crate::db::now(),
        )?))
    })
    .await?;
    match linked {
        Some(Ok(())) => {
            state.outbox.wake();
            Ok(HttpResponse::SeeOther()
                .insert_header((header::LOCATION, "/account?linked=1"))
                .finish())
        }
        Some(Err(why)) => Ok(failure(
            StatusCode::CONFLICT,
            "Linking not possible",
            &why.message(&name),
            Some(ACCOUNT),
        )),
        None => Err(AppError::LoginRequired(ACCOUNT.to_owned())),
    }
}

/// The callback's parameters, whatever else the query holds (the first of each; malformed
/// input is no parameter, never a 500).
fn callback_of(query: &str) -> Callback {
    let mut cb = Callback::default();
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        let slot = match k.as_ref() {
            "state" => &mut cb.state,
            "code" => &mut cb.code,
            "error" => &mut cb.error,
            "error_description" => &mut cb.error_description,
            "iss" => &mut cb.iss,
            _ => continue,
        };
        if slot.is_none() {
            *slot = Some(v.chars().take(4096).collect());
        }
    }
    cb
}

/// `GET /login/upstream/callback`: the provider's answer, taken only by the browser that
/// started the round trip, once.
pub async fn callback(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    if let Err(page) = admitted(&req, &state) {
        return Ok(page);
    }
    let cb = callback_of(req.query_string());
    let outbound = crate::outbound::Outbound::new(&state.settings.outbound_allow);
    let now = crate::db::now();
    let browser = browser::of(&req, &state);
    let done = match flow::finish(&env(&state, &outbound), cb, browser.as_ref(), now).await {
        Ok(done) => done,
        Err(failed) => {
            let e = &failed.error;
            if e.is_internal() {
                tracing::error!(error = %e, "an upstream login failed");
            } else {
                tracing::info!(error = %e, "an upstream login was refused");
            }
            let name = failed.provider_name.as_deref().unwrap_or("The provider");
            let message = e.message(name);
            return Ok(failure(
                status_of(e),
                "Sign-in did not complete",
                &message,
                failed.return_to.as_deref(),
            ));
        }
    };
    if let Some(user_id) = done.link_user.clone() {
        return finish_link(&req, &state, done, user_id).await;
    }
    let return_to = safe_return_to(Some(&done.return_to));
    let interaction = browser::interaction_in(&req, &state, &return_to);
    let ip = client_addr::of(&req).map(|a| a.to_string());
    let rules = Rules::of(&state.settings);
    let provider_name = done.provider.name.clone();
    // `finish` accepted the callback only from the browser that started it.
    let Some(browser) = browser else {
        return Err(AppError::internal(
            "a finished upstream login without its browser",
        ));
    };
    let st = state.clone();
    let answer = super::db(&state, move |c| {
        Ok(federation::sign_in(
            c,
            st.keys.kek(),
            &st.settings,
            &done,
            &browser,
            interaction.as_ref(),
            &rules,
            ip.as_deref(),
            now,
        )?)
    })
    .await?;
    // A just-in-time account or a trusted address's link may have queued a notice.
    state.outbox.wake();
    let next = match answer {
        SignedIn::Refused(why) => {
            let message = why.message(&provider_name);
            return Ok(failure(
                StatusCode::FORBIDDEN,
                "Sign-in not possible",
                &message,
                Some(&return_to),
            ));
        }
        SignedIn::LinkOffered(why, token) => {
            let message = format!(
                "{} If this is your account here, sign in to it with its password (in the \
                 next 10 minutes, in this browser): you will then be asked to confirm linking \
                 your {provider_name} account to it.",
                why.message(&provider_name)
            );
            let mut res = failure(
                StatusCode::OK,
                "Link your account",
                &message,
                Some(&return_to),
            );
            res.add_cookie(&link_offer_cookie(&state, token))
                .map_err(|_| AppError::internal("a cookie"))?;
            return Ok(res);
        }
        SignedIn::Journey(next) => next,
    };
    match next {
        Ok(Next::Completed(done)) => {
            let current = session::current(&req, &state).await?;
            let cookie = session::sign_in(&req, &state, &done, current.map(|s| s.id_hash)).await?;
            Ok(signed_in(&state, cookie, return_to))
        }
        Ok(Next::Continue(pending)) => Ok(next_step(&state, &pending, &return_to)),
        Err(Refused::EmailNotVerified) => Ok(failure(
            StatusCode::FORBIDDEN,
            "Sign-in not possible",
            "Your email address is not verified yet. Confirm it first.",
            Some(&return_to),
        )),
        Ok(Next::SteppedUp(_)) | Err(_) => Ok(failure(
            StatusCode::FORBIDDEN,
            "Sign-in not possible",
            "This account cannot sign in.",
            Some(&return_to),
        )),
    }
}
