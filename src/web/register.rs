//! `/register` (RFC 7591) and `/register/{client_id}` (RFC 7592): apps register themselves with
//! JSON metadata, then read, replace or delete their registration with the registration access
//! token they were given. Errors are RFC 7591 §3.2.2 JSON; a missing or wrong token is 401 with
//! a Bearer challenge (RFC 6750).

use crate::audit::{Actor, Entry, Event};
use crate::domain::ids::ClientId;
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::{bearer, client_addr, db};
use crate::config::RegistrationPolicy;
use crate::db::models::clients::{self, Client, ORIGIN_DYNAMIC};
use crate::db::models::initial_access_tokens;
use crate::db::{self};
use crate::oauth::registration::{self, RegistrationError};
use crate::random;
use crate::state::AppState;

fn json_error(status: StatusCode, code: &str, description: &str) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({"error": code, "error_description": description}))
}

fn metadata_error(e: &RegistrationError) -> HttpResponse {
    json_error(StatusCode::BAD_REQUEST, e.code(), e.description())
}

fn invalid_token(description: &'static str) -> HttpResponse {
    bearer::response(bearer::BearerError::InvalidToken(description))
}

fn server_error(e: impl std::fmt::Display) -> HttpResponse {
    tracing::error!(error = %e, "registration request failed");
    json_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "server_error",
        "the server could not complete the request",
    )
}

/// The JSON body, or the RFC 7591 error for one that is not.
fn metadata_body(req: &HttpRequest, body: &[u8]) -> Result<Value, HttpResponse> {
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(json_error(
            StatusCode::BAD_REQUEST,
            "invalid_client_metadata",
            "the body must be application/json",
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        json_error(
            StatusCode::BAD_REQUEST,
            "invalid_client_metadata",
            &format!("the body is not valid JSON: {e}"),
        )
    })
}

/// Audits what a client did to its own registration (RFC 7591/7592): the client is the actor.
fn record(
    conn: &mut crate::db::DbConn,
    event: Event,
    client_id: &str,
    ip: Option<&str>,
) -> diesel::QueryResult<()> {
    let actor = Actor::Client(ClientId::from_stored(client_id));
    crate::audit::record(conn, &Entry::new(&actor, event).target(client_id).ip(ip))
}

pub async fn register(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    let configured = state.settings.registration.policy;
    let policy = match db(&state, move |conn| {
        Ok(registration::current_policy(conn, configured)?)
    })
    .await
    {
        Ok(p) => p,
        Err(e) => return server_error(e),
    };
    let address = client_addr::of(&req);
    // Who may register, decided before the body is even read.
    let initial_token = match policy {
        RegistrationPolicy::Closed => {
            return json_error(
                StatusCode::FORBIDDEN,
                "access_denied",
                "client registration is closed on this server",
            )
        }
        RegistrationPolicy::Token => match bearer::token(&req, None) {
            Ok(t) => Some(t),
            Err(bearer::BearerError::Missing) => {
                return invalid_token("an initial access token is required to register")
            }
            Err(e) => return bearer::response(e),
        },
        RegistrationPolicy::Open => {
            let subject = address
                .map(crate::authn::throttle::address_subject)
                .unwrap_or_else(|| "unknown".into());
            if let Err(wait) = state.admission.registrations.take(&subject) {
                return HttpResponse::TooManyRequests()
                    .insert_header((header::RETRY_AFTER, wait.as_secs().max(1).to_string()))
                    .insert_header((header::CACHE_CONTROL, "no-store"))
                    .json(json!({
                        "error": "temporarily_unavailable",
                        "error_description": "too many registrations from this address; retry later",
                    }));
            }
            None
        }
    };
    let metadata = match metadata_body(&req, &body) {
        Ok(v) => v,
        Err(res) => return res,
    };
    let now = db::now();
    let registered = match registration::register(&metadata, &state.settings.registration, now) {
        Ok(r) => r,
        Err(e) => return metadata_error(&e),
    };
    let client = registered.client.clone();
    let ip = address.map(|a| a.to_string());
    // The initial access token is used up in the same transaction that stores the client, so a
    // refused registration keeps its use and a used-up token stores nothing.
    let stored = db(&state, move |conn| {
        use diesel::Connection;
        let outcome = conn.transaction::<_, diesel::result::Error, _>(|c| {
            if let Some(t) = &initial_token {
                if !initial_access_tokens::consume(c, &random::sha256_hex(t), now)? {
                    return Ok(false);
                }
            }
            clients::insert(c, &client)?;
            record(
                c,
                Event::ClientRegister,
                &client.row.client_id,
                ip.as_deref(),
            )?;
            Ok(true)
        })?;
        // Committed now: this process's client cache follows (`db::writes::Written`).
        crate::db::writes::note_client_write();
        Ok(outcome)
    })
    .await;
    match stored {
        Ok(true) => HttpResponse::Created()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::PRAGMA, "no-cache"))
            .json(registration::information(
                &registered.client,
                &state.settings.issuer,
                registered.secret.as_deref(),
                Some(&registered.registration_token),
            )),
        Ok(false) => {
            invalid_token("the initial access token is unknown, expired, revoked or used up")
        }
        Err(e) => server_error(e),
    }
}

