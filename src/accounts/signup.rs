//! Sign-up: who may create an account (the policy: closed, invite, open with optional email
//! domains), the same account rules as everywhere (`account_policy`), and, in one transaction,
//! the new user, the invitation used up and the verification mail queued. A sign-up started from
//! an authorization request logs the new user in within that interaction, so the request
//! continues afterwards.
//!
//! Whether an address is registered is not told to whoever types it, where that can be kept
//! (`answers_alike`: verification required): an address in use gets the answer a new one gets,
//! and its owner a mail saying someone tried (`SignedUp::OwnerNotified`). The handler hashes the
//! password either way, so the time taken does not tell either.

use super::create::{NewUser, Origin};
use crate::account_policy::{check_new_account, username_taken, NewAccount};
use crate::config::{SignupPolicy, SignupSettings};
use crate::db::models::signup_invites::{self, Invite};
use crate::db::models::user_email;
use crate::db::models::users::User;
use crate::db::DbConn;
use crate::domain::email::Email;
use crate::domain::username::Username;
use crate::mail::{messages, render_error};
use crate::outbox;
use crate::random;

/// Why a sign-up was refused; `Fields` are shown beside the form.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    Closed,
    /// The invitation is missing, unknown, used or expired.
    BadInvite,
    Fields(Vec<String>),
}

/// What a person typed, checked against the rules and the policy.
pub fn check(
    settings: &SignupSettings,
    username: &str,
    email: &str,
    password: &str,
    confirm: &str,
) -> Result<NewAccount, Refusal> {
    if settings.policy == SignupPolicy::Closed {
        return Err(Refusal::Closed);
    }
    let account = check_new_account(username, email, password).map_err(Refusal::Fields)?;
    if password != confirm {
        return Err(Refusal::Fields(vec!["the two passwords differ".into()]));
    }
    if settings.policy == SignupPolicy::Open && !settings.email_domains.is_empty() {
        let domain = account.email.domain().to_ascii_lowercase();
        if !settings.email_domains.contains(&domain) {
            return Err(Refusal::Fields(vec![format!(
                "accounts can be created here only with an address at {}",
                settings.email_domains.join(", ")
            )]));
        }
    }
    Ok(account)
}

/// Whether an invitation can be used (before showing the form).
pub fn invite_usable(conn: &mut DbConn, invite: &str, now: i64) -> diesel::QueryResult<bool> {
    signup_invites::usable(conn, &random::sha256_hex(invite), now)
}

/// What a sign-up did.
#[derive(Debug)]
pub enum SignedUp {
    /// The account exists, unverified; its verification mail is queued.
    Created(Box<User>),
    /// The address is another account's (and `answers_alike`): its owner is mailed, nothing
    /// else is stored. Answer exactly as for a new account that must verify its address.
    OwnerNotified,
}

/// Whether an address in use is answered exactly like a new one. Only where a new account is
/// never signed in at once — its address must be verified first (`require_verified_email`), so
/// both answers can be "check your mail". Otherwise a new account is signed in on the spot,
/// which an address in use cannot be, and the form must say the address is taken or the person
/// is stuck (a trade-off, README → Security).
pub fn answers_alike(settings: &crate::config::Settings) -> bool {
    settings.require_verified_email
}

