//! Where a user is signed in: their browser sessions as the account page and the admin console
//! show them, and the account's "sign out" actions (one device, or every device but this one).
//!
//! A session is named in pages and forms by a handle derived from its row key, never by the key
//! itself, and a handle is only looked up among the sessions of the user acting (or of the user
//! an admin is looking at): naming somebody else's session finds nothing.

use crate::audit::Event;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use super::auth::{self, FormData};
use super::db;
use super::session;
use crate::db::models::sessions::{self, SessionRow};
use crate::db::{self};
use crate::random;
use crate::state::AppState;
use crate::web::error::AppError;

/// One browser session, ready for a template.
pub struct DeviceView {
    /// What forms post to name this session.
    pub handle: String,
    /// "Firefox on Linux", or the user agent itself when it is not recognised.
    pub browser: String,
    pub user_agent: String,
    pub ip: String,
    pub created: String,
    pub created_iso: String,
    pub last_seen: String,
    pub last_seen_iso: String,
    /// The session of the request being answered.
    pub this_device: bool,
}

/// The public name of a session: derived from its row key (itself a hash of the cookie), so
/// showing it reveals neither.
pub fn handle(id_hash: &str) -> String {
    random::sha256_hex(&format!("ostiary-device:{id_hash}"))[..32].to_owned()
}

/// The session among `rows` whose handle is `handle`.
pub fn find<'a>(rows: &'a [SessionRow], handle_: &str) -> Option<&'a SessionRow> {
    rows.iter().find(|r| handle(&r.id_hash) == handle_)
}

/// Views of `rows`; `current` is the id hash of the requester's own session, if it is among them.
pub fn views(rows: &[SessionRow], current: Option<&str>, now: i64) -> Vec<DeviceView> {
    let mut out: Vec<DeviceView> = rows
        .iter()
        .map(|r| {
            let ua = r.user_agent.clone().unwrap_or_default();
            DeviceView {
                handle: handle(&r.id_hash),
                browser: describe_agent(&ua),
                user_agent: ua,
                ip: r.ip.clone().unwrap_or_else(|| "unknown".into()),
                created: utc(r.created_at),
                created_iso: iso(r.created_at),
                last_seen: ago(now, r.last_seen_at),
                last_seen_iso: iso(r.last_seen_at),
                this_device: Some(r.id_hash.as_str()) == current,
            }
        })
        .collect();
    // This device first, then the others as the database ordered them (most recent first).
    out.sort_by_key(|d| !d.this_device);
    out
}

/// Marks in a user agent and what they name; the first match wins, so a name whose agents also
/// carry another's marks (Edge's carry Chrome's and Safari's) comes before it.
type Marks = &'static [(&'static [&'static str], &'static str)];

const BROWSERS: Marks = &[
    (&["Edg/"], "Edge"),
    (&["OPR/"], "Opera"),
    (&["Firefox/"], "Firefox"),
    (&["Chromium/"], "Chromium"),
    (&["Chrome/", "CriOS/"], "Chrome"),
    (&["Safari/"], "Safari"),
];

const SYSTEMS: Marks = &[
    (&["Android"], "Android"),
    (&["iPhone", "iPad"], "iOS"),
    (&["Windows"], "Windows"),
    (&["CrOS"], "ChromeOS"),
    (&["Mac OS X", "Macintosh"], "macOS"),
    (&["Linux"], "Linux"),
];

fn first_named(ua: &str, marks: Marks) -> Option<&'static str> {
    marks
        .iter()
        .find(|(m, _)| m.iter().any(|m| ua.contains(m)))
        .map(|&(_, name)| name)
}

/// A short description of a user agent: browser and system when recognised.
pub fn describe_agent(ua: &str) -> String {
    if ua.trim().is_empty() {
        return "Unknown browser".into();
    }
    match (first_named(ua, BROWSERS), first_named(ua, SYSTEMS)) {
        (Some(b), Some(s)) => format!("{b} on {s}"),
        (Some(b), None) => b.to_owned(),
        _ => ua.chars().take(60).collect(),
    }
}

/// Seconds since the epoch as `YYYY-MM-DD HH:MM UTC`.
pub fn utc(ts: i64) -> String {
    chrono::DateTime::from_timestamp(ts, 0)
        .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| ts.to_string())
}

fn iso(ts: i64) -> String {
    chrono::DateTime::from_timestamp(ts, 0)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// How long ago, as coarse as "last seen" is recorded (`SEEN_INTERVAL_SECONDS`).
pub fn ago(now: i64, ts: i64) -> String {
    let d = (now - ts).max(0);
    if d < sessions::SEEN_INTERVAL_SECONDS {
        "in the last 5 minutes".into()
    } else if d < 3600 {
        format!("{} minutes ago", d / 60)
    } else if d < 2 * 86400 {
        let h = d / 3600;
        format!("{h} hour{} ago", if h == 1 { "" } else { "s" })
    } else {
        utc(ts)
    }
}

fn see_account() -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/account"))
        .finish()
}

/// POST /account/sessions/sign-out (`session` = a handle): ends one of the user's sessions.
/// Ending the one this request comes from signs the browser out.
pub async fn sign_out(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let who = auth::require_user(&req, &state, "/account").await?;
    let form = FormData::parse(&body);
    form.check_csrf(&who)?;
    let wanted = form.text("session");
    let uid = who.user.id.clone();
    let ended = db(&state, move |conn| {
        let rows = sessions::for_user(conn, &uid, db::now())?;
        let Some(target) = find(&rows, &wanted) else {
            return Ok(None);
        };
        sessions::delete_of_user(conn, &uid, &target.id_hash)?;
        Ok(Some(target.id_hash.clone()))
    })
    .await?
    .ok_or(AppError::NotFound)?;
    auth::audit(
        &state,
        &req,
        who.as_user(),
        Event::AccountEndSession,
        who.user.id.clone(),
    )
    .await?;
    if ended == who.session.id_hash {
        return Ok(HttpResponse::SeeOther()
            .cookie(session::clearing_cookie(&state))
            .insert_header((header::LOCATION, "/login"))
            .finish());
    }
    Ok(see_account())
}

/// POST /account/sessions/sign-out-others: ends every session of the user but this one.
pub async fn sign_out_others(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let who = auth::require_user(&req, &state, "/account").await?;
    let form = FormData::parse(&body);
    form.check_csrf(&who)?;
    let uid = who.user.id.clone();
    let keep = who.session.id_hash.clone();
    db(&state, move |conn| {
        sessions::delete_for_user_except(conn, &uid, Some(&keep))?;
        Ok(())
    })
    .await?;
    auth::audit(
        &state,
        &req,
        who.as_user(),
        Event::AccountEndOtherSessions,
        who.user.id.clone(),
    )
    .await?;
    Ok(see_account())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agents_are_described_briefly() {
        assert_eq!(
            describe_agent(
                "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
            ),
            "Firefox on Linux"
        );
        assert_eq!(
            describe_agent("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36"),
            "Chrome on Android"
        );
        assert_eq!(
            describe_agent("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"),
            "Safari on iOS"
        );
        assert_eq!(describe_agent("curl/8.5.0"), "curl/8.5.0");
        assert_eq!(describe_agent(""), "Unknown browser");
    }

    #[test]
    fn last_seen_is_as_coarse_as_it_is_recorded() {
        assert_eq!(ago(1000, 990), "in the last 5 minutes");
        assert_eq!(ago(10_000, 10_000 - 600), "10 minutes ago");
        assert_eq!(ago(100_000, 100_000 - 3600), "1 hour ago");
    }
}
