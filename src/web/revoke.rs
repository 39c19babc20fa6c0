//! POST /revoke (RFC 7009) and POST /introspect (RFC 7662): client-authenticated forms.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use super::token::{client_form, ClientForm};
use crate::error::OAuthError;
use crate::oauth::client_auth;
use crate::oauth::context::{self, Ctx};
use crate::oauth::errors::ProtocolError;
use crate::oauth::params::Params;
use crate::oidc::{introspection, revocation};
use crate::state::AppState;

enum Kind {
    Revoke,
    Introspect,
}

async fn handle(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
    kind: Kind,
) -> HttpResponse {
    let ClientForm { form, keys, auth } = match client_form(&req, &body) {
        Ok(f) => f,
        Err(e) => return e.response(),
    };
    let endpoint = match kind {
        Kind::Revoke => "/revoke",
        Kind::Introspect => "/introspect",
    };
    let assertion = super::token::assertion_keys(&state, &form, endpoint).await;
    let st = state.into_inner();
    let result = web::block(
        move || -> Result<Option<serde_json::Value>, ProtocolError> {
            let params = Params::new(&form, keys);
            if !params.well_formed() {
                return Err(ProtocolError::invalid_request("a parameter was repeated"));
            }
            let (conn, keys) = context::open(&st)?;
            let mut ctx = Ctx::new(st.settings_arc(), keys, conn, crate::db::now());
            ctx.assertion_keys = assertion;
            let client = client_auth::authenticate_request(&ctx, auth.as_deref(), &params)?;
            let token = params
                .get("token")
                .map(|t| t.into_owned())
                .ok_or_else(|| ProtocolError::invalid_request("token is missing"))?;
            let hint = params.get("token_type_hint").map(|h| h.into_owned());
            let mut conn = ctx.conn();
            match kind {
                Kind::Revoke => {
                    revocation::revoke(
                        &mut conn,
                        &st.keys,
                        &st.settings.issuer,
                        &client.row.client_id,
                        &token,
                        hint.as_deref(),
                    )?;
                    Ok(None)
                }
                Kind::Introspect => {
                    if client.row.is_public {
                        return Err(ProtocolError::invalid_client(
                            "introspection is for confidential clients (resource servers)",
                        ));
                    }
                    Ok(Some(introspection::introspect(
                        &mut conn,
                        &st.keys,
                        &st.settings.issuer,
                        st.settings.refresh_grace,
                        &client.row.client_id,
                        &token,
                    )?))
                }
            }
        },
    )
    .await;
    match result {
        Ok(Ok(None)) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish(),
        Ok(Ok(Some(doc))) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(doc),
        Ok(Err(e)) => OAuthError::from(e).response(),
        Err(e) => OAuthError::from(ProtocolError::server_error(e)).response(),
    }
}

pub async fn revoke(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    handle(req, state, body, Kind::Revoke).await
}

pub async fn introspect(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    handle(req, state, body, Kind::Introspect).await
}
