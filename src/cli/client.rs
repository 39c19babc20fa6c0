use crate::audit::{Actor, Event};
use clap::Subcommand;
use serde_json::json;

use super::{connect, print_table, CliError, CliResult};
use crate::clients::{self, Client, NewClient, StoreError};
use crate::config::Settings;
use crate::db::{self, DbConn};
use crate::oauth::client_policy::ClientSpec;

#[derive(Subcommand, Debug)]
pub enum ClientCommand {
    /// Register a client and print its client_id and (for confidential clients) its secret,
    /// which is shown only this once
    Add(Box<AddClient>),
    /// Set the least sign-in strength (acr) a client accepts: urn:ostiary:acr:2fa, phr, or any
    MinimumAcr { client_id: String, acr: String },
    /// List clients
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show one client's settings (never its secret, which is stored only as a hash)
    Show {
        client_id: String,
        #[arg(long)]
        json: bool,
    },
    /// Delete a client with its codes, tokens and consents
    Remove { client_id: String },
    /// Replace a confidential client's secret; the old one stops working at once
    RotateSecret {
        client_id: String,
        #[arg(long)]
        json: bool,
    },
}

/// `client add`'s arguments (boxed: the other commands are small).
#[derive(Debug, clap::Args)]
pub struct AddClient {
    /// Name shown to users on the consent page
    #[arg(long)]
    name: String,
    /// Where authorization responses may be sent; repeat for several. https, or http on a
    /// loopback address; exact match, no wildcards or fragments
    #[arg(long = "redirect-uri", value_name = "URI")]
    redirect_uris: Vec<String>,
    /// Where the user may be sent after logging out; repeat for several
    #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
    post_logout_redirect_uris: Vec<String>,
    /// A public client (browser or native app) that cannot keep a secret; must use PKCE
    #[arg(long)]
    public: bool,
    /// Allowed grant type; repeat for several [default: authorization_code and refresh_token]
    #[arg(long = "grant-type", value_name = "GRANT")]
    grant_types: Vec<String>,
    /// Scope the client may ask for; repeat for several [default: openid, profile, email]
    #[arg(long = "scope", value_name = "SCOPE")]
    scopes: Vec<String>,
    /// Token endpoint authentication (private_key_jwt needs --jwks or --jwks-uri)
    /// [default: client_secret_basic, or none with --public]
    #[arg(long, value_name = "METHOD")]
    auth_method: Option<String>,
    /// id_token signing algorithm [default: RS256]
    #[arg(long, value_name = "ALG")]
    id_token_alg: Option<String>,
    /// Logo shown on the consent page
    #[arg(long, value_name = "URL")]
    logo_uri: Option<String>,
    /// The client's home page
    #[arg(long, value_name = "URL")]
    homepage_uri: Option<String>,
    /// The client's privacy policy, linked on the login and consent pages
    #[arg(long, value_name = "URL")]
    policy_uri: Option<String>,
    /// The client's terms of service, linked on the login and consent pages
    #[arg(long, value_name = "URL")]
    tos_uri: Option<String>,
    /// The least sign-in strength the client accepts: urn:ostiary:acr:2fa or phr (users
    /// without a suitable factor are asked to set one up) [default: any]
    #[arg(long, value_name = "ACR")]
    minimum_acr: Option<String>,
    /// For --auth-method private_key_jwt: where the client publishes its public keys
    #[arg(long, value_name = "URL")]
    jwks_uri: Option<String>,
    /// For --auth-method private_key_jwt: the client's public keys, a JWK Set as JSON (or
    /// @FILE to read it from a file)
    #[arg(long, value_name = "JSON")]
    jwks: Option<String>,
    /// Authorization requests must be pushed first (RFC 9126)
    #[arg(long)]
    require_par: bool,
    /// Where logout tokens are posted when a user's session ends (OIDC Back-Channel Logout)
    #[arg(long, value_name = "URL")]
    backchannel_logout_uri: Option<String>,
    /// The logout token always names the session (sid)
    #[arg(long)]
    backchannel_logout_session_required: bool,
    /// The page a hidden frame of the logged-out page loads when a user logs out (OIDC
    /// Front-Channel Logout)
    #[arg(long, value_name = "URL")]
    frontchannel_logout_uri: Option<String>,
    /// The front-channel logout page gets iss and sid
    #[arg(long)]
    frontchannel_logout_session_required: bool,
    /// An audience this client may exchange tokens for (RFC 8693); repeat for several
    #[arg(long = "token-exchange-audience", value_name = "AUDIENCE")]
    token_exchange_audiences: Vec<String>,
    /// Where the client's request objects may be fetched from (OIDC Core §6.2 request_uri);
    /// repeat for several
    #[arg(long = "request-uri", value_name = "URL")]
    request_uris: Vec<String>,
    /// The algorithm its request objects are signed with (none: unsigned ones accepted)
    /// [default: any supported signed one, checked with --jwks or --jwks-uri]
    #[arg(long, value_name = "ALG")]
    request_object_signing_alg: Option<String>,
    /// Every authorization request must come as a signed request object (RFC 9101 §10.5)
    #[arg(long)]
    require_signed_request_object: bool,
    /// Answer userinfo as a JWT signed with this algorithm [default: plain JSON]
    #[arg(long, value_name = "ALG")]
    userinfo_alg: Option<String>,
    /// What `sub` the client sees: public (the user's id) or pairwise (its own per sector)
    #[arg(long, value_name = "TYPE")]
    subject_type: Option<String>,
    /// A pairwise client's sector: an https URL holding a JSON array listing every redirect URI
    #[arg(long, value_name = "URL")]
    sector_identifier_uri: Option<String>,
    /// Print {"client_id":…,"client_secret":…} as JSON
    #[arg(long)]
    json: bool,
}

