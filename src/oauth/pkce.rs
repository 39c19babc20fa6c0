//! PKCE (RFC 7636) on top of oxide-auth's `Pkce`: S256 only, required for public clients,
//! accepted from confidential ones; once a challenge was sent its verifier is required.

use oxide_auth::code_grant::accesstoken;
use oxide_auth::code_grant::authorization;
use oxide_auth::code_grant::extensions::Pkce;
use oxide_auth::primitives::grant::Extensions;

use super::context::{Ctx, Noted};

pub struct PkceExtension<'a>(pub &'a Ctx);

/// RFC 7636 §4.1: 43–128 characters of [A-Z a-z 0-9 - . _ ~].
pub fn is_valid_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// An S256 challenge is the unpadded base64url of 32 bytes: 43 characters.
fn is_valid_challenge(c: &str) -> bool {
    c.len() == 43
        && c.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
}

impl authorization::Extension for PkceExtension<'_> {
    fn extend(&mut self, request: &dyn authorization::Request) -> Result<Extensions, ()> {
        let public = request
            .client_id()
            .and_then(|id| self.0.client(&id))
            .map(|c| c.row.is_public)
            .unwrap_or(true);
        let pkce = if public {
            Pkce::required()
        } else {
            Pkce::optional()
        };
        let challenge = request.extension("code_challenge");
        if challenge.as_deref().is_some_and(|c| !is_valid_challenge(c)) {
            self.0.note(Noted::PkceFailed);
            return Err(());
        }
        match pkce.challenge(request.extension("code_challenge_method"), challenge) {
            Ok(Some(value)) => {
                let mut ext = Extensions::new();
                ext.set(&pkce, value);
                Ok(ext)
            }
            Ok(None) => Ok(Extensions::new()),
            Err(()) => {
                let missing = request.extension("code_challenge").is_none();
                self.0.note(if missing {
                    Noted::PkceRequired
                } else {
                    Noted::PkceFailed
                });
                Err(())
            }
        }
    }
}

impl accesstoken::Extension for PkceExtension<'_> {
    fn extend(
        &mut self,
        request: &dyn accesstoken::Request,
        mut data: Extensions,
    ) -> Result<Extensions, ()> {
        let pkce = Pkce::optional();
        let stored = data.remove(&pkce);
        let verifier = request.extension("code_verifier");
        if verifier.as_deref().is_some_and(|v| !is_valid_verifier(v)) {
            self.0.note(Noted::PkceFailed);
            return Err(());
        }
        if stored.is_none() && verifier.is_some() {
            // A verifier for a code issued without a challenge: reject (RFC 9700 §2.1.1,
            // PKCE downgrade).
            self.0.note(Noted::PkceFailed);
            return Err(());
        }
        pkce.verify(stored, verifier).map_err(|()| {
            self.0.note(Noted::PkceFailed);
        })?;
        Ok(Extensions::new())
    }
}
