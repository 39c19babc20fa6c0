//! An independent JWS check for the tests: the keys come from /jwks.json over HTTP and the
//! signature is verified with aws-lc-rs primitives directly, not with jsonwebtoken (which the
//! server signs with) nor any of the server's code.

use aws_lc_rs::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;

fn b64(s: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(s).expect("base64url")
}

/// Verifies `token` against `jwks`; returns (header, claims). Panics on any failure.
pub fn verify(token: &str, jwks: &Value) -> (Value, Value) {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "compact JWS");
    let header: Value = serde_json::from_slice(&b64(parts[0])).expect("header json");
    let claims: Value = serde_json::from_slice(&b64(parts[1])).expect("claims json");
    let sig = b64(parts[2]);
    let signing_input = format!("{}.{}", parts[0], parts[1]);
    let kid = header["kid"].as_str().expect("kid in header");
    let jwk = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["kid"] == kid)
        .unwrap_or_else(|| panic!("kid {kid} not in JWKS"));
    let alg = header["alg"].as_str().expect("alg");
    assert_eq!(jwk["alg"], alg, "the key is for this algorithm");
    let ok = match alg {
        "RS256" => RsaPublicKeyComponents {
            n: b64(jwk["n"].as_str().expect("n")),
            e: b64(jwk["e"].as_str().expect("e")),
        }
        .verify(
            &signature::RSA_PKCS1_2048_8192_SHA256,
            signing_input.as_bytes(),
            &sig,
        )
        .is_ok(),
        "ES256" => {
            let mut point = vec![4u8];
            point.extend(b64(jwk["x"].as_str().expect("x")));
            point.extend(b64(jwk["y"].as_str().expect("y")));
            UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                .verify(signing_input.as_bytes(), &sig)
                .is_ok()
        }
        "EdDSA" => UnparsedPublicKey::new(&signature::ED25519, b64(jwk["x"].as_str().expect("x")))
            .verify(signing_input.as_bytes(), &sig)
            .is_ok(),
        other => panic!("unexpected alg {other}"),
    };
    assert!(
        ok,
        "signature of a {alg} token must verify against the JWKS"
    );
    (header, claims)
}

/// OIDC at_hash computed here, independently of the server.
pub fn at_hash(access_token: &str, alg: &str) -> String {
    use aws_lc_rs::digest;
    let d = match alg {
        "EdDSA" => digest::digest(&digest::SHA512, access_token.as_bytes()),
        _ => digest::digest(&digest::SHA256, access_token.as_bytes()),
    };
    URL_SAFE_NO_PAD.encode(&d.as_ref()[..d.as_ref().len() / 2])
}