/// `client add --help` with the values the policy accepts, from the policy's own lists: help
/// cannot drift from validation, and a wrong value keeps the policy's one-line refusal.
pub fn with_value_lists(add: clap::Command) -> clap::Command {
    use crate::domain::signing::SigningAlg;
    let lists: [(&str, Vec<&str>); 5] = [
        (
            "grant_types",
            crate::domain::grants::SUPPORTED_GRANTS.to_vec(),
        ),
        (
            "auth_method",
            crate::oauth::client_policy::SUPPORTED_AUTH_METHODS.to_vec(),
        ),
        (
            "id_token_alg",
            SigningAlg::ALL.map(SigningAlg::as_str).to_vec(),
        ),
        (
            "userinfo_alg",
            SigningAlg::ALL.map(SigningAlg::as_str).to_vec(),
        ),
        ("subject_type", crate::oauth::subject::SUPPORTED.to_vec()),
    ];
    lists.into_iter().fold(add, |add, (id, values)| {
        add.mut_arg(id, |a| {
            let help = a.get_help().map(ToString::to_string).unwrap_or_default();
            a.help(format!("{help} [possible values: {}]", values.join(", ")))
        })
    })
}

impl AddClient {
    fn into_spec(self) -> Result<ClientSpec, CliError> {
        let jwks = match self.jwks {
            None => None,
            Some(text) => {
                let text = match text.strip_prefix('@') {
                    Some(path) => std::fs::read_to_string(path)
                        .map_err(|e| CliError::new(format!("{path}: {e}")))?,
                    None => text,
                };
                Some(
                    serde_json::from_str(&text)
                        .map_err(|e| CliError::new(format!("--jwks is not JSON: {e}")))?,
                )
            }
        };
        Ok(ClientSpec {
            name: self.name,
            redirect_uris: self.redirect_uris,
            post_logout_redirect_uris: self.post_logout_redirect_uris,
            public: self.public,
            grant_types: self.grant_types,
            scopes: self.scopes,
            auth_method: self.auth_method,
            id_token_alg: self.id_token_alg,
            logo_uri: self.logo_uri,
            homepage_uri: self.homepage_uri,
            policy_uri: self.policy_uri,
            tos_uri: self.tos_uri,
            minimum_acr: self.minimum_acr,
            jwks,
            jwks_uri: self.jwks_uri,
            require_par: self.require_par,
            backchannel_logout_uri: self.backchannel_logout_uri,
            backchannel_logout_session_required: self.backchannel_logout_session_required,
            frontchannel_logout_uri: self.frontchannel_logout_uri,
            frontchannel_logout_session_required: self.frontchannel_logout_session_required,
            token_exchange_audiences: self.token_exchange_audiences,
            request_uris: self.request_uris,
            request_object_signing_alg: self.request_object_signing_alg,
            require_signed_request_object: self.require_signed_request_object,
            userinfo_signed_response_alg: self.userinfo_alg,
            subject_type: self.subject_type,
            sector_identifier_uri: self.sector_identifier_uri,
            ..Default::default()
        })
    }
}

