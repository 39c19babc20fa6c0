//! JWT signing, and the one validation profile every JWT Ostiary accepts goes through: our own
//! access tokens and id_token hints (`verify`, `verify_with`) and the JWTs clients sign with
//! their own keys (`decode`, for `private_key_jwt` assertions and request objects; an unsigned
//! request object, from a client registered for it, by `decode_unsigned`). Every token we sign
//! carries `kid`.
//!
//! The profile: an asymmetric algorithm the key is for (never `none`, never HMAC: a public key
//! used as an HMAC secret is the classic confusion attack, RFC 8725 §2.1); the signature; `iss`;
//! `exp` where the kind of token requires it; `nbf` checked whenever present (RFC 7519 §4.1.5,
//! RFC 7523 §3); `iat` not in the future; each time claim a NumericDate; one clock-skew
//! allowance, `LEEWAY`, on `nbf` and `iat` always and on `exp` of tokens signed by others'
//! clocks (`Expiry::Skewed`). Nothing uses jsonwebtoken's own time checks, whose defaults
//! (60 s of leeway, `nbf` not checked at all) are what let early assertions through.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use super::keys::{KeyError, KeySet};
use crate::domain::signing::SigningAlg;

/// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds, for every JWT we accept. Clients'
/// and replicas' clocks drift by seconds; 30 s covers that without keeping a token alive (or
/// making one valid early) for long.
pub const LEEWAY: i64 = 30;

/// The algorithms client assertions and our own tokens are signed with.
pub const ALGORITHMS: [Algorithm; 3] = [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA];

/// Every algorithm a signed JWT we accept may use: `ALGORITHMS` and, for request objects
/// (RFC 9101; FAPI relying parties sign with it), PS256. All asymmetric.
pub const ASYMMETRIC: [Algorithm; 4] = [
    Algorithm::RS256,
    Algorithm::PS256,
    Algorithm::ES256,
    Algorithm::EdDSA,
];

/// The key of a JWK Set (as JSON) that may verify a token whose header names `alg` and `kid`.
/// Keys meant for something else are never candidates: `use` present and not `sig`, `alg`
/// present and not the header's (RFC 7517 §4.2, §4.4), or a key jsonwebtoken cannot read. With
/// a `kid`, the candidate with that kid; without one, the only candidate (several: none, as the
/// choice would be a guess).
pub fn select_key(
    set: &Value,
    kid: Option<&str>,
    alg: Algorithm,
) -> Option<jsonwebtoken::jwk::Jwk> {
    let alg = format!("{alg:?}");
    let mut candidates = set["keys"]
        .as_array()?
        .iter()
        .filter(|k| k.get("use").is_none_or(|u| u == "sig"))
        .filter(|k| {
            k.get("alg")
                .is_none_or(|a| a.as_str() == Some(alg.as_str()))
        })
        .filter(|k| kid.is_none_or(|kid| k["kid"].as_str() == Some(kid)))
        .filter_map(|k| serde_json::from_value::<jsonwebtoken::jwk::Jwk>(k.clone()).ok());
    let first = candidates.next()?;
    match (kid, candidates.next()) {
        (None, Some(_)) => None,
        _ => Some(first),
    }
}

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
    #[error("the token has expired (exp)")]
    Expired,
    #[error("the token is not valid yet (nbf)")]
    NotYetValid,
    #[error("the token was issued in the future (iat)")]
    IssuedInFuture,
}

/// Whether a kind of token must be unexpired, and how exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// `exp` must be present and not past, to the second: our own access tokens. No leeway,
    /// because a revoked token's `jti` stays on the deny-list only until its `exp` (and the
    /// verified-token cache drops it then): a token alive past `exp` could be a revoked one.
    Exact,
    /// `exp` must be present and not more than `LEEWAY` past: JWTs signed by a client, on the
    /// client's clock (assertions: their spent `jti`s are kept a minute past `exp`, longer than
    /// the leeway, so none can be replayed inside it).
    Skewed,
    /// An expired token is still read (an `id_token_hint`: RP-Initiated Logout §2 lets it
    /// have expired); `nbf` and `iat` are checked all the same.
    MayHaveExpired,
    /// `exp` may be absent; when present it is checked as `Skewed` (request objects: neither
    /// OIDC Core §6 nor RFC 9101 requires `exp`, both expect it honoured when there).
    IfPresent,
}

