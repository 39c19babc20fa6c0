//! POST /revoke (RFC 7009) and POST /introspect (RFC 7662): client-authenticated forms.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use super::token::{client_endpoint, Serve};
use crate::oauth::errors::ProtocolError;
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
    let endpoint = match kind {
        Kind::Revoke => "/revoke",
        Kind::Introspect => "/introspect",
    };
    let st = state.clone().into_inner();
    // Introspection reads only, so it is served from the caches when they hold the answer.
    let serve = match kind {
        Kind::Revoke => Serve::Pooled,
        Kind::Introspect => Serve::TryInline,
    };
    let (claimed, answered) = client_endpoint(
        &req,
        state,
        &body,
        endpoint,
        serve,
        move |ctx, client, params| {
            let token = params
                .get("token")
                .map(|t| t.into_owned())
                .ok_or_else(|| ProtocolError::invalid_request("token is missing"))?;
            let hint = params.get("token_type_hint").map(|h| h.into_owned());
            match kind {
                Kind::Revoke => {
                    revocation::revoke(
                        &mut *ctx.conn()?,
                        ctx.caches(),
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
                    let mut conn = ctx.conn_if_any();
                    Ok(Some(ctx.checked(introspection::introspect(
                        conn.as_deref_mut().map(|c| &mut **c),
                        ctx.caches(),
                        &st.keys,
                        &st.settings.issuer,
                        st.settings.refresh_grace,
                        &client,
                        &token,
                    ))?))
                }
            }
        },
    )
    .await;
    let mut res = match answered {
        Ok(None) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish(),
        Ok(Some(doc)) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(doc),
        Err(e) => actix_web::ResponseError::error_response(&e),
    };
    crate::web::metrics::tag(&mut res, claimed, None);
    res
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
