//! /authorize's request objects (`oauth::request_object`): the I/O before the blocking
//! section — the client, a `request_uri` fetched through `outbound`, the client's keys — then
//! the object verified and the request it stands for assembled. The authorization endpoint
//! goes on with that request as if it had been sent plainly.

use actix_web::web;

use crate::db::models::clients::Client;
use crate::oauth::authorize::AuthorizeOutcome;
use crate::oauth::client_assertion::registered_keys;
use crate::oauth::context;
use crate::oauth::errors::ProtocolError;
use crate::oauth::params;
use crate::oauth::request_object::{self as jar, Carried};
use crate::outbound::{Limits, Outbound};
use crate::state::AppState;
use crate::web::error::AppError;

/// A `request_uri` fetch: no redirects to elsewhere, 64 KiB, 5 s.
const FETCH: Limits = Limits::JWKS;

/// The client named by `client_id` (a disabled one is unknown), from the caches when they hold
/// it, else on the blocking pool.
async fn client(
    state: &web::Data<AppState>,
    client_id: Option<String>,
) -> Result<Option<std::sync::Arc<Client>>, AppError> {
    let Some(id) = client_id else {
        return Ok(None);
    };
    let lookup = id.clone();
    if let Some(found) = context::try_inline(state.protocol(), "authorize", move |ctx| {
        ctx.client(&lookup)
    }) {
        return Ok(found);
    }
    let st = state.clone().into_inner();
    let found = web::block(move || context::pooled(st.protocol()).map(|ctx| ctx.client(&id)))
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?;
    found.map_err(AppError::from)
}

/// The authorization request `query` stands for: `Ok(query)` itself when it carries no request
/// object (or names a pushed request, which `oauth::par` resolves), the assembled request when
/// it carries a valid one, `Err` with the answer (an error page, or an error redirected to a
/// registered redirect URI) when it is refused.
pub async fn expand(
    state: &web::Data<AppState>,
    query: String,
) -> Result<Result<String, AuthorizeOutcome>, AppError> {
    let raw = query.as_bytes();
    if !params::urlencoded_is_utf8(raw) || params::urlencoded_is_oversized(raw) {
        // The endpoint refuses it with its own page.
        return Ok(Ok(query));
    }
    let issuer = state.settings.issuer.clone();
    let carried = jar::carried(&query);
    if carried == Ok(Carried::Pushed) {
        return Ok(Ok(query));
    }
    let client_id = url::form_urlencoded::parse(raw)
        .find(|(k, _)| k == "client_id")
        .map(|(_, v)| v.into_owned());
    let client = client(state, client_id.clone()).await?;
    let refuse = |object: Option<&str>, e: ProtocolError| {
        Ok(Err(jar::refusal(
            client.as_deref(),
            &query,
            object,
            e,
            &issuer,
        )))
    };
    let (object, by_reference) = match carried {
        Err(e) => return refuse(None, e),
        Ok(Carried::Pushed) => return Ok(Ok(query)),
        Ok(Carried::Nothing) => {
            let required = client
                .as_deref()
                .is_some_and(|c| jar::ClientSettings::of(c).require_signed);
            if required {
                // As for a request that had to be pushed: nothing here is trusted, no redirect.
                return Ok(Err(AuthorizeOutcome::ErrorPage(
                    jar::signed_object_required(),
                )));
            }
            return Ok(Ok(query));
        }
        Ok(Carried::ByValue(object)) => (object, false),
        Ok(Carried::ByReference(uri)) => (uri, true),
    };
    let Some(client) = client.clone() else {
        return Ok(Err(AuthorizeOutcome::ErrorPage(
            ProtocolError::invalid_request(if client_id.is_some() {
                "The application sent a request object, but its client_id is unknown."
            } else {
                "A request object must be sent with the client_id beside it."
            }),
        )));
    };
    let outbound = Outbound::new(&state.settings.outbound_allow);
    let object = if by_reference {
        let url = match jar::fetchable(&client, &object) {
            Ok(u) => u,
            Err(e) => return refuse(None, e),
        };
        let fetched = match outbound.get(url.as_str(), jar::ACCEPT, FETCH).await {
            Ok(r) => jar::fetched_object(r.status, &r.body),
            Err(e) => {
                tracing::info!(client_id = %client.row.client_id, error = %e, "request_uri fetch failed");
                Err(ProtocolError::new(
                    crate::oauth::errors::ErrorCode::InvalidRequestUri,
                    "the request_uri could not be fetched",
                ))
            }
        };
        match fetched {
            Ok(o) => o,
            Err(e) => return refuse(None, e),
        }
    } else {
        object
    };
    let header = match jar::header(&object) {
        Ok(h) => h,
        Err(e) => return refuse(Some(&object), e),
    };
    let keys = if header.alg == jar::UNSIGNED {
        None
    } else {
        registered_keys(&state.fetched, &outbound, &client, header.kid.as_deref())
            .await
            .ok()
    };
    let assembled = jar::assemble(
        &client,
        &query,
        &object,
        keys.as_ref(),
        &issuer,
        crate::db::now(),
    );
    match assembled {
        Ok(request) => Ok(Ok(request)),
        Err(e) => {
            tracing::info!(client_id = %client.row.client_id, error = %e, "request object refused");
            refuse(Some(&object), e)
        }
    }
}
