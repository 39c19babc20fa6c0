//! First run: with no users at all, `serve` logs a one-time link to /setup, where the first
//! administrator is created. The token in the link is the only credential (a fresh server has
//! nobody to log in as), so it is random, stored hashed, and dies with its first use.

use crate::authn::journey::Creation;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::auth::FormData;
use super::templates::render;
use crate::account_policy::check_new_account;
use crate::accounts::create::{first_admin, FirstAdmin, NewUser};
use crate::db::models::setup;
use crate::db::{self};
use crate::random;
use crate::state::AppState;
use crate::web::error::AppError;

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage<'a> {
    token: &'a str,
    username: &'a str,
    email: &'a str,
    errors: Vec<String>,
}

#[derive(Deserialize)]
pub struct SetupQuery {
    token: Option<String>,
}

/// Called at start-up: when no user exists, stores a fresh token and returns the link to log.
pub fn prepare_link(state: &AppState) -> Result<Option<String>, AppError> {
    let mut conn = state.pool.get()?;
    if crate::db::models::users::count(&mut conn)? > 0 {
        setup::clear(&mut conn)?;
        return Ok(None);
    }
    let token = random::token::<32>();
    setup::replace(&mut conn, &random::sha256_hex(&token), db::now())?;
    Ok(Some(format!(
        "{}/setup?token={token}",
        state.settings.issuer
    )))
}

async fn valid(state: &web::Data<AppState>, token: &str) -> Result<bool, AppError> {
    let st = state.clone();
    let hash = random::sha256_hex(token);
    web::block(move || {
        let mut conn = st.pool.get()?;
        Ok::<_, AppError>(setup::is_valid(&mut conn, &hash)?)
    })
    .await?
}

pub async fn page(
    state: web::Data<AppState>,
    query: web::Query<SetupQuery>,
) -> Result<HttpResponse, AppError> {
    let token = query.token.clone().unwrap_or_default();
    if token.is_empty() || !valid(&state, &token).await? {
        return Err(AppError::NotFound);
    }
    render(
        HttpResponse::Ok(),
        &SetupPage {
            token: &token,
            username: "",
            email: "",
            errors: Vec::new(),
        },
        None,
    )
}

pub async fn submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let form = FormData::parse(&body);
    let token = form.text("token");
    if token.is_empty() || !valid(&state, &token).await? {
        return Err(AppError::NotFound);
    }
    let username_raw = form.text("username");
    let email = form.text("email");
    let password = form.get("password").unwrap_or("").to_owned();
    let account = match check_new_account(&username_raw, &email, &password) {
        Ok(account) => account,
        Err(errors) => {
            return render(
                HttpResponse::BadRequest(),
                &SetupPage {
                    token: &token,
                    username: &username_raw,
                    email: &email,
                    errors,
                },
                None,
            )
        }
    };
    let hash = state.passwords.hash(password).await?;
    let new = NewUser {
        account,
        name: None,
        password_hash: hash,
        is_admin: true,
        email_verified: false,
    };
    let token_hash = random::sha256_hex(&token);
    let ip = super::client_addr::of(&req).map(|a| a.to_string());
    let outcome = super::db(&state, move |conn| {
        Ok(first_admin(conn, &token_hash, new, ip.as_deref())?)
    })
    .await?;
    let admin = match outcome {
        FirstAdmin::Created(user) => *user,
        FirstAdmin::Invalid => return Err(AppError::NotFound),
        FirstAdmin::Fields(errors) => {
            return render(
                HttpResponse::BadRequest(),
                &SetupPage {
                    token: &token,
                    username: &username_raw,
                    email: &email,
                    errors,
                },
                None,
            )
        }
    };
    tracing::info!(username = %admin.username, "first administrator created; setup link retired");
    // Signed in at once, or (where administrators must have a second factor) the first one
    // sets it up before anything: the journey decides.
    super::login::account_created(&req, &state, admin, Creation::Setup, "/admin", None).await
}
