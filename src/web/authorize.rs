//! /authorize: the browser's side of the authorization-code flow. A request that needs a login
//! or consent becomes an interaction (`authn::interaction`); the login and consent pages carry
//! its id, and `/authorize/resume?interaction=ID` continues it (GET after a login, POST with
//! the consent decision).

use actix_web::cookie::Cookie;
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};

use super::browser::Resumed;
use super::next_step::page_for;
use super::templates::{
    client_host, client_initial, client_logo, render, ClientLinks, ConsentPage,
};
use super::{db, session};
use crate::authn::interaction::{self, Kind};
use crate::authn::requirement::Requirement;
use crate::db::models::interactions::InteractionRow;
use crate::db::models::sessions::SessionRow;
use crate::db::models::users;
use crate::oauth::authorize::{self, AuthorizeInput, AuthorizeOutcome, Decision};
use crate::oauth::context;
use crate::oauth::errors::ErrorCode;
use crate::oauth::metadata_document;
use crate::oauth::params;
use crate::state::AppState;
use crate::web::error::{error_page, AppError};

/// Scopes in words a person understands.
pub fn describe_scope(scope: &str) -> String {
    match scope {
        "openid" => "Confirm your identity (your account ID)".into(),
        "profile" => "See your name and profile details".into(),
        "email" => "See your email address".into(),
        "address" => "See your postal address".into(),
        "phone" => "See your phone number".into(),
        "offline_access" => "Keep access while you are not using it".into(),
        "groups" => "See the groups you belong to".into(),
        other => format!("Use the \u{201c}{other}\u{201d} permission"),
    }
}

