//! The upstream providers an operator configured: one check of a provider spec (`check`), used
//! by `ostiary upstream add`, config-as-code and the console alike, and the writes with their
//! audit entries. The client secret is sealed under the KEK with the provider id as context.

use diesel::Connection;
use serde::{Deserialize, Serialize};

use std::collections::BTreeMap;

use super::oauth2;
use crate::audit::{self, Actor, Entry, Event};
use crate::crypto::kek::Kek;
use crate::db::models::federation::{self as rows, ProviderRow};
use crate::db::DbConn;

pub const KIND_OIDC: &str = "oidc";
pub const KIND_OAUTH2: &str = "oauth2";

/// What to do with an upstream subject no account is linked to yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Only subjects linked already may log in.
    Refuse,
    /// Link to an existing account: by a verified address only when the provider is trusted for
    /// addresses; never creates one.
    Link,
    /// As `Link`, else create an account just in time.
    Create,
}

impl Policy {
    pub fn parse(s: &str) -> Option<Policy> {
        Some(match s {
            "refuse" => Policy::Refuse,
            "link" => Policy::Link,
            "create" => Policy::Create,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Refuse => "refuse",
            Policy::Link => "link",
            Policy::Create => "create",
        }
    }
}

fn default_kind() -> String {
    KIND_OIDC.into()
}
fn default_policy() -> String {
    "refuse".into()
}
fn default_true() -> bool {
    true
}

/// A provider as an operator writes it (CLI flags, a `[[upstream]]` table), before `check`.
/// The client secret is not part of it: it is handed over separately, never printed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// The slug: in `/login/upstream/{id}` and `idp_hint`.
    pub id: String,
    /// What the login page's button says.
    pub name: String,
    #[serde(default = "default_kind")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    pub client_id: String,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default = "default_policy")]
    pub account_policy: String,
    #[serde(default)]
    pub trusted_email: bool,
    #[serde(default)]
    pub trusted_acr: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_claim: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups_claim: Option<String>,
    /// Local attribute ← upstream claim (`name`, `given_name`, `family_name`, `email`,
    /// `email_verified`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim_map: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub upstream_logout: bool,
    #[serde(default = "default_true")]
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userinfo_endpoint: Option<String>,
    /// For plain OAuth 2.0: where `sub`, `username`, `email`, `email_verified`, `name`,
    /// `picture`, `groups` are in the userinfo answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim_paths: Option<BTreeMap<String, String>>,
    /// For plain OAuth 2.0: a known provider (`github`, `oauth2::preset`) whose endpoints,
    /// claim paths, scopes and groups claim are filled in where none are given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
    /// Where a preset's provider is (its default: the public service), e.g. GitHub Enterprise.
    /// Read by `check` only: what is stored (and exported) is the endpoints it gave.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// A preset's API root, when not where the preset puts it under `base_url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
    /// The login page button's icon: a `data:image/png;base64,…` or `data:image/svg+xml;base64,…`
    /// URL of at most `ICON_MAX` bytes, shown inline (`check_icon`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,
    /// Refresh a linked account's name, given and family name from the upstream at every login
    /// (never its username or email address).
    #[serde(default = "default_true")]
    pub sync_claims: bool,
}

/// Local attributes a claim map may fill.
/// (`email_verified` names the claim that says whether the mapped `email` is verified: without
/// it, a remapped address is unverified.)
const MAPPED: [&str; 6] = [
    "name",
    "given_name",
    "family_name",
    "email",
    "email_verified",
    "username",
];
/// What else a plain OAuth 2.0 provider's claim paths may name.
const PATHS: [&str; 4] = ["sub", "email_verified", "picture", "groups"];

/// The largest icon, decoded.
pub const ICON_MAX: usize = 8 * 1024;

