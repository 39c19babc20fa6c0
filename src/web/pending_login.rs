//! A login between its password and its second factor (or its enrolment): who passed the first
//! step, when, with what, in a short-lived cookie signed with a key derived from the KEK. It
//! carries no secret and stores nothing (replicas need not share it). It is only as good as the
//! password step it records, so it is short-lived, cleared once the login completes, and void
//! once the password changes.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::HttpRequest;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::authn::acr::Methods;
use crate::state::AppState;

const COOKIE: &str = "ostiary_login";
const HOST_COOKIE: &str = "__Host-ostiary_login";
/// Time to fetch a phone and type a code, or to set one up.
pub const TTL: i64 = 600;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// A second factor is asked for.
    Verify,
    /// A second factor must be enrolled first (policy `required`).
    Enrol,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PendingLogin {
    #[serde(rename = "u")]
    pub user_id: String,
    #[serde(rename = "t")]
    pub auth_time: i64,
    #[serde(rename = "m")]
    pub amr: String,
    #[serde(rename = "s")]
    pub stage: Stage,
    #[serde(rename = "e")]
    pub expires_at: i64,
    /// A fingerprint of the password hash the first step checked: a password change (a reset,
    /// an administrator's) voids every pending login made with the old one.
    #[serde(rename = "p")]
    pub password: String,
}

/// What `PendingLogin::password` holds for a user's current password hash.
pub fn password_fingerprint(password_hash: &str) -> String {
    crate::random::sha256_hex(&format!("pending-login:{password_hash}"))[..16].to_owned()
}

impl PendingLogin {
    pub fn methods(&self) -> Methods {
        Methods::parse(&self.amr)
    }
}

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
pub fn cookie(state: &AppState, p: &PendingLogin) -> Cookie<'static> {
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
pub fn read(req: &HttpRequest, state: &AppState, now: i64) -> Option<PendingLogin> {
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
    let p: PendingLogin = serde_json::from_slice(&raw).ok()?;
    (p.expires_at > now).then_some(p)
}
