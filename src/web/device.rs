//! The device authorization grant's two sides (RFC 8628, `oauth::device`):
//! - `POST /device_authorization`: a device (client-authenticated as at the token endpoint;
//!   public clients by `client_id`) gets its device code and user code;
//! - `/device`: a person types the user code (any case, with or without the dash), signs in
//!   (with whatever factors their login asks for), sees the application's name and what it
//!   asks, and allows or denies. Unknown codes are admitted per address (guessing is slow).

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::auth::FormData;
use super::authorize::describe_scope;
use super::next_step::page_for;
use super::templates::render;
use super::token::{client_endpoint, Serve};
use super::{client_addr, db, session};
use crate::authn::acr::Acr;
use crate::authn::requirement::{requirement, Demand, Requirement, Signin};
use crate::authn::second_factor::Factors;
use crate::db::models::device_codes::{self, DeviceCodeRow};
use crate::db::models::{clients, users};
use crate::domain::grants::GRANT_DEVICE_CODE;
use crate::oauth::device;
use crate::oauth::errors::{ErrorCode, ProtocolError};
use crate::state::AppState;
use crate::web::error::AppError;

/// POST /device_authorization (RFC 8628 §3.1).
pub async fn authorize_device(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    let settings = state.settings.clone();
    let (claimed, started) = client_endpoint(
        &req,
        state,
        &body,
        "/device_authorization",
        Serve::Pooled,
        move |ctx, client, params| {
            if !client.allows_grant(GRANT_DEVICE_CODE) {
                return Err(ProtocolError::new(
                    ErrorCode::UnauthorizedClient,
                    "this client may not use the device authorization grant",
                ));
            }
            // The scope asked for, each one allowed to the client; none asked: all it may have.
            let allowed: Vec<&str> = client.scopes().collect();
            let mut scope: Vec<String> = match params.get("scope") {
                Some(s) => s.split_ascii_whitespace().map(str::to_owned).collect(),
                None => allowed.iter().map(|s| s.to_string()).collect(),
            };
            if let Some(bad) = scope.iter().find(|s| !allowed.contains(&s.as_str())) {
                return Err(ProtocolError::new(
                    ErrorCode::InvalidScope,
                    format!("the scope {bad:?} is not allowed for this client"),
                ));
            }
            scope.sort_unstable();
            scope.dedup();
            device::start(
                &mut *ctx.conn()?,
                &client,
                &scope.join(" "),
                &settings.issuer,
                settings.device_code_ttl,
                settings.device_poll_interval,
                ctx.now,
            )
        },
    )
    .await;
    let mut res = match started {
        Ok(d) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(d),
        Err(e) => actix_web::ResponseError::error_response(&e),
    };
    crate::web::metrics::tag(&mut res, claimed, None);
    res
}

#[derive(Template)]
#[template(path = "device.html")]
struct EntryPage<'a> {
    typed: &'a str,
    error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "device_confirm.html")]
struct ConfirmPage<'a> {
    client_name: &'a str,
    unverified: bool,
    username: &'a str,
    user_code: &'a str,
    scopes: Vec<String>,
    csrf_token: &'a str,
}

#[derive(Template)]
#[template(path = "device_done.html")]
struct DonePage<'a> {
    allowed: bool,
    client_name: &'a str,
}

#[derive(Deserialize)]
pub struct DeviceQuery {
    user_code: Option<String>,
}

fn entry(
    status: actix_web::HttpResponseBuilder,
    typed: &str,
    error: Option<&str>,
) -> Result<HttpResponse, AppError> {
    let typed: String = typed.chars().take(20).collect();
    render(
        status,
        &EntryPage {
            typed: &typed,
            error,
        },
        None,
    )
}