/// With Client ID Metadata Documents on, a URL `client_id` has its document fetched (or its
/// cached row reused) before the synchronous flow runs; a refused document is an error page, never
/// a redirect (its redirect URIs cannot be trusted). `None`: carry on.
async fn metadata_document_refusal(
    state: &AppState,
    query_string: &str,
    address: Option<std::net::IpAddr>,
) -> Option<HttpResponse> {
    if !state.settings.client_id_metadata_documents {
        return None;
    }
    let mut ids = url::form_urlencoded::parse(query_string.as_bytes())
        .filter(|(k, _)| k == "client_id")
        .map(|(_, v)| v);
    // A missing or repeated client_id is the flow's invalid_request.
    let (Some(client_id), None) = (ids.next(), ids.next()) else {
        return None;
    };
    if !metadata_document::is_url_client_id(&client_id) {
        return None;
    }
    let e = crate::clients::document::resolve(
        &state.pool,
        &state.admission.documents,
        &state.settings,
        &client_id,
        address,
    )
    .await
    .err()?;
    if let metadata_document::DocumentError::TooMany { retry_after } = e {
        let mut res = error_page(
            StatusCode::TOO_MANY_REQUESTS,
            "This sign-in request cannot be completed",
            &e.to_string(),
            Some(ErrorCode::TemporarilyUnavailable.as_str()),
        );
        if let Ok(v) = header::HeaderValue::from_str(&retry_after.to_string()) {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return Some(res);
    }
    let (status, code) = if e.is_server_error() {
        tracing::error!(error = %e, "client metadata document could not be stored");
        (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::ServerError)
    } else {
        (StatusCode::BAD_REQUEST, ErrorCode::InvalidClient)
    };
    // How the fetch failed (which address a name resolved to, that it did not resolve) is for
    // the log: shown to anyone, it would map internal DNS.
    use crate::outbound::FetchError;
    let message = match &e {
        metadata_document::DocumentError::Fetch(
            FetchError::ForbiddenAddress { .. }
            | FetchError::PlainHttpNotAllowed { .. }
            | FetchError::Unresolvable { .. }
            | FetchError::Connect { .. },
        ) => "The application's client metadata document could not be fetched from its address."
            .to_owned(),
        other => other.to_string(),
    };
    Some(error_page(
        status,
        "This sign-in request cannot be completed",
        &message,
        Some(code.as_str()),
    ))
}

/// The parameters of an authorization request as one urlencoded string. OIDC Core 3.1.2.1:
/// the endpoint takes GET and POST alike, a POST's parameters in an
/// `application/x-www-form-urlencoded` body read by the same rules as a query. A POST is a
/// protocol request like a GET (no CSRF token: no session's form sent it). Query and body make
/// one request, so a parameter in both is a repeated parameter, refused like any other
/// (RFC 6749 §3.1). `Err`: the page for a body that cannot be one.
fn request_parameters(req: &HttpRequest, body: &[u8]) -> Result<String, HttpResponse> {
    let query = req.query_string();
    if body.is_empty() || req.method() != actix_web::http::Method::POST {
        return Ok(query.to_owned());
    }
    let refused = |message: &str| {
        error_page(
            StatusCode::BAD_REQUEST,
            "This sign-in request cannot be completed",
            message,
            Some(ErrorCode::InvalidRequest.as_str()),
        )
    };
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| {
            t.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !is_form {
        return Err(refused(
            "A sign-in request sent with POST must be an application/x-www-form-urlencoded form.",
        ));
    }
    let Ok(form) = std::str::from_utf8(body) else {
        return Err(refused("The request's parameters are not valid UTF-8."));
    };
    Ok(match (query.is_empty(), form.is_empty()) {
        (true, _) => form.to_owned(),
        (false, true) => query.to_owned(),
        (false, false) => format!("{query}&{form}"),
    })
}

/// GET or POST /authorize: a new authorization request, its parameters in the query string or
/// the form body (`request_parameters`).
pub async fn authorize(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let query = match request_parameters(&req, &body) {
        Ok(q) => q,
        Err(page) => return Ok(page),
    };
    let named = |key: &str| {
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.chars().take(256).collect::<String>())
    };
    let claimed = named("client_id");
    // A request object (OIDC Core §6, RFC 9101) becomes the request it stands for.
    let query = match super::request_object::expand(&state, query.clone()).await? {
        Ok(query) => query,
        Err(AuthorizeOutcome::Redirect(location)) => return Ok(found(location, None)),
        Err(refused) => {
            let e = match refused {
                AuthorizeOutcome::ErrorPage(e) => e,
                _ => crate::oauth::errors::ProtocolError::server_error("request object"),
            };
            let mut res = refuse_page(&e);
            super::metrics::tag(&mut res, claimed, None);
            return Ok(res);
        }
    };
    let pushed_uri = url::form_urlencoded::parse(query.as_bytes()).any(|(k, _)| k == "request_uri");
    let mut res = match pushed_uri {
        // RFC 9126: a request_uri stands for a request the client pushed; it is used up here.
        true => {
            let lookup = query.clone();
            let pushed = db(&state, move |conn| {
                Ok(crate::oauth::par::resolve(conn, &lookup, crate::db::now()))
            })
            .await?;
            match pushed {
                Ok(Some(request)) => process(&req, &state, request, None, None, true).await?,
                Ok(None) => process(&req, &state, query, None, None, false).await?,
                Err(why) => error_page(
                    StatusCode::BAD_REQUEST,
                    "This sign-in request cannot be completed",
                    match why {
                        crate::oauth::par::Refused::NoClientId => {
                            "The request names a pushed request (request_uri) but not its \
                             client_id."
                        }
                        crate::oauth::par::Refused::Invalid => {
                            "The pushed request it names is unknown, expired, used already or \
                             another application's. Go back to the application and sign in \
                             again."
                        }
                    },
                    Some(ErrorCode::InvalidRequest.as_str()),
                ),
            }
        }
        false => process(&req, &state, query, None, None, false).await?,
    };
    super::metrics::tag(&mut res, claimed, None);
    Ok(res)
}

#[derive(serde::Deserialize)]
pub struct ResumeQuery {
    interaction: String,
}

/// GET/POST /authorize/resume?interaction=ID: the pending request after a login (GET) or with
/// the consent decision (POST, CSRF-checked).
pub async fn resume(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<ResumeQuery>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let id = query.into_inner().interaction;
    let decision = super::browser::decision(&req, &state, &body)
        .await?
        .map(|allow| {
            if allow {
                Decision::Allow
            } else {
                Decision::Deny
            }
        });
    let (handle, row) = match super::browser::resume(&req, &state, id, Kind::Authorize).await? {
        Resumed::Pending(handle, row) => (handle, row),
        Resumed::OtherBrowser(page) => return Ok(page),
        Resumed::Ended => {
            return Ok(error_page(
                StatusCode::BAD_REQUEST,
                "This sign-in request has ended",
                "It was completed already, or it expired. Go back to the application and sign in again.",
                Some(ErrorCode::InvalidRequest.as_str()),
            ))
        }
    };
    let query = row.request.clone();
    // An interaction exists only for a request that passed every check, PAR's included.
    process(&req, &state, query, Some((handle, *row)), decision, true).await
}

fn refuse_page(e: &crate::oauth::errors::ProtocolError) -> HttpResponse {
    let status = match e.code {
        ErrorCode::ServerError => {
            tracing::error!(error = %e, "authorization request failed");
            StatusCode::INTERNAL_SERVER_ERROR
        }
        // The database is away: the busy page with Retry-After (never a redirect).
        ErrorCode::TemporarilyUnavailable => {
            return actix_web::ResponseError::error_response(&AppError::from(e.clone()))
        }
        _ => StatusCode::BAD_REQUEST,
    };
    error_page(
        status,
        "This sign-in request cannot be completed",
        &e.description,
        Some(e.code.as_str()),
    )
}

/// Why a raw query cannot be an authorization request at all (shown on a page: nothing may be
/// redirected without trustworthy parameters). `None`: it can be tried.
fn malformed_query(raw_query: &[u8]) -> Option<&'static str> {
    if !params::urlencoded_is_utf8(raw_query) {
        // Echoing `state` with U+FFFD replacements would hand the client a value it never sent;
        // and without trustworthy parameters nothing may be redirected.
        Some("The request's parameters are not valid UTF-8.")
    } else if params::urlencoded_is_oversized(raw_query) {
        Some("The request's parameters are too long.")
    } else if raw_query.is_empty() {
        Some("This address needs the parameters of a sign-in request.")
    } else {
        None
    }
}

