//! The one password check, used by the login page, `/admin/reauth`, destructive admin actions
//! and the password change on `/account`: admission per address and per account, the shared
//! lockout, argon2 on the bounded pool, then the records (audit event, failure counters).
//! Unknown, disabled and wrong all give one answer after the same work.

use std::net::IpAddr;

use super::Server;
use crate::account_policy::login_key;
use crate::audit::{self, Actor, Entry, Event};
use crate::crypto::password::PasswordError;
use crate::db::models::{users, users::User};
use crate::db::{self};
use crate::domain::ids::UserId;

use super::throttle;

/// Who claims to be behind the password.
pub enum Claimant {
    /// A username as typed on the login page.
    Name(String),
    /// The signed-in user confirming it is them.
    User(Box<User>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    Login,
    Reauth,
    PasswordChange,
}

impl Purpose {
    fn audit_event(self, ok: bool) -> Event {
        match (self, ok) {
            (Purpose::Login, true) => Event::LoginSuccess,
            (Purpose::Login, false) => Event::LoginFailure,
            (Purpose::Reauth, true) => Event::ReauthSuccess,
            (Purpose::Reauth, false) => Event::ReauthFailure,
            (Purpose::PasswordChange, true) => Event::PasswordChangeVerified,
            (Purpose::PasswordChange, false) => Event::PasswordChangeFailure,
        }
    }
}

#[derive(Debug)]
pub enum Verdict {
    Accepted(Box<User>),
    /// Wrong password, unknown user or disabled account: one answer for all.
    Rejected,
    /// Too many attempts: nothing was checked; try again after this many seconds.
    Throttled {
        retry_after: u64,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(transparent)]
    Password(#[from] PasswordError),
    #[error("database: {0}")]
    Db(#[source] diesel::result::Error),
    #[error("database pool: {0}")]
    Pool(#[source] diesel::r2d2::PoolError),
    #[error("blocking task failed")]
    Join,
}

impl From<diesel::result::Error> for CheckError {
    fn from(e: diesel::result::Error) -> Self {
        CheckError::Db(e)
    }
}

impl From<diesel::r2d2::PoolError> for CheckError {
    fn from(e: diesel::r2d2::PoolError) -> Self {
        CheckError::Pool(e)
    }
}

/// Longer than any real password; refused without hashing.
const MAX_PASSWORD_BYTES: usize = 4096;

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, CheckError> + Send + 'static,
) -> Result<T, CheckError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| CheckError::Join)?
}

pub async fn check<S: Server>(
    state: &std::sync::Arc<S>,
    claimant: Claimant,
    password: String,
    address: Option<IpAddr>,
    purpose: Purpose,
) -> Result<Verdict, CheckError> {
    let (key, known) = match claimant {
        Claimant::Name(raw) => (login_key(&raw), None),
        Claimant::User(u) => (u.username.clone(), Some(u)),
    };
    // Admission: a full bucket costs nothing but a map lookup.
    let address_subject = address
        .map(throttle::address_subject)
        .unwrap_or_else(|| "unknown".into());
    let admitted = state.admission().addresses.take(&address_subject);
    let admitted = admitted.and_then(|()| state.admission().accounts.take(&key));
    if let Err(wait) = admitted {
        return Ok(Verdict::Throttled {
            retry_after: wait.as_secs().max(1),
        });
    }
    // The shared lockout, and the user, in one trip to the database.
    let st = state.clone();
    let k = key.clone();
    let (standing, user) = blocking(move || {
        let mut conn = st.pool().get()?;
        let standing = throttle::check(&mut conn, &st.settings().throttle, &k, address, db::now())?;
        let user = match (standing.wait, known) {
            (Some(_), _) => None,
            (None, Some(u)) => Some(*u),
            (None, None) => users::by_username(&mut conn, &k)?,
        };
        Ok((standing, user))
    })
    .await?;
    if let Some(retry_after) = standing.wait {
        return Ok(Verdict::Throttled {
            retry_after: retry_after.unsigned_abs(),
        });
    }
    let ok = if password.len() > MAX_PASSWORD_BYTES || password.is_empty() {
        false
    } else {
        state
            .passwords()
            .verify(password, user.as_ref().map(|u| u.password_hash.clone()))
            .await?
    };
    let user = user.filter(|u| ok && !u.disabled);

    let st = state.clone();
    let uid = user.as_ref().map(|u| u.id.clone());
    blocking(move || {
        let mut conn = st.pool().get()?;
        let now = db::now();
        let ip = address.map(|a| a.to_string());
        let accepted = uid.is_some();
        // Who: the account once the password proved it; before that, nobody known (the name
        // tried is the target).
        let actor = match &uid {
            Some(id) => Actor::User(UserId::from_stored(id.clone())),
            None => Actor::Anonymous,
        };
        let ipr = ip.as_deref();
        let entry = |conn: &mut db::DbConn, event: Event, target: &'_ str| {
            audit::record(conn, &Entry::new(&actor, event).target(target).ip(ipr))
        };
        entry(&mut conn, purpose.audit_event(accepted), &key)?;
        if accepted {
            if standing.account_has_failures {
                throttle::record_success(&mut conn, &key)?;
            }
        } else {
            let t = throttle::record_failure(&mut conn, &st.settings().throttle, &key, address, now)?;
            if t.account_locked {
                tracing::warn!(account = %key, "account locked after repeated failed password checks");
                entry(&mut conn, Event::LockoutAccount, &key)?;
            }
            if t.address_locked {
                let subject = address.map(throttle::address_subject).unwrap_or_default();
                tracing::warn!(address = %subject, "address locked after repeated failed password checks");
                entry(&mut conn, Event::LockoutAddress, &subject)?;
            }
        }
        Ok(())
    })
    .await?;
    Ok(match user {
        Some(u) => {
            state.admission().addresses.refund(&address_subject);
            state.admission().accounts.refund(&u.username);
            Verdict::Accepted(Box::new(u))
        }
        None => Verdict::Rejected,
    })
}
