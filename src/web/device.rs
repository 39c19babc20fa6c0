//! The device authorization grant's two sides (RFC 8628, `oauth::device`):
//! - `POST /device_authorization`: a device (client-authenticated as at the token endpoint;
//!   public clients by `client_id`) gets its device code and user code;
//! - `/device`: a person types the user code (any case, with or without the dash), signs in
//!   (with whatever factors their login asks for), sees the application's name and what it
//!   asks, and allows or denies. Unknown codes are admitted per address (guessing is slow).
//!   A code that names a pending request starts an interaction (`authn::interaction`, kind
//!   `Device`) bound to this browser; from there on the browser carries its id
//!   (`/device/resume?interaction=ID`) through login, step-up or enrolment to the
//!   confirmation, which posts back to the same address and completes the interaction once.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use diesel::Connection;
use serde::Deserialize;

use super::authorize::describe_scope;
use super::browser::Resumed;
use super::next_step::page_for;
use super::templates::render;
use super::token::{client_endpoint, Serve};
use super::{client_addr, db, session};
use crate::authn::acr::Acr;
use crate::authn::interaction::{self, Kind};
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
            // What the client may have of the scope asked for (narrowed, RFC 6749 §3.3); none
            // asked: all it may have.
            let mut scope: Vec<String> = match params.get("scope") {
                Some(s) => crate::oauth::scope::grantable(&client, s.split_ascii_whitespace())
                    .ok_or_else(|| {
                        ProtocolError::new(
                            ErrorCode::InvalidScope,
                            "none of the scopes asked for is allowed for this client",
                        )
                    })?,
                None => client.scopes().map(str::to_owned).collect(),
            };
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
    /// The approval's resume path, where the decision is posted.
    action: &'a str,
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

/// GET /device: the code form; with `user_code` (typed into the form, or from
/// `verification_uri_complete`), the pending request it names becomes an interaction bound to
/// this browser, and the browser continues at its resume path: the typed code goes no further.
pub async fn page(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<DeviceQuery>,
) -> Result<HttpResponse, AppError> {
    let typed = query.user_code.clone().unwrap_or_default();
    if typed.trim().is_empty() {
        return entry(HttpResponse::Ok(), "", None);
    }
    let (_, row, client) = match pending(&req, &state, &typed).await? {
        Ok(f) => f,
        Err(page) => return Ok(page),
    };
    // A new interaction is a row a stranger can make us write: admitted per address, as at
    // /authorize (given back when the approval completes).
    let address = address_of(&req);
    if let Err(wait) = state.admission.interactions.take(&address) {
        return Err(AppError::Throttled {
            retry_after: wait.as_secs().max(1),
        });
    }
    let (browser, cookie) = super::browser::bind(&req, &state);
    let client_id = client.row.client_id.clone();
    let hash = row.device_code_hash.clone();
    let id = db(&state, move |conn| {
        Ok(interaction::start_device(
            conn,
            &client_id,
            &hash,
            &browser,
            crate::db::now(),
        )?)
    })
    .await?;
    Ok(HttpResponse::Found()
        .cookie(cookie)
        .insert_header((header::LOCATION, Kind::Device.resume_path(&id)))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish())
}

fn address_of(req: &HttpRequest) -> String {
    client_addr::of(req)
        .map(crate::authn::throttle::address_subject)
        .unwrap_or_else(|| "unknown".into())
}

#[derive(Deserialize)]
pub struct ResumeQuery {
    interaction: String,
}

fn ended() -> Result<HttpResponse, AppError> {
    entry(
        HttpResponse::BadRequest(),
        "",
        Some("That code was used already or has expired."),
    )
}

