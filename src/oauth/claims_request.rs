//! The `claims` request parameter (OIDC Core §5.5): which claims a client asks for, and where
//! (`id_token` or `userinfo`). Parsed once at the authorization endpoint, cut down to what the
//! client may see (`release`), carried with the code and the refresh family as JSON, and read by
//! `oidc::claims` when the id_token and the userinfo answer are built.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::params::Params;
use crate::authn::acr::Acr;

/// One requested claim: `null` in the request, or its options (Core §5.5.1).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ClaimSpec {
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub essential: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<Value>>,
}

/// The claims asked for, by where they are to be returned.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ClaimsRequest {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub userinfo: BTreeMap<String, Option<ClaimSpec>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub id_token: BTreeMap<String, Option<ClaimSpec>>,
}

/// The standard claims each scope stands for (OIDC Core §5.4), the one list `scope_of` and
/// `oidc::claims` read.
pub const SCOPE_CLAIMS: [(&str, &[&str]); 4] = [
    (
        "profile",
        &[
            "name",
            "family_name",
            "given_name",
            "middle_name",
            "nickname",
            "preferred_username",
            "profile",
            "picture",
            "website",
            "gender",
            "birthdate",
            "zoneinfo",
            "locale",
            "updated_at",
        ],
    ),
    ("email", &["email", "email_verified"]),
    ("address", &["address"]),
    ("phone", &["phone_number", "phone_number_verified"]),
];

/// The scope whose consent covers a claim (Core §5.4): a requested claim is released to a client
/// that may ask for that scope, once the user consented to it. Claims about the login itself
/// (`acr`, `auth_time`, `amr`, `sub`) need none; they are in every id_token that has them.
pub fn scope_of(claim: &str) -> Option<&'static str> {
    SCOPE_CLAIMS
        .iter()
        .find(|(_, claims)| claims.contains(&claim))
        .map(|(scope, _)| *scope)
}

/// Members of a target: an object whose members are `null` or an options object.
fn target(v: Option<&Value>) -> Result<BTreeMap<String, Option<ClaimSpec>>, &'static str> {
    let Some(v) = v else {
        return Ok(BTreeMap::new());
    };
    let Value::Object(members) = v else {
        return Err("claims: userinfo and id_token must be JSON objects");
    };
    let mut out = BTreeMap::new();
    for (name, spec) in members {
        let spec = match spec {
            Value::Null => None,
            Value::Object(_) => Some(
                serde_json::from_value::<ClaimSpec>(spec.clone())
                    .map_err(|_| "claims: essential must be a boolean and values an array")?,
            ),
            _ => return Err("claims: each requested claim must be null or a JSON object"),
        };
        out.insert(name.clone(), spec);
    }
    Ok(out)
}

