//! GET/POST /userinfo (OIDC Core §5.3) with a bearer access token.

use actix_web::http::{header, Method};
use actix_web::{web, HttpRequest, HttpResponse};

use super::bearer::{self, BearerError};
use crate::oidc::userinfo::{self, Userinfo};
use crate::state::AppState;
use crate::web::error::AppError;

pub async fn userinfo(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let is_form = req.method() == Method::POST
        && req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let token = match bearer::token(&req, is_form.then_some(&body[..])) {
        Ok(t) => t,
        Err(e) => return Ok(bearer::response(e)),
    };
    let st = state.clone();
    let result = web::block(move || {
        let mut conn = st.pool.get()?;
        Ok::<_, AppError>(userinfo::userinfo(
            &mut conn,
            &st.caches,
            &st.keys,
            &st.settings.issuer,
            &token,
        )?)
    })
    .await??;
    Ok(match result {
        Userinfo::Claims(claims) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
            .json(claims),
        Userinfo::Signed(jwt) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
            .content_type("application/jwt")
            .body(jwt),
        Userinfo::InvalidToken(d) => bearer::response(BearerError::InvalidToken(d)),
        Userinfo::InsufficientScope => bearer::response(BearerError::InsufficientScope("openid")),
    })
}