/// What a kind of JWT must say besides being signed by the key.
#[derive(Debug, Clone, Copy)]
pub struct Profile<'a> {
    /// The one accepted `iss` (required).
    pub issuer: &'a str,
    /// The accepted audiences (one must match; `aud` then required); `None`: `aud` is the
    /// caller's business (our own tokens, whose audience each endpoint reads).
    pub audiences: Option<&'a [String]>,
    /// The required `sub`, if the kind of token fixes it (a client assertion: the client).
    pub subject: Option<&'a str>,
    pub expiry: Expiry,
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

/// Verifies a token we signed: known `kid`, the algorithm that key is for, `typ` when given,
/// then the profile with `iss` = `issuer` and `exp` required to the second (`Expiry::Exact`).
/// Audience checks are left to the caller.
pub fn verify<T: DeserializeOwned>(
    keys: &KeySet,
    token: &str,
    issuer: &str,
    typ: Option<&str>,
    now: i64,
) -> Result<T, JwtError> {
    verify_with(keys, token, issuer, typ, Expiry::Exact, now)
}

/// As `verify`, saying whether the token may have expired (an `id_token_hint` may).
pub fn verify_with<T: DeserializeOwned>(
    keys: &KeySet,
    token: &str,
    issuer: &str,
    typ: Option<&str>,
    expiry: Expiry,
    now: i64,
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
    let profile = Profile {
        issuer,
        audiences: None,
        subject: None,
        expiry,
    };
    decode(token, &key.decoding, key.alg.jwt(), &profile, now)
}

/// Verifies `token` with `key` for `alg` (which the caller has matched to the key) against
/// `profile` at time `now`: the one validation of every JWT we accept.
pub fn decode<T: DeserializeOwned>(
    token: &str,
    key: &DecodingKey,
    alg: Algorithm,
    profile: &Profile<'_>,
    now: i64,
) -> Result<T, JwtError> {
    let v = validation(alg, profile)?;
    let claims = jsonwebtoken::decode::<Value>(token, key, &v)
        .map_err(|_| JwtError::Invalid)?
        .claims;
    check_times(&claims, profile.expiry, now)?;
    serde_json::from_value(claims).map_err(|_| JwtError::Invalid)
}

/// An unsecured JWT (`alg: none`, RFC 7519 §6) checked against `profile` as `decode` checks a
/// signed one — `iss`, `aud`, `sub` where the profile fixes them, the time claims — with no
/// signature: the caller must have decided that this sender may send unsigned JWTs at all
/// (a request object from a client registered with `request_object_signing_alg=none`).
pub fn decode_unsigned<T: DeserializeOwned>(
    token: &str,
    profile: &Profile<'_>,
    now: i64,
) -> Result<T, JwtError> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(""), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Invalid);
    };
    let part = |p: &str| -> Result<Value, JwtError> {
        URL_SAFE_NO_PAD
            .decode(p)
            .ok()
            .and_then(|raw| serde_json::from_slice::<Value>(&raw).ok())
            .filter(Value::is_object)
            .ok_or(JwtError::Invalid)
    };
    if part(header)?["alg"] != "none" {
        return Err(JwtError::Invalid);
    }
    let claims = part(payload)?;
    let claimed = |name: &str| claims.get(name).and_then(Value::as_str);
    if claimed("iss") != Some(profile.issuer) {
        return Err(JwtError::Invalid);
    }
    if let Some(subject) = profile.subject {
        if claimed("sub") != Some(subject) {
            return Err(JwtError::Invalid);
        }
    }
    if let Some(audiences) = profile.audiences {
        let named = match claims.get("aud") {
            Some(Value::String(a)) => audiences.contains(a),
            Some(Value::Array(list)) => list
                .iter()
                .filter_map(Value::as_str)
                .any(|a| audiences.iter().any(|x| x == a)),
            _ => false,
        };
        if !named {
            return Err(JwtError::Invalid);
        }
    }
    check_times(&claims, profile.expiry, now)?;
    serde_json::from_value(claims).map_err(|_| JwtError::Invalid)
}

