//! grant_type=urn:ietf:params:oauth:grant-type:token-exchange (RFC 8693): a confidential
//! client presents an access token Ostiary issued (the subject token, and optionally an actor
//! token) and gets one for another audience on the subject's behalf — never broader: the scope
//! is the subject's or narrower, the life ends no later than the subject token's, and the
//! audience must be on the client's allow-list. The new token's `act` names who acts (the actor
//! token's subject, or else the client), nesting any earlier `act` (delegation chains).

use serde_json::{json, Value};

use crate::crypto::keys::KeyRing;
use crate::db::models::clients::Client;
use crate::domain::claims::AccessClaims;
use crate::oauth::access_token::{self, AccessTokenCheck};
use crate::oauth::context::Ctx;
use crate::oauth::errors::{ErrorCode, ProtocolError};
use crate::oauth::params::Params;
use crate::oauth::subject;
use crate::oauth::tokens::{mint_access_token, AccessTokenRequest, Issued};

pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

fn verified(
    ctx: &Ctx,
    ring: &KeyRing,
    token: &str,
    token_type: Option<&str>,
    which: &str,
) -> Result<AccessClaims, ProtocolError> {
    match token_type {
        Some(ACCESS_TOKEN_TYPE) => {}
        Some(_) => {
            return Err(ProtocolError::invalid_request(format!(
                "{which}_token_type must be {ACCESS_TOKEN_TYPE}"
            )))
        }
        None => {
            return Err(ProtocolError::invalid_request(format!(
                "{which}_token_type is missing"
            )))
        }
    }
    let mut conn = ctx.conn().map_err(ProtocolError::server_error)?;
    let (check, claims) = access_token::verify(
        Some(&mut *conn),
        ctx.caches(),
        ring,
        &ctx.settings.issuer,
        token,
    )
    .map_err(ProtocolError::server_error)?;
    match (check, claims) {
        (AccessTokenCheck::Valid, Some(c)) => Ok(c),
        _ => Err(ProtocolError::invalid_grant(format!(
            "the {which} token is invalid, expired or revoked"
        ))),
    }
}

/// The subject token and, if any, the actor token, each verified (ours, alive). An actor must
/// be the requesting client's own: a token someone else holds cannot be named as the acting
/// party.
fn presented_tokens(
    ctx: &Ctx,
    client: &Client,
    params: &Params<'_>,
    ring: &KeyRing,
) -> Result<(AccessClaims, Option<AccessClaims>), ProtocolError> {
    let subject_token = params
        .get("subject_token")
        .ok_or_else(|| ProtocolError::invalid_request("subject_token is missing"))?;
    let subject = verified(
        ctx,
        ring,
        &subject_token,
        params.get("subject_token_type").as_deref(),
        "subject",
    )?;
    let actor = match params.get("actor_token") {
        Some(t) => Some(verified(
            ctx,
            ring,
            &t,
            params.get("actor_token_type").as_deref(),
            "actor",
        )?),
        None if params.get("actor_token_type").is_some() => {
            return Err(ProtocolError::invalid_request(
                "actor_token_type without actor_token",
            ))
        }
        None => None,
    };
    if actor
        .as_ref()
        .is_some_and(|a| a.client_id != client.row.client_id)
    {
        return Err(ProtocolError::invalid_grant(
            "the actor token was not issued to this client",
        ));
    }
    Ok((subject, actor))
}

/// The audience: `audience`, or a `resource` URI; one of the client's allowed targets
/// (RFC 8693 `invalid_target` otherwise).
fn allowed_audience(client: &Client, params: &Params<'_>) -> Result<String, ProtocolError> {
    let target = params
        .get("audience")
        .or_else(|| params.get("resource"))
        .ok_or_else(|| ProtocolError::invalid_request("audience (or resource) is required"))?;
    let allowed = client
        .row
        .token_exchange_audiences
        .as_deref()
        .unwrap_or("")
        .split_ascii_whitespace()
        .any(|a| a == target);
    if !allowed {
        return Err(ProtocolError::new(
            ErrorCode::InvalidTarget,
            "this client may not obtain tokens for that audience",
        ));
    }
    Ok(target.into_owned())
}

