//! Who is making this browser request, and helpers for the account and admin pages: the
//! signed-in user, admin checks, recent-authentication checks, and form bodies with repeated
//! fields.

use crate::accounts::manage::{self, Change};
use crate::audit::{Actor, Entry, Event};
use crate::domain::ids::UserId;
use actix_web::{web, HttpRequest};

use super::db;
use super::session;
use crate::authn::password::{self, Claimant, Purpose, Verdict};
use crate::db::models::sessions::SessionRow;
use crate::db::models::users::{self, User};
use crate::db::{self};
use crate::state::AppState;
use crate::web::error::AppError;

/// How old a login may be before destructive actions ask for the password again.
pub const RECENT_AUTH_SECONDS: i64 = 300;

pub struct SignedIn {
    pub session: SessionRow,
    pub user: User,
}

/// The signed-in user, or a redirect to the login page that comes back to `back`.
pub async fn require_user(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    back: &str,
) -> Result<SignedIn, AppError> {
    let Some(s) = session::current(req, state).await? else {
        return Err(AppError::LoginRequired(back.to_owned()));
    };
    let Some(uid) = s.user_id.clone() else {
        return Err(AppError::LoginRequired(back.to_owned()));
    };
    let user = db(state, move |conn| Ok(users::by_id(conn, &uid)?)).await?;
    match user {
        Some(u) if !u.disabled => Ok(SignedIn {
            session: s,
            user: u,
        }),
        _ => Err(AppError::LoginRequired(back.to_owned())),
    }
}

/// As `require_user`, and the user must be an administrator (403 otherwise).
pub async fn require_admin(
    req: &HttpRequest,
    state: &web::Data<AppState>,
) -> Result<SignedIn, AppError> {
    let back = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/admin");
    let back = if req.method() == actix_web::http::Method::GET {
        back
    } else {
        "/admin"
    };
    let who = require_user(req, state, back).await?;
    if !who.user.is_admin {
        return Err(AppError::Forbidden);
    }
    Ok(who)
}

/// An administrator's form POST: the admin, and the form once its CSRF token checked out.
pub async fn admin_post(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    body: &[u8],
) -> Result<(SignedIn, FormData), AppError> {
    let who = require_admin(req, state).await?;
    let form = FormData::parse(body);
    form.check_csrf(&who)?;
    Ok((who, form))
}

/// A urlencoded form body, keeping repeated fields (checkbox groups).
pub struct FormData(pub Vec<(String, String)>);

impl FormData {
    pub fn parse(body: &[u8]) -> Self {
        FormData(
            url::form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self, key: &str) -> String {
        self.get(key).unwrap_or("").trim().to_owned()
    }

    pub fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub fn lines(&self, key: &str) -> Vec<String> {
        self.get(key)
            .unwrap_or("")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    }

    pub fn check_csrf(&self, who: &SignedIn) -> Result<(), AppError> {
        session::check_csrf(Some(&who.session), self.get("csrf_token"))
    }
}

/// For destructive actions: passes when the login is recent, or when the form carries the
/// user's current password (then the session counts as freshly authenticated again).
pub async fn require_recent_auth(
    state: &web::Data<AppState>,
    req: &HttpRequest,
    who: &SignedIn,
    form: &FormData,
) -> Result<(), AppError> {
    let now = db::now();
    if who
        .session
        .auth_time
        .is_some_and(|t| now - t <= RECENT_AUTH_SECONDS)
    {
        return Ok(());
    }
    let Some(pw) = form.get("password").filter(|p| !p.is_empty()) else {
        return Err(AppError::BadRequest(
            "Your sign-in is more than five minutes old: enter your password to confirm this action.".into(),
        ));
    };
    confirm_password(state, req, who, pw).await
}

/// Checks the signed-in user's own password (through the one password check, so it is throttled
/// and recorded like a login) and, when right, marks the session as freshly authenticated.
pub async fn confirm_password(
    state: &web::Data<AppState>,
    req: &HttpRequest,
    who: &SignedIn,
    password: &str,
) -> Result<(), AppError> {
    match verify_own_password(state, req, who, password, Purpose::Reauth).await? {
        true => {}
        false => return Err(AppError::BadRequest("The password is not correct.".into())),
    }
    let id = who.session.id_hash.clone();
    db(state, move |conn| {
        crate::db::models::sessions::touch_auth(conn, &id, db::now())?;
        Ok(())
    })
    .await
}

/// The signed-in user's own password, checked by `authn::password`: true when right, false when
/// wrong, a 429 error when attempts are throttled.
pub async fn verify_own_password(
    state: &web::Data<AppState>,
    req: &HttpRequest,
    who: &SignedIn,
    password: &str,
    purpose: Purpose,
) -> Result<bool, AppError> {
    let verdict = password::check(
        &state.clone().into_inner(),
        Claimant::User(Box::new(who.user.clone())),
        password.to_owned(),
        super::client_addr::of(req),
        purpose,
    )
    .await?;
    match verdict {
        Verdict::Accepted(_) => Ok(true),
        Verdict::Rejected => Ok(false),
        Verdict::Throttled { retry_after } => Err(AppError::Throttled { retry_after }),
    }
}

/// Records an action of a signed-in person in the audit log: `actor` is
/// `who.as_user()` on their own account pages, `who.as_admin()` in the console.
pub async fn audit(
    state: &web::Data<AppState>,
    req: &HttpRequest,
    actor: Actor,
    event: Event,
    target: String,
) -> Result<(), AppError> {
    let ip = session::client_ip(req);
    db(state, move |conn| {
        crate::audit::record(
            conn,
            &Entry::new(&actor, event).target(&target).ip(ip.as_deref()),
        )?;
        Ok(())
    })
    .await?;
    Ok(())
}

/// Applies a change to `user`'s account (`accounts::manage`: what it ends and its audit entry,
/// in one transaction) on behalf of `actor`.
pub async fn change_account(
    state: &web::Data<AppState>,
    req: &HttpRequest,
    user: User,
    change: Change,
    actor: Actor,
) -> Result<(), AppError> {
    let ip = session::client_ip(req);
    db(state, move |conn| {
        let now = db::now();
        Ok(manage::apply(
            conn,
            &user,
            change,
            &actor,
            ip.as_deref(),
            now,
        )?)
    })
    .await
}

impl SignedIn {
    /// This person, acting on their own account.
    pub fn as_user(&self) -> Actor {
        Actor::User(UserId::from_stored(self.user.id.clone()))
    }

    /// This person, acting as an administrator.
    pub fn as_admin(&self) -> Actor {
        Actor::Admin(UserId::from_stored(self.user.id.clone()))
    }
}