/// jsonwebtoken's part of the profile: algorithm, signature, `iss`, `sub`, `aud` and which of
/// them must be present. Its time checks are off: `check_times` does them against our `now`
/// with our leeway.
fn validation(alg: Algorithm, profile: &Profile<'_>) -> Result<Validation, JwtError> {
    if !ASYMMETRIC.contains(&alg) {
        return Err(JwtError::Invalid);
    }
    let mut v = Validation::new(alg);
    v.validate_exp = false;
    v.validate_nbf = false;
    v.leeway = 0;
    v.set_issuer(&[profile.issuer]);
    v.sub = profile.subject.map(str::to_owned);
    let mut required = vec!["iss"];
    if matches!(profile.expiry, Expiry::Exact | Expiry::Skewed) {
        required.push("exp");
    }
    if profile.subject.is_some() {
        required.push("sub");
    }
    match profile.audiences {
        Some(audiences) => {
            v.set_audience(audiences);
            required.push("aud");
        }
        None => v.validate_aud = false,
    }
    v.set_required_spec_claims(&required);
    Ok(v)
}

/// A NumericDate claim (RFC 7519 §2): absent, or a number (fractions allowed); anything else
/// makes the token invalid rather than silently unchecked.
fn numeric_date(claims: &Value, name: &str) -> Result<Option<f64>, JwtError> {
    match claims.get(name) {
        None => Ok(None),
        Some(v) => v
            .as_f64()
            .filter(|t| t.is_finite())
            .map(Some)
            .ok_or(JwtError::Invalid),
    }
}

