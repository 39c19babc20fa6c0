//! grant_type=refresh_token (RFC 6749 §6) with rotation, a retry grace window and reuse
//! detection (RFC 9700 §4.14.2).

use oxide_auth::code_grant::refresh::{refresh, Error};

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
    if params.get("refresh_token").is_none() {
        return Err(ProtocolError::invalid_request("refresh_token is missing"));
    }
    let mut flow = Flow::new(ctx, GrantKind::RefreshToken, key);
    match refresh(&mut flow, params) {
        Ok(_) => take_issued(ctx),
        Err(Error::Invalid(mut d)) => Err(flow_error(ctx, Some(d.description()))),
        Err(Error::Unauthorized(mut d, _)) => Err(flow_error(ctx, Some(d.description()))),
        Err(Error::Primitive) => Err(flow_error(ctx, None)),
    }
}