/// What the protocol step answered: the outcome, the signed-in user's name (for the consent
/// page), and for a continued interaction whether this answer completed it (`Some(false)`: it
/// was completed already).
struct Answered {
    outcome: AuthorizeOutcome,
    username: Option<String>,
    completed: Option<bool>,
}

/// The protocol step, on the blocking pool: `authorize::run` with the session's user, then —
/// for a continued interaction answered with a redirect — the interaction marked complete on the
/// same connection, so it answers once.
fn answer_request(
    st: &AppState,
    session: Option<SessionRow>,
    query_string: &str,
    pending: Option<(interaction::Handle, InteractionRow)>,
    decision: Option<Decision>,
    pushed: bool,
) -> Result<Answered, AppError> {
    let ctx = context::pooled(st.protocol())?;
    let user = match session.as_ref().and_then(|s| s.user_id.clone()) {
        Some(uid) => users::by_id(&mut *ctx.conn()?, &uid)?,
        None => None,
    };
    let username = user.as_ref().map(|u| u.username.clone());
    let query = params::Form::parse(query_string.as_bytes());
    let params = query.params();
    let fresh_login_at = pending
        .as_ref()
        .map(|(_, row)| row)
        .filter(|row| interaction::logged_in_here(row, user.as_ref().map(|u| u.id.as_str())))
        .and_then(|row| row.auth_time);
    let input = AuthorizeInput {
        user,
        session_id: session.as_ref().map(|s| s.lineage().to_owned()),
        auth_time: session.as_ref().and_then(|s| s.auth_time),
        decision,
        fresh_login_at,
        amr: session.as_ref().and_then(|s| s.amr.clone()),
        pushed,
    };
    let outcome = authorize::run(&ctx, &params, input, &st.successor_key);
    let completed = match (&outcome, pending) {
        (AuthorizeOutcome::Redirect(_) | AuthorizeOutcome::FormPost(_), Some((handle, _))) => Some(
            interaction::complete(&mut *ctx.conn()?, &handle, crate::db::now())?,
        ),
        _ => None,
    };
    Ok(Answered {
        outcome,
        username,
        completed,
    })
}

/// The interaction the pages that follow reference: the one this request continues, or a new
/// one. New ones are rows a stranger can make us write, so they are admitted per client
/// address; and they are bound to this browser, whose binding cookie goes out with the page that
/// follows.
async fn interaction_for(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    existing: Option<String>,
    query_string: &str,
    address: &str,
    client_id: String,
) -> Result<(String, Option<Cookie<'static>>), AppError> {
    if let Some(id) = existing {
        return Ok((id, None));
    }
    if let Err(wait) = state.admission.interactions.take(address) {
        return Err(AppError::Throttled {
            retry_after: wait.as_secs().max(1),
        });
    }
    let (browser, cookie) = super::browser::bind(req, state);
    let q = query_string.to_owned();
    let id = db(state, move |conn| {
        Ok(interaction::start(
            conn,
            &client_id,
            &q,
            &browser,
            crate::db::now(),
        )?)
    })
    .await?;
    Ok((id, Some(cookie)))
}

