//! Configuration as code: `ostiary export` writes the clients an administrator manages and the
//! registration policy as TOML (never a secret); `ostiary apply FILE [--dry-run]` makes the
//! database match such a file and prints the plan — create, update, delete — first. Secrets are
//! named, never written: `secret = { env = "VAR" }` or `secret = { file = "/run/secrets/x" }`.
//! Only clients an administrator registered (console, CLI, apply) are managed; self-registered
//! and metadata-document clients belong to their owners and are left alone.

use crate::audit::Event;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{connect, CliError, CliResult};
use crate::clients::{self, edited_by_admin, new_by_admin, Client, NewClient, ORIGIN_ADMIN};
use crate::config::{RegistrationPolicy, Settings};
use crate::crypto::kek::Kek;
use crate::db::models::server_settings;
use crate::db::{self, DbConn};
use crate::federation::providers::{self, Spec};
use crate::oauth::client_policy::{uses_secret, ClientSpec, FieldError};
use crate::oauth::registration::current_policy;
use crate::random;

/// The whole file.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Desired {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policies: Option<Policies>,
    #[serde(default, rename = "clients")]
    pub clients: Vec<ClientDoc>,
    /// Upstream identity providers (`federation::providers::Spec`, plus
    /// `client_secret = { env = "VAR" }` or `{ file = "PATH" }`), read by `upstream_docs`.
    /// Absent: the providers are left as they are; present: the file lists all of them.
    #[serde(default, rename = "upstream", skip_serializing_if = "Option::is_none")]
    pub upstreams: Option<Vec<toml::Table>>,
}

#[derive(Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Policies {
    /// Who may register clients at /register: closed, token or open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration: Option<String>,
}

/// Where a client's secret comes from (never the secret itself).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SecretRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ClientDoc {
    pub client_id: String,
    pub name: String,
    #[serde(default)]
    pub public: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_method: Option<String>,
    #[serde(default)]
    pub grant_types: Vec<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub post_logout_redirect_uris: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token_alg: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub homepage_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tos_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_acr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// A JWK Set of public keys, as JSON text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<String>,
    #[serde(default)]
    pub require_par: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backchannel_logout_uri: Option<String>,
    #[serde(default)]
    pub backchannel_logout_session_required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frontchannel_logout_uri: Option<String>,
    #[serde(default)]
    pub frontchannel_logout_session_required: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub token_exchange_audiences: Vec<String>,
    /// OIDC Core §6.2: where request objects may be fetched from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub request_uris: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_object_signing_alg: Option<String>,
    #[serde(default)]
    pub require_signed_request_object: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userinfo_signed_response_alg: Option<String>,
    /// OIDC Core §8: `public` (left out) or `pairwise`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_type: Option<String>,
    /// OIDC Core §8.1: read by `apply` (through the outbound client) before the policy compares it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sector_identifier_uri: Option<String>,
    #[serde(default)]
    pub disabled: bool,
    /// For clients holding a secret: where `apply` reads it. Export writes none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<SecretRef>,
}

fn words(s: &str) -> Vec<String> {
    s.split_ascii_whitespace().map(str::to_owned).collect()
}