impl ClaimsRequest {
    /// Parses the parameter's value; anything but a JSON object of the Core §5.5 shape is an
    /// `invalid_request` with the returned description. Unknown top-level members are ignored.
    pub fn parse(raw: &str) -> Result<ClaimsRequest, &'static str> {
        let v: Value =
            serde_json::from_str(raw).map_err(|_| "the claims parameter is not valid JSON")?;
        let Value::Object(top) = &v else {
            return Err("the claims parameter must be a JSON object");
        };
        Ok(ClaimsRequest {
            userinfo: target(top.get("userinfo"))?,
            id_token: target(top.get("id_token"))?,
        })
    }

    /// The request's `claims` parameter, if any.
    pub fn from_params(params: &Params<'_>) -> Result<Option<ClaimsRequest>, &'static str> {
        params
            .get("claims")
            .map(|raw| ClaimsRequest::parse(&raw))
            .transpose()
    }

    /// What was stored with a code or a refresh family (`to_stored`); `None` for nothing or a
    /// value that does not read back.
    pub fn from_stored(stored: Option<&str>) -> Option<ClaimsRequest> {
        stored.and_then(|s| serde_json::from_str(s).ok())
    }

    pub fn to_stored(&self) -> Option<String> {
        (!self.is_empty()).then(|| serde_json::to_string(self).unwrap_or_default())
    }

    pub fn is_empty(&self) -> bool {
        self.userinfo.is_empty() && self.id_token.is_empty()
    }

    /// The class an essential `acr` claim asks for (Core §5.5.1.1): the weakest of its `value`
    /// or `values` that we know, a must like a client's minimum. `None` when `acr` is not
    /// essential or names no class of ours.
    pub fn essential_acr(&self) -> Option<Acr> {
        let spec = self.id_token.get("acr").and_then(Option::as_ref)?;
        if !spec.essential {
            return None;
        }
        spec.value
            .iter()
            .chain(spec.values.iter().flatten())
            .filter_map(|v| v.as_str().and_then(Acr::parse))
            .min()
    }

    /// The `sub` the request names with a `value` (Core §5.5.1), at the id_token or at userinfo:
    /// only that subject, as this client sees it, may be the answer's.
    pub fn subject(&self) -> Option<&str> {
        [&self.id_token, &self.userinfo]
            .into_iter()
            .filter_map(|m| m.get("sub").and_then(Option::as_ref))
            .find_map(|spec| spec.value.as_ref().and_then(Value::as_str))
    }

    /// The request cut down to claims a client allowed `may_scope` may be given: claims of a
    /// scope the client may ask for; claims without a scope are not released this way.
    pub fn release(&self, may_scope: impl Fn(&str) -> bool) -> ClaimsRequest {
        let keep = |m: &BTreeMap<String, Option<ClaimSpec>>| {
            m.iter()
                .filter(|(name, _)| scope_of(name).is_some_and(&may_scope))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        };
        ClaimsRequest {
            userinfo: keep(&self.userinfo),
            id_token: keep(&self.id_token),
        }
    }

    /// The scopes the user consents to for these claims (`release`d ones), sorted.
    pub fn consent_scopes(&self) -> Vec<&'static str> {
        let mut scopes: Vec<&'static str> = self
            .userinfo
            .keys()
            .chain(self.id_token.keys())
            .filter_map(|c| scope_of(c))
            .collect();
        scopes.sort_unstable();
        scopes.dedup();
        scopes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_core_example_shape_and_refuses_others() {
        let r = ClaimsRequest::parse(
            r#"{"userinfo":{"given_name":{"essential":true},"email":null},
                "id_token":{"acr":{"essential":true,"values":["phr","urn:ostiary:acr:2fa"]}}}"#,
        )
        .expect("valid");
        assert!(r.userinfo.contains_key("email"));
        assert_eq!(r.essential_acr(), Some(Acr::TwoFactor));
        for bad in [
            "not json",
            "[]",
            r#"{"id_token":[]}"#,
            r#"{"id_token":{"email":true}}"#,
            r#"{"id_token":{"email":{"essential":"yes"}}}"#,
        ] {
            assert!(ClaimsRequest::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn release_keeps_claims_of_scopes_the_client_may_have() {
        let r = ClaimsRequest::parse(
            r#"{"id_token":{"email":{"essential":true},"name":null,"secret":null}}"#,
        )
        .expect("valid");
        assert_eq!(r.subject(), None);
        let released = r.release(|s| s == "email");
        assert_eq!(released.id_token.keys().collect::<Vec<_>>(), ["email"]);
        assert_eq!(released.consent_scopes(), ["email"]);
        let stored = released.to_stored();
        assert_eq!(
            ClaimsRequest::from_stored(stored.as_deref()),
            Some(released)
        );
    }

    #[test]
    fn address_and_phone_claims_belong_to_their_scopes_and_a_sub_value_is_read() {
        assert_eq!(scope_of("address"), Some("address"));
        assert_eq!(scope_of("phone_number_verified"), Some("phone"));
        assert_eq!(scope_of("birthdate"), Some("profile"));
        assert_eq!(scope_of("sub"), None);
        let r = ClaimsRequest::parse(
            r#"{"id_token":{"sub":{"value":"u-1"},"address":null,"phone_number":null}}"#,
        )
        .expect("valid");
        assert_eq!(r.subject(), Some("u-1"));
        let released = r.release(|s| s == "address" || s == "phone");
        assert_eq!(
            released.id_token.keys().collect::<Vec<_>>(),
            ["address", "phone_number"]
        );
        assert_eq!(released.consent_scopes(), ["address", "phone"]);
    }
}
