//! What changes an existing account, and what each change ends — one function for the account
//! page, the console, the CLI, the reset link and the email-change link, each change with its
//! audit entry in its transaction:
//! - a new password or a new address retires every outstanding account link (`credentials_changed`,
//!   the one rule for both); a new password also ends every session but the one that set it and
//!   revokes every refresh-token family (whoever held the old password is out);
//! - disabling ends every session (its refresh families with them; a disabled holder's tokens
//!   stop verifying anyway);
//! - resetting the second factors (a lost phone or key) removes them all, ends every session
//!   and revokes every refresh family (whoever holds the device may hold sessions too);
//! - unlocking clears the account's password and second-factor lockouts together.

use diesel::Connection;

use crate::audit::{self, Actor, Entry, Event};
use crate::authn::throttle;
use crate::db::models::account_tokens;
use crate::db::models::users::{self, User};
use crate::db::models::{factors, refresh, sessions, user_email};
use crate::db::DbConn;

/// A change to an account.
#[derive(Clone, Debug)]
pub enum Change {
    /// A new password (already hashed); `keep_session` is the session that set it, if any.
    Password {
        hash: String,
        keep_session: Option<String>,
    },
    /// A new password through a reset link (the link itself is spent by `accounts::reset`).
    PasswordByLink {
        hash: String,
    },
    /// A new address, proven by the link mailed to it (the link itself is spent by
    /// `accounts::email_change`); it counts as verified.
    EmailByLink {
        email: String,
    },
    Disable,
    Enable,
    GrantAdmin,
    RevokeAdmin,
    ResetFactors,
    Unlock,
}

impl Change {
    /// What the audit log calls it, by who did it.
    fn event(&self, actor: &Actor) -> Event {
        match (self, actor) {
            (Change::Password { .. }, Actor::User(_)) => Event::AccountPassword,
            (Change::Password { .. }, Actor::Admin(_)) => Event::UserResetPassword,
            (Change::Password { .. }, _) => Event::UserSetPassword,
            (Change::PasswordByLink { .. }, _) => Event::AccountPasswordReset,
            (Change::EmailByLink { .. }, _) => Event::AccountEmailChanged,
            (Change::Disable, _) => Event::UserDisable,
            (Change::Enable, _) => Event::UserEnable,
            (Change::GrantAdmin, _) => Event::UserGrantAdmin,
            (Change::RevokeAdmin, _) => Event::UserRevokeAdmin,
            (Change::ResetFactors, _) => Event::UserResetFactors,
            (Change::Unlock, _) => Event::LockoutUnlockAccount,
        }
    }
}

/// Applies `change` to `user` with everything it ends, and audits it, in one transaction (a
/// savepoint of the caller's, when there is one).
pub fn apply(
    conn: &mut DbConn,
    user: &User,
    change: Change,
    actor: &Actor,
    ip: Option<&str>,
    now: i64,
) -> diesel::QueryResult<()> {
    // The user cache keeps status and roles: once this commits, this process's forgets them.
    let _written = crate::db::writes::Written::users();
    let id = user.id.as_str();
    conn.transaction(|c| {
        match &change {
            Change::Password { hash, keep_session } => {
                new_password(c, id, hash, keep_session.as_deref(), now)?;
            }
            Change::PasswordByLink { hash } => new_password(c, id, hash, None, now)?,
            Change::EmailByLink { email } => {
                user_email::set_verified_email(c, id, email, now)?;
                credentials_changed(c, id, Credential::Address, now)?;
            }
            Change::Disable => {
                users::set_disabled(c, id, true, now)?;
                sessions::delete_for_user(c, id)?;
            }
            Change::Enable => {
                users::set_disabled(c, id, false, now)?;
            }
            Change::GrantAdmin => {
                users::set_admin(c, id, true, now)?;
            }
            Change::RevokeAdmin => {
                users::set_admin(c, id, false, now)?;
            }
            Change::ResetFactors => {
                factors::delete_all(c, id)?;
                sessions::delete_for_user(c, id)?;
                refresh::revoke_for_user(c, id, now)?;
            }
            Change::Unlock => {
                unlock(c, &user.username)?;
            }
        }
        let event = change.event(actor);
        audit::record(c, &Entry::new(actor, event).target(id).ip(ip))
    })
}

fn new_password(
    c: &mut DbConn,
    id: &str,
    hash: &str,
    keep_session: Option<&str>,
    now: i64,
) -> diesel::QueryResult<()> {
    users::set_password_hash(c, id, hash, now)?;
    credentials_changed(c, id, Credential::Password { keep_session }, now)
}

/// Which of the account's credentials changed.
enum Credential<'a> {
    /// The password; `keep_session` is the session that set it, if any.
    Password { keep_session: Option<&'a str> },
    /// The email address (where links and notices go).
    Address,
}

/// What ends when the account's password or address changes — the one rule, whichever change
/// and whoever makes it:
/// - every outstanding account link (password reset, email verification, email change): each
///   was mailed under the old credentials, and one left alive could undo the change (a reset
///   link still sitting in the old mailbox takes the account back; an email-change link asked
///   for with the old password moves it away);
/// - for a password, every session but `keep_session` and every refresh-token family too.
///   A new address leaves sessions alone: the address is not used to sign in, and whoever
///   confirmed it proved they read the new mailbox, not who holds the sessions.
fn credentials_changed(
    c: &mut DbConn,
    id: &str,
    changed: Credential,
    now: i64,
) -> diesel::QueryResult<()> {
    account_tokens::retire_all_for_user(c, id, now)?;
    if let Credential::Password { keep_session } = changed {
        sessions::delete_for_user_except(c, id, keep_session)?;
        refresh::revoke_for_user(c, id, now)?;
    }
    Ok(())
}

/// Clears the lockouts of the account named `login_key` (a prepared username; locks are kept
/// by name, so the account need not exist): its password lockout and its second-factor one.
pub fn unlock(conn: &mut DbConn, login_key: &str) -> diesel::QueryResult<usize> {
    let codes = crate::authn::second_factor::throttle_subject(login_key);
    Ok(throttle::unlock(conn, throttle::ACCOUNT, login_key)?
        + throttle::unlock(conn, throttle::ACCOUNT, &codes)?)
}