/// The document for a stored client (what `export` writes and `apply` compares with).
fn doc_of(c: &Client) -> ClientDoc {
    let r = &c.row;
    let meta = c.metadata();
    let text = |k: &str| meta.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    let mut grant_types = words(&r.grant_types);
    grant_types.sort();
    let mut redirect_uris = c.redirect_uris.clone();
    redirect_uris.sort();
    let mut post_logout = c.post_logout_redirect_uris.clone();
    post_logout.sort();
    ClientDoc {
        client_id: r.client_id.clone(),
        name: r.name.clone(),
        public: r.is_public,
        auth_method: Some(r.auth_method.clone()),
        grant_types,
        scopes: words(&r.scopes),
        redirect_uris,
        post_logout_redirect_uris: post_logout,
        id_token_alg: Some(r.id_token_alg.clone()),
        logo_uri: r.logo_uri.clone(),
        homepage_uri: r.homepage_uri.clone(),
        policy_uri: text("policy_uri"),
        tos_uri: text("tos_uri"),
        minimum_acr: r.minimum_acr.clone(),
        jwks_uri: text("jwks_uri"),
        jwks: meta.get("jwks").map(|v| v.to_string()),
        require_par: r.require_par,
        backchannel_logout_uri: r.backchannel_logout_uri.clone(),
        backchannel_logout_session_required: r.backchannel_logout_session_required,
        frontchannel_logout_uri: r.frontchannel_logout_uri.clone(),
        frontchannel_logout_session_required: r.frontchannel_logout_session_required,
        token_exchange_audiences: r
            .token_exchange_audiences
            .as_deref()
            .map(words)
            .unwrap_or_default(),
        request_uris: {
            let mut uris: Vec<String> = meta
                .get("request_uris")
                .and_then(|v| v.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|u| u.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            uris.sort();
            uris
        },
        request_object_signing_alg: text("request_object_signing_alg"),
        require_signed_request_object: meta
            .get("require_signed_request_object")
            .and_then(|v| v.as_bool())
            .unwrap_or(false),
        userinfo_signed_response_alg: text("userinfo_signed_response_alg"),
        subject_type: text("subject_type"),
        sector_identifier_uri: text("sector_identifier_uri"),
        disabled: r.disabled,
        secret: None,
    }
}

fn managed(conn: &mut DbConn) -> Result<Vec<Client>, CliError> {
    let mut out = Vec::new();
    for row in clients::list(conn)? {
        if row.origin != ORIGIN_ADMIN {
            continue;
        }
        if let Some(c) = clients::get(None, conn, &row.client_id)? {
            out.push(Client::clone(&c));
        }
    }
    out.sort_by(|a, b| a.row.client_id.cmp(&b.row.client_id));
    Ok(out)
}

/// `ostiary export`: the TOML, to stdout or `output`.
pub fn export(settings: &Settings, output: Option<&str>) -> CliResult {
    let mut conn = connect(settings)?;
    let policy = current_policy(&mut conn, settings.registration.policy)?;
    let desired = Desired {
        policies: Some(Policies {
            registration: Some(policy.as_str().to_owned()),
        }),
        clients: managed(&mut conn)?.iter().map(doc_of).collect(),
        upstreams: Some(upstream_tables(&mut conn)?).filter(|u| !u.is_empty()),
    };
    let text = format!(
        "# Ostiary configuration (ostiary export). No secrets: give each confidential client\n\
         # `secret = {{ env = \"VAR\" }}` or `secret = {{ file = \"PATH\" }}` before `ostiary apply`\n\
         # creates it elsewhere; existing clients keep their secret when none is named.\n\n{}",
        toml::to_string_pretty(&desired).map_err(|e| CliError::new(e.to_string()))?
    );
    match output {
        Some(path) => {
            std::fs::write(path, text).map_err(|e| CliError::new(format!("{path}: {e}")))?
        }
        None => print!("{text}"),
    }
    Ok(())
}

/// The stored upstream providers as `[[upstream]]` tables (no secret).
fn upstream_tables(conn: &mut DbConn) -> Result<Vec<toml::Table>, CliError> {
    providers::list(conn)?
        .iter()
        .map(|row| {
            toml::Table::try_from(providers::spec_of(row)).map_err(|e| CliError::new(e.to_string()))
        })
        .collect()
}

/// An `[[upstream]]` table: the provider's spec (unknown keys refused) and where its client
/// secret comes from.
fn upstream_doc(table: &toml::Table) -> Result<(Spec, Option<String>), CliError> {
    let mut t = table.clone();
    let secret = match t.remove("client_secret") {
        None => None,
        Some(toml::Value::Table(r)) => {
            let r: SecretRef = toml::Value::Table(r)
                .try_into()
                .map_err(|e| CliError::new(format!("upstream client_secret: {e}")))?;
            Some(read_secret(&r)?)
        }
        Some(_) => {
            return Err(CliError::new(
                "inline secrets are refused: use client_secret = { env = \"VAR\" } or { file = \"PATH\" }",
            ))
        }
    };
    let spec: Spec = toml::Value::Table(t)
        .try_into()
        .map_err(|e| CliError::new(format!("upstream: {e}")))?;
    Ok((spec, secret))
}

/// What the file's `[[upstream]]` tables change: each created or replaced where it differs
/// (or names a secret other than the stored one), every provider it no longer lists removed.
fn upstream_changes(
    conn: &mut DbConn,
    kek: &Kek,
    tables: &[toml::Table],
) -> Result<Vec<Change>, CliError> {
    let existing: BTreeMap<String, crate::db::models::federation::ProviderRow> =
        providers::list(conn)?
            .into_iter()
            .map(|r| (r.id.clone(), r))
            .collect();
    let mut seen = std::collections::BTreeSet::new();
    let mut changes = Vec::new();
    for t in tables {
        let (spec, secret) = upstream_doc(t)?;
        let wanted = providers::check(&spec)
            .map_err(|e| CliError::new(format!("upstream {}: {}", spec.id, e.join("; "))))?;
        if !seen.insert(spec.id.clone()) {
            return Err(CliError::new(format!(
                "upstream {} is listed twice",
                spec.id
            )));
        }
        match existing.get(&spec.id) {
            None => changes.push(Change::Upstream(Box::new(spec), secret, false)),
            Some(row) => {
                let same = providers::spec_of(row) == providers::spec_of(&wanted);
                let secret = secret.filter(|s| providers::secret_of(kek, row).as_ref() != Some(s));
                if !same || secret.is_some() {
                    changes.push(Change::Upstream(Box::new(spec), secret, true));
                }
            }
        }
    }
    for id in existing.keys() {
        if !seen.contains(id) {
            changes.push(Change::UpstreamDelete(id.clone()));
        }
    }
    Ok(changes)
}

fn read_secret(r: &SecretRef) -> Result<String, CliError> {
    match (&r.env, &r.file) {
        (Some(var), None) => std::env::var(var).map_err(|_| {
            CliError::new(format!(
                "the secret's environment variable {var} is not set"
            ))
        }),
        (None, Some(path)) => std::fs::read_to_string(path)
            .map(|s| s.trim_end_matches(['\n', '\r']).to_owned())
            .map_err(|e| CliError::new(format!("{path}: {e}"))),
        _ => Err(CliError::new("a secret names exactly one of env or file")),
    }
}

fn spec_of(d: &ClientDoc) -> Result<ClientSpec, CliError> {
    let jwks = match &d.jwks {
        Some(text) => Some(
            serde_json::from_str(text)
                .map_err(|e| CliError::new(format!("{}: jwks is not JSON: {e}", d.client_id)))?,
        ),
        None => None,
    };
    Ok(ClientSpec {
        name: d.name.clone(),
        redirect_uris: d.redirect_uris.clone(),
        post_logout_redirect_uris: d.post_logout_redirect_uris.clone(),
        public: d.public,
        grant_types: d.grant_types.clone(),
        scopes: d.scopes.clone(),
        auth_method: d.auth_method.clone(),
        id_token_alg: d.id_token_alg.clone(),
        logo_uri: d.logo_uri.clone(),
        homepage_uri: d.homepage_uri.clone(),
        policy_uri: d.policy_uri.clone(),
        tos_uri: d.tos_uri.clone(),
        minimum_acr: d.minimum_acr.clone(),
        jwks,
        jwks_uri: d.jwks_uri.clone(),
        require_par: d.require_par,
        backchannel_logout_uri: d.backchannel_logout_uri.clone(),
        backchannel_logout_session_required: d.backchannel_logout_session_required,
        frontchannel_logout_uri: d.frontchannel_logout_uri.clone(),
        frontchannel_logout_session_required: d.frontchannel_logout_session_required,
        token_exchange_audiences: d.token_exchange_audiences.clone(),
        request_uris: d.request_uris.clone(),
        request_object_signing_alg: d.request_object_signing_alg.clone(),
        require_signed_request_object: d.require_signed_request_object,
        userinfo_signed_response_alg: d.userinfo_signed_response_alg.clone(),
        subject_type: d.subject_type.clone(),
        sector_identifier_uri: d.sector_identifier_uri.clone(),
        ..Default::default()
    })
}

/// One planned change: what the store is asked for (`apply` makes the store check it again).
#[derive(Debug)]
enum Change {
    /// The spec, its id, its secret (read from where the file says), disabled.
    Create(Box<ClientSpec>, String, Option<String>, bool),
    /// The spec, its id, a new secret, the fields that change, disabled.
    Update(
        Box<ClientSpec>,
        String,
        Option<String>,
        Vec<&'static str>,
        bool,
    ),
    Delete(String),
    Policy(RegistrationPolicy),
    /// An upstream provider created or replaced: its spec, a secret (read from where the file
    /// says), whether it exists.
    Upstream(Box<Spec>, Option<String>, bool),
    UpstreamDelete(String),
}

fn invalid(client_id: &str, errors: Vec<FieldError>) -> CliError {
    CliError::new(format!(
        "{client_id}: {}",
        errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    ))
}

/// The fields of two documents that differ, by name.
fn differences(a: &ClientDoc, b: &ClientDoc) -> Vec<&'static str> {
    let mut out = Vec::new();
    let mut check = |name, same: bool| {
        if !same {
            out.push(name);
        }
    };
    let sorted = |v: &Vec<String>| {
        let mut v = v.clone();
        v.sort();
        v
    };
    check("name", a.name == b.name);
    check("public", a.public == b.public);
    check("auth_method", a.auth_method == b.auth_method);
    check(
        "grant_types",
        sorted(&a.grant_types) == sorted(&b.grant_types),
    );
    check("scopes", sorted(&a.scopes) == sorted(&b.scopes));
    check(
        "redirect_uris",
        sorted(&a.redirect_uris) == sorted(&b.redirect_uris),
    );
    check(
        "post_logout_redirect_uris",
        sorted(&a.post_logout_redirect_uris) == sorted(&b.post_logout_redirect_uris),
    );
    check("id_token_alg", a.id_token_alg == b.id_token_alg);
    check("logo_uri", a.logo_uri == b.logo_uri);
    check("homepage_uri", a.homepage_uri == b.homepage_uri);
    check("policy_uri", a.policy_uri == b.policy_uri);
    check("tos_uri", a.tos_uri == b.tos_uri);
    check("minimum_acr", a.minimum_acr == b.minimum_acr);
    check("jwks_uri", a.jwks_uri == b.jwks_uri);
    let json = |s: &Option<String>| {
        s.as_deref()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok())
    };
    check("jwks", json(&a.jwks) == json(&b.jwks));
    check("require_par", a.require_par == b.require_par);
    check(
        "request_uris",
        sorted(&a.request_uris) == sorted(&b.request_uris),
    );
    check(
        "request_object_signing_alg",
        a.request_object_signing_alg == b.request_object_signing_alg,
    );
    check(
        "require_signed_request_object",
        a.require_signed_request_object == b.require_signed_request_object,
    );
    check(
        "userinfo_signed_response_alg",
        a.userinfo_signed_response_alg == b.userinfo_signed_response_alg,
    );
    // Stored as given, except the default `public`, which is stored as nothing.
    let subject_type = |d: &ClientDoc| {
        d.subject_type
            .clone()
            .filter(|t| t.trim() != crate::oauth::subject::PUBLIC && !t.trim().is_empty())
    };
    check("subject_type", subject_type(a) == subject_type(b));
    check(
        "sector_identifier_uri",
        a.sector_identifier_uri == b.sector_identifier_uri,
    );
    check(
        "backchannel_logout_uri",
        a.backchannel_logout_uri == b.backchannel_logout_uri,
    );
    check(
        "backchannel_logout_session_required",
        a.backchannel_logout_session_required == b.backchannel_logout_session_required,
    );
    check(
        "frontchannel_logout_uri",
        a.frontchannel_logout_uri == b.frontchannel_logout_uri,
    );
    check(
        "frontchannel_logout_session_required",
        a.frontchannel_logout_session_required == b.frontchannel_logout_session_required,
    );
    check(
        "token_exchange_audiences",
        sorted(&a.token_exchange_audiences) == sorted(&b.token_exchange_audiences),
    );
    check("disabled", a.disabled == b.disabled);
    out
}

