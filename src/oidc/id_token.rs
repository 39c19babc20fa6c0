//! id_tokens (OIDC Core §2, §3.1.3.6): signed with the client's `id_token_signed_response_alg`.

use aws_lc_rs::digest;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{Map, Value};

use super::claims;
use crate::crypto::jwt::{self, JwtError};
use crate::crypto::keys::KeySet;
use crate::db::models::users::User;
use crate::domain::signing::SigningAlg;
use crate::oauth::claims_request::ClaimsRequest;

/// `at_hash`: the left half of the hash of the access token, the hash being the one of the
/// signing algorithm (SHA-256 for RS256/ES256, SHA-512 for EdDSA with Ed25519).
pub fn at_hash(access_token: &str, alg: SigningAlg) -> String {
    let algorithm = match alg {
        SigningAlg::EdDsa => &digest::SHA512,
        _ => &digest::SHA256,
    };
    let d = digest::digest(algorithm, access_token.as_bytes());
    let half = &d.as_ref()[..d.as_ref().len() / 2];
    URL_SAFE_NO_PAD.encode(half)
}

/// The public session id sent to relying parties, derived from (not equal to) the session key.
pub fn sid(session_id_hash: &str) -> String {
    let d = digest::digest(&digest::SHA256, format!("sid:{session_id_hash}").as_bytes());
    URL_SAFE_NO_PAD.encode(&d.as_ref()[..16])
}

pub struct IdTokenRequest<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub user: &'a User,
    /// The `sub` this client sees (`subject::for_client`): the user's id, or a pairwise one.
    pub subject: &'a str,
    pub scope: &'a str,
    pub auth_time: Option<i64>,
    pub nonce: Option<&'a str>,
    pub session_id: Option<&'a str>,
    /// RFC 8176 methods of the login, space-separated: `amr`, and the `acr` they reach.
    pub amr: Option<&'a str>,
    pub access_token: &'a str,
    pub alg: SigningAlg,
    pub ttl: i64,
    pub now: i64,
    /// The released `claims` request (stored JSON): its `id_token` claims are added.
    pub claims: Option<&'a str>,
    /// The user's groups, read when `scope` has `groups` (`claims::add_groups`).
    pub groups: Option<&'a [String]>,
}

pub fn sign(keys: &KeySet, req: &IdTokenRequest<'_>) -> Result<String, JwtError> {
    let mut c: Map<String, Value> = claims::for_scope(req.user, req.scope);
    if let Some(asked) = ClaimsRequest::from_stored(req.claims) {
        c.extend(claims::by_name(
            req.user,
            asked.id_token.keys().map(String::as_str),
        ));
    }
    if let Some(groups) = req.groups {
        claims::add_groups(&mut c, req.scope, || {
            Ok::<_, std::convert::Infallible>(groups.to_vec())
        })
        .unwrap_or_else(|e| match e {});
    }
    c.insert("sub".into(), req.subject.into());
    c.insert("iss".into(), req.issuer.into());
    c.insert("aud".into(), req.client_id.into());
    c.insert("azp".into(), req.client_id.into());
    c.insert("iat".into(), req.now.into());
    c.insert("exp".into(), (req.now + req.ttl).into());
    if let Some(t) = req.auth_time {
        c.insert("auth_time".into(), t.into());
    }
    if let Some(n) = req.nonce {
        c.insert("nonce".into(), n.into());
    }
    if let Some(s) = req.session_id {
        c.insert("sid".into(), sid(s).into());
    }
    if let Some(amr) = req.amr {
        let methods: Vec<Value> = amr.split_ascii_whitespace().map(Value::from).collect();
        c.insert("amr".into(), Value::Array(methods));
        c.insert(
            "acr".into(),
            crate::authn::acr::Acr::of_amr(amr).as_str().into(),
        );
    }
    c.insert("at_hash".into(), at_hash(req.access_token, req.alg).into());
    jwt::sign(keys, req.alg, "JWT", &Value::Object(c), req.now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_hash_matches_the_oidc_example() {
        // OIDC Core appendix A.3's access token and at_hash.
        assert_eq!(
            at_hash(
                "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y",
                SigningAlg::Rs256
            ),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
    }
}

/// The id_token for a token response, when `openid` was granted to a user. `load_user` lets
/// the caller hand over the user it already loaded for the grant; `subject` gives the `sub` the
/// client sees (`subject::for_client`, with the caller's connection); `groups` the names of
/// the user's groups (called only when the scope has `groups`).
#[allow(clippy::too_many_arguments)]
pub fn for_token_response(
    load_user: impl FnOnce(&str) -> diesel::QueryResult<Option<User>>,
    subject: impl FnOnce(&str) -> diesel::QueryResult<String>,
    groups: impl FnOnce(&str) -> diesel::QueryResult<Vec<String>>,
    keys: &KeySet,
    settings: &crate::config::Settings,
    issued: &crate::oauth::tokens::Issued,
    client: &crate::db::models::clients::Client,
    now: i64,
) -> Result<Option<String>, IdTokenError> {
    if !issued.scope.split_ascii_whitespace().any(|s| s == "openid") {
        return Ok(None);
    }
    let Some(user_id) = &issued.user_id else {
        return Ok(None);
    };
    let Some(user) = load_user(user_id)? else {
        return Ok(None);
    };
    let alg = SigningAlg::parse(&client.row.id_token_alg).unwrap_or(SigningAlg::Rs256);
    let sub = subject(user_id)?;
    let group_names = match issued.scope.split_ascii_whitespace().any(|s| s == "groups") {
        true => Some(groups(user_id)?),
        false => None,
    };
    let token = sign(
        keys,
        &IdTokenRequest {
            issuer: &settings.issuer,
            client_id: &client.row.client_id,
            user: &user,
            subject: &sub,
            scope: &issued.scope,
            auth_time: issued.auth_time,
            nonce: issued.nonce.as_deref(),
            session_id: issued.session_id.as_deref(),
            amr: issued.amr.as_deref(),
            access_token: &issued.access_token,
            alg,
            ttl: settings.id_token_ttl,
            now,
            claims: issued.claims.as_deref(),
            groups: group_names.as_deref(),
        },
    )?;
    Ok(Some(token))
}

#[derive(Debug, thiserror::Error)]
pub enum IdTokenError {
    #[error(transparent)]
    Jwt(#[from] JwtError),
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
}
