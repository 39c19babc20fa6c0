//! POST /token: parses the form itself (so it can tell header from body credentials and
//! refuse repeated parameters), then hands over to `oauth::token`.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::error::OAuthError;
use crate::oauth::errors::ProtocolError;
use crate::oauth::{token, NormalizedParameter};
use crate::state::AppState;

/// Parses an urlencoded form into oxide-auth's parameter map (repeats poisoned) and the list of
/// keys that were present.
pub fn parse_form(body: &[u8]) -> (NormalizedParameter, Vec<String>) {
    let mut params = NormalizedParameter::new();
    let mut keys = Vec::new();
    for (k, v) in url::form_urlencoded::parse(body) {
        keys.push(k.to_string());
        params.insert_or_poison(k.into_owned().into(), v.into_owned().into());
    }
    (params, keys)
}

pub async fn token(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> HttpResponse {
    let form_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
        .unwrap_or(false);
    if !form_type {
        return OAuthError::invalid_request("the body must be application/x-www-form-urlencoded")
            .response();
    }
    let mut auth_headers = req.headers().get_all(header::AUTHORIZATION);
    let auth = auth_headers.next().map(|v| v.to_str().map(str::to_owned));
    if auth_headers.next().is_some() {
        return OAuthError::invalid_request("more than one Authorization header").response();
    }
    let auth = match auth {
        None => None,
        Some(Ok(a)) => Some(a),
        Some(Err(_)) => {
            return OAuthError::invalid_client("malformed Authorization header").response()
        }
    };
    let (form, keys) = parse_form(&body);
    let st = state.into_inner();
    let result = web::block(move || token::handle(&st, &form, keys, auth.as_deref())).await;
    match result {
        Ok(Ok(resp)) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::PRAGMA, "no-cache"))
            .json(resp),
        Ok(Err(e)) => OAuthError::from(e).response(),
        Err(e) => OAuthError::from(ProtocolError::server_error(e)).response(),
    }
}
