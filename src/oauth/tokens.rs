//! Minting tokens: RFC 9068 JWT access tokens and opaque refresh tokens whose successors are
//! derived with a keyed hash, so a retried rotation reproduces the same successor without the
//! server ever storing a refresh token in a recoverable form.

use aws_lc_rs::hmac;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::crypto::jwt::{self, JwtError};
use crate::crypto::keys::KeySet;
use crate::domain::claims::AccessClaims;
use crate::random;

pub const REFRESH_PREFIX: &str = "ostr_";

/// A scope as a sorted, space-separated string, so responses and stored rows are stable.
pub fn canonical_scope(scope: &oxide_auth::primitives::scope::Scope) -> String {
    let mut parts: Vec<&str> = scope.iter().collect();
    parts.sort_unstable();
    parts.dedup();
    parts.join(" ")
}

/// What a token request produced, for the response and for later revocation.
#[derive(Clone, Debug)]
pub struct Issued {
    pub access_token: String,
    pub jti: String,
    pub expires_in: i64,
    pub expires_at: i64,
    pub refresh_token: Option<String>,
    pub scope: String,
    pub client_id: String,
    pub subject: String,
    pub user_id: Option<String>,
    pub auth_time: Option<i64>,
    pub nonce: Option<String>,
    pub session_id: Option<String>,
    /// RFC 8176 methods of the login behind the grant, space-separated.
    pub amr: Option<String>,
    /// The released OIDC `claims` request of the login (stored JSON), for its id_token.
    pub claims: Option<String>,
    /// The refresh family started, if any.
    pub family_id: Option<String>,
}

pub struct AccessTokenRequest<'a> {
    pub issuer: &'a str,
    pub subject: &'a str,
    pub client_id: &'a str,
    pub scope: &'a str,
    pub auth_time: Option<i64>,
    pub amr: Option<&'a str>,
    pub ttl: i64,
    pub now: i64,
    /// Another audience than this server's own resources (token exchange).
    pub audience: Option<&'a str>,
    pub act: Option<serde_json::Value>,
    /// The released `claims` request (`claims_request::ClaimsRequest`, stored JSON): its
    /// userinfo claims go into the token for the userinfo endpoint.
    pub claims: Option<&'a str>,
}

/// Signs an access token; returns it with its `jti` and expiry.
pub fn mint_access_token(
    keys: &KeySet,
    alg: crate::domain::signing::SigningAlg,
    req: &AccessTokenRequest<'_>,
) -> Result<(String, String, i64), JwtError> {
    let jti = random::token::<16>();
    let exp = req.now + req.ttl;
    let claims = AccessClaims {
        iss: req.issuer.to_owned(),
        // What the client sees (`oauth::subject::for_client`: pairwise for pairwise clients,
        // whose JWT would otherwise tell them the user's id); readers resolve it back
        // (`subject::user_of_token`).
        sub: req.subject.to_owned(),
        // Without resource indicators the default audience is this server's own resources.
        aud: req.audience.unwrap_or(req.issuer).to_owned(),
        client_id: req.client_id.to_owned(),
        scope: req.scope.to_owned(),
        iat: req.now,
        exp,
        jti: jti.clone(),
        auth_time: req.auth_time,
        acr: req
            .amr
            .map(|a| crate::authn::acr::Acr::of_amr(a).as_str().to_owned()),
        amr: req
            .amr
            .map(|a| a.split_ascii_whitespace().map(str::to_owned).collect()),
        act: req.act.clone(),
        userinfo_claims: crate::oauth::claims_request::ClaimsRequest::from_stored(req.claims)
            .map(|c| c.userinfo.into_keys().collect::<Vec<_>>())
            .filter(|names| !names.is_empty()),
    };
    let token = jwt::sign(keys, alg, "at+jwt", &claims, req.now)?;
    Ok((token, jti, exp))
}

pub fn new_refresh_token() -> String {
    format!("{REFRESH_PREFIX}{}", random::token::<32>())
}

/// The key that derives refresh-token successors, itself derived from the key-encryption key so
/// every replica computes the same successors.
#[derive(Clone)]
pub struct SuccessorKey(hmac::Key);

impl SuccessorKey {
    pub fn derive(kek_material: &[u8]) -> Self {
        let root = hmac::Key::new(hmac::HMAC_SHA256, kek_material);
        let tag = hmac::sign(&root, b"ostiary refresh-token successor v1");
        SuccessorKey(hmac::Key::new(hmac::HMAC_SHA256, tag.as_ref()))
    }

    pub fn successor_of(&self, token: &str) -> String {
        let tag = hmac::sign(&self.0, token.as_bytes());
        format!("{REFRESH_PREFIX}{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn successors_are_deterministic_and_keyed() {
        let a = SuccessorKey::derive(&[1u8; 32]);
        let b = SuccessorKey::derive(&[2u8; 32]);
        let t = new_refresh_token();
        assert_eq!(a.successor_of(&t), a.successor_of(&t));
        assert_ne!(a.successor_of(&t), b.successor_of(&t));
        assert_ne!(a.successor_of(&t), t);
        assert!(a.successor_of(&t).starts_with(REFRESH_PREFIX));
    }
}