fn find(conn: &mut DbConn, client_id: &str) -> Result<std::sync::Arc<Client>, CliError> {
    clients::get(None, conn, client_id)?
        .ok_or_else(|| CliError::new(format!("no client with id {client_id:?}")))
}

/// A store refusal as the CLI says it.
fn refused(client_id: &str, e: StoreError) -> CliError {
    match e {
        StoreError::NotFound => CliError::new(format!("no client with id {client_id:?}")),
        StoreError::Public => {
            CliError::new(format!("{client_id} is a public client and has no secret"))
        }
        other => other.into(),
    }
}

fn describe(c: &Client) -> serde_json::Value {
    json!({
        "client_id": c.row.client_id,
        "client_name": c.row.name,
        "client_type": if c.row.is_public { "public" } else { "confidential" },
        "redirect_uris": c.redirect_uris,
        "post_logout_redirect_uris": c.post_logout_redirect_uris,
        "grant_types": c.grant_types().collect::<Vec<_>>(),
        "scope": c.row.scopes,
        "token_endpoint_auth_method": c.row.auth_method,
        "id_token_signed_response_alg": c.row.id_token_alg,
        "logo_uri": c.row.logo_uri,
        "client_uri": c.row.homepage_uri,
        "minimum_acr": c.row.minimum_acr,
        "require_pushed_authorization_requests": c.row.require_par,
        "backchannel_logout_uri": c.row.backchannel_logout_uri,
        "backchannel_logout_session_required": c.row.backchannel_logout_session_required,
        "frontchannel_logout_uri": c.row.frontchannel_logout_uri,
        "frontchannel_logout_session_required": c.row.frontchannel_logout_session_required,
        "token_exchange_audiences": c.row.token_exchange_audiences,
        "created_at": c.row.created_at,
    })
}

pub fn run(settings: &Settings, cmd: ClientCommand) -> CliResult {
    match cmd {
        ClientCommand::Add(args) => add(settings, *args),
        ClientCommand::MinimumAcr { client_id, acr } => set_minimum_acr(settings, client_id, acr),
        ClientCommand::List { json } => list(settings, json),
        ClientCommand::Show { client_id, json } => show(settings, client_id, json),
        ClientCommand::Remove { client_id } => remove(settings, client_id),
        ClientCommand::RotateSecret { client_id, json } => rotate_secret(settings, client_id, json),
    }
}

/// `client add`: registers a client through the store (the one policy) and shows its secret once.
fn add(settings: &Settings, args: AddClient) -> CliResult {
    let json = args.json;
    let mut spec = args.into_spec()?;
    let outbound = crate::outbound::Outbound::new(&settings.outbound_allow);
    crate::clients::sector::read_into_blocking(&outbound, &mut spec);
    let new = NewClient {
        spec,
        ..Default::default()
    };
    let mut conn = connect(settings)?;
    let created = clients::write(&mut conn, |tx| {
        let created = tx.create(&new, db::now())?;
        let id = &created.client.row.client_id;
        tx.audit(&Actor::cli(), Event::ClientAdd, id, None)?;
        Ok::<_, StoreError>(created)
    })
    .map_err(|e| refused("", e))?;
    let (client, secret) = (created.client, created.secret);
    if json {
        println!(
            "{}",
            json!({ "client_id": client.row.client_id, "client_secret": secret })
        );
    } else {
        println!("client_id:     {}", client.row.client_id);
        match secret {
            Some(s) => {
                println!("client_secret: {s}");
                println!(
                    "Store the secret now: it is kept only as a hash and cannot be shown again."
                );
            }
            None => println!("(public client: no secret; it must use PKCE)"),
        }
    }
    Ok(())
}

