//! The browser-binding cookie: a random value set when a browser starts an authorization
//! interaction, so the interaction answers only to that browser (`authn::interaction`). Lax, so
//! it comes along on the top-level navigation back from a relying party or a mail link.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};

use super::templates::{render, OtherBrowserPage};
use crate::authn::interaction::{self, Browser, Handle, Kind, Lookup};
use crate::db::models::interactions::InteractionRow;
use crate::state::AppState;
use crate::web::error::AppError;

const COOKIE: &str = "ostiary_browser";
const HOST_COOKIE: &str = "__Host-ostiary_browser";

fn name(state: &AppState) -> &'static str {
    if state.settings.issuer_is_https() {
        HOST_COOKIE
    } else {
        COOKIE
    }
}

/// The browser this request came from, if it carries a binding.
pub fn of(req: &HttpRequest, state: &AppState) -> Option<Browser> {
    req.cookie(name(state))
        .and_then(|c| Browser::parse(c.value()))
}

/// This browser's binding (a new one when it has none) and the cookie that keeps it for at
/// least as long as an interaction started now lives.
pub fn bind(req: &HttpRequest, state: &AppState) -> (Browser, Cookie<'static>) {
    let browser = of(req, state).unwrap_or_default();
    let cookie = Cookie::build(name(state), browser.value().to_owned())
        .path("/")
        .http_only(true)
        .secure(state.settings.issuer_is_https())
        .same_site(SameSite::Lax)
        .max_age(actix_web::cookie::time::Duration::seconds(interaction::TTL))
        .finish();
    (browser, cookie)
}

/// The interaction a local return path continues, as this browser refers to it.
pub fn interaction_in(req: &HttpRequest, state: &AppState, return_to: &str) -> Option<Handle> {
    Some(Handle {
        id: interaction::id_in_path(return_to)?,
        browser: of(req, state),
    })
}

/// The allow/deny answer a resume POST carries, checked against the session's CSRF token;
/// `None` for a GET.
pub async fn decision(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    body: &[u8],
) -> Result<Option<bool>, AppError> {
    if req.method() != Method::POST {
        return Ok(None);
    }
    let session = super::session::current(req, state).await?;
    let form = super::auth::FormData::parse(body);
    super::session::check_csrf(session.as_ref(), form.get("csrf_token"))?;
    match form.get("decision") {
        Some("allow") => Ok(Some(true)),
        Some("deny") => Ok(Some(false)),
        _ => Err(AppError::BadRequest("Choose Allow or Deny.".into())),
    }
}

/// What resuming an interaction finds, as far as this browser may see it.
pub enum Resumed {
    /// Pending, of the kind asked for, and started in this browser.
    Pending(Handle, Box<InteractionRow>),
    /// Unknown, expired, completed, or of another kind.
    Ended,
    /// Started in another browser: the page that says so (and offers to start again from the
    /// app), never the request itself.
    OtherBrowser(HttpResponse),
}

/// The interaction `id` of `kind`, for this browser: the one lookup behind every resume URL.
pub async fn resume(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    id: String,
    kind: Kind,
) -> Result<Resumed, AppError> {
    let handle = Handle {
        id,
        browser: of(req, state),
    };
    let lookup = handle.clone();
    let st = state.clone();
    let found = super::db(state, move |conn| {
        Ok(match interaction::find(conn, &lookup, crate::db::now())? {
            Lookup::OtherBrowser { client_id } => Err(st
                .caches
                .load_client(conn, &client_id)?
                .map(|c| (c.row.name.clone(), c.row.homepage_uri.clone()))),
            found => Ok(found),
        })
    })
    .await?;
    Ok(match found {
        Ok(Lookup::Pending(row)) if kind.of(&row) => Resumed::Pending(handle, row),
        Ok(_) | Err(None) => Resumed::Ended,
        Err(Some((client_name, homepage_uri))) => Resumed::OtherBrowser(render(
            HttpResponse::Forbidden(),
            &OtherBrowserPage {
                client_name: &client_name,
                homepage_uri: homepage_uri.as_deref(),
            },
            None,
        )?),
    })
}
