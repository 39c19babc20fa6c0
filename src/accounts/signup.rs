//! Sign-up: who may create an account (the policy: closed, invite, open with optional email
//! domains), the same account rules as everywhere (`account_policy`), and, in one transaction,
//! the new user, the invitation used up and the verification mail queued. A sign-up started from
//! an authorization request logs the new user in within that interaction, so the request
//! continues afterwards.

use super::create::{NewUser, Origin};
use crate::account_policy::{check_new_account, NewAccount};
use crate::config::{SignupPolicy, SignupSettings};
use crate::db::models::signup_invites::{self, Invite};
use crate::db::models::users::User;
use crate::db::DbConn;
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

/// Stores the account (unverified), uses up the invitation and queues the verification mail, in
/// one transaction: a refused or failed sign-up leaves nothing behind.
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
) -> Result<Result<User, Refusal>, diesel::result::Error> {
    use diesel::Connection;
    let policy = settings.signup.policy;
    // The user cache remembers ids that are no user: once this transaction committed, this
    // process's forgets them (`db::writes::Written`).
    let _written = crate::db::writes::Written::users();
    let new = NewUser {
        account,
        name: None,
        password_hash,
        is_admin: false,
        email_verified: false,
    };
    conn.transaction(|c| {
        let user = match super::create::create(c, new, &Origin::Signup, ip)? {
            Ok(user) => user,
            Err(problems) => return Ok(Err(Refusal::Fields(problems))),
        };
        if policy == SignupPolicy::Invite {
            let used = match invite {
                Some(t) => signup_invites::consume(c, &random::sha256_hex(t), &user.id, now)?,
                None => false,
            };
            if !used {
                // Undo the insert: the whole sign-up is refused.
                return Err(diesel::result::Error::RollbackTransaction);
            }
        }
        super::verification::send_continuing(c, settings, &user, now, continue_to)?;
        Ok(Ok(user))
    })
    .or_else(|e| match e {
        diesel::result::Error::RollbackTransaction => Ok(Err(Refusal::BadInvite)),
        other => Err(other),
    })
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