/// `client minimum-acr`: the least sign-in class the client accepts (`any` clears it).
fn set_minimum_acr(settings: &Settings, client_id: String, acr: String) -> CliResult {
    let value = match acr.trim() {
        "any" | "" => None,
        a if crate::authn::acr::Acr::parse(a).is_some() => Some(a.to_owned()),
        a => {
            return Err(CliError::new(format!(
                "{a}: use any, {}",
                crate::authn::acr::SUPPORTED.join(", ")
            )))
        }
    };
    let mut conn = connect(settings)?;
    clients::write(&mut conn, |tx| {
        tx.set_minimum_acr(&client_id, value.as_deref(), db::now())?;
        let event = Event::ClientMinimumAcr;
        Ok::<_, StoreError>(tx.audit(&Actor::cli(), event, &client_id, None)?)
    })
    .map_err(|e| refused(&client_id, e))?;
    println!(
        "client {client_id} now accepts {}",
        value.as_deref().unwrap_or("any sign-in")
    );
    Ok(())
}

/// `client list`: every client, as a table or JSON.
fn list(settings: &Settings, json: bool) -> CliResult {
    let mut conn = connect(settings)?;
    let all = clients::list(&mut conn)?;
    if json {
        let list: Vec<_> = all
            .iter()
            .map(|c| json!({"client_id": c.client_id, "client_name": c.name}))
            .collect();
        println!("{}", serde_json::Value::Array(list));
        return Ok(());
    }
    let rows: Vec<Vec<String>> = all
        .into_iter()
        .map(|c| {
            vec![
                c.client_id,
                c.name,
                if c.is_public {
                    "public"
                } else {
                    "confidential"
                }
                .into(),
                c.grant_types,
            ]
        })
        .collect();
    print_table(&["CLIENT_ID", "NAME", "TYPE", "GRANTS"], &rows);
    Ok(())
}

/// `client show`: one client's registration, as aligned lines or JSON.
fn show(settings: &Settings, client_id: String, json: bool) -> CliResult {
    let mut conn = connect(settings)?;
    let c = find(&mut conn, &client_id)?;
    let d = describe(&c);
    if json {
        println!("{d}");
    } else if let Some(obj) = d.as_object() {
        for (k, v) in obj {
            let shown = match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Null => "-".into(),
                serde_json::Value::Array(a) => a
                    .iter()
                    .filter_map(|x| x.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
                other => other.to_string(),
            };
            println!("{k:<30} {shown}");
        }
    }
    Ok(())
}

/// `client remove`: deletes the client (and what hangs off it) through the store.
fn remove(settings: &Settings, client_id: String) -> CliResult {
    let mut conn = connect(settings)?;
    clients::write(&mut conn, |tx| {
        tx.remove(&client_id)?;
        let event = Event::ClientRemove;
        Ok::<_, StoreError>(tx.audit(&Actor::cli(), event, &client_id, None)?)
    })
    .map_err(|e| refused(&client_id, e))?;
    println!("client {client_id} removed");
    Ok(())
}

/// `client rotate-secret`: a new secret, shown once; the old one stops working at once.
fn rotate_secret(settings: &Settings, client_id: String, json: bool) -> CliResult {
    let mut conn = connect(settings)?;
    let secret = clients::write(&mut conn, |tx| {
        let secret = tx.rotate_secret(&client_id, db::now())?;
        let event = Event::ClientRotateSecret;
        tx.audit(&Actor::cli(), event, &client_id, None)?;
        Ok::<_, StoreError>(secret)
    })
    .map_err(|e| refused(&client_id, e))?;
    if json {
        println!(
            "{}",
            json!({ "client_id": client_id, "client_secret": secret })
        );
    } else {
        println!("client_secret: {secret}");
        println!("The previous secret no longer works. This one is not shown again.");
    }
    Ok(())
}
