//! Second factors as the login sees them: which ones a user has, what they can reach (`acr`),
//! and the one check of a typed code (TOTP or recovery code) — admitted, throttled by the same
//! counters as passwords (under a subject of its own, so a right password does not reset the
//! count of wrong codes), recorded and audited. Whether the policy makes one mandatory is the
//! journey's rule (`journey::Rules`).

use std::net::IpAddr;
use std::sync::Arc;

use super::acr::{Acr, Method};
use super::password::CheckError;
use super::Server;
use super::{recovery, throttle, totp};
use crate::audit::{self, Actor, Entry, Event};
use crate::config::Settings;
use crate::db::models::factors;
use crate::db::models::users::User;
use crate::db::{self, DbConn};
use crate::domain::ids::UserId;

/// What a user has enrolled.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Factors {
    pub totp: bool,
    pub passkeys: usize,
    pub recovery_left: i64,
}

impl Factors {
    pub fn load(conn: &mut DbConn, user_id: &str) -> diesel::QueryResult<Factors> {
        let (totp, passkeys, recovery_left) = factors::summary(conn, user_id)?;
        Ok(Factors {
            totp,
            passkeys: usize::try_from(passkeys).unwrap_or(0),
            recovery_left,
        })
    }

    /// A second factor to ask for after the password.
    pub fn any(&self) -> bool {
        self.totp || self.passkeys > 0
    }

    /// Whether a login of this user can reach `acr` with what they enrolled.
    pub fn reachable(&self, acr: Acr) -> bool {
        match acr {
            Acr::OneFactor => true,
            Acr::TwoFactor => self.any(),
            Acr::PhishingResistant => self.passkeys > 0,
        }
    }
}

/// The throttle subject for a user's codes. Usernames cannot contain spaces (RFC 8265), so this
/// never names a password counter.
pub fn throttle_subject(username: &str) -> String {
    format!("2fa {username}")
}

#[derive(Debug, PartialEq, Eq)]
pub enum CodeVerdict {
    /// A valid TOTP code, or an unused recovery code.
    Accepted {
        recovery: bool,
    },
    /// Wrong, or not a code.
    Rejected,
    /// A TOTP code whose time step was used already.
    Reused,
    Throttled {
        retry_after: u64,
    },
}

impl CodeVerdict {
    /// The methods an accepted code proves: a one-time password either way (a recovery code is
    /// one too, from a sheet rather than an app).
    pub fn methods() -> &'static [Method] {
        &[Method::Otp]
    }
}

/// Checks a typed code for `user`: a TOTP code from the app, or a recovery code.
pub async fn check_code<S: Server>(
    state: &Arc<S>,
    user: &User,
    code: String,
    address: Option<IpAddr>,
) -> Result<CodeVerdict, CheckError> {
    let subject = throttle_subject(&user.username);
    let address_subject = address
        .map(throttle::address_subject)
        .unwrap_or_else(|| "unknown".into());
    let admitted = state.admission().addresses.take(&address_subject);
    if let Err(wait) = admitted.and_then(|()| state.admission().accounts.take(&subject)) {
        return Ok(CodeVerdict::Throttled {
            retry_after: wait.as_secs().max(1),
        });
    }
    let st = state.clone();
    let username = user.username.clone();
    let user = user.clone();
    let verdict = tokio::task::spawn_blocking(move || {
        let mut conn = st.pool().get()?;
        let now = db::now();
        let standing = throttle::check(&mut conn, &st.settings().throttle, &subject, address, now)?;
        if let Some(w) = standing.wait {
            return Ok::<_, CheckError>(CodeVerdict::Throttled {
                retry_after: w.unsigned_abs(),
            });
        }
        let verdict = if recovery::normalize(&code).is_some() {
            if recovery::spend(&mut conn, &user.id, &code, now)? {
                CodeVerdict::Accepted { recovery: true }
            } else {
                CodeVerdict::Rejected
            }
        } else {
            let expect = totp::Expect::Confirmed;
            match totp::check(&mut conn, st.kek(), &user.id, &code, now, expect) {
                Ok(totp::CodeCheck::Accepted) => CodeVerdict::Accepted { recovery: false },
                Ok(totp::CodeCheck::Reused) => CodeVerdict::Reused,
                Ok(totp::CodeCheck::Wrong | totp::CodeCheck::NotEnrolled) => CodeVerdict::Rejected,
                Err(totp::TotpError::Db(e)) => return Err(e.into()),
                Err(e) => {
                    tracing::error!(error = %e, "TOTP check failed");
                    CodeVerdict::Rejected
                }
            }
        };
        let ip = address.map(|a| a.to_string());
        let event = match &verdict {
            CodeVerdict::Accepted { recovery: true } => Event::SecondFactorRecoveryCode,
            CodeVerdict::Accepted { recovery: false } => Event::SecondFactorTotp,
            CodeVerdict::Reused => Event::SecondFactorReusedCode,
            _ => Event::SecondFactorFailure,
        };
        // The password step proved who this is; the code is what is being checked.
        let actor = Actor::User(UserId::from_stored(user.id.clone()));
        let entry = |event| Entry::new(&actor, event).target(&user.id).ip(ip.as_deref());
        audit::record(&mut conn, &entry(event))?;
        match &verdict {
            CodeVerdict::Accepted { recovery } => {
                if standing.account_has_failures {
                    throttle::record_success(&mut conn, &subject)?;
                }
                if *recovery {
                    notify_recovery_used(&mut conn, st.settings(), &user)?;
                }
            }
            _ => {
                let t = throttle::record_failure(
                    &mut conn,
                    &st.settings().throttle,
                    &subject,
                    address,
                    now,
                )?;
                if t.account_locked {
                    tracing::warn!(account = %user.username, "second factor locked after repeated wrong codes");
                    audit::record(&mut conn, &entry(Event::LockoutSecondFactor))?;
                }
            }
        }
        Ok(verdict)
    })
    .await
    .map_err(|_| CheckError::Join)??;
    if matches!(verdict, CodeVerdict::Accepted { recovery: true }) {
        state.outbox().wake();
    }
    if matches!(verdict, CodeVerdict::Accepted { .. }) {
        state.admission().addresses.refund(&address_subject);
        state
            .admission()
            .accounts
            .refund(&throttle_subject(&username));
    }
    Ok(verdict)
}

/// Tells the account's address that a recovery code was used, when mail is on.
fn notify_recovery_used(
    conn: &mut DbConn,
    settings: &Settings,
    user: &User,
) -> diesel::QueryResult<()> {
    if !settings.mail_enabled() || user.email.is_empty() {
        return Ok(());
    }
    let left = factors::recovery_codes_left(conn, &user.id)?;
    let mail =
        crate::mail::messages::recovery_code_used(settings, &user.username, &user.email, left)
            .map_err(crate::mail::render_error)?;
    crate::outbox::enqueue_mail(conn, &mail)
}
