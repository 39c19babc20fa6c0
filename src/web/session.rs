//! Browser sessions: a random id in an HttpOnly cookie, its SHA-256 as the row key, a CSRF token
//! per session. `__Host-` prefixed and Secure when the issuer is https.
//!
//! A visitor who has not logged in has no session row: forms shown to them (login, logout
//! confirmation) carry a token bound by HMAC to a random cookie (signed double-submit), so a page
//! view stores nothing and a flood of anonymous views costs no database writes.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::{web, HttpRequest};

use crate::db::models::sessions::{self, SessionRow};
use crate::db::{self};
use crate::random;
use crate::state::AppState;
use crate::web::error::AppError;

const COOKIE: &str = "ostiary_session";
const HOST_COOKIE: &str = "__Host-ostiary_session";
const CSRF_COOKIE: &str = "ostiary_csrf";
const HOST_CSRF_COOKIE: &str = "__Host-ostiary_csrf";

pub fn cookie_name(state: &AppState) -> &'static str {
    if state.settings.issuer_is_https() {
        HOST_COOKIE
    } else {
        COOKIE
    }
}

fn csrf_cookie_name(state: &AppState) -> &'static str {
    if state.settings.issuer_is_https() {
        HOST_CSRF_COOKIE
    } else {
        CSRF_COOKIE
    }
}

fn build_cookie(state: &AppState, value: String, max_age: i64) -> Cookie<'static> {
    Cookie::build(cookie_name(state), value)
        .path("/")
        .http_only(true)
        .secure(state.settings.issuer_is_https())
        .same_site(SameSite::Lax)
        .max_age(actix_web::cookie::time::Duration::seconds(max_age))
        .finish()
}

/// The CSRF token a form in this response carries, with the cookie to set for it, if any.
pub struct FormToken {
    pub token: String,
    pub cookie: Option<Cookie<'static>>,
}

