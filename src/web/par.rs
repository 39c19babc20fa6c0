//! POST /par: RFC 9126 pushed authorization requests (`oauth::par`). The client authenticates
//! as at the token endpoint (public clients with their `client_id`); the answer is 201 with the
//! `request_uri`, or an RFC 6749 §5.2 error.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use super::token::{client_endpoint, Serve};
use crate::oauth::par;
use crate::state::AppState;

pub async fn push(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> HttpResponse {
    let raw: Vec<(String, String)> = url::form_urlencoded::parse(&body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let (claimed, pushed) = client_endpoint(
        &req,
        state,
        &body,
        "/par",
        Serve::Pooled,
        move |ctx, client, params| par::push(&mut *ctx.conn()?, &client, params, &raw, ctx.now),
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
