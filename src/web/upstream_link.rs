//! `/account/upstreams/link`: the confirmation of an offered upstream link. An upstream login
//! that found no account here may offer to link it (`federation::SignedIn::LinkOffered`, a
//! cookie bound to this browser); after the owner of an account signs in with their own
//! credentials, this page names both accounts and only its POST (CSRF-checked) links them
//! (`federation::accounts::answer_offer`). Declining, or any answer, spends the offer.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::auth::{self, FormData};
use super::login::{link_offer_cookie, link_offer_token, safe_return_to};
use super::templates::render;
use super::{browser, client_addr, db};
use crate::authn::acr::{Method, Methods};
use crate::federation::accounts::{self, Answered, Answerer};
use crate::state::AppState;
use crate::web::error::AppError;

#[derive(Template)]
#[template(path = "upstream_link.html")]
struct LinkPage<'a> {
    provider: &'a str,
    /// The upstream account as the upstream named it.
    upstream: &'a str,
    username: &'a str,
    csrf_token: &'a str,
    return_to: &'a str,
}

#[derive(Deserialize)]
pub struct LinkQuery {
    return_to: Option<String>,
}

/// Where the browser goes on, the offer's cookie cleared.
fn onwards(state: &AppState, return_to: &str) -> HttpResponse {
    let mut clear = link_offer_cookie(state, String::new());
    clear.make_removal();
    HttpResponse::SeeOther()
        .cookie(clear)
        .insert_header((header::LOCATION, return_to.to_owned()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// GET: the question, when this browser holds a live offer; otherwise on to `return_to`.
pub async fn page(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<LinkQuery>,
) -> Result<HttpResponse, AppError> {
    let return_to = safe_return_to(query.return_to.as_deref());
    let who = auth::require_user(&req, &state, "/account").await?;
    let Some(token) = link_offer_token(&req, &state) else {
        return Ok(onwards(&state, &return_to));
    };
    let browser = browser::of(&req, &state);
    let st = state.clone();
    let offer = db(&state, move |c| {
        let now = crate::db::now();
        Ok(accounts::offered(
            c,
            st.keys.kek(),
            &token,
            browser.as_ref(),
            now,
        )?)
    })
    .await?;
    let Some(offer) = offer else {
        return Ok(onwards(&state, &return_to));
    };
    // A session that may not answer it (signed in before the offer, or through an upstream) is
    // not asked: its answer would be refused. The offer stays for its owner's own sign-in.
    let answerer = Answerer {
        user: &who.user,
        signed_in_at: who.session.auth_time.unwrap_or(0),
        federated: Methods::parse(who.session.amr.as_deref().unwrap_or("")).has(Method::Fed),
    };
    if !answerer.may_answer(&offer) {
        return Ok(HttpResponse::SeeOther()
            .insert_header((header::LOCATION, return_to.clone()))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish());
    }
    // An address the upstream did not verify is what someone typed there: shown as a claim,
    // so that it never reads as the person's own account.
    let email = offer.email.as_ref().map(|e| {
        if offer.email_verified {
            e.clone()
        } else {
            format!("claiming {e}, an address {} did not verify", offer.provider)
        }
    });
    let upstream = match (&offer.name, &email) {
        (Some(n), Some(e)) if offer.email.as_ref() != Some(n) => format!("{n} ({e})"),
        (_, Some(e)) => e.clone(),
        (Some(n), None) => n.clone(),
        (None, None) => offer.subject.chars().take(200).collect(),
    };
    let mut res = HttpResponse::Ok();
    res.insert_header((header::CACHE_CONTROL, "no-store"));
    render(
        res,
        &LinkPage {
            provider: &offer.provider,
            upstream: &upstream,
            username: &who.user.username,
            csrf_token: &who.session.csrf_token,
            return_to: &return_to,
        },
        None,
    )
}

/// POST (`decision`: `link` or anything else, which declines): the answer, then on to
/// `return_to` with the offer's cookie cleared.
pub async fn answer(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let who = auth::require_user(&req, &state, "/account").await?;
    let form = FormData::parse(&body);
    form.check_csrf(&who)?;
    let return_to = safe_return_to(form.get("return_to"));
    let link_it = form.get("decision") == Some("link");
    let Some(token) = link_offer_token(&req, &state) else {
        return Ok(onwards(&state, &return_to));
    };
    let browser = browser::of(&req, &state);
    let ip = client_addr::of(&req).map(|a| a.to_string());
    let user = who.user.clone();
    let signed_in_at = who.session.auth_time.unwrap_or(0);
    let federated = Methods::parse(who.session.amr.as_deref().unwrap_or("")).has(Method::Fed);
    let st = state.clone();
    let answered = db(&state, move |c| {
        let now = crate::db::now();
        let who = Answerer {
            user: &user,
            signed_in_at,
            federated,
        };
        Ok(accounts::answer_offer(
            c,
            st.keys.kek(),
            &st.settings,
            &token,
            browser.as_ref(),
            &who,
            link_it,
            ip.as_deref(),
            now,
        )?)
    })
    .await?;
    if matches!(answered, Answered::Linked(_)) {
        state.outbox.wake();
    }
    Ok(onwards(&state, &return_to))
}
