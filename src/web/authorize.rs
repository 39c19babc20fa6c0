//! GET/POST /authorize: the browser's side of the authorization-code flow. GET starts (or
//! resumes after login) a request; POST carries the consent decision for the same request,
//! whose parameters stay in the query string.

use actix_web::http::{header, Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use oxide_auth_actix::OAuthRequest;

use super::session;
use super::templates::{client_host, render, ConsentPage};
use crate::db::models::users;
use crate::error::{error_page, AppError};
use crate::oauth::authorize::{self, AuthorizeInput, AuthorizeOutcome, Decision};
use crate::oauth::context::{self, Ctx};
use crate::oauth::errors::ErrorCode;
use crate::oauth::metadata_document;
use crate::oauth::params::{self, Params};
use crate::state::AppState;

/// Scopes in words a person understands.
pub fn describe_scope(scope: &str) -> String {
    match scope {
        "openid" => "Confirm your identity (your account ID)".into(),
        "profile" => "See your name and profile details".into(),
        "email" => "See your email address".into(),
        "offline_access" => "Keep access while you are not using it".into(),
        other => format!("Use the \u{201c}{other}\u{201d} permission"),
    }
}

/// With Client ID Metadata Documents on, a URL `client_id` has its document fetched (or its
/// cached row reused) before the synchronous flow runs; a refused document is an error page, never
/// a redirect (its redirect URIs cannot be trusted). `None`: carry on.
async fn metadata_document_refusal(state: &AppState, query_string: &str) -> Option<HttpResponse> {
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
    let e = metadata_document::resolve(state, &client_id).await.err()?;
    let (status, code) = if e.is_server_error() {
        tracing::error!(error = %e, "client metadata document could not be stored");
        (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::ServerError)
    } else {
        (StatusCode::BAD_REQUEST, ErrorCode::InvalidClient)
    };
    Some(error_page(
        status,
        "This sign-in request cannot be completed",
        &e.to_string(),
        Some(code.as_str()),
    ))
}

pub async fn authorize(
    req: HttpRequest,
    state: web::Data<AppState>,
    oauth: OAuthRequest,
) -> Result<HttpResponse, AppError> {
    let raw_query = req.query_string().as_bytes();
    let malformed = if !params::urlencoded_is_utf8(raw_query) {
        // Echoing `state` with U+FFFD replacements would hand the client a value it never sent;
        // and without trustworthy parameters nothing may be redirected.
        Some("The request's parameters are not valid UTF-8.")
    } else if params::urlencoded_is_oversized(raw_query) {
        Some("The request's parameters are too long.")
    } else {
        None
    };
    if let Some(message) = malformed {
        return Ok(error_page(
            StatusCode::BAD_REQUEST,
            "This sign-in request cannot be completed",
            message,
            Some(ErrorCode::InvalidRequest.as_str()),
        ));
    }
    let session = session::current(&req, &state).await?;
    let decision = if req.method() == Method::POST {
        let body = oauth.body();
        let field = |k: &str| {
            body.and_then(|b| {
                use oxide_auth::endpoint::QueryParameter;
                b.unique_value(k).map(|v| v.into_owned())
            })
        };
        session::check_csrf(session.as_ref(), field("csrf_token").as_deref())?;
        match field("decision").as_deref() {
            Some("allow") => Some(Decision::Allow),
            Some("deny") => Some(Decision::Deny),
            _ => return Err(AppError::BadRequest("Choose Allow or Deny.".into())),
        }
    } else {
        None
    };
    let Some(query) = oauth.query().cloned() else {
        return Err(AppError::BadRequest(
            "This address needs the parameters of a sign-in request.".into(),
        ));
    };
    let query_string = req.query_string().to_owned();
    let raw_keys: Vec<String> = url::form_urlencoded::parse(query_string.as_bytes())
        .map(|(k, _)| k.into_owned())
        .collect();
    if let Some(refused) = metadata_document_refusal(&state, &query_string).await {
        return Ok(refused);
    }

    let st = state.clone().into_inner();
    let sess = session.clone();
    let outcome = web::block(move || {
        let (conn, keys) = context::open(&st).map_err(|e| AppError::Internal(e.to_string()))?;
        let ctx = Ctx::new(st.settings_arc(), keys, conn, crate::db::now());
        let user = match sess.as_ref().and_then(|s| s.user_id.clone()) {
            Some(uid) => users::by_id(&mut ctx.conn(), &uid)?,
            None => None,
        };
        let username = user.as_ref().map(|u| u.username.clone());
        let params = Params::new(&query, raw_keys);
        let input = AuthorizeInput {
            user,
            session_id: sess.as_ref().map(|s| s.id_hash.clone()),
            auth_time: sess.as_ref().and_then(|s| s.auth_time),
            decision,
        };
        let outcome = authorize::run(&ctx, &params, input, &st.successor_key);
        Ok::<_, AppError>((outcome, username))
    })
    .await??;

    match outcome {
        (AuthorizeOutcome::ErrorPage(e), _) => {
            let status = if e.code == ErrorCode::ServerError {
                tracing::error!(error = %e, "authorization request failed");
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                StatusCode::BAD_REQUEST
            };
            Ok(error_page(
                status,
                "This sign-in request cannot be completed",
                &e.description,
                Some(e.code.as_str()),
            ))
        }
        (AuthorizeOutcome::Redirect(location), _) => Ok(HttpResponse::Found()
            .insert_header((header::LOCATION, location))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish()),
        (AuthorizeOutcome::NeedLogin { .. }, _) => {
            // Coming back from the login must not ask for it again: drop prompt=login and
            // max_age=0, which demand exactly the login that is about to happen.
            let resumed: String = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(url::form_urlencoded::parse(query_string.as_bytes()).filter(
                    |(k, v)| {
                        let login_prompt =
                            k == "prompt" && v.split_ascii_whitespace().any(|p| p == "login");
                        let zero_age = k == "max_age" && v == "0";
                        !login_prompt && !zero_age
                    },
                ))
                .finish();
            let return_to = format!("/authorize?{resumed}");
            let target = format!(
                "/login?{}",
                url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("return_to", &return_to)
                    .finish()
            );
            Ok(HttpResponse::Found()
                .insert_header((header::LOCATION, target))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .finish())
        }
        (AuthorizeOutcome::NeedConsent { client, scopes }, username) => {
            let Some(s) = session.as_ref() else {
                return Err(AppError::Csrf);
            };
            let action = format!("/authorize?{query_string}");
            render(
                HttpResponse::Ok(),
                &ConsentPage {
                    client_name: &client.row.name,
                    logo_uri: client.row.logo_uri.as_deref(),
                    homepage_uri: client.row.homepage_uri.as_deref(),
                    username: username.as_deref().unwrap_or(""),
                    scopes: scopes.iter().map(|s| describe_scope(s)).collect(),
                    csrf_token: &s.csrf_token,
                    action: &action,
                    unverified: !client.row.verified,
                    client_host: client_host(&client),
                },
                None,
            )
        }
    }
}