/// A 302 to `target` (no-store), with the interaction's browser binding cookie when new.
fn found(target: String, cookie: Option<Cookie<'static>>) -> HttpResponse {
    let mut res = HttpResponse::Found();
    if let Some(c) = cookie {
        res.cookie(c);
    }
    res.insert_header((header::LOCATION, target))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// The response to the client (a redirect, or the form-post page), once. A continued
/// interaction that was completed already (`completed == Some(false)`: a replayed resume) gets a
/// page instead; one that reached its client gives its admission back, as the limit is for
/// interactions left hanging, not for people signing in.
fn respond_to_client(
    state: &AppState,
    completed: Option<bool>,
    address: &str,
    response: impl FnOnce() -> Result<HttpResponse, AppError>,
) -> Result<HttpResponse, AppError> {
    match completed {
        Some(true) => state.admission.interactions.refund(address),
        Some(false) => {
            return Ok(error_page(
                StatusCode::BAD_REQUEST,
                "This sign-in request has ended",
                "It was completed already. Go back to the application and sign in again.",
                Some(ErrorCode::InvalidRequest.as_str()),
            ))
        }
        None => {}
    }
    response()
}

/// Runs the authorization request `query` (a new one, or an interaction's), then answers:
/// an error page, the redirect to the client, the login page, or the consent page — the last
/// two referencing the request by its interaction id.
async fn process(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    query_string: String,
    pending: Option<(interaction::Handle, InteractionRow)>,
    decision: Option<Decision>,
    pushed: bool,
) -> Result<HttpResponse, AppError> {
    if let Some(message) = malformed_query(query_string.as_bytes()) {
        return Ok(error_page(
            StatusCode::BAD_REQUEST,
            "This sign-in request cannot be completed",
            message,
            Some(ErrorCode::InvalidRequest.as_str()),
        ));
    }
    if let Some(refused) =
        metadata_document_refusal(state, &query_string, super::client_addr::of(req)).await
    {
        return Ok(refused);
    }
    let session = session::current(req, state).await?;

    let st = state.clone().into_inner();
    let sess = session.clone();
    let q = query_string.clone();
    let existing = pending.as_ref().map(|(handle, _)| handle.id.clone());
    let Answered {
        outcome,
        username,
        completed,
    } = web::block(move || answer_request(&st, sess, &q, pending, decision, pushed)).await??;

    let address = super::client_addr::of(req)
        .map(crate::authn::throttle::address_subject)
        .unwrap_or_else(|| "unknown".into());
    // The login, step-up and enrolment pages come back to the interaction's resume address.
    let (existing_ref, q, address_ref) = (&existing, query_string.as_str(), address.as_str());
    let to_page = move |requirement: Requirement,
                        client: Box<crate::db::models::clients::Client>| {
        let existing = existing_ref.clone();
        async move {
            let client_id = client.row.client_id.clone();
            let (id, cookie) =
                interaction_for(req, state, existing, q, address_ref, client_id).await?;
            let target = page_for(requirement, &interaction::resume_path(&id));
            Ok::<_, AppError>(found(target.unwrap_or_default(), cookie))
        }
    };
    match outcome {
        AuthorizeOutcome::ErrorPage(e) => Ok(refuse_page(&e)),
        AuthorizeOutcome::Redirect(location) => {
            respond_to_client(state, completed, &address, || Ok(found(location, None)))
        }
        AuthorizeOutcome::FormPost(post) => {
            respond_to_client(state, completed, &address, || super::form_post::page(&post))
        }
        AuthorizeOutcome::NeedLogin { client } => to_page(Requirement::Login, client).await,
        AuthorizeOutcome::NeedStepUp { client, acr } => {
            to_page(Requirement::StepUp(acr), client).await
        }
        AuthorizeOutcome::NeedEnrolment { client, acr } => {
            to_page(Requirement::Enrol(acr), client).await
        }
        AuthorizeOutcome::NeedConsent { client, scopes } => {
            let Some(s) = session.as_ref() else {
                return Err(AppError::Csrf);
            };
            let (id, cookie) = interaction_for(
                req,
                state,
                existing,
                &query_string,
                &address,
                client.row.client_id.clone(),
            )
            .await?;
            let action = interaction::resume_path(&id);
            let logo = client_logo(&client);
            let mut page = render(
                HttpResponse::Ok(),
                &ConsentPage {
                    client_name: &client.row.name,
                    logo_uri: logo.as_ref().map(|l| l.uri),
                    client_initial: client_initial(&client.row.name),
                    homepage_uri: client.row.homepage_uri.as_deref(),
                    username: username.as_deref().unwrap_or(""),
                    scopes: scopes.iter().map(|s| describe_scope(s)).collect(),
                    csrf_token: &s.csrf_token,
                    action: &action,
                    unverified: !client.row.verified,
                    client_host: client_host(&client),
                    links: ClientLinks::of(&client),
                },
                cookie,
            )?;
            if let Some(l) = &logo {
                crate::web::csp::allow_logo(&mut page, &l.origin);
            }
            Ok(page)
        }
    }
}
