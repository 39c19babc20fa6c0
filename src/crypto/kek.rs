//! The key-encryption key (KEK) that protects signing keys at rest, and AES-256-GCM under it.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;

use crate::random;

pub const KEK_FILE_NAME: &str = "kek";

#[derive(Debug, thiserror::Error)]
pub enum KekError {
    #[error("OSTIARY_KEY_ENCRYPTION_KEY must be 32 bytes, as base64 or 64 hex digits")]
    BadEnvKey,
    #[error("key file {path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("a signing key could not be decrypted: the key-encryption key is not the one it was stored with")]
    Decrypt,
}

/// The 256-bit KEK. Deliberately not `Debug`, so it can never be printed by accident.
#[derive(Clone)]
pub struct Kek {
    key: [u8; 32],
}

/// Creates the keys directory (and missing parents) as 0700 whatever the umask: it holds the key
/// that decrypts every signing key, so no other local user should even list it.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

impl Kek {
    pub fn from_bytes(key: [u8; 32]) -> Self {
        Kek { key }
    }

    /// Parses the configured value: base64 (standard or URL-safe) or hex of exactly 32 bytes.
    pub fn parse(text: &str) -> Result<Self, KekError> {
        let t = text.trim();
        let bytes = if t.len() == 64 && t.chars().all(|c| c.is_ascii_hexdigit()) {
            (0..32)
                .map(|i| u8::from_str_radix(&t[i * 2..i * 2 + 2], 16))
                .collect::<Result<Vec<u8>, _>>()
                .map_err(|_| KekError::BadEnvKey)?
        } else {
            STANDARD
                .decode(t)
                .or_else(|_| URL_SAFE_NO_PAD.decode(t.trim_end_matches('=')))
                .map_err(|_| KekError::BadEnvKey)?
        };
        let key: [u8; 32] = bytes.try_into().map_err(|_| KekError::BadEnvKey)?;
        Ok(Kek { key })
    }

    /// The KEK from the configured value, or else from `keys_dir/kek`, created (mode 0600) with a
    /// fresh random key on first use.
    pub fn load_or_create(configured: Option<&str>, keys_dir: &Path) -> Result<Self, KekError> {
        if let Some(v) = configured.filter(|v| !v.trim().is_empty()) {
            return Kek::parse(v);
        }
        let path = keys_dir.join(KEK_FILE_NAME);
        let file_err = |reason: String| KekError::File {
            path: path.clone(),
            reason,
        };
        match fs::read_to_string(&path) {
            Ok(text) => Kek::parse(&text)
                .map_err(|_| file_err("does not hold a 32-byte key (base64 or hex)".to_owned())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                create_private_dir(keys_dir).map_err(|e| file_err(e.to_string()))?;
                let key = random::bytes::<32>();
                let mut opts = fs::OpenOptions::new();
                opts.write(true).create_new(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::OpenOptionsExt;
                    opts.mode(0o600);
                }
                match opts.open(&path) {
                    Ok(mut f) => {
                        f.write_all(STANDARD.encode(key).as_bytes())
                            .and_then(|_| f.write_all(b"\n"))
                            .and_then(|_| f.sync_all())
                            .map_err(|e| file_err(e.to_string()))?;
                        Ok(Kek { key })
                    }
                    // Another process created it between our read and our create: use theirs.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        let text =
                            fs::read_to_string(&path).map_err(|e| file_err(e.to_string()))?;
                        Kek::parse(&text)
                            .map_err(|_| file_err("does not hold a 32-byte key".to_owned()))
                    }
                    Err(e) => Err(file_err(e.to_string())),
                }
            }
            Err(e) => Err(file_err(e.to_string())),
        }
    }

    /// A key for another purpose, derived so that it never equals the KEK itself.
    pub fn derive_subkey(&self, label: &[u8]) -> [u8; 32] {
        use aws_lc_rs::hmac;
        let key = hmac::Key::new(hmac::HMAC_SHA256, &self.key);
        let tag = hmac::sign(&key, label);
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }

    fn aead(&self) -> LessSafeKey {
        #[allow(clippy::expect_used)]
        LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &self.key).expect("32-byte AES key"))
    }

    /// Encrypts `plaintext`, binding it to `context` (the key id) so ciphertexts cannot be swapped
    /// between rows. Output: base64(nonce || ciphertext || tag).
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> String {
        let nonce_bytes = random::bytes::<NONCE_LEN>();
        let mut buf = plaintext.to_vec();
        #[allow(clippy::expect_used)]
        self.aead()
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(context.as_bytes()),
                &mut buf,
            )
            .expect("AES-GCM sealing of an in-memory buffer");
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&buf);
        STANDARD.encode(out)
    }

    pub fn open(&self, context: &str, sealed: &str) -> Result<Vec<u8>, KekError> {
        let raw = STANDARD.decode(sealed).map_err(|_| KekError::Decrypt)?;
        if raw.len() < NONCE_LEN {
            return Err(KekError::Decrypt);
        }
        let (nonce, ct) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| KekError::Decrypt)?;
        let mut buf = ct.to_vec();
        let plain = self
            .aead()
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut buf)
            .map_err(|_| KekError::Decrypt)?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_and_open_round_trip_bound_to_context() {
        let kek = Kek::from_bytes(random::bytes::<32>());
        let sealed = kek.seal("kid-1", b"private key bytes");
        assert_eq!(
            kek.open("kid-1", &sealed).ok().as_deref(),
            Some(&b"private key bytes"[..])
        );
        assert!(
            kek.open("kid-2", &sealed).is_err(),
            "context must be authenticated"
        );
        let other = Kek::from_bytes(random::bytes::<32>());
        assert!(other.open("kid-1", &sealed).is_err());
    }

    #[test]
    fn parses_hex_and_base64() {
        let hex = "00".repeat(32);
        assert!(Kek::parse(&hex).is_ok());
        assert!(Kek::parse(&STANDARD.encode([7u8; 32])).is_ok());
        assert!(Kek::parse(&URL_SAFE_NO_PAD.encode([7u8; 32])).is_ok());
        assert!(Kek::parse("short").is_err());
        assert!(Kek::parse(&STANDARD.encode([7u8; 16])).is_err());
    }

    #[test]
    fn file_is_created_private_and_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let keys = dir.path().join("keys");
        let a = Kek::load_or_create(None, &keys).expect("create");
        let b = Kek::load_or_create(None, &keys).expect("reuse");
        assert_eq!(a.key, b.key);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(keys.join(KEK_FILE_NAME))
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