/// An icon is a small image stored with the provider and shown inline from our own page
/// (`data:` is in the login page's `img-src` already): no request leaves for a third party
/// when someone opens the login page, and no other origin enters the CSP. PNG or SVG (an SVG
/// shown through `<img>` runs no script), checked by its bytes, not only by its type.
fn check_icon(raw: &str, errors: &mut Vec<String>) -> Option<String> {
    use base64::Engine;
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    let (kind, data) = if let Some(d) = raw.strip_prefix("data:image/png;base64,") {
        ("png", d)
    } else if let Some(d) = raw.strip_prefix("data:image/svg+xml;base64,") {
        ("svg", d)
    } else {
        errors.push("icon must be a data:image/png;base64 or data:image/svg+xml;base64 URL".into());
        return None;
    };
    let bytes = match base64::engine::general_purpose::STANDARD.decode(data) {
        Ok(b) => b,
        Err(_) => {
            errors.push("icon is not valid base64".into());
            return None;
        }
    };
    if bytes.len() > ICON_MAX {
        errors.push(format!("icon must be at most {} KiB", ICON_MAX / 1024));
        return None;
    }
    let looks_right = match kind {
        "png" => bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        _ => std::str::from_utf8(&bytes).is_ok_and(|t| t.contains("<svg") && inert_svg(t)),
    };
    if !looks_right {
        errors.push(format!("icon is not a {} image", kind.to_uppercase()));
        return None;
    }
    Some(raw.to_owned())
}

/// Whether an SVG icon is a picture only: no script, no event handler, no embedded document,
/// no reference to anything else. Shown through `<img>` an SVG runs nothing, but an icon may one
/// day be served on its own or put in a mail, and a picture needs none of these.
fn inert_svg(svg: &str) -> bool {
    let t = svg.to_ascii_lowercase();
    let banned = [
        "<script",
        "<foreignobject",
        "<iframe",
        "<embed",
        "<object",
        "<!entity",
        "href",
        "javascript:",
        "url(",
        "@import",
    ];
    if banned.iter().any(|b| t.contains(b)) {
        return false;
    }
    // Event handler attributes: `on…=` after whitespace.
    let b = t.as_bytes();
    !(0..b.len()).any(|i| {
        b[i].is_ascii_whitespace()
            && b.get(i + 1) == Some(&b'o')
            && b.get(i + 2) == Some(&b'n')
            && b[i + 3..]
                .iter()
                .take_while(|c| c.is_ascii_alphabetic())
                .count()
                > 0
            && b[i + 3..]
                .iter()
                .skip_while(|c| c.is_ascii_alphabetic())
                .find(|c| !c.is_ascii_whitespace())
                == Some(&b'=')
    })
}

fn is_slug(s: &str) -> bool {
    (1..=40).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
}

fn is_claim_name(s: &str) -> bool {
    (1..=100).contains(&s.len())
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || b == b'_'
                || b == b'.'
                || b == b'-'
                || b == b':'
                || b == b'/'
        })
}

/// An https URL, or http to a loopback host (tests, a local upstream).
fn check_url(field: &str, raw: Option<&str>, errors: &mut Vec<String>) -> Option<String> {
    let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
        errors.push(format!("{field} is required"));
        return None;
    };
    match url::Url::parse(raw) {
        Ok(u)
            if u.scheme() == "https"
                || (u.scheme() == "http" && crate::domain::net::is_loopback_host(u.host())) =>
        {
            if u.fragment().is_some() || !u.username().is_empty() {
                errors.push(format!("{field} must have no fragment or user name"));
                return None;
            }
            Some(raw.trim_end_matches('/').to_owned())
        }
        _ => {
            errors.push(format!(
                "{field} must be an https URL (http only to a loopback address)"
            ));
            None
        }
    }
}

/// `spec` with its preset's endpoints, scopes, claim paths (each replaced by the spec's own)
/// and groups claim where it gives none.
fn with_preset(spec: &Spec, errors: &mut Vec<String>) -> Spec {
    let mut spec = spec.clone();
    let Some(name) = spec.preset.clone() else {
        return spec;
    };
    if spec.kind != KIND_OAUTH2 {
        errors.push(format!("preset {name:?} is for kind oauth2"));
    }
    let base = spec
        .base_url
        .as_deref()
        .and_then(|u| check_url("base_url", Some(u), errors));
    let api = spec
        .api_url
        .as_deref()
        .and_then(|u| check_url("api_url", Some(u), errors));
    let Some(p) = oauth2::preset(&name, base.as_deref(), api.as_deref()) else {
        errors.push(format!("preset must be github, not {name:?}"));
        return spec;
    };
    spec.authorization_endpoint
        .get_or_insert(p.authorization_endpoint);
    spec.token_endpoint.get_or_insert(p.token_endpoint);
    spec.userinfo_endpoint.get_or_insert(p.userinfo_endpoint);
    if spec.scopes.is_empty() {
        spec.scopes = p.scopes;
    }
    let mut paths = p.claim_paths;
    paths.extend(spec.claim_paths.take().unwrap_or_default());
    spec.claim_paths = Some(paths);
    spec.groups_claim = spec.groups_claim.take().or(p.groups_claim);
    spec
}

