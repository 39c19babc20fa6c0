//! Email verification: a link mailed to the account's address; opening it (and confirming on
//! the page, so a mail scanner following links does not) marks the address verified. Sign-up
//! calls `send`; a signed-in user asks again from /account/email (`request`).

use diesel::{Connection, QueryResult};

use super::tokens;
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
pub const PATH: &str = "/verify-email";
/// Verification mails one account may ask for per hour.
pub const PER_HOUR: i64 = 3;

/// Creates a verification token for the user's current address and puts the mail with its link
/// in the outbox, in one transaction (nested in the caller's, if any: call it inside the
/// transaction that creates the account). Afterwards, wake the sender: `state.outbox.wake()`.
/// Does nothing when mail is off (`settings.mail_enabled()` is false).
pub fn send(conn: &mut DbConn, settings: &Settings, user: &User, now: i64) -> QueryResult<()> {
    send_continuing(conn, settings, user, now, None)
}

/// As `send`, with a local path (a pending authorization request's resume path) that the
/// confirmation page continues to, so a sign-up started from an app ends back at that app.
pub fn send_continuing(
    conn: &mut DbConn,
    settings: &Settings,
    user: &User,
    now: i64,
    continue_to: Option<&str>,
) -> QueryResult<()> {
    if !settings.mail_enabled() {
        return Ok(());
    }
    conn.transaction(|c| {
        let token = tokens::issue(
            c,
            Kind::VerifyEmail,
            &user.id,
            &user.email,
            settings.mail.verification_token_ttl,
            now,
        )?;
        let mut link = tokens::link(settings, PATH, &token);
        if let Some(path) = continue_to {
            link.push_str("&continue=");
            link.extend(url::form_urlencoded::byte_serialize(path.as_bytes()));
        }
        let mail = messages::verify_email(settings, &user.username, &user.email, &link)
            .map_err(render_error)?;
        outbox::enqueue_mail(c, &mail)
    })
}

#[derive(Debug, PartialEq, Eq)]
pub enum Requested {
    Sent,
    AlreadyVerified,
    /// `PER_HOUR` mails were sent in the last hour.
    TooMany,
}

/// A signed-in user asks for a (new) verification mail.
pub fn request(
    conn: &mut DbConn,
    settings: &Settings,
    user_id: &str,
    now: i64,
) -> QueryResult<Requested> {
    let Some(user) = users::by_id(conn, user_id)? else {
        return Ok(Requested::AlreadyVerified);
    };
    if user.email_verified {
        return Ok(Requested::AlreadyVerified);
    }
    if tokens::hourly_limit_reached(conn, &user.id, Kind::VerifyEmail, PER_HOUR, now)? {
        return Ok(Requested::TooMany);
    }
    send(conn, settings, &user, now)?;
    Ok(Requested::Sent)
}

/// What a verification link is about, for the page that asks to confirm.
pub struct Pending {
    pub email: String,
    pub username: String,
}

/// The pending verification a link names, if it is live; nothing is changed.
pub fn check(conn: &mut DbConn, presented: &str, now: i64) -> QueryResult<Option<Pending>> {
    let Some(t) = tokens::peek(conn, presented, Kind::VerifyEmail, now)? else {
        return Ok(None);
    };
    Ok(users::by_id(conn, &t.user_id)?.map(|u| Pending {
        email: t.email,
        username: u.username,
    }))
}

#[derive(Debug, PartialEq, Eq)]
pub enum Confirmed {
    Verified {
        email: String,
    },
    /// Unknown, used or expired.
    Invalid,
    /// The account has another address now: the link verified nothing.
    AddressChanged,
}

/// Spends the link and marks the address verified, in one transaction.
pub fn confirm(conn: &mut DbConn, presented: &str, now: i64) -> QueryResult<Confirmed> {
    conn.transaction(|c| {
        let Some(t) = tokens::consume(c, presented, Kind::VerifyEmail, now)? else {
            return Ok(Confirmed::Invalid);
        };
        if !user_email::mark_verified(c, &t.user_id, &email_key(&t.email), now)? {
            return Ok(Confirmed::AddressChanged);
        }
        crate::db::models::account_tokens::retire_for_user(c, &t.user_id, Kind::VerifyEmail, now)?;
        Ok(Confirmed::Verified { email: t.email })
    })
}
