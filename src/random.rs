//! Random identifiers and secrets, and the hashes we store instead of them.

use aws_lc_rs::{constant_time, digest, rand};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// `n` bytes from the operating system's CSPRNG. Failure here means the OS cannot give us
/// randomness, which no request can recover from.
pub fn bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    #[allow(clippy::expect_used)]
    rand::fill(&mut buf).expect("the OS random number generator failed");
    buf
}

/// A URL-safe random token carrying `N * 8` bits of entropy.
pub fn token<const N: usize>() -> String {
    URL_SAFE_NO_PAD.encode(bytes::<N>())
}

/// Client secrets: 256 bits with a recognisable prefix so leaked ones can be spotted by scanners.
pub fn client_secret() -> String {
    format!("ost_{}", token::<32>())
}

/// RFC 7592 registration access tokens and RFC 7591 initial access tokens: 256 bits, prefixed.
pub fn registration_token() -> String {
    format!("ostreg_{}", token::<32>())
}

pub fn initial_access_token() -> String {
    format!("ostiat_{}", token::<32>())
}

/// A client identifier: 128 random bits as hex, so it never starts with `-` (which a shell
/// command line would read as a flag) and needs no escaping anywhere.
pub fn client_id() -> String {
    hex(&bytes::<16>())
}

/// Lower-case hex SHA-256: how codes, tokens, secrets and session ids are stored.
pub fn sha256_hex(input: &str) -> String {
    let d = digest::digest(&digest::SHA256, input.as_bytes());
    hex(d.as_ref())
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 0xf) as usize] as char);
    }
    s
}

/// Compares a presented secret with a stored SHA-256 hex digest without leaking timing.
pub fn verify_sha256_hex(presented: &str, stored_hex: &str) -> bool {
    let computed = sha256_hex(presented);
    constant_time::verify_slices_are_equal(computed.as_bytes(), stored_hex.as_bytes()).is_ok()
}

/// A keyed MAC for values the server hands out and later checks without storing them (the
/// anonymous CSRF token). Derived from the KEK, so every replica computes the same tags.
pub struct MacKey(aws_lc_rs::hmac::Key);

impl MacKey {
    pub fn derive(material: &[u8], label: &[u8]) -> Self {
        use aws_lc_rs::hmac;
        let root = hmac::Key::new(hmac::HMAC_SHA256, material);
        let tag = hmac::sign(&root, label);
        MacKey(hmac::Key::new(hmac::HMAC_SHA256, tag.as_ref()))
    }

    pub fn tag(&self, data: &[u8]) -> String {
        use base64::Engine;
        let tag = aws_lc_rs::hmac::sign(&self.0, data);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tag.as_ref())
    }

    /// Checks `tag` against `data` in constant time.
    pub fn verify(&self, data: &[u8], tag: &str) -> bool {
        use base64::Engine;
        match base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(tag) {
            Ok(raw) => aws_lc_rs::hmac::verify(&self.0, data, &raw).is_ok(),
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_prefixed_and_long_enough() {
        let s = client_secret();
        assert!(s.starts_with("ost_"));
        // 32 bytes base64url without padding = 43 characters.
        assert_eq!(s.len(), 4 + 43);
        assert_ne!(s, client_secret());
    }

    #[test]
    fn secret_hash_round_trip() {
        let s = client_secret();
        let h = sha256_hex(&s);
        assert_eq!(h.len(), 64);
        assert!(verify_sha256_hex(&s, &h));
        assert!(!verify_sha256_hex("ost_wrong", &h));
    }

    #[test]
    fn sha256_matches_known_vector() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