/// The self-registered client named in the path, if the request's registration access token is
/// its own; the same 401 otherwise (unknown client, wrong token, admin-registered client).
async fn authorized(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    client_id: String,
) -> Result<Client, HttpResponse> {
    let token = match bearer::token(req, None) {
        Ok(t) => t,
        Err(bearer::BearerError::Missing) => {
            return Err(invalid_token("the registration access token is required"))
        }
        Err(e) => return Err(bearer::response(e)),
    };
    if client_id.len() > 2048 {
        return Err(invalid_token(
            "the registration access token is not valid for this client",
        ));
    }
    let found = db(state, move |conn| Ok(clients::by_id(conn, &client_id)?))
        .await
        .map_err(server_error)?;
    match found {
        Some(c)
            if c.row.origin == ORIGIN_DYNAMIC
                && !c.row.disabled
                && c.row
                    .registration_token_hash
                    .as_deref()
                    .is_some_and(|h| random::verify_sha256_hex(&token, h)) =>
        {
            Ok(c)
        }
        _ => Err(invalid_token(
            "the registration access token is not valid for this client",
        )),
    }
}

pub async fn read(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> HttpResponse {
    match authorized(&req, &state, path.into_inner()).await {
        Ok(c) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(registration::information(
                &c,
                &state.settings.issuer,
                None,
                None,
            )),
        Err(res) => res,
    }
}

pub async fn replace(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let existing = match authorized(&req, &state, path.into_inner()).await {
        Ok(c) => c,
        Err(res) => return res,
    };
    let metadata = match metadata_body(&req, &body) {
        Ok(v) => v,
        Err(res) => return res,
    };
    let (mut client, new_secret) = match registration::replace(
        &existing,
        &metadata,
        &state.settings.registration,
        db::now(),
    ) {
        Ok(r) => r,
        Err(e) => return metadata_error(&e),
    };
    // RFC 7592 §2.2: a new registration access token with every update.
    let token = random::registration_token();
    client.row.registration_token_hash = Some(random::sha256_hex(&token));
    let stored = client.clone();
    let ip = client_addr::of(&req).map(|a| a.to_string());
    let result = db(&state, move |conn| {
        use diesel::Connection;
        conn.transaction::<_, diesel::result::Error, _>(|c| {
            clients::update(c, &stored)?;
            match &stored.row.secret_hash {
                Some(h) => {
                    clients::set_secret_hash(c, &stored.row.client_id, h, stored.row.updated_at)?;
                }
                // Now public: the old secret must not keep working.
                None => {
                    clients::clear_secret_hash(c, &stored.row.client_id)?;
                }
            }
            clients::set_verified(
                c,
                &stored.row.client_id,
                stored.row.verified,
                stored.row.updated_at,
            )?;
            clients::set_registration_token_hash(
                c,
                &stored.row.client_id,
                stored
                    .row
                    .registration_token_hash
                    .as_deref()
                    .unwrap_or_default(),
            )?;
            record(
                c,
                Event::ClientRegisterUpdate,
                &stored.row.client_id,
                ip.as_deref(),
            )
        })?;
        // Committed now: this process's client cache follows (`db::writes::Written`).
        crate::db::writes::note_client_write();
        Ok(())
    })
    .await;
    match result {
        Ok(()) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(registration::information(
                &client,
                &state.settings.issuer,
                new_secret.as_deref(),
                Some(&token),
            )),
        Err(e) => server_error(e),
    }
}

pub async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> HttpResponse {
    let client = match authorized(&req, &state, path.into_inner()).await {
        Ok(c) => c,
        Err(res) => return res,
    };
    let id = client.row.client_id.clone();
    let ip = client_addr::of(&req).map(|a| a.to_string());
    // Codes, refresh tokens and consents go with the row (ON DELETE CASCADE); its access tokens
    // stop verifying because their client no longer exists.
    let result = db(&state, move |conn| {
        use diesel::Connection;
        conn.transaction(|c| {
            clients::remove(c, &id)?;
            record(c, Event::ClientRegisterDelete, &id, ip.as_deref())
        })?;
        crate::db::writes::note_client_write();
        Ok(())
    })
    .await;
    match result {
        Ok(()) => HttpResponse::NoContent()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish(),
        Err(e) => server_error(e),
    }
}
