//! Browser sessions: a random id in an HttpOnly cookie, its SHA-256 as the row key, a CSRF token
//! per session. `__Host-` prefixed and Secure when the issuer is https.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::{web, HttpRequest};

use crate::crypto::random;
use crate::db::models::sessions::{self, SessionRow};
use crate::db::{self};
use crate::error::AppError;
use crate::state::AppState;

const COOKIE: &str = "ostiary_session";
const HOST_COOKIE: &str = "__Host-ostiary_session";
/// How long a browser that has not logged in keeps its (CSRF-only) session.
const ANONYMOUS_TTL: i64 = 3600;

pub fn cookie_name(state: &AppState) -> &'static str {
    if state.settings.issuer_is_https() {
        HOST_COOKIE
    } else {
        COOKIE
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

pub fn client_ip(req: &HttpRequest) -> Option<String> {
    req.peer_addr().map(|a| a.ip().to_string())
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
        Ok::<_, AppError>(sessions::live(&mut conn, &hash, db::now())?)
    })
    .await??;
    Ok(row)
}

/// The current session, or a new anonymous one (with the cookie to set) so a form can carry a
/// CSRF token bound to it.
pub async fn current_or_new(
    req: &HttpRequest,
    state: &web::Data<AppState>,
) -> Result<(SessionRow, Option<Cookie<'static>>), AppError> {
    if let Some(row) = current(req, state).await? {
        return Ok((row, None));
    }
    let (row, cookie) = create(req, state, None, None, ANONYMOUS_TTL).await?;
    Ok((row, Some(cookie)))
}

/// Creates a session row and its cookie. After login the id is always new (no fixation).
pub async fn create(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    user_id: Option<String>,
    replaces: Option<String>,
    ttl: i64,
) -> Result<(SessionRow, Cookie<'static>), AppError> {
    let token = random::token::<32>();
    let now = db::now();
    let row = SessionRow {
        id_hash: random::sha256_hex(&token),
        auth_time: user_id.as_ref().map(|_| now),
        user_id,
        csrf_token: random::token::<24>(),
        ip: client_ip(req),
        user_agent: user_agent(req),
        created_at: now,
        last_seen_at: now,
        expires_at: now + ttl,
    };
    let st = state.clone();
    let insert = row.clone();
    web::block(move || {
        let mut conn = st.pool.get()?;
        if let Some(old) = replaces {
            sessions::delete(&mut conn, &old)?;
        }
        sessions::insert(&mut conn, &insert)?;
        Ok::<_, AppError>(())
    })
    .await??;
    Ok((row, build_cookie(state, token, ttl)))
}

/// Ends the session named by the request's cookie.
pub async fn destroy(req: &HttpRequest, state: &web::Data<AppState>) -> Result<(), AppError> {
    let Some(hash) = presented_hash(req, state) else {
        return Ok(());
    };
    let st = state.clone();
    web::block(move || {
        let mut conn = st.pool.get()?;
        sessions::delete(&mut conn, &hash)?;
        Ok::<_, AppError>(())
    })
    .await??;
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
