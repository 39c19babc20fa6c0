//! `ostiary registration …`: the dynamic-registration policy and initial access tokens.

use crate::audit::Event;
use clap::Subcommand;
use serde_json::json;

use super::user::audit;
use super::{connect, print_table, CliError, CliResult};
use crate::clients::registration::{
    create_initial_token, initial_tokens, revoke_initial_token, token_id,
};
use crate::config::{RegistrationPolicy, Settings};
use crate::db::models::server_settings;
use crate::db::{self};
use crate::oauth::registration::current_policy;

#[derive(Subcommand, Debug)]
pub enum RegistrationCommand {
    /// Show the policy in force, or set it: closed, token (an initial access token is needed) or
    /// open (anyone, rate-limited per address)
    Policy { policy: Option<String> },
    /// Initial access tokens, which apps present to register themselves under the token policy
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create a token and print it (shown only this once)
    Create {
        /// How many registrations it allows [default: any number]
        #[arg(long, value_name = "N")]
        uses: Option<i64>,
        /// Seconds until it expires [default: never]
        #[arg(long, value_name = "SECONDS")]
        expires: Option<i64>,
        /// A note for the list (who it is for)
        #[arg(long)]
        note: Option<String>,
        /// Print {"token": …, "id": …} as JSON
        #[arg(long)]
        json: bool,
    },
    /// List tokens (ids, uses left, expiry; never the tokens)
    List,
    /// Revoke a token by the id `list` shows
    Revoke { id: String },
}

pub fn run(settings: &Settings, cmd: RegistrationCommand) -> CliResult {
    let mut conn = connect(settings)?;
    let now = db::now();
    match cmd {
        RegistrationCommand::Policy { policy: None } => {
            let p = current_policy(&mut conn, settings.registration.policy)?;
            println!("{}", p.as_str());
        }
        RegistrationCommand::Policy { policy: Some(p) } => {
            let parsed = RegistrationPolicy::parse(&p)
                .ok_or_else(|| CliError::new(format!("{p}: use closed, token or open")))?;
            server_settings::set(
                &mut conn,
                server_settings::REGISTRATION_POLICY,
                parsed.as_str(),
                now,
            )?;
            audit(&mut conn, Event::RegistrationPolicy, parsed.as_str())?;
            println!("registration policy: {}", parsed.as_str());
        }
        RegistrationCommand::Token(TokenCommand::Create {
            uses,
            expires,
            note,
            json,
        }) => {
            if uses.is_some_and(|u| u < 1) {
                return Err(CliError::new("--uses must be at least 1"));
            }
            if expires.is_some_and(|e| e < 1) {
                return Err(CliError::new(
                    "--expires must be a positive number of seconds",
                ));
            }
            let (token, row) = create_initial_token(&mut conn, uses, expires, note, now)?;
            audit(&mut conn, Event::RegistrationTokenCreate, token_id(&row))?;
            if json {
                println!("{}", json!({"token": token, "id": token_id(&row)}));
            } else {
                println!("initial access token (shown only now): {token}");
                println!("id: {}", token_id(&row));
            }
        }
        RegistrationCommand::Token(TokenCommand::List) => {
            let rows: Vec<Vec<String>> = initial_tokens(&mut conn, now)?
                .into_iter()
                .map(|t| {
                    vec![
                        t.id,
                        t.state.to_owned(),
                        t.uses_left,
                        t.expires_at
                            .map_or("never".into(), crate::domain::time::utc),
                        t.note,
                    ]
                })
                .collect();
            print_table(
                &["ID", "STATE", "USES LEFT", "EXPIRES (UTC)", "NOTE"],
                &rows,
            );
        }
        RegistrationCommand::Token(TokenCommand::Revoke { id }) => {
            let n = revoke_initial_token(&mut conn, &id, now)?;
            if n == 0 {
                return Err(CliError::new(format!("no active token with id {id:?}")));
            }
            audit(&mut conn, Event::RegistrationTokenRevoke, &id)?;
            println!("token {id} revoked");
        }
    }
    Ok(())
}
