//! grant_type=authorization_code (RFC 6749 §4.1.3, PKCE per RFC 7636).

use oxide_auth::code_grant::accesstoken::{access_token, Error};

use super::{flow_error, take_issued};
use crate::db::models::codes;
use crate::oauth::context::Ctx;
use crate::oauth::errors::ProtocolError;
use crate::oauth::flow::Flow;
use crate::oauth::issuer::GrantKind;
use crate::oauth::params::Params;
use crate::oauth::tokens::{Issued, SuccessorKey};

pub fn exchange(
    ctx: &Ctx,
    params: &Params<'_>,
    key: &SuccessorKey,
) -> Result<Issued, ProtocolError> {
    let Some(code) = params.get("code") else {
        return Err(ProtocolError::invalid_request("code is missing"));
    };
    let mut params = params.clone();
    if params.get("redirect_uri").is_none() {
        params.implied_redirect_uri = Some(omitted_redirect_uri(ctx, &params, &code)?);
    }
    let mut flow = Flow::new(ctx, GrantKind::AuthorizationCode, key);
    match access_token(&mut flow, &params) {
        Ok(_) => take_issued(ctx),
        Err(Error::Invalid(mut d)) => Err(flow_error(ctx, Some(d.description()))),
        Err(Error::Unauthorized(mut d, _)) => Err(flow_error(ctx, Some(d.description()))),
        Err(Error::Primitive(_)) => Err(flow_error(ctx, None)),
    }
}

/// RFC 6749 §4.1.3: `redirect_uri` is required at the token endpoint only if the authorization
/// request included it (and must then be identical). A token request without it is answered
/// for a code whose authorization request left it out too (possible only for a client with one
/// registered redirect URI, `registrar::bound_redirect`): the code's own redirect URI stands
/// in. The code is only looked at here; it is spent, once, by the flow.
fn omitted_redirect_uri(
    ctx: &Ctx,
    params: &Params<'_>,
    code: &str,
) -> Result<String, ProtocolError> {
    let missing = || ProtocolError::invalid_request("redirect_uri is missing");
    let hash = crate::random::sha256_hex(code);
    let found = codes::redirect_of(&mut **ctx.conn()?, &hash, ctx.now)?;
    let client = params.authenticated.as_ref().map(|(id, _)| id.as_str());
    match found {
        Some((code_client, uri, false)) if Some(code_client.as_str()) == client => Ok(uri),
        _ => Err(missing()),
    }
}
