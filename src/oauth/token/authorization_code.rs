//! grant_type=authorization_code (RFC 6749 §4.1.3, PKCE per RFC 7636).

use oxide_auth::code_grant::accesstoken::{access_token, Error};

use super::{flow_error, take_issued};
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
    if params.get("code").is_none() {
        return Err(ProtocolError::invalid_request("code is missing"));
    }
    if params.get("redirect_uri").is_none() {
        return Err(ProtocolError::invalid_request("redirect_uri is missing"));
    }
    let mut flow = Flow::new(ctx, GrantKind::AuthorizationCode, key);
    match access_token(&mut flow, params) {
        Ok(_) => take_issued(ctx),
        Err(Error::Invalid(mut d)) => Err(flow_error(ctx, Some(d.description()))),
        Err(Error::Unauthorized(mut d, _)) => Err(flow_error(ctx, Some(d.description()))),
        Err(Error::Primitive(_)) => Err(flow_error(ctx, None)),
    }
}