fn anonymous_nonce(req: &HttpRequest, state: &AppState) -> Option<String> {
    req.cookie(csrf_cookie_name(state))
        .map(|c| c.value().to_owned())
        .filter(|v| {
            v.len() == 43
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

fn anonymous_tag(state: &AppState, nonce: &str) -> String {
    state
        .csrf_key
        .tag(format!("anonymous-csrf:{nonce}").as_bytes())
}

/// A form token for a visitor without a session: bound to the visitor's CSRF cookie (set now
/// when missing), nothing stored.
pub fn anonymous_form_token(req: &HttpRequest, state: &AppState) -> FormToken {
    match anonymous_nonce(req, state) {
        Some(nonce) => FormToken {
            token: anonymous_tag(state, &nonce),
            cookie: None,
        },
        None => {
            let nonce = random::token::<32>();
            let cookie = Cookie::build(csrf_cookie_name(state), nonce.clone())
                .path("/")
                .http_only(true)
                .secure(state.settings.issuer_is_https())
                .same_site(SameSite::Strict)
                .finish();
            FormToken {
                token: anonymous_tag(state, &nonce),
                cookie: Some(cookie),
            }
        }
    }
}

/// The token for a form: the session's when there is one, else an anonymous one.
pub async fn form_token(
    req: &HttpRequest,
    state: &web::Data<AppState>,
) -> Result<(FormToken, Option<SessionRow>), AppError> {
    match current(req, state).await? {
        Some(s) => Ok((
            FormToken {
                token: s.csrf_token.clone(),
                cookie: None,
            },
            Some(s),
        )),
        None => Ok((anonymous_form_token(req, state), None)),
    }
}

/// Checks a form's CSRF token: the session's, or else the anonymous token bound to the
/// visitor's CSRF cookie.
pub fn check_form_csrf(
    req: &HttpRequest,
    state: &AppState,
    session: Option<&SessionRow>,
    presented: Option<&str>,
) -> Result<(), AppError> {
    if check_csrf(session, presented).is_ok() {
        return Ok(());
    }
    match (anonymous_nonce(req, state), presented) {
        (Some(nonce), Some(p))
            if state
                .csrf_key
                .verify(format!("anonymous-csrf:{nonce}").as_bytes(), p) =>
        {
            Ok(())
        }
        _ => Err(AppError::Csrf),
    }
}

/// A cookie that removes the session cookie from the browser.
pub fn clearing_cookie(state: &AppState) -> Cookie<'static> {
    let mut c = build_cookie(state, String::new(), 0);
    c.make_removal();
    c
}

fn presented_hash(req: &HttpRequest, state: &AppState) -> Option<String> {
    req.cookie(cookie_name(state))
        .map(|c| c.value().to_owned())
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map(|v| random::sha256_hex(&v))
}

/// The client's address as text, for records (see `client_addr`).
pub fn client_ip(req: &HttpRequest) -> Option<String> {
    super::client_addr::of(req).map(|a| a.to_string())
}

fn user_agent(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(actix_web::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(200).collect())
}

/// The live session named by the request's cookie.
pub async fn current(
    req: &HttpRequest,
    state: &web::Data<AppState>,
) -> Result<Option<SessionRow>, AppError> {
    let Some(hash) = presented_hash(req, state) else {
        return Ok(None);
    };
    let st = state.clone();
    let row = web::block(move || {
        let mut conn = st.pool.get()?;
        let now = db::now();
        let mut row = sessions::live(&mut conn, &hash, now)?;
        // "Last seen" for the devices list: a signed-in session that was last recorded more
        // than an interval ago is touched by one conditional UPDATE; otherwise no write.
        if let Some(r) = row.as_mut().filter(|r| {
            r.user_id.is_some() && r.last_seen_at < now - sessions::SEEN_INTERVAL_SECONDS
        }) {
            if sessions::touch_seen(&mut conn, &hash, now)? == 1 {
                r.last_seen_at = now;
            }
        }
        Ok::<_, AppError>(row)
    })
    .await??;
    Ok(row)
}

/// Who a new session is for, as the login decided it.
pub struct SignIn<'a> {
    pub user_id: &'a str,
    pub auth_time: i64,
    /// RFC 8176 methods, space-separated.
    pub amr: &'a str,
}

/// Creates a session row and its cookie. After login the id is always new (no fixation).
pub async fn create(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    sign_in: SignIn<'_>,
    replaces: Option<String>,
    ttl: i64,
) -> Result<(SessionRow, Cookie<'static>), AppError> {
    let token = random::token::<32>();
    let now = db::now();
    let row = SessionRow {
        id_hash: random::sha256_hex(&token),
        auth_time: Some(sign_in.auth_time),
        user_id: Some(sign_in.user_id.to_owned()),
        csrf_token: random::token::<24>(),
        ip: client_ip(req),
        user_agent: user_agent(req),
        created_at: now,
        last_seen_at: now,
        expires_at: now + ttl,
        amr: Some(sign_in.amr.to_owned()),
        lineage: None,
    };
    let st = state.clone();
    let mut insert = row.clone();
    let row = web::block(move || {
        let mut conn = st.pool.get()?;
        if let Some(old) = replaces {
            // The same person signing in again continues the old session's lineage (its `sid`
            // and what was issued in it); someone else ends it, with its notices.
            if let Some(uid) = insert.user_id.clone() {
                insert.lineage = sessions::continue_lineage(&mut conn, &old, &uid)?;
            }
        }
        sessions::insert(&mut conn, &insert)?;
        Ok::<_, AppError>(insert)
    })
    .await??;
    Ok((row, build_cookie(state, token, ttl)))
}

/// The session for a completed login (a new id: no fixation), replacing `replaces` (the
/// browser's session before the login, if any). Returns its cookie.
pub async fn sign_in(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    done: &crate::authn::journey::Completed,
    replaces: Option<String>,
) -> Result<Cookie<'static>, AppError> {
    let sign_in = SignIn {
        user_id: &done.user.id,
        auth_time: done.auth_time,
        amr: &done.amr,
    };
    let ttl = state.settings.session_ttl;
    Ok(create(req, state, sign_in, replaces, ttl).await?.1)
}

/// Ends the session named by the request's cookie.
pub async fn destroy(req: &HttpRequest, state: &web::Data<AppState>) -> Result<(), AppError> {
    let Some(hash) = presented_hash(req, state) else {
        return Ok(());
    };
    let st = state.clone();
    web::block(move || {
        let mut conn = st.pool.get()?;
        sessions::end(&mut conn, &hash)?;
        Ok::<_, AppError>(())
    })
    .await??;
    // Logout tokens for the session's clients are in the outbox now.
    state.outbox.wake();
    Ok(())
}

/// Checks a form's CSRF token against the session's, in constant time.
pub fn check_csrf(session: Option<&SessionRow>, presented: Option<&str>) -> Result<(), AppError> {
    match (session, presented) {
        (Some(s), Some(p))
            if aws_lc_rs::constant_time::verify_slices_are_equal(
                s.csrf_token.as_bytes(),
                p.as_bytes(),
            )
            .is_ok() =>
        {
            Ok(())
        }
        _ => Err(AppError::Csrf),
    }
}
