//! Admin pages for users: search and paging, create, disable/enable, reset password,
//! grant/revoke admin.

use crate::accounts::manage::Change;
use crate::audit::Entry;
use crate::audit::Event;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::see_other;
use crate::account_policy::{check_new_account, check_password};
use crate::accounts::create::{self as accounts_create, NewUser, Origin};
use crate::authn::throttle;
use crate::db::models::users::{self, User};
use crate::db::{self, DbConn};
use crate::domain::ids::UserId;
use crate::state::AppState;
use crate::web::auth::{self, FormData, SignedIn};
use crate::web::db;
use crate::web::error::AppError;
use crate::web::templates::render;

const PAGE_SIZE: i64 = 25;

#[derive(Deserialize)]
pub struct ListQuery {
    q: Option<String>,
    page: Option<i64>,
}

#[derive(Template)]
#[template(path = "admin/users.html")]
struct ListPage<'a> {
    users: Vec<User>,
    q: &'a str,
    prev_page: Option<i64>,
    next_page: Option<i64>,
    csrf_token: &'a str,
    notice: Option<&'a str>,
    /// Accounts (by username) and client addresses that are locked out or slowed down now.
    locked: Vec<String>,
    locked_addresses: Vec<String>,
}

#[derive(Template)]
#[template(path = "admin/user_form.html")]
struct UserForm<'a> {
    heading: &'a str,
    action: &'a str,
    submit_label: &'a str,
    csrf_token: &'a str,
    creating: bool,
    username: &'a str,
    email: &'a str,
    name: &'a str,
    errors: Vec<String>,
}

pub async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, AppError> {
    let who = auth::require_admin(&req, &state).await?;
    let q: String = query
        .q
        .clone()
        .unwrap_or_default()
        .chars()
        .take(100)
        .collect();
    let page = query.page.unwrap_or(1).clamp(1, 100_000);
    let search = q.clone();
    let limits = state.settings.throttle;
    let (mut rows, locked, locked_addresses) = db(&state, move |conn| {
        let now = db::now();
        let rows = users::list(
            conn,
            Some(search.trim()),
            PAGE_SIZE + 1,
            (page - 1) * PAGE_SIZE,
        )?;
        // A user locked out by wrong second-factor codes shows as locked too.
        let locked = throttle::restricted(conn, &limits, throttle::ACCOUNT, now)?
            .into_iter()
            .map(|c| match c.subject.strip_prefix("2fa ") {
                Some(name) => name.to_owned(),
                None => c.subject,
            })
            .collect::<Vec<_>>();
        let addresses = throttle::restricted(conn, &limits, throttle::ADDRESS, now)?
            .into_iter()
            .map(|c| c.subject)
            .collect::<Vec<_>>();
        Ok((rows, locked, addresses))
    })
    .await?;
    let more = rows.len() as i64 > PAGE_SIZE;
    rows.truncate(PAGE_SIZE as usize);
    render(
        HttpResponse::Ok(),
        &ListPage {
            users: rows,
            q: &q,
            prev_page: (page > 1).then_some(page - 1),
            next_page: more.then_some(page + 1),
            csrf_token: &who.session.csrf_token,
            notice: None,
            locked,
            locked_addresses,
        },
        None,
    )
}

/// Lifts the lockout of a client address (a form field: IPv6 subjects contain a slash).
pub async fn unlock_address(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let (who, form) = auth::admin_post(&req, &state, &body).await?;
    let subject = form.text("address");
    let s = subject.clone();
    db(&state, move |conn| {
        throttle::unlock(conn, throttle::ADDRESS, &s)?;
        Ok(())
    })
    .await?;
    auth::audit(
        &state,
        &req,
        who.as_admin(),
        Event::LockoutUnlockAddress,
        subject,
    )
    .await?;
    Ok(see_other("/admin/users"))
}

pub async fn new_form(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let who = auth::require_admin(&req, &state).await?;
    render(
        HttpResponse::Ok(),
        &UserForm {
            heading: "Create a user",
            action: "/admin/users/new",
            submit_label: "Create user",
            csrf_token: &who.session.csrf_token,
            creating: true,
            username: "",
            email: "",
            name: "",
            errors: Vec::new(),
        },
        None,
    )
}

pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let (who, form) = auth::admin_post(&req, &state, &body).await?;
    let (username_raw, email, name) =
        (form.text("username"), form.text("email"), form.text("name"));
    let password = form.get("new_password").unwrap_or("").to_owned();
    let form_again = |errors: Vec<String>| {
        render(
            HttpResponse::BadRequest(),
            &UserForm {
                heading: "Create a user",
                action: "/admin/users/new",
                submit_label: "Create user",
                csrf_token: &who.session.csrf_token,
                creating: true,
                username: &username_raw,
                email: &email,
                name: &name,
                errors,
            },
            None,
        )
    };
    let account = match check_new_account(&username_raw, &email, &password) {
        Ok(account) => account,
        Err(errors) => return form_again(errors),
    };
    let new = NewUser {
        account,
        name: Some(name.clone()),
        password_hash: state.passwords.hash(password).await?,
        is_admin: form.get("is_admin") == Some("yes"),
        email_verified: false,
    };
    let origin = Origin::Console(UserId::from_stored(who.user.id.clone()));
    let ip = crate::web::session::client_ip(&req);
    let created = db(&state, move |conn| {
        Ok(accounts_create::create(conn, new, &origin, ip.as_deref())?)
    })
    .await?;
    match created {
        Ok(_) => Ok(see_other("/admin/users")),
        Err(errors) => form_again(errors),
    }
}

