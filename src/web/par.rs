//! POST /par: RFC 9126 pushed authorization requests (`oauth::par`). The client authenticates
//! as at the token endpoint (public clients with their `client_id`); the answer is 201 with the
//! `request_uri`, or an RFC 6749 §5.2 error.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use super::token::{assertion_keys, client_form, ClientForm};
use crate::error::OAuthError;
use crate::oauth::client_auth;
use crate::oauth::context::{self, Ctx};
use crate::oauth::errors::ProtocolError;
use crate::oauth::par;
use crate::oauth::params::Params;
use crate::state::AppState;

pub async fn push(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> HttpResponse {
    let ClientForm { form, keys, auth } = match client_form(&req, &body) {
        Ok(f) => f,
        Err(e) => return e.response(),
    };
    let assertion = assertion_keys(&state, &form, "/par").await;
    let raw: Vec<(String, String)> = url::form_urlencoded::parse(&body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let st = state.into_inner();
    let result = web::block(move || -> Result<par::Pushed, ProtocolError> {
        let params = Params::new(&form, keys);
        if !params.well_formed() {
            return Err(ProtocolError::invalid_request("a parameter was repeated"));
        }
        let (conn, keys) = context::open(&st)?;
        let mut ctx = Ctx::new(st.settings_arc(), keys, conn, crate::db::now());
        ctx.assertion_keys = assertion;
        let client = client_auth::authenticate_request(&ctx, auth.as_deref(), &params)?;
        let mut conn = ctx.conn();
        par::push(&mut conn, &client, &params, &raw, ctx.now)
    })
    .await;
    match result {
        Ok(Ok(p)) => HttpResponse::Created()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(json!({ "request_uri": p.request_uri, "expires_in": p.expires_in })),
        Ok(Err(e)) => OAuthError::from(e).response(),
        Err(e) => OAuthError::from(ProtocolError::server_error(e)).response(),
    }
}
