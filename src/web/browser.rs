//! The browser-binding cookie: a random value set when a browser starts an authorization
//! interaction, so the interaction answers only to that browser (`authn::interaction`). Lax, so
//! it comes along on the top-level navigation back from a relying party or a mail link.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::HttpRequest;

use crate::authn::interaction::{self, Browser, Handle};
use crate::state::AppState;

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
