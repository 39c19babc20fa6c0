//! Password reset: `/forgot-password` takes a username or an address and, when it names an
//! enabled account, mails a single-use link (valid `reset_token_ttl`, 30 minutes by default).
//! The answer is the same whether or not an account exists, and the database work is the same
//! but for the insert of the token and its mail. Setting the new password goes through
//! `accounts::manage::apply`, which ends every session, revokes every refresh-token family and
//! retires the account's other links.

use super::manage::Change;
use crate::audit::Actor;
use crate::domain::ids::UserId;
use diesel::{Connection, QueryResult};

use super::tokens;
use crate::account_policy::login_key;
use crate::authn::throttle;
use crate::config::Settings;
use crate::db::models::account_tokens::Kind;
use crate::db::models::user_email;
use crate::db::models::users::{self, User};
use crate::db::DbConn;
use crate::domain::email::email_key;
use crate::mail::messages;
use crate::mail::render_error;
use crate::outbox;

/// Where the link points.
pub const PATH: &str = "/reset-password";
/// Reset mails sent for one account per hour; further requests are answered the same way but
/// send nothing (the answer says so, for everyone).
pub const PER_ACCOUNT_PER_HOUR: i64 = 3;

/// The accounts a reset request names: by address when it has an `@`, else by username.
fn named(conn: &mut DbConn, login: &str) -> QueryResult<Vec<User>> {
    let login = login.trim();
    if login.contains('@') {
        user_email::users_with_email(conn, &email_key(login))
    } else {
        Ok(users::by_username(conn, &login_key(login))?
            .into_iter()
            .collect())
    }
}

/// Handles a reset request: for each enabled account it names that has not had
/// `PER_ACCOUNT_PER_HOUR` links this hour, a token and its mail, in one transaction. Returns how
/// many mails were queued (for tests and logs; never shown to the requester). Wake the sender
/// afterwards.
pub fn request(
    conn: &mut DbConn,
    settings: &Settings,
    login: &str,
    now: i64,
) -> QueryResult<usize> {
    let accounts = named(conn, login)?;
    let mut queued = 0;
    // An unknown name does the same count query as a known one.
    if accounts.is_empty() {
        tokens::hourly_limit_reached(conn, "", Kind::ResetPassword, PER_ACCOUNT_PER_HOUR, now)?;
    }
    for user in accounts {
        let limited = tokens::hourly_limit_reached(
            conn,
            &user.id,
            Kind::ResetPassword,
            PER_ACCOUNT_PER_HOUR,
            now,
        )?;
        if limited || user.disabled {
            continue;
        }
        conn.transaction(|c| {
            let token = tokens::issue(
                c,
                Kind::ResetPassword,
                &user.id,
                &user.email,
                settings.mail.reset_token_ttl,
                now,
            )?;
            let mail = messages::password_reset(
                settings,
                &user.username,
                &user.email,
                &tokens::link(settings, PATH, &token),
            )
            .map_err(render_error)?;
            outbox::enqueue_mail(c, &mail)
        })?;
        queued += 1;
    }
    Ok(queued)
}

/// The account a live reset link is for (to name it on the form); nothing is changed.
pub fn check(conn: &mut DbConn, presented: &str, now: i64) -> QueryResult<Option<User>> {
    match tokens::peek(conn, presented, Kind::ResetPassword, now)? {
        Some(t) => Ok(users::by_id(conn, &t.user_id)?.filter(|u| !u.disabled)),
        None => Ok(None),
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Completed {
    /// The password is set; every session ended, every refresh family revoked.
    Reset { username: String },
    /// Unknown, used or expired link (or a disabled account): nothing changed.
    Invalid,
}

/// Spends the link and sets the new password (`new_hash`, already argon2), in one transaction:
/// every session of the user ends and every refresh-token family is revoked; the user's other
/// account links die (`manage::apply`'s credential cascade); the account's failed-login counter is cleared (its owner just proved who
/// they are); the address the link went to counts as verified if the account still has it; and
/// the reset is audited.
pub fn complete(
    conn: &mut DbConn,
    presented: &str,
    new_hash: &str,
    ip: Option<&str>,
    now: i64,
) -> QueryResult<Completed> {
    #[derive(Debug)]
    enum Abort {
        Db(diesel::result::Error),
        Invalid,
    }
    impl From<diesel::result::Error> for Abort {
        fn from(e: diesel::result::Error) -> Self {
            Abort::Db(e)
        }
    }
    let r = conn.transaction::<_, Abort, _>(|c| {
        let t = tokens::consume(c, presented, Kind::ResetPassword, now)?.ok_or(Abort::Invalid)?;
        let user = users::by_id(c, &t.user_id)?
            .filter(|u| !u.disabled)
            .ok_or(Abort::Invalid)?;
        throttle::record_success(c, &user.username)?;
        user_email::mark_verified(c, &user.id, &email_key(&t.email), now)?;
        let actor = Actor::User(UserId::from_stored(user.id.clone()));
        let change = Change::PasswordByLink {
            hash: new_hash.to_owned(),
        };
        super::manage::apply(c, &user, change, &actor, ip, now)?;
        Ok(user.username)
    });
    match r {
        Ok(username) => Ok(Completed::Reset { username }),
        Err(Abort::Invalid) => Ok(Completed::Invalid),
        Err(Abort::Db(e)) => Err(e),
    }
}
