//! /account: the signed-in user's profile, password change, the devices they are signed in on
//! (each with "sign out", and "sign out everywhere else"; see `devices`), and the apps with access
//! to the account (a consent or live refresh tokens), each with a "revoke access" button that
//! deletes the consent and revokes that app's refresh tokens (`refresh::revoke_app`).

use crate::accounts::manage::Change;
use crate::audit::Event;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::auth::{self, FormData, SignedIn};
use super::db;
use super::devices::{self, DeviceView};
use super::templates::render;
use crate::account_policy::check_password;
use crate::authn::password::Purpose;
use crate::db::models::{clients, consents, refresh, sessions};
use crate::db::{self, DbConn};
use crate::state::AppState;
use crate::web::error::AppError;

/// An app with access to the account: a consent, live refresh tokens, or both.
pub struct AppView {
    pub client_id: String,
    pub client_name: String,
    /// The granted scopes in the words the consent page used to ask for them.
    pub scopes: Vec<String>,
    /// When access was first given (the consent, or the oldest live refresh family).
    pub since: String,
    /// When the app last got a token, if it holds refresh tokens.
    pub last_used: Option<String>,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage<'a> {
    username: &'a str,
    email: &'a str,
    name: &'a str,
    is_admin: bool,
    csrf_token: &'a str,
    apps: Vec<AppView>,
    devices: Vec<DeviceView>,
    /// The upstream providers the account is linked to: (id, name).
    links: Vec<(String, String)>,
    /// Whether the account has a password to change (one made by an upstream login has none).
    has_password: bool,
    /// The enabled providers it is not linked to: (id, name), each a "link" button.
    linkable: Vec<(String, String)>,
    notice: Option<&'a str>,
    error: Option<&'a str>,
}

async fn page(
    state: &web::Data<AppState>,
    who: &SignedIn,
    notice: Option<&str>,
    error: Option<&str>,
) -> Result<HttpResponse, AppError> {
    let uid = who.user.id.clone();
    let current = who.session.id_hash.clone();
    let (apps, devices, (links, linkable)) = db(state, move |conn| {
        let now = db::now();
        let devices = sessions::for_user(conn, &uid, now)?;
        let devices = devices::views(&devices, Some(&current), now);
        let links = crate::federation::accounts::links_of(conn, &uid)?;
        let linkable = crate::federation::accounts::linkable(conn, &uid)?;
        Ok((apps_of(conn, &uid, now)?, devices, (links, linkable)))
    })
    .await?;
    let status = if error.is_some() {
        HttpResponse::BadRequest()
    } else {
        HttpResponse::Ok()
    };
    render(
        status,
        &AccountPage {
            username: &who.user.username,
            email: &who.user.email,
            name: who.user.name.as_deref().unwrap_or(""),
            is_admin: who.user.is_admin,
            csrf_token: &who.session.csrf_token,
            apps,
            devices,
            links,
            has_password: crate::federation::accounts::has_password(&who.user),
            linkable,
            notice,
            error,
        },
        None,
    )
}

pub async fn show(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let who = auth::require_user(&req, &state, "/account").await?;
    // Back from linking a provider (`web::upstream::link_start`).
    let linked = url::form_urlencoded::parse(req.query_string().as_bytes())
        .any(|(k, v)| k == "linked" && v == "1");
    let notice = linked.then_some("The sign-in provider was linked to your account.");
    page(&state, &who, notice, None).await
}

pub async fn change_password(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let who = auth::require_user(&req, &state, "/account").await?;
    let form = FormData::parse(&body);
    form.check_csrf(&who)?;
    let new = form.get("new_password").unwrap_or("").to_owned();
    if new != form.get("confirm_password").unwrap_or("") {
        return page(&state, &who, None, Some("The new passwords do not match.")).await;
    }
    if let Err(m) = check_password(&new) {
        return page(&state, &who, None, Some(&m)).await;
    }
    let current = form.get("current_password").unwrap_or("");
    let ok =
        auth::verify_own_password(&state, &req, &who, current, Purpose::PasswordChange).await?;
    if !ok {
        return page(
            &state,
            &who,
            None,
            Some("The current password is not correct."),
        )
        .await;
    }
    let hash = state.passwords.hash(new).await?;
    let change = Change::Password {
        hash,
        keep_session: Some(who.session.id_hash.clone()),
    };
    auth::change_account(&state, &req, who.user.clone(), change, who.as_user()).await?;
    page(
        &state,
        &who,
        Some("Your password was changed. You were signed out everywhere else, and apps must sign you in again."),
        None,
    )
    .await
}

