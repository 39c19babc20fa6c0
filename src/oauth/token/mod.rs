//! The token endpoint's protocol side: client authentication, then one module per grant type,
//! each returning what was issued or a `ProtocolError`.

pub mod authorization_code;
pub mod client_credentials;
pub mod device_code;
pub mod refresh_token;
pub mod token_exchange;

use oxide_auth::code_grant::error::AccessTokenError;
use serde::Serialize;

use super::client_auth;
use super::context::{Ctx, Noted, Server};
use super::errors::{ErrorCode, ProtocolError};
use super::params::Form;
use super::tokens::Issued;
use crate::db::models::clients::Client;
use crate::domain::grants::{
    GRANT_AUTHORIZATION_CODE, GRANT_CLIENT_CREDENTIALS, GRANT_DEVICE_CODE, GRANT_REFRESH_TOKEN,
    GRANT_TOKEN_EXCHANGE, SUPPORTED_GRANTS,
};

/// The successful token response (RFC 6749 §5.1).
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// RFC 8693 §2.2.1, for token exchange.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_token_type: Option<&'static str>,
}

impl From<Issued> for TokenResponse {
    fn from(i: Issued) -> Self {
        TokenResponse {
            access_token: i.access_token,
            token_type: "Bearer",
            expires_in: i.expires_in,
            scope: i.scope,
            refresh_token: i.refresh_token,
            id_token: None,
            issued_token_type: None,
        }
    }
}

/// What the issuer recorded for a flow that succeeded.
pub fn take_issued(ctx: &Ctx) -> Result<Issued, ProtocolError> {
    ctx.issued
        .borrow_mut()
        .take()
        .ok_or_else(|| ProtocolError::server_error("issuer produced no token"))
}

/// Maps a failed oxide-auth token flow to RFC 6749 §5.2, preferring what our primitives noted.
pub fn flow_error(ctx: &Ctx, fallback: Option<&AccessTokenError>) -> ProtocolError {
    match ctx.noted() {
        Noted::BadCode => ProtocolError::invalid_grant(
            "the authorization code is invalid, expired or already used",
        ),
        Noted::PkceFailed | Noted::PkceRequired => {
            ProtocolError::invalid_grant("PKCE verification failed")
        }
        Noted::BadRefreshToken => {
            ProtocolError::invalid_grant("the refresh token is invalid, expired or revoked")
        }
        Noted::ScopeNotAllowed => ProtocolError::new(
            ErrorCode::InvalidScope,
            "the requested scope is not allowed",
        ),
        Noted::Storage | Noted::Unavailable => ctx
            .storage_failure()
            .unwrap_or_else(|| ProtocolError::server_error("storage failure")),
        Noted::Nothing | Noted::ResponseTypeMissing => {
            let code = fallback
                .and_then(|e| {
                    e.iter()
                        .find(|(k, _)| *k == "error")
                        .map(|(_, v)| v.into_owned())
                })
                .unwrap_or_else(|| "invalid_request".into());
            let code = match code.as_str() {
                "invalid_grant" => ErrorCode::InvalidGrant,
                "invalid_scope" => ErrorCode::InvalidScope,
                "invalid_client" => ErrorCode::InvalidClient,
                "unauthorized_client" => ErrorCode::UnauthorizedClient,
                "unsupported_grant_type" => ErrorCode::UnsupportedGrantType,
                _ => ErrorCode::InvalidRequest,
            };
            let description = match code {
                ErrorCode::InvalidGrant => "the grant is invalid for this client or redirect_uri",
                ErrorCode::InvalidClient => "client authentication failed",
                _ => "the request is missing a parameter or has an invalid one",
            };
            ProtocolError::new(code, description)
        }
    }
}

/// Adds what OIDC puts beside the tokens (the id_token), given what was issued.
pub type Finisher<'f> = &'f dyn Fn(&Ctx, &Issued, &Client) -> Result<Option<String>, ProtocolError>;

/// Whether a token request may first be tried from the caches on an async worker
/// (`context::inline`): a client_credentials grant writes nothing, and with its client cached it
/// reads nothing either. Client assertions are checked against the database (`jti` replay).
pub fn may_try_inline(form: &Form) -> bool {
    form.value("grant_type").as_deref() == Some(GRANT_CLIENT_CREDENTIALS)
        && !form.has("client_assertion")
}

/// Handles one token request in `ctx` (pooled, inside `web::block`; or inline, see
/// `may_try_inline`).
pub fn handle(
    ctx: &mut Ctx,
    state: Server<'_>,
    form: &Form,
    auth_header: Option<&str>,
    finish: Finisher<'_>,
) -> Result<TokenResponse, ProtocolError> {
    let mut params = form.params();
    if !params.well_formed() {
        return Err(ProtocolError::invalid_request("a parameter was repeated"));
    }
    let grant_type = params
        .get("grant_type")
        .map(|g| g.into_owned())
        .ok_or_else(|| ProtocolError::invalid_request("grant_type is missing"))?;
    if !SUPPORTED_GRANTS.contains(&grant_type.as_str()) {
        return Err(ProtocolError::new(
            ErrorCode::UnsupportedGrantType,
            format!("grant_type {grant_type:?} is not supported"),
        ));
    }
    let presented = client_auth::presented(auth_header, &params)?;
    let client = client_auth::authenticate(ctx, &presented)?;
    if !client.allows_grant(&grant_type) {
        return Err(ProtocolError::new(
            ErrorCode::UnauthorizedClient,
            format!("this client may not use the {grant_type} grant"),
        ));
    }
    let secret = match &presented {
        client_auth::Presented::Basic { secret, .. }
        | client_auth::Presented::Post { secret, .. } => Some(secret.as_bytes().to_vec()),
        client_auth::Presented::IdOnly { .. } => None,
        // oxide-auth knows only passwords: an assertion-authenticated client passes as one that
        // presented a credential (the registrar's check trusts `client_auth`, not this value).
        client_auth::Presented::Assertion { .. } => Some(b"private_key_jwt".to_vec()),
    };
    ctx.authenticated_client = Some(client.row.client_id.clone());
    params.authenticated = Some((client.row.client_id.clone(), secret));
    let issued = match grant_type.as_str() {
        GRANT_AUTHORIZATION_CODE => {
            ctx.one_commit(|| authorization_code::exchange(ctx, &params, state.successor_key))?
        }
        GRANT_REFRESH_TOKEN => refresh_token::exchange(ctx, &params, state.successor_key)?,
        GRANT_CLIENT_CREDENTIALS => {
            client_credentials::exchange(ctx, &params, state.successor_key)?
        }
        GRANT_DEVICE_CODE => device_code::exchange(ctx, &client, &params)?,
        GRANT_TOKEN_EXCHANGE => {
            // An exchanged token is an access token only: no id_token, no refresh token.
            let mut response: TokenResponse =
                token_exchange::exchange(ctx, &client, &params, state.keys)?.into();
            response.issued_token_type = Some(token_exchange::ACCESS_TOKEN_TYPE);
            crate::metrics::token_issued(&grant_type);
            return Ok(response);
        }
        other => {
            return Err(ProtocolError::new(
                ErrorCode::UnsupportedGrantType,
                format!("grant_type {other:?} is not supported"),
            ))
        }
    };
    crate::metrics::token_issued(&grant_type);
    let id_token = finish(ctx, &issued, &client)?;
    let mut response: TokenResponse = issued.into();
    response.id_token = id_token;
    Ok(response)
}