/// GET/POST /device/resume?interaction=ID: the approval after a login, step-up or enrolment
/// (GET: the confirmation page, or the page for what is still missing) or with the decision
/// (POST, CSRF-checked); in the browser that started it only, and completed once.
pub async fn resume(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<ResumeQuery>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let id = query.into_inner().interaction;
    let session = session::current(&req, &state).await?;
    let allow = super::browser::decision(&req, &state, &body).await?;
    let (handle, row) = match super::browser::resume(&req, &state, id, Kind::Device).await? {
        Resumed::Pending(handle, row) => (handle, row),
        Resumed::OtherBrowser(page) => return Ok(page),
        Resumed::Ended => return ended(),
    };
    // The device request it approves must still be pending, and its client enabled.
    let device_code_hash = row.device_code_hash.clone();
    let found = db(&state, move |conn| {
        let now = crate::db::now();
        let code = match device_code_hash.as_deref() {
            Some(hash) => device_codes::pending_by_hash(conn, hash, now)?,
            None => None,
        };
        let client = match &code {
            Some(c) => clients::by_id(conn, &c.client_id)?.filter(|c| !c.row.disabled),
            None => None,
        };
        Ok(code.zip(client))
    })
    .await?;
    let Some((code, client)) = found else {
        return ended();
    };
    let row = *row;
    let here = Kind::Device.resume_path(&handle.id);

    // Who is signed in, and whether that is enough for the client: the one rule, with the login
    // made within this approval counting as fresh, as at /authorize.
    let uid = session.as_ref().and_then(|s| s.user_id.clone());
    let lookup = uid.clone();
    let (user, enrolled) = db(&state, move |conn| {
        Ok(match lookup {
            Some(uid) => (users::by_id(conn, &uid)?, Factors::load(conn, &uid)?),
            None => (None, Factors::default()),
        })
    })
    .await?;
    let user = user.filter(|u| !u.disabled);
    let signin = Signin {
        user: user.is_some(),
        auth_time: session.as_ref().and_then(|s| s.auth_time),
        fresh_login_at: interaction::logged_in_here(&row, uid.as_deref())
            .then_some(row.auth_time)
            .flatten(),
        amr: session.as_ref().and_then(|s| s.amr.as_deref()),
    };
    let demand = Demand {
        minimum: client.row.minimum_acr.as_deref().and_then(Acr::parse),
        ..Demand::default()
    };
    let needed = requirement(crate::db::now(), &signin, &demand, || {
        Ok::<_, std::convert::Infallible>(enrolled)
    })
    .unwrap_or_else(|never| match never {});
    let (Some(user), Some(s)) = (user, session.as_ref()) else {
        return Ok(redirect(
            &page_for(Requirement::Login, &here).unwrap_or_default(),
        ));
    };

    let Some(allow) = allow else {
        // A client's minimum sign-in strength holds here as at /authorize: the missing factor
        // first.
        if let Some(target) = page_for(needed, &here) {
            return Ok(redirect(&target));
        }
        return render(
            HttpResponse::Ok(),
            &ConfirmPage {
                client_name: &client.row.name,
                unverified: !client.row.verified,
                username: &user.username,
                user_code: &device::display(&code.user_code),
                scopes: code
                    .scope
                    .split_ascii_whitespace()
                    .map(describe_scope)
                    .collect(),
                csrf_token: &s.csrf_token,
                action: &here,
            },
            None,
        );
    };
    // Denying needs only someone signed in; allowing, the sign-in the client asks for.
    if allow && needed != Requirement::Satisfied {
        return Err(AppError::BadRequest(
            "This application needs a stronger sign-in: open the code again.".into(),
        ));
    }
    let (auth_time, amr) = (s.auth_time, s.amr.clone());
    let client_id = client.row.client_id.clone();
    let (uid, hash, scope) = (user.id.clone(), code.device_code_hash.clone(), code.scope);
    let decided = db(&state, move |conn| {
        let now = crate::db::now();
        Ok(conn.transaction(|conn| {
            // The approval answers once: the interaction is completed first (one conditional
            // UPDATE, this browser's only), then the device request decided.
            if !interaction::complete(conn, &handle, now)? {
                return Ok(false);
            }
            if !allow {
                return device_codes::deny(conn, &hash, now);
            }
            let decision = device_codes::Decision {
                user_id: &uid,
                auth_time: auth_time.unwrap_or(now),
                amr: amr.as_deref(),
                // The device gets its own standing: signing out of the browser that approved it
                // does not sign the TV out.
                session_id: None,
            };
            device::approve(conn, &hash, &client_id, &scope, &decision, now)
        })?)
    })
    .await?;
    if !decided {
        return ended();
    }
    state.admission.interactions.refund(&address_of(&req));
    render(
        HttpResponse::Ok(),
        &DonePage {
            allowed: allow,
            client_name: &client.row.name,
        },
        None,
    )
}
