//! Request parameters as oxide-auth's code-grant state machines read them.
//!
//! One wrapper serves the authorization, access-token, refresh and client-credentials requests:
//! the parameters come from a `NormalizedParameter` (duplicates are poisoned, so a repeated
//! parameter reads as absent and the request as invalid, RFC 6749 §3.1) and client
//! authentication has already been settled by `client_auth` before any flow runs.

use std::borrow::Cow;

use oxide_auth::code_grant::accesstoken::{self, Authorization};
use oxide_auth::code_grant::{authorization, client_credentials, refresh};
use oxide_auth::endpoint::{NormalizedParameter, QueryParameter};

/// Parameters the flows must find at most once.
const SINGLE: [&str; 13] = [
    "client_id",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "code",
    "code_verifier",
    "code_challenge",
    "code_challenge_method",
    "grant_type",
    "refresh_token",
    "nonce",
    "client_secret",
];

/// Whether every name and value of an urlencoded string decodes to valid UTF-8. Decoders replace
/// invalid bytes with U+FFFD, which would change `state` on its way back to the client; such
/// requests are refused instead (`invalid_request`).
pub fn urlencoded_is_utf8(raw: &[u8]) -> bool {
    raw.split(|b| *b == b'&').all(|pair| {
        let plus_free: Vec<u8> = pair
            .iter()
            .map(|b| if *b == b'+' { b' ' } else { *b })
            .collect();
        percent_encoding::percent_decode(&plus_free)
            .decode_utf8()
            .is_ok()
    })
}

/// The longest authorization request we read, and the longest value in it. `state` comes back
/// in a Location header, and proxies refuse headers much beyond a few KiB.
pub const MAX_QUERY_BYTES: usize = 16 * 1024;
pub const MAX_VALUE_BYTES: usize = 4 * 1024;

/// Whether an urlencoded string is longer than we accept, in whole or in one value.
pub fn urlencoded_is_oversized(raw: &[u8]) -> bool {
    raw.len() > MAX_QUERY_BYTES
        || url::form_urlencoded::parse(raw).any(|(k, v)| k.len() > 256 || v.len() > MAX_VALUE_BYTES)
}

/// A parsed urlencoded form or query string: each name's value (a repeated name is poisoned, so
/// it reads as absent) and the names that were present at all. The web layer parses bodies and
/// queries into this and hands it over; it never sees how the flows store parameters.
pub struct Form {
    values: NormalizedParameter,
    keys: Vec<String>,
}

impl Form {
    /// Parses an urlencoded string (check `urlencoded_is_utf8` first: decoding replaces invalid
    /// bytes).
    pub fn parse(raw: &[u8]) -> Form {
        let mut values = NormalizedParameter::new();
        let mut keys = Vec::new();
        for (k, v) in url::form_urlencoded::parse(raw) {
            keys.push(k.to_string());
            values.insert_or_poison(k.into_owned().into(), v.into_owned().into());
        }
        Form { values, keys }
    }

    /// The single value of `key` (`None` when absent or repeated).
    pub fn value(&self, key: &str) -> Option<String> {
        self.values.unique_value(key).map(|v| v.into_owned())
    }

    /// Whether `key` has a single value.
    pub fn has(&self, key: &str) -> bool {
        self.values.unique_value(key).is_some()
    }

    /// The parameters as the flows read them.
    pub fn params(&self) -> Params<'_> {
        Params::new(&self.values, self.keys.clone())
    }
}

#[derive(Clone)]
pub struct Params<'a> {
    params: &'a NormalizedParameter,
    /// Present in the request at all (even if poisoned by a duplicate).
    raw_keys: Vec<String>,
    /// The client authenticated by `client_auth`, with its presented secret if any.
    pub authenticated: Option<(String, Option<Vec<u8>>)>,
    /// The redirect URI a token request may leave out because its authorization request left
    /// it out (RFC 6749 §4.1.3; set by `token::authorization_code`).
    pub implied_redirect_uri: Option<String>,
}

impl<'a> Params<'a> {
    fn new(params: &'a NormalizedParameter, raw_keys: Vec<String>) -> Self {
        Params {
            params,
            raw_keys,
            authenticated: None,
            implied_redirect_uri: None,
        }
    }