/// `exp` (when required: present and not past, see `Expiry`), `nbf` (whenever present: not
/// ahead) and `iat` (whenever present: not ahead), the last two allowing `LEEWAY` seconds of
/// clock skew.
fn check_times(claims: &Value, expiry: Expiry, now: i64) -> Result<(), JwtError> {
    let (now, leeway) = (now as f64, LEEWAY as f64);
    let exp = numeric_date(claims, "exp")?;
    let exp = match expiry {
        Expiry::MayHaveExpired => None,
        Expiry::IfPresent => exp,
        Expiry::Exact | Expiry::Skewed => Some(exp.ok_or(JwtError::Invalid)?),
    };
    if let Some(exp) = exp {
        let expired = match expiry {
            // Alive while exp > now, as the deny-list and the verified-token cache count it.
            Expiry::Exact => exp <= now,
            _ => exp + leeway < now,
        };
        if expired {
            return Err(JwtError::Expired);
        }
    }
    if numeric_date(claims, "nbf")?.is_some_and(|nbf| nbf > now + leeway) {
        return Err(JwtError::NotYetValid);
    }
    if numeric_date(claims, "iat")?.is_some_and(|iat| iat > now + leeway) {
        return Err(JwtError::IssuedInFuture);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_800_000_000;

    fn rsa(kid: &str, extra: Value) -> Value {
        let mut k = json!({
            "kty": "RSA", "kid": kid, "e": "AQAB",
            "n": "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw"
        });
        if let (Value::Object(k), Value::Object(more)) = (&mut k, extra) {
            k.extend(more);
        }
        k
    }

    fn kid_of(k: Option<jsonwebtoken::jwk::Jwk>) -> Option<String> {
        k.and_then(|k| k.common.key_id)
    }

    #[test]
    fn a_key_for_another_use_or_algorithm_is_never_selected() {
        let set = json!({ "keys": [
            rsa("enc", json!({ "use": "enc" })),
            rsa("ps", json!({ "alg": "PS256" })),
            rsa("sig", json!({ "use": "sig", "alg": "RS256" })),
        ]});
        let pick = |kid, alg| kid_of(select_key(&set, kid, alg));
        assert_eq!(pick(Some("sig"), Algorithm::RS256).as_deref(), Some("sig"));
        assert_eq!(pick(Some("enc"), Algorithm::RS256), None, "use=enc");
        assert_eq!(pick(Some("ps"), Algorithm::RS256), None, "alg=PS256");
        assert_eq!(pick(Some("ps"), Algorithm::PS256).as_deref(), Some("ps"));
        assert_eq!(pick(Some("nope"), Algorithm::RS256), None);
        // Without a kid: the one key for RS256 signatures is unambiguous...
        assert_eq!(pick(None, Algorithm::RS256).as_deref(), Some("sig"));
        // ...but two candidates are a guess.
        let two = json!({ "keys": [rsa("a", json!({})), rsa("b", json!({}))] });
        assert_eq!(kid_of(select_key(&two, None, Algorithm::RS256)), None);
        assert_eq!(
            kid_of(select_key(&two, Some("b"), Algorithm::RS256)).as_deref(),
            Some("b")
        );
        assert_eq!(kid_of(select_key(&json!({}), None, Algorithm::RS256)), None);
    }

    fn times(claims: Value, expiry: Expiry) -> Result<(), JwtError> {
        check_times(&claims, expiry, NOW)
    }

    #[test]
    fn nbf_ahead_beyond_the_leeway_is_refused_and_within_it_accepted() {
        for ahead in [LEEWAY + 1, 120, 240] {
            let r = times(json!({"exp": NOW + 60, "nbf": NOW + ahead}), Expiry::Skewed);
            assert!(
                matches!(r, Err(JwtError::NotYetValid)),
                "nbf +{ahead}: {r:?}"
            );
        }
        for nbf in [NOW - 10, NOW, NOW + LEEWAY] {
            assert!(times(json!({"exp": NOW + 60, "nbf": nbf}), Expiry::Skewed).is_ok());
        }
    }

    #[test]
    fn nbf_is_checked_even_when_expiry_is_not() {
        let r = times(json!({"nbf": NOW + 120}), Expiry::MayHaveExpired);
        assert!(matches!(r, Err(JwtError::NotYetValid)), "{r:?}");
        assert!(times(json!({"exp": NOW - 3600}), Expiry::MayHaveExpired).is_ok());
    }

    #[test]
    fn iat_in_the_future_is_refused() {
        let r = times(json!({"exp": NOW + 60, "iat": NOW + 3600}), Expiry::Skewed);
        assert!(matches!(r, Err(JwtError::IssuedInFuture)), "{r:?}");
        assert!(times(json!({"exp": NOW + 60, "iat": NOW + 20}), Expiry::Skewed).is_ok());
    }

    #[test]
    fn exp_is_required_and_checked_with_the_same_leeway() {
        assert!(matches!(
            times(json!({}), Expiry::Skewed),
            Err(JwtError::Invalid)
        ));
        assert!(matches!(
            times(json!({"exp": NOW - LEEWAY - 1}), Expiry::Skewed),
            Err(JwtError::Expired)
        ));
        assert!(times(json!({"exp": NOW - LEEWAY}), Expiry::Skewed).is_ok());
    }

    #[test]
    fn our_own_tokens_die_exactly_at_exp() {
        assert!(matches!(
            times(json!({"exp": NOW}), Expiry::Exact),
            Err(JwtError::Expired)
        ));
        assert!(times(json!({"exp": NOW + 1}), Expiry::Exact).is_ok());
        let r = times(json!({"exp": NOW + 60, "nbf": NOW + 120}), Expiry::Exact);
        assert!(matches!(r, Err(JwtError::NotYetValid)), "{r:?}");
    }

    #[test]
    fn time_claims_that_are_not_numbers_are_refused() {
        for claim in ["exp", "nbf", "iat"] {
            let mut c = json!({"exp": NOW + 60});
            c[claim] = json!("soon");
            assert!(
                matches!(times(c, Expiry::Skewed), Err(JwtError::Invalid)),
                "{claim}"
            );
        }
    }

    #[test]
    fn only_asymmetric_algorithms_get_a_validation() {
        let p = Profile {
            issuer: "https://issuer.example",
            audiences: None,
            subject: None,
            expiry: Expiry::Skewed,
        };
        for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
            assert!(validation(alg, &p).is_err(), "{alg:?}");
        }
        for alg in ALGORITHMS {
            let v = validation(alg, &p).expect("validation");
            assert!(!v.validate_nbf && !v.validate_exp, "time checks are ours");
            assert_eq!(v.algorithms, vec![alg]);
        }
    }
}
