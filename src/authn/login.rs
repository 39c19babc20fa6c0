//! The login service: a step that proves who someone is, and what it decides — the user, the
//! authentication time, the methods used (RFC 8176 `amr`) and whether the login is complete.
//! Handlers stay thin: they show forms and set the session cookie from what this decides.

use std::net::IpAddr;
use std::sync::Arc;

use super::acr::Methods;
use super::interaction;
use super::password::{self, CheckError, Claimant, Purpose, Verdict};
use super::second_factor::{self, Factors};
use super::Server;
use crate::db::models::users::User;
use crate::db::{self};
use crate::metrics::{self, LoginOutcome};

/// A login that completed.
#[derive(Debug)]
pub struct Completed {
    pub user: Box<User>,
    pub auth_time: i64,
    /// RFC 8176 methods, space-separated.
    pub amr: String,
}

/// A first step that succeeded: who, when, and the methods so far.
#[derive(Debug)]
pub struct Passed {
    pub user: Box<User>,
    pub auth_time: i64,
    pub methods: Methods,
}

#[derive(Debug)]
pub enum Step {
    Completed(Completed),
    /// The password was right; the user has a second factor, which must follow.
    SecondFactor(Passed),
    /// The password was right, a second factor is required and the user has none yet: they
    /// enrol one before the login completes.
    Enrol(Passed),
    /// Wrong password, unknown or disabled account: one answer.
    Rejected,
    Throttled {
        retry_after: u64,
    },
    /// The password was right, but this deployment lets only verified addresses log in.
    EmailNotVerified,
}

/// A username and password, within `interaction` (its id) when one is pending.
pub async fn with_password<S: Server>(
    state: &Arc<S>,
    username: String,
    password: String,
    address: Option<IpAddr>,
    interaction: Option<interaction::Handle>,
) -> Result<Step, CheckError> {
    let verdict = password::check(
        state,
        Claimant::Name(username),
        password,
        address,
        Purpose::Login,
    )
    .await?;
    let user = match verdict {
        Verdict::Accepted(u) => u,
        Verdict::Rejected => {
            metrics::login(LoginOutcome::BadCredentials);
            return Ok(Step::Rejected);
        }
        Verdict::Throttled { retry_after } => {
            // Admission refusals wait seconds; a lockout waits up to its whole duration.
            metrics::login(if retry_after > 60 {
                LoginOutcome::Locked
            } else {
                LoginOutcome::Throttled
            });
            return Ok(Step::Throttled { retry_after });
        }
    };
    if state.settings().require_verified_email && !user.email_verified {
        return Ok(Step::EmailNotVerified);
    }
    // The factors decide whether the login is complete; when it is (the common case), it is
    // recorded on its interaction in the same trip to the database.
    let auth_time = db::now();
    let must_enrol = second_factor::required(state.settings(), &user);
    let amr = Methods::password().to_string();
    let st = state.clone();
    let uid = user.id.clone();
    let (pending, recorded_amr) = (interaction.clone(), amr.clone());
    let enrolled = tokio::task::spawn_blocking(move || {
        let mut conn = st.pool().get()?;
        let enrolled = Factors::load(&mut conn, &uid)?;
        if let (false, false, Some(handle)) = (enrolled.any(), must_enrol, pending) {
            interaction::record_login(&mut conn, &handle, &uid, auth_time, &recorded_amr)?;
        }
        Ok::<_, CheckError>(enrolled)
    })
    .await
    .map_err(|_| CheckError::Join)??;
    let passed = Passed {
        auth_time,
        methods: Methods::password(),
        user,
    };
    if enrolled.any() {
        metrics::login(LoginOutcome::MfaRequired);
        return Ok(Step::SecondFactor(passed));
    }
    if must_enrol {
        metrics::login(LoginOutcome::MfaRequired);
        return Ok(Step::Enrol(passed));
    }
    metrics::login(LoginOutcome::Ok);
    Ok(Step::Completed(Completed {
        amr,
        auth_time,
        user: passed.user,
    }))
}

/// The last step succeeded: the login is complete, and recorded on its interaction (when one
/// is pending) so the authorization request does not ask for it again.
pub async fn complete<S: Server>(
    state: &Arc<S>,
    passed: Passed,
    interaction: Option<interaction::Handle>,
) -> Result<Completed, CheckError> {
    let done = Completed {
        amr: passed.methods.to_string(),
        auth_time: passed.auth_time,
        user: passed.user,
    };
    if let Some(handle) = interaction {
        let st = state.clone();
        let (uid, at, amr) = (done.user.id.clone(), done.auth_time, done.amr.clone());
        tokio::task::spawn_blocking(move || {
            let mut conn = st.pool().get()?;
            interaction::record_login(&mut conn, &handle, &uid, at, &amr)?;
            Ok::<_, CheckError>(())
        })
        .await
        .map_err(|_| CheckError::Join)??;
    }
    Ok(done)
}

/// A signed-in session proved `step` (stepping up, or setting a factor up): it counts for the
/// session's methods, and so for the class its next authorizations reach.
pub fn step_up(
    conn: &mut crate::db::DbConn,
    session_id_hash: &str,
    amr: Option<&str>,
    step: &[super::acr::Method],
) -> diesel::QueryResult<()> {
    let merged = super::requirement::methods_of(amr).with(step);
    crate::db::models::sessions::set_amr(conn, session_id_hash, &merged.to_string()).map(|_| ())
}
