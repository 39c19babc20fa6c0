//! /.well-known/openid-configuration and /.well-known/oauth-authorization-server, and /jwks.json.

use actix_web::http::header;
use actix_web::{web, HttpResponse};

use crate::state::AppState;
use crate::web::error::AppError;

pub async fn metadata(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .content_type("application/json")
        .body(state.discovery.clone())
}

/// The published keys. Cached briefly: a rotated-in key is published `key_activation_delay`
/// (default 300 s) before it signs, longer than this max-age.
pub async fn jwks(state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let now = crate::db::now();
    // Fresh keys are in memory: no hop to the blocking pool.
    let doc = match state.keys.cached() {
        Some(keys) => keys.jwks_text(now),
        None => {
            let st = state.clone();
            web::block(move || {
                let mut conn = st.pool.get()?;
                let keys = st.keys.current(&mut conn).map_err(AppError::internal)?;
                Ok::<_, AppError>(keys.jwks_text(now))
            })
            .await??
        }
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .content_type("application/jwk-set+json")
        .body(doc))
}
