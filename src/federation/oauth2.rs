//! The plain OAuth 2.0 flavour of an upstream login (kind `oauth2`): no discovery and no
//! id_token, so who the person is comes from the provider's userinfo URL, read with the access
//! token and mapped by the provider's claim paths (`sub`, `username`, `email`, `email_verified`,
//! `name`, `picture`, …). The round trip itself (state bound to the browser and spent once, the
//! provider fixed when it began, PKCE S256, the code exchanged) is `flow`'s, shared with OpenID
//! Connect: without an id_token, that state is the whole defence against CSRF and mix-up.
//!
//! Presets fill in a known provider's endpoints and claim paths (`preset`). `github`: the
//! authorize and token endpoints on github.com, the API on api.github.com (or both under a
//! base URL given, e.g. GitHub Enterprise or a test's stand-in); `/user` (id → sub, login →
//! username); the address only from `/user/emails`, and only the primary one when GitHub says
//! it is verified (never the profile's public address, never an unverified one);
//! `/user/orgs` and `/user/teams` as groups (`org`, `org/team-slug`).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::error::{json, json_list, FlowError};
use crate::db::models::federation::ProviderRow;
use crate::outbound::{FetchError, Limits, Outbound};

pub const PRESET_GITHUB: &str = "github";

/// What a preset fills in where the operator gave nothing.
pub struct Preset {
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub userinfo_endpoint: String,
    pub claim_paths: BTreeMap<String, String>,
    pub scopes: Vec<String>,
    pub groups_claim: Option<String>,
}

/// The preset `name` (with its URLs under `base_url` and `api_url`, when given), or `None` for
/// a preset we do not know.
pub fn preset(name: &str, base_url: Option<&str>, api_url: Option<&str>) -> Option<Preset> {
    if name != PRESET_GITHUB {
        return None;
    }
    let base = base_url
        .unwrap_or("https://github.com")
        .trim_end_matches('/');
    let api = match api_url {
        Some(a) => a.trim_end_matches('/').to_owned(),
        None if base == "https://github.com" => "https://api.github.com".to_owned(),
        // GitHub Enterprise Server's REST API.
        None => format!("{base}/api/v3"),
    };
    let paths = [
        ("sub", "id"),
        ("username", "login"),
        ("name", "name"),
        ("picture", "avatar_url"),
    ];
    Some(Preset {
        authorization_endpoint: format!("{base}/login/oauth/authorize"),
        token_endpoint: format!("{base}/login/oauth/access_token"),
        userinfo_endpoint: format!("{api}/user"),
        claim_paths: paths
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        scopes: ["read:user", "user:email", "read:org"]
            .map(String::from)
            .to_vec(),
        groups_claim: Some(GROUPS.into()),
    })
}

/// The claim a preset's groups are put in.
const GROUPS: &str = "groups";

fn is_github(p: &ProviderRow) -> bool {
    p.preset.as_deref() == Some(PRESET_GITHUB)
}

/// Whether the token endpoint is sent the client's credentials with HTTP Basic (else in the
/// form, as GitHub documents).
pub fn basic_auth(p: &ProviderRow) -> bool {
    !is_github(p)
}

