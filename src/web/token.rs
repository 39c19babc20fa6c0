//! POST /token: parses the form itself (so it can tell header from body credentials and
//! refuse repeated parameters), then hands over to `oauth::token`.

use std::sync::Arc;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};

use crate::db::models::clients::Client;
use crate::oauth::context::{AssertionKeys, Ctx};
use crate::oauth::errors::ProtocolError;
use crate::oauth::params::{Form, Params};
use crate::oauth::token;
use crate::oauth::tokens::Issued;
use crate::oauth::{client_assertion, client_auth};
use crate::oidc::id_token;
use crate::state::AppState;

/// What a client-authenticated form endpoint (token, revocation, introspection) receives.
pub struct ClientForm {
    pub form: Form,
    pub auth: Option<String>,
}

/// Checks the content type and the Authorization header and parses the form.
pub fn client_form(req: &HttpRequest, body: &[u8]) -> Result<ClientForm, ProtocolError> {
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
        return Err(ProtocolError::invalid_request(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    let mut auth_headers = req.headers().get_all(header::AUTHORIZATION);
    let auth = auth_headers.next().map(|v| v.to_str().map(str::to_owned));
    if auth_headers.next().is_some() {
        return Err(ProtocolError::invalid_request(
            "more than one Authorization header",
        ));
    }
    let auth = match auth {
        None => None,
        Some(Ok(a)) => Some(a),
        Some(Err(_)) => {
            return Err(ProtocolError::invalid_client(
                "malformed Authorization header",
            ))
        }
    };
    if !crate::oauth::params::urlencoded_is_utf8(body) {
        return Err(ProtocolError::invalid_request(
            "the form is not valid UTF-8 once decoded",
        ));
    }
    Ok(ClientForm {
        form: Form::parse(body),
        auth,
    })
}

/// The client a client-authenticated form names (for the access log; not authenticated yet):
/// the Basic header's id, else `client_id`, else a client assertion's subject.
pub fn claimed_client(auth: Option<&str>, form: &Form) -> Option<String> {
    use base64::Engine;
    let from_basic = auth
        .and_then(|h| h.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .and_then(|(_, v)| {
            base64::engine::general_purpose::STANDARD
                .decode(v.trim())
                .ok()
        })
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|t| t.split_once(':').map(|(id, _)| id.to_owned()))
        .and_then(|id| {
            url::form_urlencoded::parse(format!("x={id}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
        });
    from_basic
        .or_else(|| form.value("client_id"))
        .or_else(|| {
            form.value("client_assertion")
                .and_then(|a| client_assertion::peek(&a).ok())
                .map(|p| p.client_id)
        })
        .map(|id| id.chars().take(256).collect())
}

/// For a form carrying a client assertion (private_key_jwt): the client's keys, fetched now
/// when they live at its `jwks_uri`, and the audiences the assertion may name at `endpoint`
/// (the issuer, the token endpoint, or `endpoint` itself). `None` when there is no assertion or
/// no such client: authentication then fails in the usual place, with the usual answer.
pub async fn assertion_keys(
    state: &web::Data<AppState>,
    form: &Form,
    endpoint: &str,
) -> Option<AssertionKeys> {
    let assertion = form.value("client_assertion")?;
    let peeked = client_assertion::peek(&assertion).ok()?;
    let st = state.clone();
    let id = peeked.client_id.clone();
    let client = web::block(move || {
        let mut conn = st.pool.get().ok()?;
        crate::db::models::clients::by_id(&mut conn, &id)
            .ok()
            .flatten()
    })
    .await
    .ok()
    .flatten()
    .filter(|c| !c.row.disabled)?;
    let outbound = crate::outbound::Outbound::new(&state.settings.outbound_allow);
    let keys =
        client_assertion::keys_for(&state.fetched, &outbound, &client, peeked.kid.as_deref())
            .await
            .ok()?;
    let issuer = state.settings.issuer.clone();
    Some(AssertionKeys {
        keys,
        audiences: vec![
            format!("{issuer}/token"),
            format!("{issuer}{endpoint}"),
            issuer,
        ],
    })
}

/// Whether a client-authenticated endpoint may be served from the caches (`client_endpoint`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Serve {
    /// Always on the blocking pool, with a connection (endpoints that write).
    Pooled,
    /// From the caches on the async worker when they hold everything, else as `Pooled`.
    TryInline,
}

/// A client-authenticated form endpoint other than /token (PAR, device authorization,
/// revocation, introspection): the form parsed and checked, the client authenticated (with
/// whatever method it registered, private_key_jwt included), then `f` on the blocking pool with
/// the context, the client and the parameters. Errors are RFC 6749 §5.2 JSON.
///
/// With `Serve::TryInline`, `f` is first tried from the caches on this worker
/// (`context::inline`); it must then change nothing before its first database read, because
/// it runs again on the blocking pool when it needed one.
pub async fn client_endpoint<T: Send + 'static>(
    req: &HttpRequest,
    state: web::Data<AppState>,
    body: &[u8],
    endpoint: &'static str,
    serve: Serve,
    f: impl Fn(&Ctx, Arc<Client>, &Params<'_>) -> Result<T, ProtocolError> + Send + 'static,
) -> (Option<String>, Result<T, ProtocolError>) {
    let (claimed, result) = client_endpoint_inner(req, state, body, endpoint, serve, f).await;
    (
        claimed,
        result.map_err(|e| client_auth::answer(used_header(req), e)),
    )
}

/// Whether the request carried an Authorization header (the scheme a failed client
/// authentication is challenged with, `client_auth::answer`).
fn used_header(req: &HttpRequest) -> bool {
    req.headers().contains_key(header::AUTHORIZATION)
}

async fn client_endpoint_inner<T: Send + 'static>(
    req: &HttpRequest,
    state: web::Data<AppState>,
    body: &[u8],
    endpoint: &'static str,
    serve: Serve,
    f: impl Fn(&Ctx, Arc<Client>, &Params<'_>) -> Result<T, ProtocolError> + Send + 'static,
) -> (Option<String>, Result<T, ProtocolError>) {
    let ClientForm { form, auth } = match client_form(req, body) {
        Ok(f) => f,
        Err(e) => return (None, Err(e)),
    };
    let claimed = claimed_client(auth.as_deref(), &form);
    // Client assertions are checked against the database (`jti` replay): never inline.
    let with_assertion = form.has("client_assertion");
    let assertion = assertion_keys(&state, &form, endpoint).await;
    let st = state.into_inner();
    let run = move |ctx: &Ctx| -> Result<T, ProtocolError> {
        let params = form.params();
        if !params.well_formed() {
            return Err(ProtocolError::invalid_request("a parameter was repeated"));
        }
        let client =
            crate::oauth::client_auth::authenticate_request(ctx, auth.as_deref(), &params)?;
        f(ctx, client, &params)
    };
    if matches!(serve, Serve::TryInline) && !with_assertion {
        let label = endpoint.trim_start_matches('/');
        if let Some(result) =
            crate::oauth::context::try_inline(st.protocol(), label, |ctx| run(ctx))
        {
            return (claimed, result);
        }
    }
    let result = web::block(move || -> Result<T, ProtocolError> {
        let mut ctx = crate::oauth::context::pooled(st.protocol())?;
        ctx.assertion_keys = assertion;
        run(&ctx)
    })
    .await
    .unwrap_or_else(|e| Err(ProtocolError::server_error(e)));
    (claimed, result)
}

pub async fn token(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> HttpResponse {
    let failed = |e: ProtocolError| client_auth::answer(used_header(&req), e).error_response();
    let ClientForm { form, auth } = match client_form(&req, &body) {
        Ok(f) => f,
        Err(e) => return failed(e),
    };
    let claimed = claimed_client(auth.as_deref(), &form);
    let st = state.clone().into_inner();
    let finish = |ctx: &Ctx, issued: &Issued, client: &Client| {
        id_token::for_token_response(
            |id| ctx.user(id),
            |id| {
                if crate::oauth::subject::is_pairwise(client) {
                    let mut conn = ctx.conn()?;
                    crate::oauth::subject::for_client(&mut conn, client, id)
                } else {
                    Ok(id.to_owned())
                }
            },
            |id| {
                let mut conn = ctx.conn()?;
                crate::db::models::groups::names_of(&mut conn, id)
            },
            &ctx.keys,
            &ctx.settings,
            issued,
            client,
            ctx.now,
        )
        .map_err(ProtocolError::server_error)
    };
    // From the caches, on this worker, when the grant allows and nothing needs the database.
    // An RSA signature (a millisecond or more) is not for the async workers.
    let cheap_signature = st.settings.access_token_alg != crate::domain::signing::SigningAlg::Rs256;
    let inline = (cheap_signature && token::may_try_inline(&form))
        .then(|| {
            crate::oauth::context::try_inline(st.protocol(), "token", |ctx| {
                token::handle(ctx, st.protocol(), &form, auth.as_deref(), &finish)
            })
        })
        .flatten();
    let result = match inline {
        Some(r) => Ok(r),
        None => {
            let assertion = assertion_keys(&state, &form, "/token").await;
            web::block(move || {
                let mut ctx = crate::oauth::context::pooled(st.protocol())?;
                ctx.assertion_keys = assertion;
                token::handle(&mut ctx, st.protocol(), &form, auth.as_deref(), &finish)
            })
            .await
        }
    };
    let mut res = match result {
        Ok(Ok(resp)) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::PRAGMA, "no-cache"))
            .json(resp),
        Ok(Err(e)) => failed(e),
        Err(e) => ProtocolError::server_error(e).error_response(),
    };
    crate::web::metrics::tag(&mut res, claimed, None);
    res
}
