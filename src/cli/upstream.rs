//! `ostiary upstream …`: the identity providers people may log in with (federation), and
//! `ostiary group …`: groups and their members.

use std::collections::BTreeMap;

use clap::Subcommand;

use super::{connect, print_table, CliError, CliResult};
use crate::audit::Actor;
use crate::config::Settings;
use crate::crypto::kek::Kek;
use crate::db;
use crate::federation::providers::{self, KeepProvider, Refused, Spec};

#[derive(Subcommand, Debug)]
pub enum UpstreamCommand {
    /// Add (or with --replace, change) an upstream provider. Its client secret is read from an
    /// environment variable or a file, never from the command line
    Add(Box<AddArgs>),
    /// List the upstream providers
    List {
        /// As JSON
        #[arg(long)]
        json: bool,
    },
    /// Remove an upstream provider. Refused while accounts are linked to it, unless --force:
    /// then their links (each audited) and the group memberships it manages go too
    Remove {
        id: String,
        /// Remove it even though accounts are linked to it (they are unlinked)
        #[arg(long)]
        force: bool,
    },
}

#[derive(clap::Args, Debug)]
pub struct AddArgs {
    /// The provider's id: lower-case letters, digits, '-' (in /login/upstream/ID, idp_hint)
    pub id: String,
    /// What the login page's button says
    #[arg(long)]
    pub name: String,
    /// oidc (by issuer, with discovery) or oauth2 (endpoints and claim paths)
    #[arg(long, default_value = "oidc")]
    pub kind: String,
    /// The OpenID Connect issuer
    #[arg(long, value_name = "URL")]
    pub issuer: Option<String>,
    /// Our client id at the provider
    #[arg(long)]
    pub client_id: String,
    /// The environment variable holding our client secret at the provider
    #[arg(long, value_name = "VAR")]
    pub client_secret_env: Option<String>,
    /// A file holding our client secret at the provider (first line)
    #[arg(long, value_name = "FILE")]
    pub client_secret_file: Option<String>,
    /// Scopes to ask for, space-separated [default: openid profile email]
    #[arg(long)]
    pub scopes: Option<String>,
    /// For a subject no account is linked to: refuse, link or create
    #[arg(long, default_value = "refuse")]
    pub policy: String,
    /// Trust the provider's verified email addresses (links an account with that address)
    #[arg(long)]
    pub trusted_email: bool,
    /// Count the provider's own amr (its second factors) in ours
    #[arg(long)]
    pub trusted_acr: bool,
    /// The claim a new account's username comes from [default: preferred_username]
    #[arg(long, value_name = "CLAIM")]
    pub username_claim: Option<String>,
    /// The claim listing the person's groups (memberships replaced at every login)
    #[arg(long, value_name = "CLAIM")]
    pub groups_claim: Option<String>,
    /// A local attribute from an upstream claim: LOCAL=CLAIM (name, given_name,
    /// family_name, email, username)
    #[arg(long = "map", value_name = "LOCAL=CLAIM")]
    pub map: Vec<String>,
    /// OAuth 2.0 providers: where a claim is in the userinfo answer: LOCAL=PATH (sub, …)
    #[arg(long = "claim-path", value_name = "LOCAL=PATH")]
    pub claim_path: Vec<String>,
    #[arg(long, value_name = "URL")]
    pub authorization_endpoint: Option<String>,
    #[arg(long, value_name = "URL")]
    pub token_endpoint: Option<String>,
    #[arg(long, value_name = "URL")]
    pub userinfo_endpoint: Option<String>,
    /// OAuth 2.0 providers: a known provider's endpoints, claim paths, scopes and groups
    /// (github: /user, the verified primary address of /user/emails, orgs and teams as groups)
    #[arg(long, value_name = "NAME")]
    pub preset: Option<String>,
    /// With --preset: where the provider is [default: https://github.com]
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// With --preset: its API root [default: https://api.github.com, or BASE_URL/api/v3]
    #[arg(long, value_name = "URL")]
    pub api_url: Option<String>,
    /// A PNG or SVG file (at most 8 KiB) shown on the login page's button
    #[arg(long, value_name = "FILE")]
    pub icon_file: Option<String>,
    /// Do not refresh linked accounts' names and picture from the provider at every login
    #[arg(long)]
    pub no_sync_claims: bool,
    /// Add it disabled (no button, no logins)
    #[arg(long)]
    pub disabled: bool,
    /// Replace the provider with this id (its secret kept unless a new one is given)
    #[arg(long)]
    pub replace: bool,
}

