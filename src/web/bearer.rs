//! RFC 6750: reading a bearer token (header or form body, never both) and answering with the
//! right `WWW-Authenticate` challenge.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpRequest, HttpResponse};
use serde_json::json;

pub enum BearerError {
    /// No token at all: a bare challenge (§3.1).
    Missing,
    InvalidRequest(&'static str),
    InvalidToken(&'static str),
    InsufficientScope(&'static str),
}

/// The token from `Authorization: Bearer` or, for form POSTs, the `access_token` field.
pub fn token(req: &HttpRequest, form_body: Option<&[u8]>) -> Result<String, BearerError> {
    let header_token = match req.headers().get(header::AUTHORIZATION) {
        None => None,
        Some(v) => {
            let v = v
                .to_str()
                .map_err(|_| BearerError::InvalidRequest("malformed Authorization header"))?;
            match v.split_once(' ') {
                Some((scheme, t))
                    if scheme.eq_ignore_ascii_case("bearer") && !t.trim().is_empty() =>
                {
                    Some(t.trim().to_owned())
                }
                _ => return Err(BearerError::InvalidRequest("use the Bearer scheme")),
            }
        }
    };
    let body_token = form_body.and_then(|b| {
        url::form_urlencoded::parse(b)
            .find(|(k, _)| k == "access_token")
            .map(|(_, v)| v.into_owned())
    });
    match (header_token, body_token) {
        (Some(_), Some(_)) => Err(BearerError::InvalidRequest("send the token one way only")),
        (Some(t), None) | (None, Some(t)) => Ok(t),
        (None, None) => Err(BearerError::Missing),
    }
}

pub fn response(e: BearerError) -> HttpResponse {
    let (status, challenge, body) = match e {
        BearerError::Missing => (
            StatusCode::UNAUTHORIZED,
            "Bearer realm=\"ostiary\"".to_owned(),
            json!({"error": "invalid_token", "error_description": "an access token is required"}),
        ),
        BearerError::InvalidRequest(d) => (
            StatusCode::BAD_REQUEST,
            format!(
                "Bearer realm=\"ostiary\", error=\"invalid_request\", error_description=\"{d}\""
            ),
            json!({"error": "invalid_request", "error_description": d}),
        ),
        BearerError::InvalidToken(d) => (
            StatusCode::UNAUTHORIZED,
            format!("Bearer realm=\"ostiary\", error=\"invalid_token\", error_description=\"{d}\""),
            json!({"error": "invalid_token", "error_description": d}),
        ),
        BearerError::InsufficientScope(scope) => (
            StatusCode::FORBIDDEN,
            format!("Bearer realm=\"ostiary\", error=\"insufficient_scope\", scope=\"{scope}\""),
            json!({"error": "insufficient_scope", "error_description": format!("the token needs scope {scope}")}),
        ),
    };
    HttpResponse::build(status)
        .insert_header((header::WWW_AUTHENTICATE, challenge))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body)
}
