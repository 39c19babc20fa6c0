//! Standard claims by scope (OIDC Core §5.4), and by name as the `claims` request parameter
//! asks for them (Core §5.5, `oauth::claims_request`).

use serde_json::{Map, Value};

use crate::accounts::profile::Profile;
use crate::db::models::users::User;
use crate::oauth::claims_request::SCOPE_CLAIMS;

/// The claims `scope` grants about `user`, `sub` included: `profile` the names, web pages,
/// picture, gender, birthdate, zone and locale the person filled in; `email` the address;
/// `address` the postal address; `phone` the number (OIDC Core §5.4). Claims not filled in are
/// left out, as §5.3.2 asks.
pub fn for_scope(user: &User, scope: &str) -> Map<String, Value> {
    let scopes: Vec<&str> = scope.split_ascii_whitespace().collect();
    let mut m = Map::new();
    m.insert("sub".into(), Value::String(user.id.clone()));
    let profile = Profile::of(user);
    let put = |m: &mut Map<String, Value>, name: &str, v: &Option<String>| {
        if let Some(v) = v {
            m.insert(name.into(), Value::String(v.clone()));
        }
    };
    if scopes.contains(&"profile") {
        let name = user.name.clone().unwrap_or_else(|| user.username.clone());
        m.insert("name".into(), Value::String(name));
        m.insert(
            "preferred_username".into(),
            Value::String(user.username.clone()),
        );
        let r = &profile.rest;
        for (claim, v) in [
            ("given_name", &profile.given_name),
            ("family_name", &profile.family_name),
            ("middle_name", &r.middle_name),
            ("nickname", &r.nickname),
            ("profile", &r.profile),
            ("picture", &r.picture),
            ("website", &r.website),
            ("gender", &r.gender),
            ("birthdate", &r.birthdate),
            ("zoneinfo", &r.zoneinfo),
            ("locale", &r.locale),
        ] {
            put(&mut m, claim, v);
        }
        m.insert("updated_at".into(), Value::from(user.updated_at));
    }
    if scopes.contains(&"email") {
        m.insert("email".into(), Value::String(user.email.clone()));
        m.insert("email_verified".into(), Value::Bool(user.email_verified));
    }
    if scopes.contains(&"address") {
        if let Some(a) = &profile.rest.address {
            if let Ok(v) = serde_json::to_value(a) {
                m.insert("address".into(), v);
            }
        }
    }
    if scopes.contains(&"phone") {
        if let Some(n) = &profile.rest.phone_number {
            m.insert("phone_number".into(), Value::String(n.clone()));
            m.insert(
                "phone_number_verified".into(),
                Value::Bool(profile.rest.phone_number_verified),
            );
        }
    }
    m
}

/// The claims of `names` that `user` has (a claim the user has no value for is left out, as
/// Core §5.5 allows). The names were released to the client already (`ClaimsRequest::release`).
pub fn by_name<'a>(user: &User, names: impl IntoIterator<Item = &'a str>) -> Map<String, Value> {
    let every_scope: Vec<&str> = SCOPE_CLAIMS.iter().map(|(scope, _)| *scope).collect();
    let mut all = for_scope(user, &every_scope.join(" "));
    names
        .into_iter()
        .filter_map(|n| all.remove(n).map(|v| (n.to_owned(), v)))
        .collect()
}

/// The `groups` claim (scope `groups`): the names of the groups the user belongs to, as
/// `load` reads them — only called when the scope was granted.
pub fn add_groups<E>(
    claims: &mut Map<String, Value>,
    scope: &str,
    load: impl FnOnce() -> Result<Vec<String>, E>,
) -> Result<(), E> {
    if scope.split_ascii_whitespace().any(|s| s == "groups") {
        let names = load()?;
        claims.insert(
            "groups".into(),
            Value::Array(names.into_iter().map(Value::String).collect()),
        );
    }
    Ok(())
}
