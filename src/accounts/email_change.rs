//! Changing the account's address: the signed-in user gives the new address and their password;
//! a confirmation link goes to the new address and a notice to the old one. The address changes
//! (and counts as verified) only when the link is opened. That the new address is not another
//! account's is checked at both ends.

use diesel::{Connection, QueryResult};

use super::manage::{self, Change};
use super::tokens;
use crate::audit::Actor;
use crate::config::Settings;
use crate::db::models::account_tokens::Kind;
use crate::db::models::user_email;
use crate::db::models::users::{self, User};
use crate::db::DbConn;
use crate::domain::email::email_key;
use crate::domain::ids::UserId;
use crate::mail::messages;
use crate::mail::render_error;
use crate::outbox;

/// Where the link points.
pub const PATH: &str = "/email-change/confirm";
/// Change requests one account may make per hour (each mails two addresses).
pub const PER_HOUR: i64 = 5;

#[derive(Debug, PartialEq, Eq)]
pub enum Requested {
    /// A link went to the new address, a notice to the old one.
    Sent,
    /// That is the account's address already.
    Same,
    /// Another account uses that address.
    InUse,
    TooMany,
}

/// Queues the confirmation to `new_email` (already `account_policy::check_email`ed) and the
/// notice to the current address, with the token, in one transaction. The caller has checked
/// the user's password. Wake the sender afterwards.
pub fn request(
    conn: &mut DbConn,
    settings: &Settings,
    user: &User,
    new_email: &str,
    now: i64,
) -> QueryResult<Requested> {
    let key = email_key(new_email);
    if key == email_key(&user.email) {
        return Ok(Requested::Same);
    }
    if user_email::in_use_by_other(conn, &key, &user.id)? {
        return Ok(Requested::InUse);
    }
    if tokens::hourly_limit_reached(conn, &user.id, Kind::ChangeEmail, PER_HOUR, now)? {
        return Ok(Requested::TooMany);
    }
    conn.transaction(|c| {
        let token = tokens::issue(
            c,
            Kind::ChangeEmail,
            &user.id,
            new_email,
            settings.mail.verification_token_ttl,
            now,
        )?;
        let confirm = messages::email_change_confirm(
            settings,
            &user.username,
            &user.email,
            new_email,
            &tokens::link(settings, PATH, &token),
        )
        .map_err(render_error)?;
        let notice =
            messages::email_change_notice(settings, &user.username, &user.email, new_email)
                .map_err(render_error)?;
        outbox::enqueue_mail(c, &confirm)?;
        outbox::enqueue_mail(c, &notice)
    })?;
    Ok(Requested::Sent)
}

/// What a live change link would do, for the page that asks to confirm.
pub struct Pending {
    pub username: String,
    pub old_email: String,
    pub new_email: String,
}

pub fn check(conn: &mut DbConn, presented: &str, now: i64) -> QueryResult<Option<Pending>> {
    let Some(t) = tokens::peek(conn, presented, Kind::ChangeEmail, now)? else {
        return Ok(None);
    };
    Ok(users::by_id(conn, &t.user_id)?.map(|u| Pending {
        username: u.username,
        old_email: u.email,
        new_email: t.email,
    }))
}

#[derive(Debug, PartialEq, Eq)]
pub enum Confirmed {
    Changed {
        email: String,
    },
    /// Unknown, used or expired: nothing changed.
    Invalid,
    /// Another account took the address meanwhile: nothing changed, the link stays unused.
    InUse,
}

/// Spends the link and sets the new address, verified, in one transaction, through
/// `manage::apply` (audited; every other outstanding link of the user dies with the old
/// address: reset, verification and other change links alike).
pub fn confirm(
    conn: &mut DbConn,
    presented: &str,
    ip: Option<&str>,
    now: i64,
) -> QueryResult<Confirmed> {
    #[derive(Debug)]
    enum Abort {
        Db(diesel::result::Error),
        Invalid,
        InUse,
    }
    impl From<diesel::result::Error> for Abort {
        fn from(e: diesel::result::Error) -> Self {
            Abort::Db(e)
        }
    }
    let r = conn.transaction::<_, Abort, _>(|c| {
        let t = tokens::consume(c, presented, Kind::ChangeEmail, now)?.ok_or(Abort::Invalid)?;
        if user_email::in_use_by_other(c, &email_key(&t.email), &t.user_id)? {
            return Err(Abort::InUse);
        }
        let user = users::by_id(c, &t.user_id)?.ok_or(Abort::Invalid)?;
        let actor = Actor::User(UserId::from_stored(user.id.clone()));
        let change = Change::EmailByLink {
            email: t.email.clone(),
        };
        manage::apply(c, &user, change, &actor, ip, now)?;
        Ok(t.email)
    });
    match r {
        Ok(email) => Ok(Confirmed::Changed { email }),
        Err(Abort::Invalid) => Ok(Confirmed::Invalid),
        Err(Abort::InUse) => Ok(Confirmed::InUse),
        Err(Abort::Db(e)) => Err(e),
    }
}
