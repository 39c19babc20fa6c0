//! Signing keys: generation (RS256, ES256, EdDSA), encryption at rest, rotation, the JWKS, and an
//! in-memory ring of decrypted keys that each replica refreshes from the database.
//!
//! Rotation is computed from timestamps rather than a state machine, so replicas never need to
//! agree on when a transition happened: a key is published from creation, signs from
//! `activate_at` until a newer key of its algorithm activates, and stays published until
//! `publish_until` (the newer key's activation plus the longest token lifetime).

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use diesel::Connection;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use serde_json::{json, Value};

use super::kek::{Kek, KekError};
use crate::db::models::signing_keys::{self as rows, SigningKeyRow};
use crate::db::{self, DbConn, DbError};
use crate::domain::signing::SigningAlg;

/// The algorithms we sign with, in the order keys are created.
pub const ALGORITHMS: [SigningAlg; 3] = [SigningAlg::Rs256, SigningAlg::Es256, SigningAlg::EdDsa];

/// jsonwebtoken's name for the algorithm (the enum itself is a plain `domain` type).
impl SigningAlg {
    pub fn jwt(self) -> Algorithm {
        match self {
            SigningAlg::Rs256 => Algorithm::RS256,
            SigningAlg::Es256 => Algorithm::ES256,
            SigningAlg::EdDsa => Algorithm::EdDSA,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Kek(#[from] KekError),
    #[error("key generation failed: {0}")]
    Generate(String),
    #[error("stored key {kid} is unusable: {reason}")]
    Corrupt { kid: String, reason: String },
    #[error("no active {0} signing key")]
    NoSigningKey(SigningAlg),
}

impl From<diesel::result::Error> for KeyError {
    fn from(e: diesel::result::Error) -> Self {
        KeyError::Db(DbError::Query(e))
    }
}

/// A freshly generated key: DER of the private key in the form jsonwebtoken expects, and the JWK.
struct Generated {
    private_der: Vec<u8>,
    jwk: Value,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn generate(alg: SigningAlg) -> Result<Generated, KeyError> {
    let rng = SystemRandom::new();
    match alg {
        SigningAlg::Rs256 => {
            let mut os_rng = rsa::rand_core::OsRng;
            let key = rsa::RsaPrivateKey::new(&mut os_rng, 2048)
                .map_err(|e| KeyError::Generate(e.to_string()))?;
            let der = key
                .to_pkcs1_der()
                .map_err(|e| KeyError::Generate(e.to_string()))?;
            let jwk = json!({
                "kty": "RSA",
                "n": b64(&key.n().to_bytes_be()),
                "e": b64(&key.e().to_bytes_be()),
            });
            Ok(Generated {
                private_der: der.as_bytes().to_vec(),
                jwk,
            })
        }
        SigningAlg::Es256 => {
            let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .map_err(|e| KeyError::Generate(e.to_string()))?;
            let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref())
                .map_err(|e| KeyError::Generate(e.to_string()))?;
            let point = pair.public_key().as_ref();
            // Uncompressed SEC1 point: 0x04 || X (32) || Y (32).
            if point.len() != 65 {
                return Err(KeyError::Generate("unexpected P-256 point length".into()));
            }
            let jwk = json!({
                "kty": "EC",
                "crv": "P-256",
                "x": b64(&point[1..33]),
                "y": b64(&point[33..65]),
            });
            Ok(Generated {
                private_der: doc.as_ref().to_vec(),
                jwk,
            })
        }
        SigningAlg::EdDsa => {
            let doc = Ed25519KeyPair::generate_pkcs8(&rng)
                .map_err(|e| KeyError::Generate(e.to_string()))?;
            let pair = Ed25519KeyPair::from_pkcs8(doc.as_ref())
                .map_err(|e| KeyError::Generate(e.to_string()))?;
            let jwk = json!({
                "kty": "OKP",
                "crv": "Ed25519",
                "x": b64(pair.public_key().as_ref()),
            });
            Ok(Generated {
                private_der: doc.as_ref().to_vec(),
                jwk,
            })
        }
    }
}

/// RFC 7638 JWK thumbprint: SHA-256 over the required members in lexicographic order.
fn thumbprint(jwk: &Value) -> String {
    let canonical = match jwk["kty"].as_str() {
        Some("RSA") => format!(r#"{{"e":{},"kty":"RSA","n":{}}}"#, jwk["e"], jwk["n"]),
        Some("EC") => format!(
            r#"{{"crv":{},"kty":"EC","x":{},"y":{}}}"#,
            jwk["crv"], jwk["x"], jwk["y"]
        ),
        _ => format!(r#"{{"crv":{},"kty":"OKP","x":{}}}"#, jwk["crv"], jwk["x"]),
    };
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes());
    b64(d.as_ref())
}

/// Generates a key of `alg`, encrypts it and stores it, signing from `activate_at`.
pub fn create_key(
    conn: &mut DbConn,
    kek: &Kek,
    alg: SigningAlg,
    now: i64,
    activate_at: i64,
) -> Result<SigningKeyRow, KeyError> {
    let generated = generate(alg)?;
    let kid = thumbprint(&generated.jwk);
    let mut jwk = generated.jwk;
    jwk["kid"] = Value::String(kid.clone());
    jwk["use"] = Value::String("sig".into());
    jwk["alg"] = Value::String(alg.as_str().into());
    let row = SigningKeyRow {
        private_key_enc: kek.seal(&kid, &generated.private_der),
        kid,
        alg: alg.as_str().to_owned(),
        public_jwk: jwk.to_string(),
        created_at: now,
        activate_at,
        publish_until: None,
    };
    rows::insert(conn, &row)?;
    Ok(row)
}

/// On first start: one key per algorithm, active at once. Returns the keys created (none when
/// every algorithm already has one). Safe against replicas starting together.
pub fn ensure_keys(conn: &mut DbConn, kek: &Kek) -> Result<Vec<SigningKeyRow>, KeyError> {
    let mut created = Vec::new();
    let now = db::now();
    let result: Result<(), KeyError> = conn.transaction(|c| {
        if let DbConn::Pg(_) = c {
            diesel::connection::SimpleConnection::batch_execute(
                c,
                "SELECT pg_advisory_xact_lock(7370002)",
            )?;
        }
        let existing = rows::published(c, now)?;
        for alg in ALGORITHMS {
            if !existing.iter().any(|k| k.alg == alg.as_str()) {
                created.push(create_key(c, kek, alg, now, now)?);
            }
        }
        Ok(())
    });
    result?;
    // Fail at start-up, not at the first login, when the KEK does not match the stored keys.
    for row in rows::published(conn, now)? {
        kek.open(&row.kid, &row.private_key_enc)?;
    }
    Ok(created)
}

/// Creates a successor for every algorithm. The new keys are published now and sign from
/// `now + activation_delay`; the keys they replace stay published for `max_token_ttl` after that.
pub fn rotate(
    conn: &mut DbConn,
    kek: &Kek,
    activation_delay: i64,
    max_token_ttl: i64,
) -> Result<Vec<SigningKeyRow>, KeyError> {
    let now = db::now();
    conn.transaction(|c| {
        let mut created = Vec::new();
        for alg in ALGORITHMS {
            let activate_at = now + activation_delay.max(0);
            let row = create_key(c, kek, alg, now, activate_at)?;
            rows::schedule_retirement(c, alg.as_str(), &row.kid, activate_at + max_token_ttl)?;
            created.push(row);
        }
        Ok(created)
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyState {
    /// Published, not signing yet.
    Next,
    /// The key that signs for its algorithm.
    Active,
    /// Published so earlier tokens verify; signs nothing new.
    Retired,
    /// No longer published.
    Expired,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Next => "next",
            KeyState::Active => "active",
            KeyState::Retired => "retired",
            KeyState::Expired => "expired",
        }
    }
}

/// The state of each key at `now`.
pub fn states(keys: &[SigningKeyRow], now: i64) -> Vec<KeyState> {
    keys.iter()
        .map(|k| {
            if k.publish_until.is_some_and(|u| u <= now) {
                KeyState::Expired
            } else if k.activate_at > now {
                KeyState::Next
            } else if signer_index(keys.iter(), &k.alg, now).is_some_and(|i| keys[i].kid == k.kid) {
                KeyState::Active
            } else {
                KeyState::Retired
            }
        })
        .collect()
}

/// The signing key for `alg` at `now`: the most recently activated published key.
fn signer_index<'a>(
    keys: impl Iterator<Item = &'a SigningKeyRow>,
    alg: &str,
    now: i64,
) -> Option<usize> {
    keys.enumerate()
        .filter(|(_, k)| k.alg == alg && k.activate_at <= now)
        .filter(|(_, k)| k.publish_until.is_none_or(|u| u > now))
        // Within one second a replaced key (its retirement scheduled) loses to its successor.
        .max_by_key(|(_, k)| (k.activate_at, k.publish_until.is_none(), k.created_at))
        .map(|(i, _)| i)
}

/// A private key parsed once, so signing does no per-token key parsing or validation (RSA key
/// validation alone costs more than the signature).
pub enum KeyPairHandle {
    Rsa(aws_lc_rs::signature::RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

impl KeyPairHandle {
    fn parse(alg: SigningAlg, der: &[u8]) -> Result<Self, String> {
        match alg {
            SigningAlg::Rs256 => aws_lc_rs::signature::RsaKeyPair::from_der(der)
                .map(KeyPairHandle::Rsa)
                .map_err(|e| e.to_string()),
            SigningAlg::Es256 => EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
                .map(KeyPairHandle::Ec)
                .map_err(|e| e.to_string()),
            SigningAlg::EdDsa => Ed25519KeyPair::from_pkcs8(der)
                .map(KeyPairHandle::Ed)
                .map_err(|e| e.to_string()),
        }
    }

    /// The JWS signature of `message` (RS256: PKCS#1 v1.5 SHA-256; ES256: fixed r||s; EdDSA).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, String> {
        match self {
            KeyPairHandle::Rsa(k) => {
                let mut sig = vec![0u8; k.public_modulus_len()];
                k.sign(
                    &aws_lc_rs::signature::RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    message,
                    &mut sig,
                )
                .map_err(|e| e.to_string())?;
                Ok(sig)
            }
            KeyPairHandle::Ec(k) => k
                .sign(&SystemRandom::new(), message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|e| e.to_string()),
            KeyPairHandle::Ed(k) => Ok(k.sign(message).as_ref().to_vec()),
        }
    }
}

/// A key decrypted and ready to sign and verify.
pub struct LoadedKey {
    pub kid: String,
    pub alg: SigningAlg,
    pub pair: KeyPairHandle,
    pub encoding: EncodingKey,
    pub decoding: DecodingKey,
    pub jwk: Value,
    pub row: SigningKeyRow,
}

fn load(row: &SigningKeyRow, kek: &Kek) -> Result<LoadedKey, KeyError> {
    let corrupt = |reason: String| KeyError::Corrupt {
        kid: row.kid.clone(),
        reason,
    };
    let alg = SigningAlg::parse(&row.alg).ok_or_else(|| corrupt("unknown alg".into()))?;
    let der = kek.open(&row.kid, &row.private_key_enc)?;
    let jwk: Value = serde_json::from_str(&row.public_jwk).map_err(|e| corrupt(e.to_string()))?;
    let s = |name: &str| jwk[name].as_str().unwrap_or_default().to_owned();
    let (encoding, decoding) = match alg {
        SigningAlg::Rs256 => (
            EncodingKey::from_rsa_der(&der),
            DecodingKey::from_rsa_components(&s("n"), &s("e")),
        ),
        SigningAlg::Es256 => (
            EncodingKey::from_ec_der(&der),
            DecodingKey::from_ec_components(&s("x"), &s("y")),
        ),
        SigningAlg::EdDsa => (
            EncodingKey::from_ed_der(&der),
            DecodingKey::from_ed_components(&s("x")),
        ),
    };
    Ok(LoadedKey {
        kid: row.kid.clone(),
        alg,
        pair: KeyPairHandle::parse(alg, &der).map_err(corrupt)?,
        encoding,
        decoding: decoding.map_err(|e| corrupt(e.to_string()))?,
        jwk,
        row: row.clone(),
    })
}

/// The published keys, decrypted, as of one read of the database.
pub struct KeySet {
    pub keys: Vec<LoadedKey>,
    by_kid: BTreeMap<String, usize>,
    /// `jwks_text` of the last second it was asked for.
    rendered: std::sync::Mutex<Option<(i64, String)>>,
}

impl KeySet {
    pub fn load(conn: &mut DbConn, kek: &Kek, now: i64) -> Result<KeySet, KeyError> {
        let rows = rows::published(conn, now)?;
        let keys = rows
            .iter()
            .map(|r| load(r, kek))
            .collect::<Result<Vec<_>, _>>()?;
        let by_kid = keys
            .iter()
            .enumerate()
            .map(|(i, k)| (k.kid.clone(), i))
            .collect();
        Ok(KeySet {
            keys,
            by_kid,
            rendered: Default::default(),
        })
    }

    pub fn signer(&self, alg: SigningAlg, now: i64) -> Result<&LoadedKey, KeyError> {
        signer_index(self.keys.iter().map(|k| &k.row), alg.as_str(), now)
            .map(|i| &self.keys[i])
            .ok_or(KeyError::NoSigningKey(alg))
    }

    pub fn by_kid(&self, kid: &str) -> Option<&LoadedKey> {
        self.by_kid.get(kid).map(|&i| &self.keys[i])
    }

    /// The JWKS document: every key published at `now`.
    pub fn jwks(&self, now: i64) -> Value {
        let keys: Vec<&Value> = self
            .keys
            .iter()
            .filter(|k| k.row.publish_until.is_none_or(|u| u > now))
            .map(|k| &k.jwk)
            .collect();
        json!({ "keys": keys })
    }

    /// `jwks(now)` as text, rendered at most once a second.
    pub fn jwks_text(&self, now: i64) -> String {
        if let Ok(mut memo) = self.rendered.lock() {
            match memo.as_ref() {
                Some((at, text)) if *at == now => text.clone(),
                _ => {
                    let text = self.jwks(now).to_string();
                    *memo = Some((now, text.clone()));
                    text
                }
            }
        } else {
            self.jwks(now).to_string()
        }
    }
}

/// Decrypted keys shared by the workers of one process, reloaded from the database at most every
/// `ttl` so rotations made by another replica or the CLI are picked up.
pub struct KeyRing {
    kek: Kek,
    ttl: Duration,
    cached: RwLock<Option<(Instant, Arc<KeySet>)>>,
}

impl KeyRing {
    pub fn new(kek: Kek, ttl: Duration) -> Self {
        KeyRing {
            kek,
            ttl,
            cached: RwLock::new(None),
        }
    }

    pub fn kek(&self) -> &Kek {
        &self.kek
    }

    /// The current key set when it is fresh, without touching the database.
    pub fn cached(&self) -> Option<Arc<KeySet>> {
        let guard = self.cached.read().ok()?;
        let (at, set) = guard.as_ref()?;
        (at.elapsed() < self.ttl).then(|| set.clone())
    }

    /// The current key set, reloading when stale.
    pub fn current(&self, conn: &mut DbConn) -> Result<Arc<KeySet>, KeyError> {
        if let Ok(guard) = self.cached.read() {
            if let Some((at, set)) = guard.as_ref() {
                if at.elapsed() < self.ttl {
                    return Ok(set.clone());
                }
            }
        }
        self.reload(conn)
    }

    /// The key set to verify a token signed by `kid`: reloads (at most every few seconds, so
    /// garbage kids cannot turn into a database storm) when the kid is not known yet, as
    /// happens right after another replica rotated.
    pub fn for_kid(&self, conn: &mut DbConn, kid: Option<&str>) -> Result<Arc<KeySet>, KeyError> {
        let set = self.current(conn)?;
        let Some(kid) = kid else { return Ok(set) };
        if set.by_kid(kid).is_some() {
            return Ok(set);
        }
        let fresh_enough = self
            .cached
            .read()
            .ok()
            .and_then(|g| {
                g.as_ref()
                    .map(|(at, _)| at.elapsed() < Duration::from_secs(5))
            })
            .unwrap_or(false);
        if fresh_enough {
            return Ok(set);
        }
        self.reload(conn)
    }

    /// Forces a reload, e.g. when a token names a kid we have not seen yet.
    pub fn reload(&self, conn: &mut DbConn) -> Result<Arc<KeySet>, KeyError> {
        let set = Arc::new(KeySet::load(conn, &self.kek, db::now())?);
        if let Ok(mut guard) = self.cached.write() {
            *guard = Some((Instant::now(), set.clone()));
        }
        Ok(set)
    }
}
