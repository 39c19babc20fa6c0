//! The login service: a step that proves who someone is, and what it decides — the user, the
//! authentication time, the methods used (RFC 8176 `amr`) and whether the login is complete.
//! Handlers stay thin: they show forms and set the session cookie from what this decides.

use std::net::IpAddr;
use std::sync::Arc;

use super::interaction;
use super::password::{self, CheckError, Claimant, Purpose, Verdict};
use crate::db::models::users::User;
use crate::db::{self};
use crate::state::AppState;

/// A login that completed.
#[derive(Debug)]
pub struct Completed {
    pub user: Box<User>,
    pub auth_time: i64,
    /// RFC 8176 methods, space-separated.
    pub amr: &'static str,
}

#[derive(Debug)]
pub enum Step {
    Completed(Completed),
    /// Wrong password, unknown or disabled account: one answer.
    Rejected,
    Throttled {
        retry_after: u64,
    },
    /// The password was right, but this deployment lets only verified addresses log in.
    EmailNotVerified,
}

/// A username and password, within `interaction` (its id) when one is pending.
pub async fn with_password(
    state: &Arc<AppState>,
    username: String,
    password: String,
    address: Option<IpAddr>,
    interaction: Option<String>,
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
        Verdict::Rejected => return Ok(Step::Rejected),
        Verdict::Throttled { retry_after } => return Ok(Step::Throttled { retry_after }),
    };
    if state.settings.require_verified_email && !user.email_verified {
        return Ok(Step::EmailNotVerified);
    }
    let done = Completed {
        user,
        auth_time: db::now(),
        amr: "pwd",
    };
    if let Some(id) = interaction {
        let st = state.clone();
        let (uid, at, amr) = (done.user.id.clone(), done.auth_time, done.amr);
        tokio::task::spawn_blocking(move || {
            let mut conn = st.pool.get()?;
            interaction::record_login(&mut conn, &id, &uid, at, amr)?;
            Ok::<_, CheckError>(())
        })
        .await
        .map_err(|_| CheckError::Join)??;
    }
    Ok(Step::Completed(done))
}