fn redirect(to: &str) -> HttpResponse {
    HttpResponse::Found()
        .insert_header((header::LOCATION, to.to_owned()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// What the client's minimum class asks of this session: approving a device is signing in to
/// its client (there is no prompt, max_age or acr_values here).
fn strength(
    s: &crate::db::models::sessions::SessionRow,
    client: &clients::Client,
    enrolled: Factors,
) -> Requirement {
    let signin = Signin {
        user: true,
        auth_time: s.auth_time,
        fresh_login_at: None,
        amr: s.amr.as_deref(),
    };
    let demand = Demand {
        minimum: client.row.minimum_acr.as_deref().and_then(Acr::parse),
        ..Demand::default()
    };
    requirement(crate::db::now(), &signin, &demand, || {
        Ok::<_, std::convert::Infallible>(enrolled)
    })
    .unwrap_or_else(|never| match never {})
}

fn with_return_to(path: &str, return_to: &str, extra: &[(&str, &str)]) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("return_to", return_to);
    for (k, v) in extra {
        q.append_pair(k, v);
    }
    format!("{path}?{}", q.finish())
}

/// A pending request for this typed code, or the page that says why not. Unknown codes cost
/// the address an admission (RFC 8628 §5.1: user codes must not be guessable by trying).
async fn pending(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    typed: &str,
) -> Result<Result<(String, DeviceCodeRow, clients::Client), HttpResponse>, AppError> {
    let unknown = "That code is unknown or has expired. Check the device and try again.";
    // Every lookup is admitted per address (a right guess too, or guessing would go on at full
    // speed); a code that exists gives its admission back.
    let address = client_addr::of(req)
        .map(crate::authn::throttle::address_subject)
        .unwrap_or_else(|| "unknown".into());
    if let Err(wait) = state.admission.user_codes.take(&address) {
        return Err(AppError::Throttled {
            retry_after: wait.as_secs().max(1),
        });
    }
    let found = match device::normalize(typed) {
        Some(code) => {
            let lookup = code.clone();
            let row = db(state, move |conn| {
                let now = crate::db::now();
                let Some(row) = device_codes::pending_by_user_code(conn, &lookup, now)? else {
                    return Ok(None);
                };
                let client = clients::by_id(conn, &row.client_id)?.filter(|c| !c.row.disabled);
                Ok(client.map(|c| (row, c)))
            })
            .await?;
            row.map(|(r, c)| (code, r, c))
        }
        None => None,
    };
    match found {
        Some(f) => {
            state.admission.user_codes.refund(&address);
            Ok(Ok(f))
        }
        None => Ok(Err(entry(
            HttpResponse::BadRequest(),
            typed,
            Some(unknown),
        )?)),
    }
}

/// GET /device: the code form; with `user_code`, the confirmation (after signing in).
pub async fn page(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<DeviceQuery>,
) -> Result<HttpResponse, AppError> {
    let typed = query.user_code.clone().unwrap_or_default();
    if typed.trim().is_empty() {
        return entry(HttpResponse::Ok(), "", None);
    }
    let here = format!(
        "/device?{}",
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("user_code", &typed)
            .finish()
    );
    let Some(s) = session::current(&req, &state).await? else {
        return Ok(redirect(&with_return_to("/login", &here, &[])));
    };
    let Some(uid) = s.user_id.clone() else {
        return Ok(redirect(&with_return_to("/login", &here, &[])));
    };
    let (code, row, client) = match pending(&req, &state, &typed).await? {
        Ok(f) => f,
        Err(page) => return Ok(page),
    };
    let lookup = uid.clone();
    let (user, enrolled) = db(&state, move |conn| {
        Ok((users::by_id(conn, &lookup)?, Factors::load(conn, &lookup)?))
    })
    .await?;
    let Some(user) = user.filter(|u| !u.disabled) else {
        return Ok(redirect(&with_return_to("/login", &here, &[])));
    };
    // A client's minimum sign-in strength holds here as at /authorize: the missing factor first.
    if let Some(target) = page_for(strength(&s, &client, enrolled), &here) {
        return Ok(redirect(&target));
    }
    render(
        HttpResponse::Ok(),
        &ConfirmPage {
            client_name: &client.row.name,
            unverified: !client.row.verified,
            username: &user.username,
            user_code: &device::display(&code),
            scopes: row
                .scope
                .split_ascii_whitespace()
                .map(describe_scope)
                .collect(),
            csrf_token: &s.csrf_token,
        },
        None,
    )
}

/// POST /device/confirm: the user's decision.
pub async fn confirm(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let form = FormData::parse(&body);
    let Some(s) = session::current(&req, &state).await? else {
        return Ok(redirect("/login?return_to=/device"));
    };
    session::check_csrf(Some(&s), form.get("csrf_token"))?;
    let Some(uid) = s.user_id.clone() else {
        return Ok(redirect("/login?return_to=/device"));
    };
    let allow = match form.get("decision") {
        Some("allow") => true,
        Some("deny") => false,
        _ => return Err(AppError::BadRequest("Choose Allow or Deny.".into())),
    };
    let typed = form.text("code");
    let (code, row, client) = match pending(&req, &state, &typed).await? {
        Ok(f) => f,
        Err(page) => return Ok(page),
    };
    if allow {
        let lookup = uid.clone();
        let enrolled = db(&state, move |conn| Ok(Factors::load(conn, &lookup)?)).await?;
        if strength(&s, &client, enrolled) != Requirement::Satisfied {
            return Err(AppError::BadRequest(
                "This application needs a stronger sign-in: open the code again.".into(),
            ));
        }
    }
    let (auth_time, amr) = (s.auth_time, s.amr.clone());
    let client_id = client.row.client_id.clone();
    let decided = db(&state, move |conn| {
        let now = crate::db::now();
        if !allow {
            return Ok(device_codes::deny(conn, &code, now)?);
        }
        let decision = device_codes::Decision {
            user_id: &uid,
            auth_time: auth_time.unwrap_or(now),
            amr: amr.as_deref(),
            // The device gets its own standing: signing out of the browser that approved it
            // does not sign the TV out.
            session_id: None,
        };
        Ok(device::approve(
            conn, &code, &client_id, &row.scope, &decision, now,
        )?)
    })
    .await?;
    if !decided {
        return entry(
            HttpResponse::BadRequest(),
            &typed,
            Some("That code was used already or has expired."),
        );
    }
    render(
        HttpResponse::Ok(),
        &DonePage {
            allowed: allow,
            client_name: &client.row.name,
        },
        None,
    )
}
