use std::io::{BufRead, IsTerminal};

use crate::audit::{Actor, Entry, Event};
use clap::Subcommand;

use super::{connect, print_table, CliError, CliResult};
use crate::account_policy::{check_password, login_key, taken, NewAccount};
use crate::accounts::create::{create, NewUser, Origin};
use crate::accounts::manage::{self, Change};
use crate::authn::throttle;
use crate::config::Settings;
use crate::crypto::password;
use crate::db::models::users::{self, User};
use crate::db::{self, DbConn};
use crate::domain::email::Email;
use crate::domain::username::Username;

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create a user. The password is prompted for (without echo) unless --password-stdin is given
    Add {
        /// Login name; prepared per RFC 8265 (case-folded, NFC, width-mapped), single-script, unique
        username: String,
        /// Email address
        #[arg(long)]
        email: String,
        /// Display name
        #[arg(long)]
        name: Option<String>,
        /// Make the user an administrator (may use /admin)
        #[arg(long)]
        admin: bool,
        /// Mark the email address as verified
        #[arg(long)]
        email_verified: bool,
        /// Read the password from the first line of standard input
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users
    List,
    /// Disable a user: they can no longer log in
    Disable { username: String },
    /// Enable a disabled user again
    Enable { username: String },
    /// Set a new password (ends the user's sessions and revokes their refresh tokens). Prompted
    /// for unless --password-stdin is given
    SetPassword {
        username: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Create a single-use sign-up invitation link (for the `invite` sign-up policy)
    Invite {
        /// Seconds the link stays valid [default: 7 days]
        #[arg(long, value_name = "SECONDS", default_value_t = 7 * 86400)]
        expires: i64,
        /// A note for the audit log (who it is for)
        #[arg(long)]
        note: Option<String>,
        /// Print {"link": …} as JSON
        #[arg(long)]
        json: bool,
    },
    /// Show a user's profile claims, or change them with --set (OIDC standard claims: what
    /// clients see with the profile, address and phone scopes)
    Profile {
        username: String,
        /// FIELD=VALUE; repeat for several; an empty VALUE removes the field. Fields: name,
        /// given_name, family_name, middle_name, nickname, profile, picture, website, gender,
        /// birthdate, zoneinfo, locale, phone_number, address_formatted, address_street_address,
        /// address_locality, address_region, address_postal_code, address_country
        #[arg(long = "set", value_name = "FIELD=VALUE")]
        set: Vec<String>,
        /// Mark the phone number as known to be the user's (phone_number_verified), or not
        #[arg(long, value_name = "BOOL")]
        phone_number_verified: Option<bool>,
    },
    /// Lift a sign-in lockout of an account (after repeated wrong passwords)
    Unlock { username: String },
    /// Lift a sign-in lockout of a client address (IPv6: any address of the /64)
    UnlockAddress { address: std::net::IpAddr },
}

fn read_password(from_stdin: bool) -> Result<String, CliError> {
    let pw = if from_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    } else if std::io::stdin().is_terminal() {
        let a = rpassword::prompt_password("Password: ")?;
        let b = rpassword::prompt_password("Repeat password: ")?;
        if a != b {
            return Err(CliError::new("the passwords do not match"));
        }
        a
    } else {
        return Err(CliError::new(
            "no terminal to ask for the password: pass it on standard input with --password-stdin",
        ));
    };
    check_password(&pw).map_err(CliError::new)?;
    Ok(pw)
}

pub fn find(conn: &mut DbConn, username: &str) -> Result<User, CliError> {
    users::by_username(conn, &login_key(username))?
        .ok_or_else(|| CliError::new(format!("no user named {username:?}")))
}

pub fn run(settings: &Settings, cmd: UserCommand) -> CliResult {
    match cmd {
        UserCommand::Add {
            username,
            email,
            name,
            admin,
            email_verified,
            password_stdin,
        } => add(
            settings,
            username,
            email,
            name,
            admin,
            email_verified,
            password_stdin,
        ),
        UserCommand::List => list(settings),
        UserCommand::Disable { username } => set_disabled(settings, &username, true),
        UserCommand::Enable { username } => set_disabled(settings, &username, false),
        UserCommand::SetPassword {
            username,
            password_stdin,
        } => set_password(settings, username, password_stdin),
        UserCommand::Invite {
            expires,
            note,
            json,
        } => invite(settings, expires, note, json),
        UserCommand::Profile {
            username,
            set,
            phone_number_verified,
        } => profile(settings, &username, set, phone_number_verified),
        UserCommand::Unlock { username } => unlock(settings, username),
        UserCommand::UnlockAddress { address } => unlock_address(settings, address),
    }
}

/// `user add`: a new account through `accounts::create` (the one path with its rules and audit), the password read from the terminal or stdin.
fn add(
    settings: &Settings,
    username: String,
    email: String,
    name: Option<String>,
    admin: bool,
    email_verified: bool,
    password_stdin: bool,
) -> CliResult {
    let account = NewAccount {
        username: Username::parse(&username).map_err(CliError::new)?,
        email: Email::parse(&email).map_err(CliError::new)?,
    };
    let mut conn = connect(settings)?;
    if let Some(problem) = taken(&mut conn, &account)?.into_iter().next() {
        return Err(CliError::new(problem));
    }
    let pw = read_password(password_stdin)?;
    let hash = password::hash_blocking(settings.argon2, &pw)?;
    let new = NewUser {
        account,
        name,
        password_hash: hash,
        is_admin: admin,
        email_verified,
    };
    let user = create(&mut conn, new, &Origin::Cli, None)?
        .map_err(|problems| CliError::new(problems.into_iter().next().unwrap_or_default()))?;
    println!("user {} added (id {})", user.username, user.id);
    Ok(())
}

