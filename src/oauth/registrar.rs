//! The diesel-backed `Registrar`: exact redirect-URI matching (a public native client's loopback
//! URI may vary only its port, RFC 8252 §7.3), scope negotiation against the client's allowed
//! scopes, and client checks against what `client_auth` already established.

use std::borrow::Cow;

use oxide_auth::primitives::registrar::{
    BoundClient, ClientUrl, ExactUrl, PreGrant, RegisteredUrl, Registrar, RegistrarError,
};
use oxide_auth::primitives::scope::Scope;
use url::Url;

use super::context::{Ctx, Noted};
use super::issuer::GrantKind;
use crate::domain::net::is_loopback_host;

/// The registrar for one request, knowing which grant it serves.
pub struct DbRegistrar<'a>(pub &'a Ctx, pub GrantKind);

/// Whether `requested` may be used for a client registered with `registered`.
pub fn redirect_matches(registered: &str, requested: &str, public_client: bool) -> bool {
    if registered == requested {
        return true;
    }
    if !public_client {
        return false;
    }
    match (Url::parse(registered), Url::parse(requested)) {
        (Ok(r), Ok(q)) => {
            r.scheme() == "http"
                && q.scheme() == "http"
                && is_loopback_host(r.host())
                && r.host() == q.host()
                && r.path() == q.path()
                && r.query() == q.query()
                && q.fragment().is_none()
                && q.username().is_empty()
                && q.password().is_none()
        }
        _ => false,
    }
}

impl Registrar for DbRegistrar<'_> {
    fn bound_redirect<'a>(&self, bound: ClientUrl<'a>) -> Result<BoundClient<'a>, RegistrarError> {
        let client = self
            .0
            .client(&bound.client_id)
            .ok_or(RegistrarError::Unspecified)?;
        let chosen = match &bound.redirect_uri {
            Some(requested) => client
                .redirect_uris
                .iter()
                .any(|r| redirect_matches(r, requested.as_str(), client.row.is_public))
                .then(|| requested.as_str().to_owned())
                .ok_or(RegistrarError::Unspecified)?,
            // Without redirect_uri, only an unambiguous registration will do (RFC 6749 §3.1.2.3);
            // a client with none registered is never redirected anywhere. oxide-auth binds a URL
            // for client_credentials too, where nothing is redirected: the issuer serves there.
            None => match client.redirect_uris.as_slice() {
                [only] => only.clone(),
                [] if self.1 == GrantKind::ClientCredentials => self.0.settings.issuer.clone(),
                _ => return Err(RegistrarError::Unspecified),
            },
        };
        let url = ExactUrl::new(chosen).map_err(|_| RegistrarError::Unspecified)?;
        Ok(BoundClient {
            client_id: bound.client_id,
            redirect_uri: Cow::Owned(RegisteredUrl::Exact(url)),
        })
    }

    fn negotiate(
        &self,
        bound: BoundClient,
        scope: Option<Scope>,
    ) -> Result<PreGrant, RegistrarError> {
        let client = self
            .0
            .client(&bound.client_id)
            .ok_or(RegistrarError::Unspecified)?;
        let scope = match scope {
            // What the client may have of what it asked (RFC 6749 §3.3: the server may narrow).
            Some(s) => match super::scope::grantable(&client, s.iter()) {
                Some(granted) => granted
                    .join(" ")
                    .parse()
                    .map_err(|_| RegistrarError::PrimitiveError)?,
                None => {
                    self.0.note(Noted::ScopeNotAllowed);
                    return Err(RegistrarError::Unspecified);
                }
            },
            // No scope asked: the client's registered scopes (RFC 6749 §3.3 default).
            None => client
                .row
                .scopes
                .parse()
                .map_err(|_| RegistrarError::PrimitiveError)?,
        };
        Ok(PreGrant {
            client_id: bound.client_id.into_owned(),
            redirect_uri: bound.redirect_uri.into_owned(),
            scope,
        })
    }

    /// Client authentication itself happened in `client_auth`, which knows how the credentials
    /// were presented; here we only confirm the flow asks about that same client.
    fn check(&self, client_id: &str, _passphrase: Option<&[u8]>) -> Result<(), RegistrarError> {
        match &self.0.authenticated_client {
            Some(id) if id == client_id => Ok(()),
            _ => Err(RegistrarError::Unspecified),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::redirect_matches;

    #[test]
    fn exact_match_except_loopback_port_for_public_clients() {
        let reg = "http://127.0.0.1/callback";
        assert!(redirect_matches(reg, reg, false));
        assert!(redirect_matches(
            reg,
            "http://127.0.0.1:53124/callback",
            true
        ));
        assert!(!redirect_matches(
            reg,
            "http://127.0.0.1:53124/callback",
            false
        ));
        assert!(!redirect_matches(reg, "http://127.0.0.1:53124/other", true));
        assert!(!redirect_matches(
            reg,
            "http://127.0.0.2:53124/callback",
            true
        ));
        assert!(!redirect_matches(
            "https://app.example/cb",
            "https://app.example/cb?x=1",
            true
        ));
        assert!(!redirect_matches(
            "https://app.example/cb",
            "https://app.example/cb/",
            false
        ));
    }
}
