//! What a client is granted of the scope it asked for — one rule for the authorization endpoint
//! (and PAR, which ends there), the client-credentials grant and the device grant.
//!
//! RFC 6749 §3.3 lets the server grant less than was asked. Relying-party libraries commonly ask
//! for scopes a client was not registered for (`offline_access` by default in many): refusing
//! the whole request over one of them fails sign-ins that would work. So the asked scopes the
//! client may have are granted (the consent page and the token response's `scope` show which),
//! and the request is refused with `invalid_scope` only when nothing usable is left.
//!
//! `offline_access` (OIDC Core §11) is a scope every client with the refresh-token grant may
//! ask for: it is what makes its refresh tokens outlive the user's session (see
//! `db::models::backchannel`), shown on the consent page like any other scope.
//!
//! Not here: a refresh (RFC 6749 §6) or a token exchange asking for more than was granted is
//! refused, not narrowed — those ask about a grant already made.

use crate::db::models::clients::Client;
use crate::domain::grants::GRANT_REFRESH_TOKEN;

pub const OFFLINE_ACCESS: &str = "offline_access";

/// Whether `client` may be granted `scope`.
pub fn allowed(client: &Client, scope: &str) -> bool {
    client.scopes().any(|s| s == scope)
        || (scope == OFFLINE_ACCESS && client.allows_grant(GRANT_REFRESH_TOKEN))
}

/// The scopes of `asked` that `client` may have, in the order asked, without repeats; `None`
/// when none is (the request is then `invalid_scope`).
pub fn grantable<'a>(
    client: &Client,
    asked: impl IntoIterator<Item = &'a str>,
) -> Option<Vec<String>> {
    let mut granted: Vec<String> = Vec::new();
    for s in asked {
        if allowed(client, s) && !granted.iter().any(|g| g == s) {
            granted.push(s.to_owned());
        }
    }
    (!granted.is_empty()).then_some(granted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::client_policy::{build_client, ClientSpec};

    fn client(scopes: &[&str], grants: &[&str]) -> Client {
        let spec = ClientSpec {
            name: "App".into(),
            redirect_uris: vec!["https://a.example/cb".into()],
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            grant_types: grants.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        build_client(&spec, 1).expect("valid").0
    }

    #[test]
    fn asked_scopes_are_narrowed_to_what_the_client_may_have() {
        let c = client(
            &["openid", "profile"],
            &["authorization_code", "refresh_token"],
        );
        assert_eq!(
            grantable(&c, "openid admin profile openid".split(' ')),
            Some(vec!["openid".into(), "profile".into()])
        );
        assert_eq!(
            grantable(&c, ["openid", "offline_access"]),
            Some(vec!["openid".into(), "offline_access".into()])
        );
        assert_eq!(grantable(&c, ["admin", "payments:write"]), None);
        let no_refresh = client(&["openid"], &["authorization_code"]);
        assert_eq!(grantable(&no_refresh, ["offline_access"]), None);
    }
}