/// `user profile`: the fields given with `--set` through `accounts::profile` (the checks and
/// the audit entry every editor gets), then the profile as it is stored.
fn profile(
    settings: &Settings,
    username: &str,
    set: Vec<String>,
    phone_number_verified: Option<bool>,
) -> CliResult {
    use crate::accounts::profile::{self, Editor, Input, Profile, FIELDS};
    let mut fields = Vec::new();
    for pair in set {
        let Some((k, v)) = pair.split_once('=') else {
            return Err(CliError::new(format!("--set {pair}: use FIELD=VALUE")));
        };
        let k = k.trim().replace('-', "_");
        if !FIELDS.contains(&k.as_str()) {
            return Err(CliError::new(format!(
                "--set {pair}: no field {k:?} (fields: {})",
                FIELDS.join(", ")
            )));
        }
        fields.push((k, v.to_owned()));
    }
    let mut conn = connect(settings)?;
    let mut user = find(&mut conn, username)?;
    if !fields.is_empty() || phone_number_verified.is_some() {
        let input = Input {
            fields,
            phone_number_verified,
        };
        let new = profile::check(&Profile::of(&user), &input, Editor::Admin).map_err(|errors| {
            let (field, why) = &errors[0];
            CliError::new(format!("{field} {why}"))
        })?;
        profile::update(&mut conn, &user, &new, &Actor::cli(), None, db::now())?;
        user = find(&mut conn, username)?;
    }
    let claims = crate::oidc::claims::for_scope(&user, "profile address phone");
    println!("{}", serde_json::to_string_pretty(&claims)?);
    Ok(())
}

/// `user list`: every account as a table.
fn list(settings: &Settings) -> CliResult {
    let mut conn = connect(settings)?;
    let all = users::list(&mut conn, None, i64::MAX, 0)?;
    let rows: Vec<Vec<String>> = all
        .into_iter()
        .map(|u| {
            vec![
                u.username,
                u.email,
                if u.is_admin { "admin" } else { "" }.into(),
                if u.disabled { "disabled" } else { "active" }.into(),
                u.id,
            ]
        })
        .collect();
    print_table(&["USERNAME", "EMAIL", "ROLE", "STATE", "ID"], &rows);
    Ok(())
}

/// `user set-password`: through `accounts::manage`, which ends the user's sessions and revokes their refresh tokens.
fn set_password(settings: &Settings, username: String, password_stdin: bool) -> CliResult {
    let mut conn = connect(settings)?;
    let user = find(&mut conn, &username)?;
    let pw = read_password(password_stdin)?;
    let hash = password::hash_blocking(settings.argon2, &pw)?;
    let new = Change::Password {
        hash,
        keep_session: None,
    };
    manage::apply(&mut conn, &user, new, &Actor::cli(), None, db::now())?;
    println!(
        "password of {} changed; their sessions ended and refresh tokens revoked",
        user.username
    );
    Ok(())
}

/// `user invite`: a single-use sign-up link, shown only now.
fn invite(settings: &Settings, expires: i64, note: Option<String>, json: bool) -> CliResult {
    if expires < 1 {
        return Err(CliError::new(
            "--expires must be a positive number of seconds",
        ));
    }
    let mut conn = connect(settings)?;
    let token = crate::accounts::signup::create_invite(&mut conn, expires, note, db::now())?;
    audit(&mut conn, Event::SignupInvite, "cli")?;
    let link = crate::accounts::signup::invite_link(&settings.issuer, &token);
    if json {
        println!("{}", serde_json::json!({ "link": link }));
    } else {
        println!("sign-up link (single use, shown only now): {link}");
    }
    Ok(())
}

/// `user unlock`: lifts the sign-in lockouts of a name (`accounts::manage::unlock`).
fn unlock(settings: &Settings, username: String) -> CliResult {
    let mut conn = connect(settings)?;
    // Locks are kept by name, existing or not, so no user has to exist.
    let key = login_key(&username);
    let n = manage::unlock(&mut conn, &key)?;
    audit(&mut conn, Event::LockoutUnlockAccount, &key)?;
    println!(
        "{key}: {}",
        if n > 0 { "unlocked" } else { "was not locked" }
    );
    Ok(())
}

/// `user unlock-address`: clears an address's password lockout.
fn unlock_address(settings: &Settings, address: std::net::IpAddr) -> CliResult {
    let mut conn = connect(settings)?;
    let subject = throttle::address_subject(address);
    let n = throttle::unlock(&mut conn, throttle::ADDRESS, &subject)?;
    audit(&mut conn, Event::LockoutUnlockAddress, &subject)?;
    println!(
        "{subject}: {}",
        if n > 0 { "unlocked" } else { "was not locked" }
    );
    Ok(())
}

fn set_disabled(settings: &Settings, username: &str, disabled: bool) -> CliResult {
    let mut conn = connect(settings)?;
    let user = find(&mut conn, username)?;
    let change = if disabled {
        Change::Disable
    } else {
        Change::Enable
    };
    manage::apply(&mut conn, &user, change, &Actor::cli(), None, db::now())?;
    println!(
        "user {} {}",
        user.username,
        if disabled { "disabled" } else { "enabled" }
    );
    Ok(())
}

/// Records what the operator at this terminal did. Called after the change (the CLI's changes
/// are single statements or transactions of their own); a failure to record is reported.
pub fn audit(conn: &mut DbConn, event: Event, target: &str) -> Result<(), CliError> {
    let actor = Actor::cli();
    Ok(crate::audit::record(
        conn,
        &Entry::new(&actor, event).target(target),
    )?)
}
