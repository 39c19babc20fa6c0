//! The login service: the I/O around the journey's steps (`journey` decides) — the password step
//! (the check, the user's factors, the interaction recorded in one trip), a completed login
//! recorded on its interaction, a step-up saved on its session. Handlers stay thin: they show
//! forms and set cookies from what these return.

use std::net::IpAddr;
use std::sync::Arc;

use super::acr::Methods;
use super::interaction;
use super::journey::{self, Completed, Next, Pending, Proof, Refused, Rules, State};
use super::password::{self, CheckError, Claimant, Purpose, Verdict};
use super::second_factor::Factors;
use super::Server;
use crate::db::{self};
use crate::metrics::{self, LoginOutcome};

#[derive(Debug)]
pub enum Step {
    Completed(Completed),
    /// The password was right; a second step follows (the factor the user has, or enrolling
    /// one where the policy requires it): the browser carries this to its page.
    Continue(Pending),
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
    // The journey decides what follows the password; when the login is complete (the common
    // case), it is recorded on its interaction in the same trip to the database.
    let rules = Rules::of(state.settings());
    let st = state.clone();
    let next = tokio::task::spawn_blocking(move || {
        let mut conn = st.pool().get()?;
        let enrolled = Factors::load(&mut conn, &user.id)?;
        let next = journey::advance(
            State::Start,
            user,
            Proof::Password {
                enrolled: &enrolled,
            },
            &rules,
            db::now(),
        );
        if let (Ok(Next::Completed(done)), Some(handle)) = (&next, interaction) {
            interaction::record_login(
                &mut conn,
                &handle,
                &done.user.id,
                done.auth_time,
                &done.amr,
            )?;
        }
        Ok::<_, CheckError>(next)
    })
    .await
    .map_err(|_| CheckError::Join)??;
    Ok(match next {
        Ok(Next::Completed(done)) => {
            metrics::login(LoginOutcome::Ok);
            Step::Completed(done)
        }
        Ok(Next::Continue(pending)) => {
            metrics::login(LoginOutcome::MfaRequired);
            Step::Continue(pending)
        }
        Err(Refused::EmailNotVerified) => Step::EmailNotVerified,
        // Not reached from `Start` with a password the check accepted (it refuses disabled
        // accounts); were it, the one answer of a refusal.
        Ok(Next::SteppedUp(_)) | Err(_) => Step::Rejected,
    })
}

/// A login completed by a later step (a second factor, an enrolment, a passkey alone, an account
/// just created): recorded on its interaction, when one is pending, so the authorization request
/// does not ask for it again.
pub async fn record<S: Server>(
    state: &Arc<S>,
    done: &Completed,
    interaction: Option<interaction::Handle>,
) -> Result<(), CheckError> {
    let Some(handle) = interaction else {
        return Ok(());
    };
    let st = state.clone();
    let (uid, at, amr) = (done.user.id.clone(), done.auth_time, done.amr.clone());
    tokio::task::spawn_blocking(move || {
        let mut conn = st.pool().get()?;
        interaction::record_login(&mut conn, &handle, &uid, at, &amr)?;
        Ok::<_, CheckError>(())
    })
    .await
    .map_err(|_| CheckError::Join)?
}

/// A signed-in session stepped up (`journey::Next::SteppedUp`): its methods, and so the class
/// its next authorizations reach, are now `methods`.
pub fn save_step_up(
    conn: &mut crate::db::DbConn,
    session_id_hash: &str,
    methods: &Methods,
) -> diesel::QueryResult<()> {
    crate::db::models::sessions::set_amr(conn, session_id_hash, &methods.to_string()).map(|_| ())
}
