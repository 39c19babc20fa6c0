//! OIDC Back-Channel Logout 1.0, the delivering side: an outbox row (queued when a session
//! ended, `db::models::backchannel`) becomes a logout token — signed when sent, so its `iat` and
//! `exp` are fresh on every retry while its `jti` stays — POSTed to the client's
//! `backchannel_logout_uri` through `outbound` (SSRF-safe, 5 s, no redirects, small answers).

use serde_json::json;

use crate::crypto::jwt;
use crate::db::models::backchannel::Notice;
use crate::db::models::clients;
use crate::domain::signing::SigningAlg;
use crate::mail::SendError;
use crate::outbound::{FetchError, Limits, Outbound};
use crate::state::AppState;

/// The `events` member that makes a JWT a logout token (OIDC Back-Channel Logout §2.4).
pub const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// A logout token's life: long enough to cross the network, short enough to be useless later.
const TTL: i64 = 120;

/// Signs and posts one logout token.
pub async fn deliver(state: &std::sync::Arc<AppState>, notice: &Notice) -> Result<(), SendError> {
    let st = state.clone();
    let n = notice.clone();
    let (token, uri) = tokio::task::spawn_blocking(move || sign(&st, &n))
        .await
        .map_err(|e| SendError::Transient(format!("signing task: {e}")))??;
    post(state, &uri, &token).await
}

/// The logout token for `notice`, and where it goes (database and signing: blocking).
fn sign(state: &AppState, notice: &Notice) -> Result<(String, String), SendError> {
    let now = crate::db::now();
    {
        let st_keys = &state.keys;
        let mut conn = state
            .pool
            .get()
            .map_err(|e| SendError::Transient(format!("database pool: {e}")))?;
        let client = clients::by_id(&mut conn, &notice.client_id)
            .map_err(|e| SendError::Transient(format!("database: {e}")))?
            .filter(|c| !c.row.disabled)
            .ok_or_else(|| SendError::Permanent("the client is gone or disabled".into()))?;
        let keys = st_keys
            .current(&mut conn)
            .map_err(|e| SendError::Transient(format!("keys: {e}")))?;
        let alg = SigningAlg::parse(&client.row.id_token_alg).unwrap_or(SigningAlg::Rs256);
        // The sub this client was given (pairwise or public, OIDC Core §8).
        let sub = crate::oauth::subject::for_client(&mut conn, &client, &notice.user_id)
            .map_err(|e| SendError::Transient(format!("database: {e}")))?;
        let claims = json!({
            "iss": state.settings.issuer,
            "aud": notice.client_id,
            "iat": now,
            "exp": now + TTL,
            "jti": notice.jti,
            "sub": sub,
            "sid": crate::oidc::id_token::sid(&notice.session),
            "events": { EVENT: {} },
        });
        // Where the client wants them now (it may have changed since the session ended).
        let uri = client.row.backchannel_logout_uri.clone().ok_or_else(|| {
            SendError::Permanent("the client no longer takes logout tokens".into())
        })?;
        let token = jwt::sign(&keys, alg, "logout+jwt", &claims, now)
            .map_err(|e| SendError::Transient(format!("signing: {e}")))?;
        Ok((token, uri))
    }
}

async fn post(state: &AppState, uri: &str, token: &str) -> Result<(), SendError> {
    let outbound = Outbound::new(&state.settings.outbound_allow);
    match outbound
        .post_form(uri, &[("logout_token", token)], Limits::LOGOUT)
        .await
    {
        Ok(_) => Ok(()),
        // The client looked at the token and refused it (§2.8: 400): sending it again will not
        // change its mind. Anything else may pass later.
        Err(FetchError::Status(s)) if (400..500).contains(&s) && s != 408 && s != 429 => Err(
            SendError::Permanent(format!("the client answered HTTP {s}")),
        ),
        Err(
            e @ (FetchError::InvalidUrl(_)
            | FetchError::NotHttps
            | FetchError::ForbiddenAddress { .. }
            | FetchError::PlainHttpNotAllowed { .. }
            | FetchError::Redirect { .. }),
        ) => Err(SendError::Permanent(e.to_string())),
        Err(e) => Err(SendError::Transient(e.to_string())),
    }
}
