//! The cookie that carries a login between its password and its second factor (or its
//! enrolment): the journey's `Pending` state (who passed the first step, when, with what), in a
//! short-lived cookie signed with a key derived from the KEK. It carries no secret and stores
//! nothing (replicas need not share it). It is only as good as the password step it records, so
//! it is short-lived, cleared once the login completes, and void once the password changes
//! (`authn::journey::resume` decides).

use crate::authn::journey::{Pending, TTL};
use crate::state::AppState;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::HttpRequest;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

const COOKIE: &str = "ostiary_login";
const HOST_COOKIE: &str = "__Host-ostiary_login";

fn name(state: &AppState) -> &'static str {
    if state.settings.issuer_is_https() {
        HOST_COOKIE
    } else {
        COOKIE
    }
}

fn tag(state: &AppState, body: &str) -> String {
    state
        .csrf_key
        .tag(format!("pending-login:{body}").as_bytes())
}

/// The cookie that carries `p`.
pub fn cookie(state: &AppState, p: &Pending) -> Cookie<'static> {
    let json = serde_json::to_vec(p).unwrap_or_default();
    let body = URL_SAFE_NO_PAD.encode(json);
    let value = format!("{body}.{}", tag(state, &body));
    Cookie::build(name(state), value)
        .path("/")
        .http_only(true)
        .secure(state.settings.issuer_is_https())
        .same_site(SameSite::Strict)
        .max_age(actix_web::cookie::time::Duration::seconds(TTL))
        .finish()
}

/// A cookie that removes it.
pub fn clearing(state: &AppState) -> Cookie<'static> {
    let mut c = Cookie::build(name(state), "")
        .path("/")
        .http_only(true)
        .secure(state.settings.issuer_is_https())
        .same_site(SameSite::Strict)
        .finish();
    c.make_removal();
    c
}

/// The pending login this browser carries, if its signature holds and it has not expired.
pub fn read(req: &HttpRequest, state: &AppState, now: i64) -> Option<Pending> {
    let c = req.cookie(name(state))?;
    let value = c.value();
    if value.len() > 1024 {
        return None;
    }
    let (body, presented) = value.split_once('.')?;
    if !state
        .csrf_key
        .verify(format!("pending-login:{body}").as_bytes(), presented)
    {
        return None;
    }
    let raw = URL_SAFE_NO_PAD.decode(body).ok()?;
    let p: Pending = serde_json::from_slice(&raw).ok()?;
    (p.expires_at > now).then_some(p)
}
