//! grant_type=urn:ietf:params:oauth:grant-type:device_code (RFC 8628 §3.4): the device polls;
//! once the user approved, one poll gets the tokens (and an id_token for `openid`).

use crate::db::models::clients::Client;
use crate::oauth::context::Ctx;
use crate::oauth::device;
use crate::oauth::errors::ProtocolError;
use crate::oauth::issuer::{issue_for_login, Login};
use crate::oauth::params::Params;
use crate::oauth::tokens::Issued;

pub fn exchange(ctx: &Ctx, client: &Client, params: &Params<'_>) -> Result<Issued, ProtocolError> {
    let code = params
        .get("device_code")
        .ok_or_else(|| ProtocolError::invalid_request("device_code is missing"))?;
    let now_ms = chrono::Utc::now().timestamp_millis();
    let approved = {
        let mut conn = ctx.conn()?;
        device::poll(&mut conn, client, &code, ctx.now, now_ms)?
    };
    // The user may have been disabled between approving and this poll.
    match ctx.user(&approved.user_id) {
        Ok(Some(u)) if !u.disabled => {}
        Ok(_) => return Err(ProtocolError::invalid_grant("the user cannot sign in")),
        Err(e) => return Err(ProtocolError::server_error(e)),
    }
    issue_for_login(
        ctx,
        Login {
            client_id: client.row.client_id.clone(),
            user_id: approved.user_id,
            scope: approved.scope,
            auth_time: approved.auth_time,
            amr: approved.amr,
            session_id: approved.session_id,
            nonce: None,
            claims: None,
        },
    )
}
