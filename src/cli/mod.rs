//! The command line: `ostiary [serve]`, `migrate`, `user …`, `client …`, `keys …`,
//! `upstream …`, `group …`.

pub mod client;
pub mod config_as_code;
pub mod keys;
pub mod registration;
pub mod upstream;
pub mod user;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::config::{ConfigError, GlobalArgs, Settings, SettingsArgs, DOCUMENTED_DEFAULTS};
use crate::db::{self, DbConn};

#[derive(Parser, Debug)]
#[command(
    name = "ostiary",
    version,
    about = "Ostiary: an OAuth 2.0 / OpenID Connect identity provider",
    after_help = "Without a command it runs the server. Each of the server's settings is a flag \
        of `serve`, an OSTIARY_* environment variable, or a key of the --config TOML file: \
        `ostiary serve --help` lists them with their defaults.",
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    /// The server's settings without `serve` (`ostiary --bind …`), and from the environment for
    /// every other command. Hidden here by `parse`: `serve --help` lists them.
    #[command(flatten)]
    pub settings: SettingsArgs,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// `ostiary serve`'s arguments: the server's settings.
#[derive(Args, Debug, Default)]
pub struct ServeArgs {
    #[command(flatten)]
    pub settings: SettingsArgs,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server (the default when no command is given); --help lists its settings
    Serve(Box<ServeArgs>),
    /// Apply pending database migrations and exit
    Migrate {
        /// Only list the migrations that would run
        #[arg(long)]
        dry_run: bool,
    },
    /// Write the clients an administrator manages and the registration policy as TOML (no
    /// secrets)
    Export {
        /// Write to this file instead of standard output
        #[arg(long, value_name = "FILE")]
        output: Option<String>,
    },
    /// Make the database match a TOML file from `export`: prints the plan (create, update,
    /// delete), then applies it in one transaction
    Apply {
        file: String,
        /// Only print the plan
        #[arg(long)]
        dry_run: bool,
    },
    /// Remove expired sessions, codes, tokens and records once (what every replica's janitor
    /// does every `maintenance_interval`), in bounded batches; safe while servers run
    Gc,
    /// Manage end users (people who log in)
    #[command(subcommand)]
    User(user::UserCommand),
    /// Manage OAuth clients (the applications users log in to)
    #[command(subcommand)]
    Client(client::ClientCommand),
    /// Inspect and rotate the token signing keys
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Dynamic client registration: the policy and initial access tokens
    #[command(subcommand)]
    Registration(registration::RegistrationCommand),
    /// Identity providers people may log in with (federation)
    #[command(subcommand)]
    Upstream(upstream::UpstreamCommand),
    /// Groups and their members (the `groups` claim)
    #[command(subcommand)]
    Group(upstream::GroupCommand),
}

impl Cli {
    /// The command line, with the server's settings left out of the top-level help (each
    /// command's help shows its own arguments and the few `GlobalArgs`).
    pub fn parse_args() -> Cli {
        let matches = Self::command_for_help().get_matches();
        Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
    }

    pub fn command_for_help() -> clap::Command {
        let hidden: Vec<clap::Id> = SettingsArgs::augment_args(clap::Command::new("settings"))
            .get_arguments()
            .map(|a| a.get_id().clone())
            .collect();
        hidden
            .into_iter()
            .fold(Cli::command(), |cmd, id| cmd.mut_arg(id, |a| a.hide(true)))
            .mut_subcommand("client", |c| {
                c.mut_subcommand("add", client::with_value_lists)
            })
            .mut_subcommand("serve", |serve| {
                // Shown, not set: a clap default would hide the file's value behind it.
                DOCUMENTED_DEFAULTS
                    .iter()
                    .fold(serve, |serve, (name, value)| {
                        serve.mut_arg(*name, |a| {
                            let help = a.get_help().map(ToString::to_string).unwrap_or_default();
                            a.help(format!("{help} [default: {value}]"))
                        })
                    })
            })
    }

    /// The settings of this invocation: the global flags, then `serve`'s flags (or the
    /// top-level ones, which also carry the environment), then the file, then defaults.
    pub fn resolve_settings(&self) -> Result<Settings, ConfigError> {
        let args = match &self.command {
            Some(Command::Serve(serve)) => serve.settings.clone().or(self.settings.clone()),
            _ => self.settings.clone(),
        };
        Settings::resolve(self.global.over(args), self.global.config.as_deref())
    }
}

/// Opens one connection before anything else, so a wrong database URL is one line naming the
/// setting (exit 2, as every invalid setting) instead of a pool logging failed attempts for
/// `db_timeout` seconds. Every command opens the database, so `main` calls this for all.
pub fn check_database(settings: &Settings) -> Result<(), ConfigError> {
    db::probe(
        &settings.db,
        std::time::Duration::from_secs(settings.db_timeout),
    )
    .map_err(|cause| crate::config::bad("database_url", cause))
}

/// A CLI failure: one line for the user, and the exit code.
#[derive(Debug)]
pub struct CliError {
    pub message: String,
    pub code: i32,
}

impl CliError {
    pub fn new(message: impl Into<String>) -> Self {
        CliError {
            message: message.into(),
            code: 1,
        }
    }
}

impl<E: std::fmt::Display> From<E> for CliError {
    fn from(e: E) -> Self {
        CliError::new(e.to_string())
    }
}

pub type CliResult = Result<(), CliError>;

/// One connection for a CLI command, with migrations applied so commands work on a fresh database.
pub fn connect(settings: &Settings) -> Result<DbConn, CliError> {
    let mut conn = db::establish(&settings.db)?;
    db::run_migrations(&mut conn)?;
    Ok(conn)
}

pub fn migrate(settings: &Settings, dry_run: bool) -> CliResult {
    let mut conn = db::establish(&settings.db)?;
    if dry_run {
        let pending = db::pending_migrations(&mut conn)?;
        if pending.is_empty() {
            println!("the database is up to date");
        }
        for name in &pending {
            println!("would apply {name}");
        }
        return Ok(());
    }
    let n = db::run_migrations(&mut conn)?;
    println!("{n} migration(s) applied");
    Ok(())
}

pub fn gc(settings: &Settings) -> CliResult {
    let mut conn = connect(settings)?;
    let report =
        crate::maintenance::sweep_all(&mut conn, settings, db::now()).map_err(CliError::new)?;
    for (table, n) in &report.removed {
        if *n > 0 {
            println!("{table}: {n} removed");
        }
    }
    println!("{} row(s) removed", report.total());
    Ok(())
}

/// Prints rows as aligned columns.
pub fn print_table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect();
        println!("{}", parts.join("  ").trim_end());
    };
    line(headers.to_vec());
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
}

pub fn is_unique_violation(e: &diesel::result::Error) -> bool {
    matches!(
        e,
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)
    )
}