/// What `apply` would change: each client of the file created or updated (or left alone when
/// nothing differs), every managed client the file no longer lists deleted, and the
/// registration policy. Nothing is written here.
fn plan(
    conn: &mut DbConn,
    settings: &Settings,
    desired: &Desired,
) -> Result<Vec<Change>, CliError> {
    let now = db::now();
    let existing: BTreeMap<String, Client> = managed(conn)?
        .into_iter()
        .map(|c| (c.row.client_id.clone(), c))
        .collect();
    let outbound = crate::outbound::Outbound::new(&settings.outbound_allow);
    let mut changes = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for d in &desired.clients {
        if d.client_id.trim().is_empty() || !seen.insert(d.client_id.clone()) {
            return Err(CliError::new(format!(
                "client_id {:?} is empty or listed twice",
                d.client_id
            )));
        }
        changes.extend(client_change(
            d,
            existing.get(&d.client_id),
            &outbound,
            now,
        )?);
    }
    for id in existing.keys() {
        if !seen.contains(id) {
            changes.push(Change::Delete(id.clone()));
        }
    }
    changes.extend(policy_change(conn, settings, desired)?);
    Ok(changes)
}

/// The change one client of the file asks for against `current` (the stored one, if any):
/// a creation, an update naming the fields that differ, or nothing.
fn client_change(
    d: &ClientDoc,
    current: Option<&Client>,
    outbound: &crate::outbound::Outbound,
    now: i64,
) -> Result<Option<Change>, CliError> {
    let mut spec = spec_of(d)?;
    crate::clients::sector::read_into_blocking(outbound, &mut spec);
    // What the store will make of the spec (`clients::new_by_admin` / `edited_by_admin`),
    // so the plan compares exactly what would be stored.
    let creating = NewClient {
        spec: spec.clone(),
        client_id: Some(&d.client_id),
        secret: Some(""),
        disabled: d.disabled,
    };
    let client = match current {
        None => new_by_admin(&creating, now).map(|c| c.client),
        Some(current) => edited_by_admin(current, &spec, now).map(|mut c| {
            c.row.disabled = d.disabled;
            c
        }),
    }
    .map_err(|errors| invalid(&d.client_id, errors))?;
    let secret = desired_secret(d, &client)?;
    let Some(current) = current else {
        if uses_secret(&client.row.auth_method) && secret.is_none() {
            return Err(CliError::new(format!(
                "{}: a new confidential client needs `secret = {{ env = \"VAR\" }}` or `{{ file = \"PATH\" }}`",
                d.client_id
            )));
        }
        return Ok(Some(Change::Create(
            Box::new(spec),
            d.client_id.clone(),
            secret,
            d.disabled,
        )));
    };
    // Compared as stored: defaults the file leaves out count as what they become.
    let mut fields = differences(&doc_of(current), &doc_of(&client));
    // A secret counts as a change only when it is not the one stored already.
    let new_secret = secret.filter(|s| {
        !current
            .row
            .secret_hash
            .as_deref()
            .is_some_and(|h| random::verify_sha256_hex(s, h))
    });
    if new_secret.is_some() {
        fields.push("secret");
    }
    Ok((!fields.is_empty()).then(|| {
        Change::Update(
            Box::new(spec),
            d.client_id.clone(),
            new_secret,
            fields,
            d.disabled,
        )
    }))
}

