//! RP-Initiated Logout 1.0: decides whether a logout request can be trusted (a valid
//! `id_token_hint` for the current user) and where the browser may go afterwards (only a
//! `post_logout_redirect_uri` registered for the identified client).

use serde_json::Value;
use url::Url;

use crate::crypto::jwt;
use crate::crypto::keys::KeyRing;
use crate::db::models::clients;
use crate::db::DbConn;

#[derive(Debug, Default, Clone)]
pub struct LogoutRequest {
    pub id_token_hint: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
    pub client_id: Option<String>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum LogoutPlan {
    /// The request is verified: end the session, then go to `redirect` if any.
    Proceed { redirect: Option<String> },
    /// Not verifiable: ask the user to confirm; `redirect` afterwards if any.
    Confirm {
        redirect: Option<String>,
        client_name: Option<String>,
    },
    /// Malformed or inconsistent: show an error page, never redirect.
    Reject(String),
}

pub fn plan(
    conn: &mut DbConn,
    ring: &KeyRing,
    issuer: &str,
    req: &LogoutRequest,
    session_user: Option<&str>,
) -> Result<LogoutPlan, diesel::result::Error> {
    let mut hint_client = None;
    let mut hint_sub = None;
    if let Some(hint) = &req.id_token_hint {
        let kid = jsonwebtoken::decode_header(hint).ok().and_then(|h| h.kid);
        let keys = ring
            .for_kid(conn, kid.as_deref())
            .map_err(|e| diesel::result::Error::QueryBuilderError(e.to_string().into()))?;
        let (expiry, now) = (jwt::Expiry::MayHaveExpired, crate::db::now());
        match jwt::verify_with::<Value>(&keys, hint, issuer, None, expiry, now) {
            Ok(claims) => {
                hint_client = match &claims["aud"] {
                    Value::String(s) => Some(s.clone()),
                    Value::Array(a) => a.first().and_then(|v| v.as_str()).map(str::to_owned),
                    _ => None,
                };
                hint_sub = claims["sub"].as_str().map(str::to_owned);
            }
            Err(_) => {
                return Ok(LogoutPlan::Reject(
                    "The id_token_hint is not a valid ID token from this server.".into(),
                ))
            }
        }
    }
    let client_id = match (&hint_client, &req.client_id) {
        (Some(a), Some(b)) if a != b => {
            return Ok(LogoutPlan::Reject(
                "client_id does not match the id_token_hint.".into(),
            ))
        }
        (Some(a), _) => Some(a.clone()),
        (None, b) => b.clone(),
    };
    let client = match &client_id {
        Some(id) => clients::by_id(conn, id)?,
        None => None,
    };
    if client_id.is_some() && client.is_none() {
        return Ok(LogoutPlan::Reject("The client is unknown.".into()));
    }
    let redirect = match (&req.post_logout_redirect_uri, &client) {
        (None, _) => None,
        (Some(_), None) => {
            return Ok(LogoutPlan::Reject(
                "post_logout_redirect_uri needs an id_token_hint or client_id to be checked."
                    .into(),
            ))
        }
        (Some(uri), Some(c)) => {
            if !c.post_logout_redirect_uris.iter().any(|r| r == uri) {
                return Ok(LogoutPlan::Reject(
                    "post_logout_redirect_uri is not registered for this client.".into(),
                ));
            }
            let mut url = Url::parse(uri)
                .map_err(|e| diesel::result::Error::QueryBuilderError(e.to_string().into()))?;
            if let Some(state) = &req.state {
                url.query_pairs_mut().append_pair("state", state);
            }
            Some(String::from(url))
        }
    };
    // A pairwise client's hint names the user by the sub that client was given.
    let hint_sub = match (hint_sub, &client) {
        (Some(sub), Some(c)) => crate::oauth::subject::user_of(conn, c, &sub)?,
        (sub, _) => sub,
    };
    let verified = match (hint_sub.as_deref(), session_user) {
        // A valid hint naming the logged-in user, or nobody logged in (nothing to protect).
        (Some(sub), Some(user)) => sub == user,
        (_, None) => true,
        (None, Some(_)) => false,
    };
    Ok(if verified {
        LogoutPlan::Proceed { redirect }
    } else {
        LogoutPlan::Confirm {
            redirect,
            client_name: client.map(|c| c.row.name),
        }
    })
}