/// The scope of the new token: the subject token's, or a narrower one asked for — never
/// broader than the subject's, nor than the client's own.
fn narrowed_scope(
    client: &Client,
    params: &Params<'_>,
    subject: &AccessClaims,
) -> Result<String, ProtocolError> {
    let granted: Vec<&str> = subject.scope.split_ascii_whitespace().collect();
    let Some(asked) = params.get("scope") else {
        return Ok(subject.scope.clone());
    };
    let wanted: Vec<&str> = asked.split_ascii_whitespace().collect();
    let own: Vec<&str> = client.scopes().collect();
    if wanted.is_empty()
        || wanted
            .iter()
            .any(|s| !granted.contains(s) || !own.contains(s))
    {
        return Err(ProtocolError::new(
            ErrorCode::InvalidScope,
            "the requested scope is broader than the subject token's",
        ));
    }
    let mut w: Vec<&str> = wanted;
    w.sort_unstable();
    w.dedup();
    Ok(w.join(" "))
}

/// Who acts (RFC 8693 §4.1): the actor token's subject, or the client; an earlier `act` of the
/// subject token nests inside, so delegation chains stay visible.
fn act_claim(client: &Client, subject: &AccessClaims, actor: Option<&AccessClaims>) -> Value {
    let acting = match actor {
        Some(a) => json!({ "sub": a.sub, "client_id": a.client_id }),
        None => json!({ "sub": client.row.client_id, "client_id": client.row.client_id }),
    };
    match (acting, &subject.act) {
        (Value::Object(mut o), Some(previous)) => {
            o.insert("act".into(), previous.clone());
            Value::Object(o)
        }
        (a, _) => a,
    }
}

pub fn exchange(
    ctx: &Ctx,
    client: &Client,
    params: &Params<'_>,
    ring: &KeyRing,
) -> Result<Issued, ProtocolError> {
    if client.row.is_public {
        return Err(ProtocolError::new(
            ErrorCode::UnauthorizedClient,
            "token exchange is for confidential clients",
        ));
    }
    if let Some(t) = params.get("requested_token_type") {
        if t != ACCESS_TOKEN_TYPE {
            return Err(ProtocolError::invalid_request(format!(
                "only {ACCESS_TOKEN_TYPE} can be requested"
            )));
        }
    }
    let (subject, actor) = presented_tokens(ctx, client, params, ring)?;
    // A pairwise client's token names the user by its pairwise sub: resolved back, and the new
    // token names them as this client sees them (OIDC Core §8).
    let subject_user = {
        let mut conn = ctx.conn_if_any();
        ctx.checked(subject::user_of_token(
            conn.as_deref_mut().map(|c| &mut **c),
            ctx.caches(),
            &subject,
        ))?
    };
    // A client_credentials token names its client: no user.
    let user = subject_user
        .as_deref()
        .and_then(|uid| ctx.user(uid).ok().flatten());
    // The subject must still be able to sign in.
    if user.as_ref().is_some_and(|u| u.disabled) {
        return Err(ProtocolError::invalid_grant(
            "the subject's account is disabled",
        ));
    }
    let new_sub = match &user {
        Some(u) if subject::is_pairwise(client) => {
            let mut conn = ctx.conn()?;
            subject::for_client(&mut conn, client, &u.id)?
        }
        Some(u) => u.id.clone(),
        None => subject.sub.clone(),
    };
    let target = allowed_audience(client, params)?;
    let scope = narrowed_scope(client, params, &subject)?;
    let act = act_claim(client, &subject, actor.as_ref());
    let amr = subject.amr.as_ref().map(|m| m.join(" "));
    // Never outlives the subject token.
    let ttl = ctx
        .settings
        .access_token_ttl
        .min(subject.exp - ctx.now)
        .max(1);
    let (token, jti, exp) = mint_access_token(
        &ctx.keys,
        ctx.settings.access_token_alg,
        &AccessTokenRequest {
            issuer: &ctx.settings.issuer,
            subject: &new_sub,
            client_id: &client.row.client_id,
            scope: &scope,
            auth_time: subject.auth_time,
            amr: amr.as_deref(),
            ttl,
            now: ctx.now,
            audience: Some(&target),
            act: Some(act),
            claims: None,
        },
    )
    .map_err(ProtocolError::server_error)?;
    tracing::info!(
        client_id = %client.row.client_id,
        subject_client = %subject.client_id,
        audience = %target,
        "token exchanged"
    );
    Ok(Issued {
        access_token: token,
        jti,
        expires_in: exp - ctx.now,
        expires_at: exp,
        refresh_token: None,
        scope,
        client_id: client.row.client_id.clone(),
        subject: new_sub,
        user_id: None,
        auth_time: subject.auth_time,
        nonce: None,
        session_id: None,
        amr,
        claims: None,
        family_id: None,
    })
}