/// The secret the file gives a client (read from its environment variable or file), refused
/// for a client whose method holds none.
fn desired_secret(d: &ClientDoc, client: &Client) -> Result<Option<String>, CliError> {
    match &d.secret {
        Some(r) if uses_secret(&client.row.auth_method) => Ok(Some(read_secret(r)?)),
        Some(_) => Err(CliError::new(format!(
            "{}: a secret is only for client_secret_basic or client_secret_post",
            d.client_id
        ))),
        None => Ok(None),
    }
}

/// The registration policy the file asks for, when it differs from the one in force.
fn policy_change(
    conn: &mut DbConn,
    settings: &Settings,
    desired: &Desired,
) -> Result<Option<Change>, CliError> {
    let Some(p) = desired
        .policies
        .as_ref()
        .and_then(|p| p.registration.as_deref())
    else {
        return Ok(None);
    };
    let wanted = RegistrationPolicy::parse(p).ok_or_else(|| {
        CliError::new(format!(
            "policies.registration {p}: use closed, token or open"
        ))
    })?;
    Ok(
        (current_policy(conn, settings.registration.policy)? != wanted)
            .then_some(Change::Policy(wanted)),
    )
}

/// `ostiary apply FILE [--dry-run]`.
pub fn apply(settings: &Settings, path: &str, dry_run: bool) -> CliResult {
    let text = std::fs::read_to_string(path).map_err(|e| CliError::new(format!("{path}: {e}")))?;
    // An inline secret is refused before anything else is looked at.
    if let Ok(raw) = text.parse::<toml::Table>() {
        if let Some(list) = raw.get("clients").and_then(|c| c.as_array()) {
            for c in list {
                if c.get("secret").is_some_and(|s| s.is_str()) {
                    return Err(CliError::new(
                        "inline secrets are refused: use secret = { env = \"VAR\" } or { file = \"PATH\" }",
                    ));
                }
            }
        }
    }
    let desired: Desired =
        toml::from_str(&text).map_err(|e| CliError::new(format!("{path}: {e}")))?;
    let mut conn = connect(settings)?;
    let mut changes = plan(&mut conn, settings, &desired)?;
    let kek = Kek::load_or_create(settings.key_encryption_key.as_deref(), &settings.keys_dir)?;
    if let Some(tables) = &desired.upstreams {
        changes.extend(upstream_changes(&mut conn, &kek, tables)?);
    }
    if changes.is_empty() {
        println!("nothing to change");
        return Ok(());
    }
    for c in &changes {
        match c {
            Change::Create(spec, id, _, _) => println!("create client {id} ({})", spec.name),
            Change::Update(_, id, _, fields, _) => {
                println!("update client {id}: {}", fields.join(", "))
            }
            Change::Delete(id) => println!("delete client {id}"),
            Change::Policy(p) => println!("set registration policy {}", p.as_str()),
            Change::Upstream(spec, _, false) => println!("create upstream {}", spec.id),
            Change::Upstream(spec, _, true) => println!("update upstream {}", spec.id),
            Change::UpstreamDelete(id) => match providers::linked_accounts(&mut conn, id)? {
                0 => println!("delete upstream {id}"),
                n => println!("delete upstream {id} (unlinks {n} linked accounts)"),
            },
        }
    }
    if dry_run {
        println!("dry run: nothing changed");
        return Ok(());
    }
    let now = db::now();
    // One transaction of the store: all of it or nothing, and the caches told after the commit.
    clients::write(&mut conn, |tx| -> Result<(), CliError> {
        for c in changes {
            match c {
                Change::Create(spec, id, secret, disabled) => {
                    let new = NewClient {
                        spec: *spec,
                        client_id: Some(&id),
                        secret: secret.as_deref(),
                        disabled,
                    };
                    tx.create(&new, now)
                        .map_err(|e| CliError::new(format!("{id}: {e}")))?;
                    super::user::audit(tx.conn(), Event::ClientApplyCreate, &id)?;
                }
                Change::Update(spec, id, secret, _, disabled) => {
                    let refused = |e| CliError::new(format!("{id}: {e}"));
                    tx.update(&id, &spec, now).map_err(refused)?;
                    tx.set_disabled(&id, disabled, now).map_err(refused)?;
                    if let Some(s) = secret {
                        tx.set_secret(&id, &s, now).map_err(refused)?;
                    }
                    super::user::audit(tx.conn(), Event::ClientApplyUpdate, &id)?;
                }
                Change::Delete(id) => {
                    tx.remove(&id)
                        .map_err(|e| CliError::new(format!("{id}: {e}")))?;
                    super::user::audit(tx.conn(), Event::ClientApplyDelete, &id)?;
                }
                Change::Policy(p) => {
                    server_settings::set(
                        tx.conn(),
                        server_settings::REGISTRATION_POLICY,
                        p.as_str(),
                        now,
                    )?;
                    super::user::audit(tx.conn(), Event::RegistrationPolicy, p.as_str())?;
                }
                Change::Upstream(spec, secret, exists) => {
                    let actor = crate::audit::Actor::cli();
                    let saved = providers::save(
                        tx.conn(),
                        &kek,
                        &spec,
                        secret.as_deref(),
                        exists,
                        &actor,
                        now,
                    )?;
                    match saved {
                        Err(why) => {
                            return Err(CliError::new(format!("upstream {}: {why:?}", spec.id)))
                        }
                        Ok(s) if s.links_dropped > 0 => println!(
                            "upstream {}: its issuer changed, {} account link(s) dropped",
                            spec.id, s.links_dropped
                        ),
                        Ok(_) => {}
                    }
                }
                Change::UpstreamDelete(id) => {
                    // The file is the whole truth, as for clients it no longer lists: a
                    // provider it drops goes, its links unlinked (each audited, printed in
                    // the plan above) with the memberships it managed.
                    let actor = crate::audit::Actor::cli();
                    if let Err(why) = providers::remove(tx.conn(), &id, &actor, true)? {
                        return Err(CliError::new(format!("upstream {id}: {why:?}")));
                    }
                }
            }
        }
        Ok(())
    })?;
    println!("applied");
    Ok(())
}