/// Every rule for a provider spec at once: the row to store (without its secret and times), or
/// each problem found, named by field.
pub fn check(spec: &Spec) -> Result<ProviderRow, Vec<String>> {
    let mut errors = Vec::new();
    let spec = &with_preset(spec, &mut errors);
    if !is_slug(&spec.id) {
        errors.push("id must be 1 to 40 lower-case letters, digits or '-'".into());
    }
    let name = match crate::domain::text::visible_name(&spec.name) {
        Ok(n) if (1..=80).contains(&n.chars().count()) => n,
        Ok(_) => {
            errors.push("name must have 1 to 80 characters".into());
            String::new()
        }
        Err(why) => {
            errors.push(format!("name {why}"));
            String::new()
        }
    };
    let client_id = spec.client_id.trim().to_owned();
    if client_id.is_empty() || client_id.len() > 255 {
        errors.push("client_id must have 1 to 255 characters".into());
    }
    let mut scopes: Vec<String> = spec
        .scopes
        .iter()
        .flat_map(|s| s.split_ascii_whitespace())
        .map(str::to_owned)
        .collect();
    if let Some(bad) = scopes
        .iter()
        .find(|s| !crate::oauth::client_policy::is_scope_token(s))
    {
        errors.push(format!("scope {bad:?} is not a valid scope"));
    }
    let (mut issuer, mut authorization, mut token, mut userinfo) = (None, None, None, None);
    match spec.kind.as_str() {
        KIND_OIDC => {
            // Stored exactly as configured (a trailing '/' included): OIDC Discovery §4.3 wants
            // the discovery document's `issuer` to be this very string, and so do the id_token's
            // `iss` and RFC 9207's.
            issuer = check_url("issuer", spec.issuer.as_deref(), &mut errors)
                .and(spec.issuer.as_deref().map(|i| i.trim().to_owned()));
            if scopes.is_empty() {
                scopes = ["openid", "profile", "email"].map(String::from).to_vec();
            }
            if !scopes.iter().any(|s| s == "openid") {
                scopes.insert(0, "openid".into());
            }
        }
        KIND_OAUTH2 => {
            authorization = check_url(
                "authorization_endpoint",
                spec.authorization_endpoint.as_deref(),
                &mut errors,
            );
            token = check_url(
                "token_endpoint",
                spec.token_endpoint.as_deref(),
                &mut errors,
            );
            userinfo = check_url(
                "userinfo_endpoint",
                spec.userinfo_endpoint.as_deref(),
                &mut errors,
            );
            if spec
                .claim_paths
                .as_ref()
                .is_none_or(|p| !p.contains_key("sub"))
            {
                errors.push("claim_paths must say where the subject is (sub = \"id\")".into());
            }
        }
        other => errors.push(format!("kind must be oidc or oauth2, not {other:?}")),
    }
    if spec.preset.is_none() && (spec.base_url.is_some() || spec.api_url.is_some()) {
        errors.push("base_url and api_url go with a preset".into());
    }
    let policy = Policy::parse(&spec.account_policy);
    if policy.is_none() {
        errors.push("account_policy must be refuse, link or create".into());
    }
    let username_claim = spec
        .username_claim
        .clone()
        .unwrap_or_else(|| "preferred_username".into());
    for (field, claim) in [
        ("username_claim", Some(&username_claim)),
        ("groups_claim", spec.groups_claim.as_ref()),
    ] {
        if claim.is_some_and(|c| !is_claim_name(c)) {
            errors.push(format!("{field} is not a claim name"));
        }
    }
    for (field, map) in [
        ("claim_map", &spec.claim_map),
        ("claim_paths", &spec.claim_paths),
    ] {
        for (local, upstream) in map.iter().flatten() {
            let known = MAPPED.contains(&local.as_str())
                || (field == "claim_paths" && PATHS.contains(&local.as_str()));
            if !known || !is_claim_name(upstream) {
                errors.push(format!("{field}: {local} = {upstream:?} is not usable"));
            }
        }
    }
    let icon = spec
        .icon
        .as_deref()
        .and_then(|i| check_icon(i, &mut errors));
    let json = |m: &Option<BTreeMap<String, String>>| {
        m.as_ref()
            .filter(|m| !m.is_empty())
            .and_then(|m| serde_json::to_string(m).ok())
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(ProviderRow {
        id: spec.id.clone(),
        name,
        kind: spec.kind.clone(),
        issuer,
        client_id,
        client_secret_enc: None,
        scopes: scopes.join(" "),
        account_policy: policy.map(Policy::as_str).unwrap_or("refuse").to_owned(),
        trusted_email: spec.trusted_email,
        trusted_acr: spec.trusted_acr,
        username_claim,
        claim_map: json(&spec.claim_map),
        groups_claim: spec.groups_claim.clone(),
        upstream_logout: spec.upstream_logout,
        enabled: spec.enabled,
        authorization_endpoint: authorization,
        token_endpoint: token,
        userinfo_endpoint: userinfo,
        claim_paths: json(&spec.claim_paths),
        created_at: 0,
        updated_at: 0,
        preset: spec.preset.clone(),
        icon,
        sync_claims: spec.sync_claims,
    })
}

/// The spec a stored provider was made from (export, the console's edit form).
pub fn spec_of(row: &ProviderRow) -> Spec {
    let map = |s: &Option<String>| s.as_deref().and_then(|j| serde_json::from_str(j).ok());
    Spec {
        id: row.id.clone(),
        name: row.name.clone(),
        kind: row.kind.clone(),
        issuer: row.issuer.clone(),
        client_id: row.client_id.clone(),
        scopes: row
            .scopes
            .split_ascii_whitespace()
            .map(str::to_owned)
            .collect(),
        account_policy: row.account_policy.clone(),
        trusted_email: row.trusted_email,
        trusted_acr: row.trusted_acr,
        username_claim: Some(row.username_claim.clone()),
        groups_claim: row.groups_claim.clone(),
        claim_map: map(&row.claim_map),
        upstream_logout: row.upstream_logout,
        enabled: row.enabled,
        authorization_endpoint: row.authorization_endpoint.clone(),
        token_endpoint: row.token_endpoint.clone(),
        userinfo_endpoint: row.userinfo_endpoint.clone(),
        claim_paths: map(&row.claim_paths),
        preset: row.preset.clone(),
        base_url: None,
        api_url: None,
        icon: row.icon.clone(),
        sync_claims: row.sync_claims,
    }
}

/// The KEK context a provider's secret is sealed with.
fn secret_context(id: &str) -> String {
    format!("upstream-client-secret:{id}")
}

/// The client secret of `row`, opened (`None`: a public client, PKCE only).
pub fn secret_of(kek: &Kek, row: &ProviderRow) -> Option<String> {
    let sealed = row.client_secret_enc.as_deref()?;
    kek.open(&secret_context(&row.id), sealed)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
}

/// Why a provider was not stored.
#[derive(Debug)]
pub enum Refused {
    /// The spec's problems, by field.
    Invalid(Vec<String>),
    /// A provider with this id exists (for `add`) or does not (for `update`).
    Exists,
    Unknown,
}

/// A provider stored.
#[derive(Debug)]
pub struct Saved {
    pub row: ProviderRow,
    /// Links dropped because the issuer changed (`save`).
    pub links_dropped: usize,
}

/// Where a provider's subjects come from: its kind, its issuer, its endpoints and (plain OAuth
/// 2.0) the claim path of `sub` — each compared without one trailing '/'. A subject is unique
/// only within its source: GitHub's user 42 is somebody else at a GitHub Enterprise server.
/// A trailing '/' alone keeps the source: at most one of the two is the upstream's real issuer
/// (discovery and the id_token's `iss` must equal the configured one exactly), so links were
/// only ever made under the real one and no other issuer's subject can reach them.
fn subject_source(r: &ProviderRow) -> Vec<Option<String>> {
    let base = |i: Option<&str>| i.map(|i| i.strip_suffix('/').unwrap_or(i).to_owned());
    let sub_path = r
        .claim_paths
        .as_deref()
        .and_then(|j| serde_json::from_str::<std::collections::BTreeMap<String, String>>(j).ok())
        .and_then(|m| m.get("sub").cloned());
    vec![
        Some(r.kind.clone()),
        base(r.issuer.as_deref()),
        base(r.authorization_endpoint.as_deref()),
        base(r.token_endpoint.as_deref()),
        base(r.userinfo_endpoint.as_deref()),
        sub_path,
    ]
}

/// Drops every link to provider `id` (subjects are unique only per issuer, so links made under
/// another issuer name nobody now) and the group memberships it manages for those accounts,
/// one audit entry per link.
fn drop_links(c: &mut DbConn, id: &str, actor: &Actor) -> diesel::QueryResult<usize> {
    let links = rows::links_of_provider(c, id)?;
    for l in &links {
        rows::delete_link(c, id, &l.user_id)?;
        crate::db::models::groups::remove_sourced(c, &l.user_id, id)?;
        audit::record(
            c,
            &Entry::new(actor, Event::UpstreamUnlink)
                .target(&l.user_id)
                .detail(Some(&format!("{id}: its issuer or endpoints changed"))),
        )?;
    }
    Ok(links.len())
}

/// Stores a new provider (or replaces one, when `replace`), its secret sealed, with its audit
/// entry, in one transaction. Replacing an OpenID provider's issuer with another drops its
/// links (`drop_links`): the accounts are kept, and link again by the provider's policy.
pub fn save(
    conn: &mut DbConn,
    kek: &Kek,
    spec: &Spec,
    secret: Option<&str>,
    replace: bool,
    actor: &Actor,
    now: i64,
) -> diesel::QueryResult<Result<Saved, Refused>> {
    let mut row = match check(spec) {
        Ok(r) => r,
        Err(e) => return Ok(Err(Refused::Invalid(e))),
    };
    row.client_secret_enc = secret
        .filter(|s| !s.is_empty())
        .map(|s| kek.seal(&secret_context(&row.id), s.as_bytes()));
    row.created_at = now;
    row.updated_at = now;
    conn.transaction(|c| {
        let existing = rows::get(c, &row.id)?;
        let mut links_dropped = 0;
        match (existing, replace) {
            (Some(_), false) => return Ok(Err(Refused::Exists)),
            (None, true) => return Ok(Err(Refused::Unknown)),
            (Some(old), true) => {
                row.created_at = old.created_at;
                let moved = subject_source(&old) != subject_source(&row);
                if secret.is_none() {
                    // The secret was given to the old provider: never sent to another one.
                    if moved && old.client_secret_enc.is_some() {
                        return Ok(Err(Refused::Invalid(vec![
                            "the issuer or endpoints changed: give the client secret again".into(),
                        ])));
                    }
                    row.client_secret_enc = old.client_secret_enc;
                }
                rows::replace(c, &row)?;
                if moved {
                    links_dropped = drop_links(c, &row.id, actor)?;
                }
            }
            (None, false) => rows::insert(c, &row)?,
        }
        audit::record(c, &Entry::new(actor, Event::UpstreamAdd).target(&row.id))?;
        Ok(Ok(Saved { row, links_dropped }))
    })
}

/// Why a provider was not removed.
#[derive(Debug, PartialEq, Eq)]
pub enum KeepProvider {
    /// No provider has that id.
    Unknown,
    /// Accounts are linked to it (this many): removing it unlinks them, so only when forced.
    Linked(usize),
}

/// Removes a provider. Accounts linked to it keep it unless `force`: then each link goes with
/// an audit entry of its own (the account can no longer sign in with it) and the group
/// memberships the provider manages go too — one transaction, the provider's removal audited.
/// Returns how many links were removed.
pub fn remove(
    conn: &mut DbConn,
    id: &str,
    actor: &Actor,
    force: bool,
) -> diesel::QueryResult<Result<usize, KeepProvider>> {
    conn.transaction(|c| {
        // A write first (SQLite's write lock before the reads); it changes nothing.
        if rows::touch(c, id)? == 0 {
            return Ok(Err(KeepProvider::Unknown));
        }
        let links = rows::links_of_provider(c, id)?;
        if !links.is_empty() && !force {
            return Ok(Err(KeepProvider::Linked(links.len())));
        }
        for l in &links {
            rows::delete_link(c, id, &l.user_id)?;
            audit::record(
                c,
                &Entry::new(actor, Event::UpstreamUnlink)
                    .target(&l.user_id)
                    .detail(Some(&format!("{id} (provider removed)"))),
            )?;
        }
        crate::db::models::groups::remove_all_sourced(c, id)?;
        if !rows::delete(c, id)? {
            return Ok(Err(KeepProvider::Unknown));
        }
        let detail = format!("{} linked accounts unlinked", links.len());
        audit::record(
            c,
            &Entry::new(actor, Event::UpstreamRemove)
                .target(id)
                .detail(Some(&detail)),
        )?;
        Ok(Ok(links.len()))
    })
}

/// How many accounts are linked to provider `id` (what a forced removal unlinks).
pub fn linked_accounts(conn: &mut DbConn, id: &str) -> diesel::QueryResult<usize> {
    Ok(rows::links_of_provider(conn, id)?.len())
}

pub fn list(conn: &mut DbConn) -> diesel::QueryResult<Vec<ProviderRow>> {
    rows::list(conn)
}

/// The enabled providers, for the login page's buttons.
pub fn enabled(conn: &mut DbConn) -> diesel::QueryResult<Vec<ProviderRow>> {
    Ok(rows::list(conn)?
        .into_iter()
        .filter(|p| p.enabled)
        .collect())
}

/// The provider `id`, when it exists and is enabled.
pub fn usable(conn: &mut DbConn, id: &str) -> diesel::QueryResult<Option<ProviderRow>> {
    if !is_slug(id) {
        return Ok(None);
    }
    Ok(rows::get(conn, id)?.filter(|p| p.enabled))
}

pub use super::oauth2::claim;

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Spec {
        Spec {
            id: "corp".into(),
            name: "Corp SSO".into(),
            kind: KIND_OIDC.into(),
            issuer: Some("https://sso.example.com/".into()),
            client_id: "abc".into(),
            account_policy: "create".into(),
            enabled: true,
            ..Default::default()
        }
    }

    #[test]
    fn a_valid_spec_is_stored_with_defaults() {
        let row = check(&spec()).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            row.issuer.as_deref(),
            Some("https://sso.example.com/"),
            "as configured"
        );
        assert_eq!(row.scopes, "openid profile email");
        assert_eq!(row.username_claim, "preferred_username");
    }

    #[test]
    fn another_issuer_or_endpoint_moves_the_subjects_one_trailing_slash_does_not() {
        let row = |s: Spec| check(&s).unwrap_or_else(|e| panic!("{e:?}"));
        let a = row(spec());
        let moved = |b: &ProviderRow| subject_source(&a) != subject_source(b);
        assert!(!moved(&a));
        let slash = Spec {
            issuer: Some("https://sso.example.com".into()),
            ..spec()
        };
        assert!(!moved(&row(slash)));
        for other in [
            "https://other.example.com",
            "https://sso.example.com/tenant",
        ] {
            let b = Spec {
                issuer: Some(other.into()),
                ..spec()
            };
            assert!(moved(&row(b)), "{other}");
        }
        // Plain OAuth 2.0 has no issuer: its endpoints and its `sub` path are the source
        // (GitHub's user 42 is somebody else at a GitHub Enterprise server).
        let github = |base: &str, sub: &str| {
            row(Spec {
                kind: KIND_OAUTH2.into(),
                issuer: None,
                preset: Some("github".into()),
                base_url: Some(base.into()),
                claim_paths: Some(BTreeMap::from([("sub".into(), sub.into())])),
                ..spec()
            })
        };
        let gh = github("https://github.example.com", "id");
        let src = |r: &ProviderRow| subject_source(r);
        assert_eq!(src(&gh), src(&github("https://github.example.com/", "id")));
        assert_ne!(src(&gh), src(&github("https://ghe.example.org", "id")));
        assert_ne!(
            src(&gh),
            src(&github("https://github.example.com", "login"))
        );
    }

    #[test]
    fn an_svg_icon_must_be_a_picture_only() {
        assert!(inert_svg(
            r#"<svg xmlns="http://www.w3.org/2000/svg"><circle r="4" fill="red"/></svg>"#
        ));
        for bad in [
            "<svg><script>alert(1)</script></svg>",
            r#"<svg onload="alert(1)"></svg>"#,
            "<svg>\n<rect\tonclick = 'x'/></svg>",
            r#"<svg><foreignObject><div/></foreignObject></svg>"#,
            r#"<svg><image href="https://tracker.example/p.png"/></svg>"#,
            r#"<svg><use xlink:href="x.svg#a"/></svg>"#,
            r#"<svg style="background:url(https://t.example)"></svg>"#,
        ] {
            assert!(!inert_svg(bad), "{bad}");
        }
    }

    #[test]
    fn every_problem_is_named() {
        let bad = Spec {
            id: "Corp!".into(),
            name: "".into(),
            issuer: Some("http://sso.example.com".into()),
            client_id: "".into(),
            account_policy: "maybe".into(),
            groups_claim: Some("a b".into()),
            ..spec()
        };
        let errors = check(&bad).err().unwrap_or_default();
        for field in [
            "id",
            "name",
            "issuer",
            "client_id",
            "account_policy",
            "groups_claim",
        ] {
            assert!(
                errors.iter().any(|e| e.starts_with(field)),
                "{field}: {errors:?}"
            );
        }
        let loopback = Spec {
            issuer: Some("http://127.0.0.1:8080".into()),
            ..spec()
        };
        assert!(check(&loopback).is_ok());
        let oauth2 = Spec {
            kind: KIND_OAUTH2.into(),
            issuer: None,
            ..spec()
        };
        assert!(check(&oauth2).is_err());
    }

    #[test]
    fn a_preset_fills_in_what_the_spec_does_not_give() {
        let github = Spec {
            kind: KIND_OAUTH2.into(),
            issuer: None,
            preset: Some("github".into()),
            base_url: Some("http://127.0.0.1:8080/".into()),
            claim_paths: Some(BTreeMap::from([("name".into(), "login".into())])),
            ..spec()
        };
        let row = check(&github).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            row.token_endpoint.as_deref(),
            Some("http://127.0.0.1:8080/login/oauth/access_token")
        );
        assert_eq!(
            row.userinfo_endpoint.as_deref(),
            Some("http://127.0.0.1:8080/api/v3/user")
        );
        assert_eq!(row.scopes, "read:user user:email read:org");
        assert_eq!(row.groups_claim.as_deref(), Some("groups"));
        let paths = row.claim_paths.as_deref().unwrap_or_default();
        assert!(paths.contains(r#""sub":"id""#) && paths.contains(r#""name":"login""#));
        // Stored as it exports: checked again, the same row.
        let again = check(&spec_of(&row)).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(spec_of(&again), spec_of(&row));
        for (bad, says) in [
            (
                Spec {
                    kind: KIND_OIDC.into(),
                    ..github.clone()
                },
                "is for kind oauth2",
            ),
            (
                Spec {
                    preset: Some("gitlab".into()),
                    ..github.clone()
                },
                "preset must be github",
            ),
            (
                Spec {
                    preset: None,
                    ..github.clone()
                },
                "go with a preset",
            ),
        ] {
            let errors = check(&bad).err().unwrap_or_default();
            assert!(
                errors.iter().any(|e| e.contains(says)),
                "{says}: {errors:?}"
            );
        }
    }
}