/// The apps with access to the user's account: every consent, and every app holding live
/// refresh tokens (with or without a consent), by name.
fn apps_of(conn: &mut DbConn, user_id: &str, now: i64) -> Result<Vec<AppView>, AppError> {
    let consents = consents::for_user(conn, user_id)?;
    let mut holdings = refresh::apps_for_user(conn, user_id, now)?;
    let mut out = Vec::new();
    for c in consents {
        let held = holdings
            .iter()
            .position(|h| h.client_id == c.client_id)
            .map(|i| holdings.swap_remove(i));
        out.push((c.client_id, c.scope, c.created_at, held));
    }
    for h in holdings {
        out.push((h.client_id.clone(), h.scope.clone(), h.since, Some(h)));
    }
    let mut views = Vec::with_capacity(out.len());
    for (client_id, scope, since, held) in out {
        let client_name = clients::by_id(conn, &client_id)?
            .map(|cl| cl.row.name)
            .unwrap_or_else(|| client_id.clone());
        let since = held.as_ref().map_or(since, |h| h.since.min(since));
        views.push(AppView {
            client_id,
            client_name,
            scopes: scope
                .split_whitespace()
                .map(crate::web::authorize::describe_scope)
                .collect(),
            since: devices::utc(since),
            last_used: held.map(|h| devices::ago(now, h.last_used)),
        });
    }
    Ok(views)
}

/// POST /account/apps/revoke (`client_id` in the form; client ids may be URLs) and the older
/// POST /account/consents/{client_id}/revoke: takes the app's access away (`refresh::revoke_app`).
pub async fn revoke_app(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: Option<web::Path<String>>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let who = auth::require_user(&req, &state, "/account").await?;
    let form = FormData::parse(&body);
    form.check_csrf(&who)?;
    let client_id = match path {
        Some(p) => p.into_inner(),
        None => form.text("client_id"),
    };
    if client_id.is_empty() {
        return Err(AppError::BadRequest(
            "Which app? The form named none.".into(),
        ));
    }
    let uid = who.user.id.clone();
    let cid = client_id.clone();
    db(&state, move |conn| {
        refresh::revoke_app(conn, &uid, &cid, db::now())?;
        Ok(())
    })
    .await?;
    auth::audit(
        &state,
        &req,
        who.as_user(),
        Event::AccountRevokeApp,
        client_id,
    )
    .await?;
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/account"))
        .finish())
}

/// POST /account/upstreams/unlink (`provider` in the form): the person unlinks a provider from
/// their account, unless it is their last way to sign in (`federation::accounts::unlink_own`).
pub async fn unlink_upstream(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    use crate::federation::accounts::KeepLink;
    let who = auth::require_user(&req, &state, "/account").await?;
    let form = FormData::parse(&body);
    form.check_csrf(&who)?;
    let provider = form.text("provider");
    let user = who.user.clone();
    let ip = super::client_addr::of(&req).map(|a| a.to_string());
    let done = db(&state, move |conn| {
        Ok(crate::federation::accounts::unlink_own(
            conn,
            &user,
            &provider,
            ip.as_deref(),
        )?)
    })
    .await?;
    match done {
        Ok(()) => {
            page(
                &state,
                &who,
                Some("The sign-in provider was unlinked."),
                None,
            )
            .await
        }
        Err(KeepLink::NotLinked) => {
            page(&state, &who, None, Some("That provider is not linked.")).await
        }
        Err(KeepLink::LastWayIn) => page(
            &state,
            &who,
            None,
            Some(
                "This provider is your only way to sign in: set a password or add a passkey first.",
            ),
        )
        .await,
    }
}
