//! Standard claims by scope (OIDC Core §5.4), and by name as the `claims` request parameter
//! asks for them (Core §5.5, `oauth::claims_request`).

use serde_json::{Map, Value};

use crate::db::models::users::User;

/// The claims `scope` grants about `user`, `sub` included.
pub fn for_scope(user: &User, scope: &str) -> Map<String, Value> {
    let scopes: Vec<&str> = scope.split_ascii_whitespace().collect();
    let mut m = Map::new();
    m.insert("sub".into(), Value::String(user.id.clone()));
    if scopes.contains(&"profile") {
        let name = user.name.clone().unwrap_or_else(|| user.username.clone());
        m.insert("name".into(), Value::String(name));
        m.insert(
            "preferred_username".into(),
            Value::String(user.username.clone()),
        );
        if let Some(g) = &user.given_name {
            m.insert("given_name".into(), Value::String(g.clone()));
        }
        if let Some(f) = &user.family_name {
            m.insert("family_name".into(), Value::String(f.clone()));
        }
        m.insert("updated_at".into(), Value::from(user.updated_at));
    }
    if scopes.contains(&"email") {
        m.insert("email".into(), Value::String(user.email.clone()));
        m.insert("email_verified".into(), Value::Bool(user.email_verified));
    }
    m
}

/// The claims of `names` that `user` has (a claim the user has no value for is left out, as
/// Core §5.5 allows). The names were released to the client already (`ClaimsRequest::release`).
pub fn by_name<'a>(user: &User, names: impl IntoIterator<Item = &'a str>) -> Map<String, Value> {
    let mut all = for_scope(user, "profile email");
    names
        .into_iter()
        .filter_map(|n| all.remove(n).map(|v| (n.to_owned(), v)))
        .collect()
}
