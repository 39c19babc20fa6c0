//! JWT signing and verification with the key ring's keys. Every token carries `kid`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Header, Validation};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::keys::{KeyError, KeySet};
use crate::domain::signing::SigningAlg;

#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("signing failed: {0}")]
    Sign(String),
    #[error("invalid token")]
    Invalid,
    #[error("token signed by an unknown key")]
    UnknownKey,
}

/// Signs `claims` with the active key of `alg`; `typ` is e.g. `at+jwt` (RFC 9068) or `JWT`.
pub fn sign<T: Serialize>(
    keys: &KeySet,
    alg: SigningAlg,
    typ: &str,
    claims: &T,
    now: i64,
) -> Result<String, JwtError> {
    let key = keys.signer(alg, now)?;
    let mut header = Header::new(alg.jwt());
    header.typ = Some(typ.to_owned());
    header.kid = Some(key.kid.clone());
    // Compact JWS by hand around the pre-parsed key pair (jsonwebtoken's `encode` parses the
    // private key on every call); verification still goes through jsonwebtoken.
    let header = serde_json::to_vec(&header).map_err(|e| JwtError::Sign(e.to_string()))?;
    let claims = serde_json::to_vec(claims).map_err(|e| JwtError::Sign(e.to_string()))?;
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let signature = key.pair.sign(message.as_bytes()).map_err(JwtError::Sign)?;
    Ok(format!("{message}.{}", URL_SAFE_NO_PAD.encode(signature)))
}

/// Verifies a token we signed: known `kid`, the algorithm that key is for, signature, `exp`,
/// `iss`, and (when given) `typ`. Audience checks are left to the caller.
pub fn verify<T: DeserializeOwned>(
    keys: &KeySet,
    token: &str,
    issuer: &str,
    typ: Option<&str>,
) -> Result<T, JwtError> {
    verify_with(keys, token, issuer, typ, true)
}

/// As `verify`, optionally accepting expired tokens (an `id_token_hint` may have expired).
pub fn verify_with<T: DeserializeOwned>(
    keys: &KeySet,
    token: &str,
    issuer: &str,
    typ: Option<&str>,
    check_exp: bool,
) -> Result<T, JwtError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| JwtError::Invalid)?;
    let kid = header.kid.as_deref().ok_or(JwtError::Invalid)?;
    let key = keys.by_kid(kid).ok_or(JwtError::UnknownKey)?;
    if header.alg != key.alg.jwt() {
        return Err(JwtError::Invalid);
    }
    if let Some(t) = typ {
        if !header
            .typ
            .as_deref()
            .is_some_and(|h| h.eq_ignore_ascii_case(t))
        {
            return Err(JwtError::Invalid);
        }
    }
    let mut v = Validation::new(key.alg.jwt());
    v.set_issuer(&[issuer]);
    v.validate_aud = false;
    v.leeway = 0;
    v.validate_exp = check_exp;
    v.set_required_spec_claims(&["exp", "iss"]);
    jsonwebtoken::decode::<T>(token, &key.decoding, &v)
        .map(|d| d.claims)
        .map_err(|_| JwtError::Invalid)
}