/// Who the person is at provider `p`, by its access token: userinfo mapped by the claim paths,
/// and for GitHub its verified primary address and its organisations and teams.
pub async fn identity(
    outbound: &Outbound,
    p: &ProviderRow,
    access_token: &str,
) -> Result<Map<String, Value>, FlowError> {
    let url = p
        .userinfo_endpoint
        .as_deref()
        .ok_or(FlowError::UnknownProvider)?;
    let get = |url: String| async move {
        outbound
            .get_bearer(&url, "application/json", access_token, Limits::UPSTREAM)
            .await
    };
    let info = json(&get(url.to_owned()).await.map_err(FlowError::from)?)?;
    let mut claims = mapped(p, &info);
    if is_github(p) {
        // GitHub's profile address is whatever the person made public: never trusted.
        claims.remove("email");
        claims.remove("email_verified");
        let (emails, orgs, teams) = futures_util::join!(
            get(format!("{url}/emails?per_page=100")),
            get(format!("{url}/orgs?per_page=100")),
            get(format!("{url}/teams?per_page=100")),
        );
        let primary = list_of(emails)?.into_iter().find(|e| e["primary"] == true);
        if let Some(e) = primary.filter(|e| e["verified"] == true) {
            if let Some(address) = e["email"].as_str() {
                claims.insert("email".into(), Value::String(address.to_owned()));
                claims.insert("email_verified".into(), Value::Bool(true));
            }
        }
        let mut groups: Vec<Value> = list_of(orgs)?
            .iter()
            .filter_map(|o| o["login"].as_str())
            .map(|o| Value::String(o.to_owned()))
            .collect();
        groups.extend(list_of(teams)?.iter().filter_map(|t| {
            let org = t["organization"]["login"].as_str()?;
            let slug = t["slug"].as_str()?;
            Some(Value::String(format!("{org}/{slug}")))
        }));
        claims.insert(GROUPS.into(), Value::Array(groups));
    }
    Ok(claims)
}

/// A list the API answered; none where the token may not read it (a scope not granted: 401,
/// 403, 404), an error where the API failed.
fn list_of(answer: Result<crate::outbound::Response, FetchError>) -> Result<Vec<Value>, FlowError> {
    match answer {
        Ok(r) => json_list(&r),
        Err(FetchError::Status(401 | 403 | 404)) => Ok(Vec::new()),
        Err(e) => Err(FlowError::from(e)),
    }
}

/// A userinfo answer as claims, by the provider's claim paths (`username` under the provider's
/// username claim).
fn mapped(p: &ProviderRow, info: &Value) -> Map<String, Value> {
    let paths: BTreeMap<String, String> = p
        .claim_paths
        .as_deref()
        .and_then(|j| serde_json::from_str(j).ok())
        .unwrap_or_default();
    let mut out = Map::new();
    for (local, path) in paths {
        if let Some(v) = claim(info, &path) {
            let name = if local == "username" {
                p.username_claim.clone()
            } else {
                local
            };
            out.insert(name, v.clone());
        }
    }
    out
}

/// A claim's value in `claims` by a dotted path (`a.b`), as the claim maps and paths name
/// them.
pub fn claim<'v>(claims: &'v Value, path: &str) -> Option<&'v Value> {
    if let Some(v) = claims.get(path) {
        return Some(v);
    }
    path.split('.').try_fold(claims, |v, part| v.get(part))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_github_preset_points_at_github_or_under_a_base_url() {
        let gh = preset(PRESET_GITHUB, None, None).expect("github");
        assert_eq!(
            gh.authorization_endpoint,
            "https://github.com/login/oauth/authorize"
        );
        assert_eq!(gh.userinfo_endpoint, "https://api.github.com/user");
        assert_eq!(gh.claim_paths["sub"], "id");
        assert!(!gh.claim_paths.contains_key("email"), "only /user/emails");
        let ghes = preset(PRESET_GITHUB, Some("https://git.example.com/"), None).expect("ghes");
        assert_eq!(
            ghes.token_endpoint,
            "https://git.example.com/login/oauth/access_token"
        );
        assert_eq!(
            ghes.userinfo_endpoint,
            "https://git.example.com/api/v3/user"
        );
        assert!(preset("gitlab", None, None).is_none());
    }

    #[test]
    fn claims_are_found_by_dotted_paths() {
        let v = serde_json::json!({"a": {"b": 1}, "c.d": 2});
        assert_eq!(claim(&v, "a.b"), Some(&Value::from(1)));
        assert_eq!(claim(&v, "c.d"), Some(&Value::from(2)));
        assert_eq!(claim(&v, "a.x"), None);
    }
}