#[derive(Subcommand, Debug)]
pub enum GroupCommand {
    /// Create a group
    Add {
        name: String,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Add a user to a group (or remove them, with --remove)
    Member {
        group: String,
        username: String,
        #[arg(long)]
        remove: bool,
    },
    /// List groups
    List,
}

fn pairs(raw: &[String], flag: &str) -> Result<Option<BTreeMap<String, String>>, CliError> {
    let mut m = BTreeMap::new();
    for r in raw {
        let (k, v) = r
            .split_once('=')
            .ok_or_else(|| CliError::new(format!("--{flag} takes LOCAL=CLAIM, not {r:?}")))?;
        m.insert(k.trim().to_owned(), v.trim().to_owned());
    }
    Ok((!m.is_empty()).then_some(m))
}

fn secret(env: Option<&str>, file: Option<&str>) -> Result<Option<String>, CliError> {
    match (env, file) {
        (Some(_), Some(_)) => Err(CliError::new(
            "give --client-secret-env or --client-secret-file, not both",
        )),
        (Some(var), None) => std::env::var(var)
            .map(|s| Some(s.trim().to_owned()))
            .map_err(|_| CliError::new(format!("the environment variable {var} is not set"))),
        (None, Some(path)) => std::fs::read_to_string(path)
            .map(|s| s.lines().next().map(|l| l.trim().to_owned()))
            .map_err(|e| CliError::new(format!("cannot read {path}: {e}"))),
        (None, None) => Ok(None),
    }
}

/// An image file as the `data:` URL a provider's icon is (`providers::check` checks it).
fn icon_of(path: &str) -> Result<String, CliError> {
    use base64::Engine;
    let bytes =
        std::fs::read(path).map_err(|e| CliError::new(format!("cannot read {path}: {e}")))?;
    let kind = if path.to_ascii_lowercase().ends_with(".svg") {
        "image/svg+xml"
    } else {
        "image/png"
    };
    Ok(format!(
        "data:{kind};base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    ))
}

pub fn run(settings: &Settings, cmd: UpstreamCommand) -> CliResult {
    let mut conn = connect(settings)?;
    match cmd {
        UpstreamCommand::Add(args) => {
            let AddArgs {
                id,
                name,
                kind,
                issuer,
                client_id,
                client_secret_env,
                client_secret_file,
                scopes,
                policy,
                trusted_email,
                trusted_acr,
                username_claim,
                groups_claim,
                map,
                claim_path,
                authorization_endpoint,
                token_endpoint,
                userinfo_endpoint,
                preset,
                base_url,
                api_url,
                icon_file,
                no_sync_claims,
                disabled,
                replace,
            } = *args;
            let icon = icon_file.as_deref().map(icon_of).transpose()?;
            let secret = secret(client_secret_env.as_deref(), client_secret_file.as_deref())?;
            let spec = Spec {
                id,
                name,
                kind,
                issuer,
                client_id,
                scopes: scopes.into_iter().collect(),
                account_policy: policy,
                trusted_email,
                trusted_acr,
                username_claim,
                groups_claim,
                claim_map: pairs(&map, "map")?,
                upstream_logout: false,
                enabled: !disabled,
                authorization_endpoint,
                token_endpoint,
                userinfo_endpoint,
                claim_paths: pairs(&claim_path, "claim-path")?,
                preset,
                base_url,
                api_url,
                icon,
                sync_claims: !no_sync_claims,
            };
            let kek =
                Kek::load_or_create(settings.key_encryption_key.as_deref(), &settings.keys_dir)?;
            let saved = providers::save(
                &mut conn,
                &kek,
                &spec,
                secret.as_deref(),
                replace,
                &Actor::cli(),
                db::now(),
            )?;
            match saved {
                Ok(saved) => {
                    println!("upstream {} saved", saved.row.id);
                    if saved.links_dropped > 0 {
                        println!(
                            "its issuer changed: {} account link(s) dropped (those accounts link again by the provider's policy)",
                            saved.links_dropped
                        );
                    }
                    Ok(())
                }
                Err(Refused::Invalid(problems)) => Err(CliError::new(problems.join("; "))),
                Err(Refused::Exists) => Err(CliError::new(
                    "a provider with this id exists (--replace to change it)",
                )),
                Err(Refused::Unknown) => Err(CliError::new("no provider with this id")),
            }
        }
        UpstreamCommand::List { json } => {
            let rows = providers::list(&mut conn)?;
            if json {
                let specs: Vec<Spec> = rows.iter().map(providers::spec_of).collect();
                println!("{}", serde_json::to_string_pretty(&specs)?);
                return Ok(());
            }
            let table: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    vec![
                        r.id.clone(),
                        r.name.clone(),
                        r.kind.clone(),
                        r.issuer.clone().unwrap_or_default(),
                        r.account_policy.clone(),
                        if r.enabled { "yes" } else { "no" }.into(),
                    ]
                })
                .collect();
            print_table(
                &["ID", "NAME", "KIND", "ISSUER", "POLICY", "ENABLED"],
                &table,
            );
            Ok(())
        }
        UpstreamCommand::Remove { id, force } => {
            match providers::remove(&mut conn, &id, &Actor::cli(), force)? {
                Ok(0) => {
                    println!("upstream {id} removed");
                    Ok(())
                }
                Ok(n) => {
                    println!("upstream {id} removed ({n} linked accounts unlinked)");
                    Ok(())
                }
                Err(KeepProvider::Unknown) => Err(CliError::new(format!("no provider {id:?}"))),
                Err(KeepProvider::Linked(n)) => Err(CliError::new(format!(
                    "{n} accounts are linked to upstream {id}: removing it unlinks them \
                     (and removes the group memberships it manages); add --force to do so"
                ))),
            }
        }
    }
}

pub fn run_group(settings: &Settings, cmd: GroupCommand) -> CliResult {
    let mut conn = connect(settings)?;
    match cmd {
        GroupCommand::Add { name, description } => {
            let row = crate::groups::add(&mut conn, &name, &description, &Actor::cli(), db::now())?
                .map_err(CliError::new)?;
            println!("group {} added", row.name);
            Ok(())
        }
        GroupCommand::Member {
            group,
            username,
            remove,
        } => {
            let user = super::user::find(&mut conn, &username)?;
            crate::groups::set_member(
                &mut conn,
                &group,
                &user.id,
                !remove,
                &Actor::cli(),
                db::now(),
            )?
            .map_err(CliError::new)?;
            println!(
                "{} {} {group}",
                user.username,
                if remove { "removed from" } else { "added to" }
            );
            Ok(())
        }
        GroupCommand::List => {
            let rows = crate::db::models::groups::list(&mut conn)?;
            let table: Vec<Vec<String>> = rows
                .iter()
                .map(|g| vec![g.name.clone(), g.description.clone()])
                .collect();
            print_table(&["NAME", "DESCRIPTION"], &table);
            Ok(())
        }
    }
}
