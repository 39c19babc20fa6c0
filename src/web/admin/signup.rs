//! /admin/signup: the sign-up policy in force (set by configuration), invitation links for the
//! `invite` policy, and re-sending a user's verification mail.

use crate::audit::Event;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use crate::accounts::signup;
use crate::db::models::{signup_invites, users};
use crate::domain::time::utc;
use crate::state::AppState;
use crate::web::auth;
use crate::web::db;
use crate::web::error::AppError;
use crate::web::templates::render;

pub struct InviteView {
    pub created: String,
    pub expires: String,
    pub state: &'static str,
    pub note: String,
}

#[derive(Template)]
#[template(path = "admin/signup.html")]
struct Page<'a> {
    csrf_token: &'a str,
    policy: &'a str,
    domains: String,
    require_verified: bool,
    mail_enabled: bool,
    invites: Vec<InviteView>,
    new_link: Option<&'a str>,
    notice: Option<&'a str>,
}

async fn show(
    state: &web::Data<AppState>,
    who: &auth::SignedIn,
    new_link: Option<&str>,
    notice: Option<&str>,
) -> Result<HttpResponse, AppError> {
    let rows = db(state, |conn| Ok(signup_invites::list(conn)?)).await?;
    let now = crate::db::now();
    let invites = rows
        .iter()
        .map(|r| InviteView {
            created: utc(r.created_at),
            expires: utc(r.expires_at),
            state: if r.used_at.is_some() {
                "used"
            } else if r.expires_at <= now {
                "expired"
            } else {
                "open"
            },
            note: r.note.clone().unwrap_or_default(),
        })
        .collect();
    let s = &state.settings;
    render(
        HttpResponse::Ok(),
        &Page {
            csrf_token: &who.session.csrf_token,
            policy: s.signup.policy.as_str(),
            domains: if s.signup.email_domains.is_empty() {
                "any".into()
            } else {
                s.signup.email_domains.join(", ")
            },
            require_verified: s.require_verified_email,
            mail_enabled: s.mail_enabled(),
            invites,
            new_link,
            notice,
        },
        None,
    )
}

pub async fn page(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let who = auth::require_admin(&req, &state).await?;
    show(&state, &who, None, None).await
}

pub async fn invite(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let (who, form) = auth::admin_post(&req, &state, &body).await?;
    let days = match form.text("days").as_str() {
        "" => 7,
        d => d
            .parse::<i64>()
            .ok()
            .filter(|d| (1..=90).contains(d))
            .ok_or_else(|| {
                AppError::BadRequest("Days must be a whole number from 1 to 90.".into())
            })?,
    };
    let note = Some(form.text("note").chars().take(200).collect::<String>());
    let token = db(&state, move |conn| {
        Ok(signup::create_invite(
            conn,
            days * 86400,
            note,
            crate::db::now(),
        )?)
    })
    .await?;
    auth::audit(
        &state,
        &req,
        who.as_admin(),
        Event::SignupInvite,
        "console".into(),
    )
    .await?;
    let link = signup::invite_link(&state.settings.issuer, &token);
    show(&state, &who, Some(&link), None).await
}

/// Sends a user's verification mail again (a new link; the old one still works until used).
pub async fn resend_verification(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let (who, form) = auth::admin_post(&req, &state, &body).await?;
    if !state.settings.mail_enabled() {
        return Err(AppError::BadRequest(
            "Mail is not configured (OSTIARY_SMTP_URL), so nothing can be sent.".into(),
        ));
    }
    let name = crate::account_policy::login_key(&form.text("username"));
    let st = state.clone();
    let found = db(&state, move |conn| {
        let Some(user) = users::by_username(conn, &name)? else {
            return Ok(None);
        };
        if !user.email_verified {
            crate::accounts::verification::send(conn, &st.settings, &user, crate::db::now())?;
        }
        Ok(Some(user))
    })
    .await?;
    let Some(user) = found else {
        return show(&state, &who, None, Some("There is no user with that name.")).await;
    };
    if user.email_verified {
        return show(
            &state,
            &who,
            None,
            Some("That address is verified already."),
        )
        .await;
    }
    state.outbox.wake();
    auth::audit(
        &state,
        &req,
        who.as_admin(),
        Event::UserResendVerification,
        user.id,
    )
    .await?;
    show(
        &state,
        &who,
        None,
        Some("The verification mail is on its way."),
    )
    .await
}