/// Stores the account (unverified), uses up the invitation and queues the verification mail, in
/// one transaction: a refused or failed sign-up leaves nothing behind. Where `answers_alike`,
/// an address in use (found before the insert, or by the unique index when a racing sign-up
/// took it) is `OwnerNotified` instead of a field error.
#[allow(clippy::too_many_arguments)]
pub fn create(
    conn: &mut DbConn,
    settings: &crate::config::Settings,
    account: NewAccount,
    password_hash: String,
    invite: Option<&str>,
    continue_to: Option<&str>,
    ip: Option<&str>,
    now: i64,
) -> Result<Result<SignedUp, Refusal>, diesel::result::Error> {
    use diesel::Connection;
    let alike = answers_alike(settings);
    // The user cache remembers ids that are no user: once this transaction committed, this
    // process's forgets them (`db::writes::Written`).
    let _written = crate::db::writes::Written::users();
    // Kept for the check after a lost race (the account moves into the insert).
    let (username, email) = (account.username.clone(), account.email.clone());
    conn.transaction(|c| {
        let to_owner = |c: &mut DbConn| match alike {
            true => address_in_use(c, settings, (&username, &email), invite, continue_to, now),
            false => Ok(None),
        };
        if let Some(done) = to_owner(c)? {
            return Ok(done);
        }
        let new = NewUser {
            account,
            name: None,
            password_hash,
            is_admin: false,
            email_verified: false,
        };
        let user = match super::create::create(c, new, &Origin::Signup, ip)? {
            Ok(user) => user,
            // A racing sign-up may have taken the address after the check above.
            Err(problems) => return Ok(to_owner(c)?.unwrap_or(Err(Refusal::Fields(problems)))),
        };
        if !spend_invite(c, settings, invite, &user.id, now)? {
            // Undo the insert: the whole sign-up is refused.
            return Err(diesel::result::Error::RollbackTransaction);
        }
        super::verification::send_continuing(c, settings, &user, now, continue_to)?;
        Ok(Ok(SignedUp::Created(Box::new(user))))
    })
    .or_else(|e| match e {
        diesel::result::Error::RollbackTransaction => Ok(Err(Refusal::BadInvite)),
        other => Err(other),
    })
}

/// Under the invitation policy, uses up the invitation for `user_id`; false when it cannot be.
fn spend_invite(
    c: &mut DbConn,
    settings: &crate::config::Settings,
    invite: Option<&str>,
    user_id: &str,
    now: i64,
) -> diesel::QueryResult<bool> {
    if settings.signup.policy != SignupPolicy::Invite {
        return Ok(true);
    }
    match invite {
        Some(t) => signup_invites::consume(c, &random::sha256_hex(t), user_id, now),
        None => Ok(false),
    }
}

/// When the address is another account's: `None` if it is not. A taken username is still said
/// (a name is chosen and shown, not a secret; the address is not mentioned). Otherwise the
/// invitation is spent as a new account would spend it (so it cannot probe address after
/// address) and the owner is told by mail, with a sign-in link that continues the app's request
/// if the attempt came from one; nothing else is stored and the attempt is answered as a new
/// account is.
fn address_in_use(
    c: &mut DbConn,
    settings: &crate::config::Settings,
    (username, email): (&Username, &Email),
    invite: Option<&str>,
    continue_to: Option<&str>,
    now: i64,
) -> diesel::QueryResult<Option<Result<SignedUp, Refusal>>> {
    let owners = user_email::users_with_email(c, &email.key())?;
    let Some(owner) = owners.first() else {
        return Ok(None);
    };
    if let Some(problem) = username_taken(c, username)? {
        return Ok(Some(Err(Refusal::Fields(vec![problem]))));
    }
    if !spend_invite(c, settings, invite, &owner.id, now)? {
        return Err(diesel::result::Error::RollbackTransaction);
    }
    if settings.mail_enabled() {
        let mut sign_in = format!("{}/login", settings.issuer);
        if let Some(path) = continue_to {
            sign_in.push_str("?return_to=");
            sign_in.extend(url::form_urlencoded::byte_serialize(path.as_bytes()));
        }
        let mail = messages::signup_attempt(settings, &owner.username, &owner.email, &sign_in)
            .map_err(render_error)?;
        outbox::enqueue_mail(c, &mail)?;
    }
    Ok(Some(Ok(SignedUp::OwnerNotified)))
}

/// Creates a single-use invitation valid `ttl` seconds; returns the token (shown once, in a link).
pub fn create_invite(
    conn: &mut DbConn,
    ttl: i64,
    note: Option<String>,
    now: i64,
) -> diesel::QueryResult<String> {
    let token = random::token::<32>();
    signup_invites::insert(
        conn,
        &Invite {
            token_hash: random::sha256_hex(&token),
            created_at: now,
            expires_at: now + ttl,
            used_at: None,
            used_by: None,
            // Shown in the console's list: only what is shown as itself (`domain::text`).
            note: note
                .map(|n| crate::domain::text::without_invisible(&n))
                .filter(|n| !n.is_empty()),
        },
    )?;
    Ok(token)
}

/// The link an invitation is used with.
pub fn invite_link(issuer: &str, token: &str) -> String {
    format!("{issuer}/signup?invite={token}")
}