    pub fn get(&self, key: &str) -> Option<Cow<'_, str>> {
        self.params.unique_value(key)
    }

    /// Extension parameters for the flows. Client credentials are not among them: they were
    /// settled by `client_auth`, and the flows must not re-interpret them.
    fn ext(&self, key: &str) -> Option<Cow<'_, str>> {
        match key {
            "client_id" | "client_secret" => None,
            _ => self.get(key),
        }
    }

    /// False when a single-valued parameter was repeated.
    pub fn well_formed(&self) -> bool {
        SINGLE
            .iter()
            .all(|k| !self.raw_keys.iter().any(|r| r == k) || self.get(k).is_some())
    }
}

impl authorization::Request for Params<'_> {
    fn valid(&self) -> bool {
        self.well_formed()
    }
    fn client_id(&self) -> Option<Cow<'_, str>> {
        self.get("client_id")
    }
    fn scope(&self) -> Option<Cow<'_, str>> {
        self.get("scope")
    }
    fn redirect_uri(&self) -> Option<Cow<'_, str>> {
        self.get("redirect_uri")
    }
    fn state(&self) -> Option<Cow<'_, str>> {
        self.get("state")
    }
    fn response_type(&self) -> Option<Cow<'_, str>> {
        self.get("response_type")
    }
    fn extension(&self, key: &str) -> Option<Cow<'_, str>> {
        self.ext(key)
    }
}

impl accesstoken::Request for Params<'_> {
    fn valid(&self) -> bool {
        self.well_formed()
    }
    fn code(&self) -> Option<Cow<'_, str>> {
        self.get("code")
    }
    fn authorization(&self) -> Authorization<'_> {
        match &self.authenticated {
            Some((id, Some(secret))) => {
                Authorization::UsernamePassword(Cow::Borrowed(id), Cow::Borrowed(secret))
            }
            _ => Authorization::None,
        }
    }
    fn client_id(&self) -> Option<Cow<'_, str>> {
        // Public clients identify themselves only by client_id.
        match &self.authenticated {
            Some((id, None)) => Some(Cow::Borrowed(id)),
            _ => None,
        }
    }
    fn redirect_uri(&self) -> Option<Cow<'_, str>> {
        self.get("redirect_uri")
            .or_else(|| self.implied_redirect_uri.as_deref().map(Cow::Borrowed))
    }
    fn grant_type(&self) -> Option<Cow<'_, str>> {
        self.get("grant_type")
    }
    fn extension(&self, key: &str) -> Option<Cow<'_, str>> {
        self.ext(key)
    }
}

impl refresh::Request for Params<'_> {
    fn valid(&self) -> bool {
        self.well_formed()
    }
    fn refresh_token(&self) -> Option<Cow<'_, str>> {
        self.get("refresh_token")
    }
    fn scope(&self) -> Option<Cow<'_, str>> {
        self.get("scope")
    }
    fn grant_type(&self) -> Option<Cow<'_, str>> {
        self.get("grant_type")
    }
    fn authorization(&self) -> Option<(Cow<'_, str>, Cow<'_, [u8]>)> {
        match &self.authenticated {
            Some((id, Some(secret))) => Some((Cow::Borrowed(id), Cow::Borrowed(secret))),
            _ => None,
        }
    }
    fn extension(&self, key: &str) -> Option<Cow<'_, str>> {
        self.ext(key)
    }
}

impl client_credentials::Request for Params<'_> {
    fn valid(&self) -> bool {
        self.well_formed()
    }
    fn authorization(&self) -> Option<(Cow<'_, str>, Cow<'_, [u8]>)> {
        match &self.authenticated {
            Some((id, Some(secret))) => Some((Cow::Borrowed(id), Cow::Borrowed(secret))),
            _ => None,
        }
    }
    fn scope(&self) -> Option<Cow<'_, str>> {
        self.get("scope")
    }
    fn grant_type(&self) -> Option<Cow<'_, str>> {
        self.get("grant_type")
    }
    fn extension(&self, key: &str) -> Option<Cow<'_, str>> {
        self.ext(key)
    }
}

#[cfg(test)]
mod tests {
    use super::urlencoded_is_utf8;

    #[test]
    fn invalid_utf8_escapes_are_noticed() {
        assert!(urlencoded_is_utf8(b"state=abc&x=%C3%A9+y"));
        assert!(urlencoded_is_utf8(b""));
        assert!(!urlencoded_is_utf8(b"state=%FF%FE"));
        assert!(!urlencoded_is_utf8(b"%C3=1"));
        assert!(!urlencoded_is_utf8(b"a=1&state=%E9t%E9"));
    }
}
