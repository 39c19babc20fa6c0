//! grant_type=client_credentials (RFC 6749 §4.4): confidential clients only, no refresh token.

use oxide_auth::code_grant::client_credentials::{client_credentials, Error};

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
    let client_id = ctx
        .authenticated_client
        .clone()
        .ok_or_else(|| ProtocolError::invalid_client("client authentication is required"))?;
    let mut flow = Flow::new(ctx, GrantKind::ClientCredentials, key);
    let pending = match client_credentials(&mut flow, params) {
        Ok(p) => p,
        Err(Error::Invalid(mut d)) => return Err(flow_error(ctx, Some(d.description()))),
        Err(Error::Unauthorized(mut d, _)) => return Err(flow_error(ctx, Some(d.description()))),
        Err(Error::Ignore) | Err(Error::Primitive(_)) => return Err(flow_error(ctx, None)),
    };
    match pending.issue(&mut flow, client_id, false) {
        Ok(_) => take_issued(ctx),
        Err(_) => Err(flow_error(ctx, None)),
    }
}
