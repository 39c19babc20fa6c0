//! The command line: `ostiary [serve]`, `migrate`, `user …`, `client …`, `keys …`.

pub mod client;
pub mod config_as_code;
pub mod keys;
pub mod registration;
pub mod user;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::{ConfigError, Settings, SettingsArgs};
use crate::db::{self, DbConn};

#[derive(Parser, Debug)]
#[command(
    name = "ostiary",
    version,
    about = "Ostiary: an OAuth 2.0 / OpenID Connect identity provider",
    long_about = "Ostiary: an OAuth 2.0 / OpenID Connect identity provider.\n\n\
        Without a command it runs the server. Every setting can be given as a flag, as an \
        OSTIARY_* environment variable, or in a TOML file passed with --config.",
    propagate_version = true
)]
pub struct Cli {
    /// TOML file with settings (keys as the flag names, with underscores)
    #[arg(long, env = "OSTIARY_CONFIG", global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(flatten)]
    pub settings: SettingsArgs,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server (the default when no command is given)
    Serve,
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
}

impl Cli {
    pub fn resolve_settings(&self) -> Result<Settings, ConfigError> {
        Settings::resolve(self.settings.clone(), self.config.as_deref())
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
