//! POST /par: RFC 9126 pushed authorization requests (`oauth::par`). The client authenticates
//! as at the token endpoint (public clients with their `client_id`); the answer is 201 with the
//! `request_uri`, or an RFC 6749 §5.2 error.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use super::token::{claimed_client, client_endpoint, client_form, Serve};
use crate::oauth::par;
use crate::state::AppState;

pub async fn push(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> HttpResponse {
    let raw: Vec<(String, String)> = url::form_urlencoded::parse(&body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let object_keys = object_keys(&req, &state, &body).await;
    let (claimed, pushed) = client_endpoint(
        &req,
        state,
        &body,
        "/par",
        Serve::Pooled,
        move |ctx, client, params| {
            par::push(
                &mut *ctx.conn()?,
                &client,
                params,
                &raw,
                object_keys.as_ref(),
                ctx.now,
            )
        },
    )
    .await;
    let mut res = match pushed {
        Ok(p) => HttpResponse::Created()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(json!({ "request_uri": p.request_uri, "expires_in": p.expires_in })),
        Err(e) => actix_web::ResponseError::error_response(&e),
    };
    crate::web::metrics::tag(&mut res, claimed, None);
    res
}

/// For a pushed `request` object (RFC 9126 §3): the keys of the client the form claims to be,
/// fetched now when they live at its `jwks_uri` (`par::push` uses them only for the client that
/// then authenticates). `None` without a request object.
async fn object_keys(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    body: &[u8],
) -> Option<par::ObjectKeys> {
    let form = client_form(req, body).ok()?;
    let object = form.form.value("request")?;
    let client_id = claimed_client(form.auth.as_deref(), &form.form)?;
    let header = crate::oauth::request_object::header(&object).ok();
    let issuer = state.settings.issuer.clone();
    let st = state.clone();
    let id = client_id.clone();
    let client = web::block(move || {
        let ctx = crate::oauth::context::pooled(st.protocol()).ok()?;
        ctx.client(&id)
    })
    .await
    .ok()
    .flatten();
    let keys = match (client, header) {
        (Some(client), Some(h)) if h.alg != crate::oauth::request_object::UNSIGNED => {
            let outbound = crate::outbound::Outbound::new(&state.settings.outbound_allow);
            crate::oauth::client_assertion::registered_keys(
                &state.fetched,
                &outbound,
                &client,
                h.kid.as_deref(),
            )
            .await
            .ok()
        }
        _ => None,
    };
    Some(par::ObjectKeys {
        client_id,
        keys,
        issuer,
    })
}
