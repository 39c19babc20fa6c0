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
use crate::clients::registration::{self as store, RegisterError};
use crate::clients::Client;
use crate::config::RegistrationPolicy;
use crate::db::{self};
use crate::oauth::registration::{self, RegistrationError};
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

/// RFC 9110 §15.5.6: a method a registration resource does not support is 405 with an `Allow`
/// header naming the ones it does, and a JSON error body like every other answer here.
fn method_not_allowed(req: &HttpRequest, allow: &'static str) -> HttpResponse {
    HttpResponse::build(StatusCode::METHOD_NOT_ALLOWED)
        .insert_header((header::ALLOW, allow))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({
            "error": "invalid_request",
            "error_description": format!("{} is not supported here; use {allow}", req.method()),
        }))
}

/// Any method but POST at `/register` (RFC 7591 §3).
pub async fn not_allowed_at_register(req: HttpRequest) -> HttpResponse {
    method_not_allowed(&req, "POST")
}

/// Any method but GET, PUT and DELETE at a `registration_client_uri` (RFC 7592 §2).
pub async fn not_allowed_at_client_uri(req: HttpRequest) -> HttpResponse {
    method_not_allowed(&req, "GET, PUT, DELETE")
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

/// What the metadata's `sector_identifier_uri` holds (OIDC Core §8.1), read through
/// `outbound` before the policy compares it with the redirect URIs; `None` when none is named.
async fn read_sector(
    state: &web::Data<AppState>,
    metadata: &Value,
) -> Option<Result<Vec<String>, String>> {
    let uri = registration::sector_uri(metadata)?;
    let outbound = crate::outbound::Outbound::new(&state.settings.outbound_allow);
    Some(crate::clients::sector::fetch(&outbound, &uri).await)
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
    // A sector document is fetched from outside: only for a caller allowed to register (the
    // token is used up later, in the store's transaction, with the client).
    if let (Some(token), Some(_)) = (&initial_token, registration::sector_uri(&metadata)) {
        let token = token.clone();
        let live = db(&state, move |conn| {
            Ok(store::initial_token_is_live(conn, &token, db::now())?)
        })
        .await;
        match live {
            Ok(true) => {}
            Ok(false) => {
                return invalid_token(
                    "the initial access token is unknown, expired, revoked or used up",
                )
            }
            Err(e) => return server_error(e),
        }
    }
    let sector = read_sector(&state, &metadata).await;
    let ip = address.map(|a| a.to_string());
    let st = state.clone();
    let stored = db(&state, move |conn| {
        let policy = &st.settings.registration;
        let outcome = store::register(
            conn,
            &metadata,
            sector,
            policy,
            initial_token.as_deref(),
            db::now(),
        );
        if let Ok(r) = &outcome {
            record(
                conn,
                Event::ClientRegister,
                &r.client.row.client_id,
                ip.as_deref(),
            )?;
        }
        Ok(outcome)
    })
    .await;
    match stored {
        Ok(Ok(registered)) => HttpResponse::Created()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::PRAGMA, "no-cache"))
            .json(registration::information(
                &registered.client,
                &state.settings.issuer,
                registered.secret.as_deref(),
                Some(&registered.registration_token),
            )),
        Ok(Err(RegisterError::Invalid(e))) => metadata_error(&e),
        Ok(Err(RegisterError::Unauthorized)) => {
            invalid_token("the initial access token is unknown, expired, revoked or used up")
        }
        Ok(Err(RegisterError::Storage(e))) => server_error(e),
        Err(e) => server_error(e),
    }
}

/// The self-registered client named in the path, if the request's registration access token is
/// its own; the same 401 otherwise (unknown client, wrong token, admin-registered client).
async fn authorized(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    client_id: String,
) -> Result<(Client, String), HttpResponse> {
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
    let found = db(state, move |conn| {
        Ok(store::authorized(conn, &client_id, &token)?.map(|c| (c, token)))
    })
    .await
    .map_err(server_error)?;
    found.ok_or_else(|| invalid_token("the registration access token is not valid for this client"))
}

pub async fn read(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> HttpResponse {
    let (client, token) = match authorized(&req, &state, path.into_inner()).await {
        Ok(found) => found,
        Err(res) => return res,
    };
    let id = client.row.client_id.clone();
    // RFC 7592 §3: the response carries a new registration access token; the old one ends.
    let result = db(&state, move |conn| {
        Ok(store::read(conn, &id, &token, db::now()))
    })
    .await;
    match result {
        Ok(Ok((c, fresh))) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::PRAGMA, "no-cache"))
            .json(registration::information(
                &c,
                &state.settings.issuer,
                None,
                Some(&fresh),
            )),
        Ok(Err(RegisterError::Unauthorized | RegisterError::Invalid(_))) => {
            invalid_token("the registration access token is not valid for this client")
        }
        Ok(Err(RegisterError::Storage(e))) => server_error(e),
        Err(e) => server_error(e),
    }
}

pub async fn replace(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (existing, token) = match authorized(&req, &state, path.into_inner()).await {
        Ok(found) => found,
        Err(res) => return res,
    };
    let metadata = match metadata_body(&req, &body) {
        Ok(v) => v,
        Err(res) => return res,
    };
    let sector = read_sector(&state, &metadata).await;
    let ip = client_addr::of(&req).map(|a| a.to_string());
    let st = state.clone();
    let id = existing.row.client_id.clone();
    // RFC 7592 §2.2: stored with a new registration access token.
    let result = db(&state, move |conn| {
        let policy = &st.settings.registration;
        let outcome = store::replace(conn, &id, &token, &metadata, sector, policy, db::now());
        if outcome.is_ok() {
            record(conn, Event::ClientRegisterUpdate, &id, ip.as_deref())?;
        }
        Ok(outcome)
    })
    .await;
    match result {
        Ok(Ok(r)) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(registration::information(
                &r.client,
                &state.settings.issuer,
                r.secret.as_deref(),
                Some(&r.registration_token),
            )),
        Ok(Err(RegisterError::Invalid(e))) => metadata_error(&e),
        Ok(Err(RegisterError::Unauthorized)) => {
            invalid_token("the registration access token is not valid for this client")
        }
        Ok(Err(RegisterError::Storage(e))) => server_error(e),
        Err(e) => server_error(e),
    }
}

pub async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> HttpResponse {
    let (client, token) = match authorized(&req, &state, path.into_inner()).await {
        Ok(found) => found,
        Err(res) => return res,
    };
    let id = client.row.client_id.clone();
    let ip = client_addr::of(&req).map(|a| a.to_string());
    // Codes, refresh tokens and consents go with the row (ON DELETE CASCADE); its access tokens
    // stop verifying because their client no longer exists.
    let result = db(&state, move |conn| {
        let outcome = store::remove(conn, &id, &token);
        if outcome.is_ok() {
            record(conn, Event::ClientRegisterDelete, &id, ip.as_deref())?;
        }
        Ok(outcome)
    })
    .await;
    match result {
        Ok(Ok(())) => HttpResponse::NoContent()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish(),
        Ok(Err(RegisterError::Unauthorized | RegisterError::Invalid(_))) => {
            invalid_token("the registration access token is not valid for this client")
        }
        Ok(Err(RegisterError::Storage(e))) => server_error(e),
        Err(e) => server_error(e),
    }
}