pub(super) async fn load(state: &web::Data<AppState>, id: String) -> Result<User, AppError> {
    db(state, move |conn| Ok(users::by_id(conn, &id)?))
        .await?
        .ok_or(AppError::NotFound)
}

/// A destructive form about the user `id`: nothing happens, not even the look-up, until the
/// admin's login is recent or their password confirms it.
pub(super) async fn destructive_post(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    body: &[u8],
    id: String,
) -> Result<(SignedIn, FormData, User), AppError> {
    let (who, form) = auth::admin_post(req, state, body).await?;
    auth::require_recent_auth(state, req, &who, &form).await?;
    let user = load(state, id).await?;
    Ok((who, form, user))
}

/// How every change an admin makes to a user ends: `change` (given the user id) in the
/// database with its audit entry, in one transaction, then back to `back`.
pub(super) async fn apply<T: Send + 'static>(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    who: &SignedIn,
    user_id: &str,
    action: Event,
    back: &str,
    change: impl FnOnce(&mut DbConn, &str) -> Result<T, AppError> + Send + 'static,
) -> Result<HttpResponse, AppError> {
    let (uid, actor, ip) = (
        user_id.to_owned(),
        who.as_admin(),
        crate::web::session::client_ip(req),
    );
    db(state, move |conn| {
        use diesel::Connection;
        conn.transaction(|c| {
            change(c, &uid)?;
            let entry = Entry::new(&actor, action).target(&uid).ip(ip.as_deref());
            Ok::<_, AppError>(crate::audit::record(c, &entry)?)
        })
    })
    .await?;
    Ok(see_other(back))
}

pub async fn profile_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let who = auth::require_admin(&req, &state).await?;
    let user = load(&state, path.into_inner()).await?;
    crate::web::profile::admin_show(&who, &user)
}

pub async fn set_profile(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let (who, form) = auth::admin_post(&req, &state, &body).await?;
    let user = load(&state, path.into_inner()).await?;
    crate::web::profile::admin_submit(&req, &state, &who, &user, form).await
}

pub async fn password_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let who = auth::require_admin(&req, &state).await?;
    let user = load(&state, path.into_inner()).await?;
    let action = format!("/admin/users/{}/password", user.id);
    render(
        HttpResponse::Ok(),
        &UserForm {
            heading: "Reset password",
            action: &action,
            submit_label: "Set password",
            csrf_token: &who.session.csrf_token,
            creating: false,
            username: &user.username,
            email: "",
            name: "",
            errors: Vec::new(),
        },
        None,
    )
}

pub async fn set_password(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let (who, form, user) = destructive_post(&req, &state, &body, path.into_inner()).await?;
    let password = form.get("new_password").unwrap_or("").to_owned();
    check_password(&password).map_err(AppError::BadRequest)?;
    let hash = state.passwords.hash(password).await?;
    let new = Change::Password {
        hash,
        keep_session: None,
    };
    change(&req, &state, &who, user, new).await
}

/// An admin's change to an account (`accounts::manage`: what it ends, and its audit entry,
/// in one transaction), then back to the list.
async fn change(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    who: &SignedIn,
    user: User,
    change: Change,
) -> Result<HttpResponse, AppError> {
    auth::change_account(state, req, user, change, who.as_admin()).await?;
    Ok(see_other("/admin/users"))
}

pub async fn act(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let (who, form) = auth::admin_post(&req, &state, &body).await?;
    let (id, action) = path.into_inner();
    let (what, destructive) = match action.as_str() {
        "disable" => (Change::Disable, true),
        "enable" => (Change::Enable, false),
        "grant-admin" => (Change::GrantAdmin, false),
        "revoke-admin" => (Change::RevokeAdmin, true),
        "unlock" => (Change::Unlock, false),
        // A user who lost their phone or key: every second factor and recovery code goes; they
        // set up new ones at their next login (or are asked to, when the policy requires one).
        "reset-factors" => (Change::ResetFactors, true),
        _ => return Err(AppError::NotFound),
    };
    if destructive {
        auth::require_recent_auth(&state, &req, &who, &form).await?;
        if id == who.user.id {
            return Err(AppError::BadRequest(
                "You cannot do this to your own account here (your own second factors are on \
                 /account/security)."
                    .into(),
            ));
        }
    }
    let user = load(&state, id).await?;
    change(&req, &state, &who, user, what).await
}
