use crate::audit::Event;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::see_other;
use crate::crypto::keys;
use crate::db::models::signing_keys;
use crate::db::{self};
use crate::domain::time::utc;
use crate::state::AppState;
use crate::web::auth;
use crate::web::db;
use crate::web::error::AppError;
use crate::web::templates::render;

pub struct KeyView {
    pub kid: String,
    pub alg: String,
    pub state: &'static str,
    pub created: String,
    pub signs_from: String,
    pub until: String,
}

#[derive(Template)]
#[template(path = "admin/keys.html")]
struct KeysPage<'a> {
    keys: Vec<KeyView>,
    csrf_token: &'a str,
    delay: i64,
}

pub async fn list(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let who = auth::require_admin(&req, &state).await?;
    let rows = db(&state, move |conn| Ok(signing_keys::all(conn)?)).await?;
    let states = keys::states(&rows, db::now());
    let keys = rows
        .iter()
        .zip(states)
        .map(|(k, s)| KeyView {
            kid: k.kid.clone(),
            alg: k.alg.clone(),
            state: s.as_str(),
            created: utc(k.created_at),
            signs_from: utc(k.activate_at),
            until: k.publish_until.map(utc).unwrap_or_else(|| "—".into()),
        })
        .collect();
    render(
        HttpResponse::Ok(),
        &KeysPage {
            keys,
            csrf_token: &who.session.csrf_token,
            delay: state.settings.key_activation_delay,
        },
        None,
    )
}

pub async fn rotate(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let (who, form) = auth::admin_post(&req, &state, &body).await?;
    auth::require_recent_auth(&state, &req, &who, &form).await?;
    let st = state.clone();
    let created = web::block(move || {
        let mut conn = st.pool.get()?;
        keys::rotate(
            &mut conn,
            st.keys.kek(),
            st.settings.key_activation_delay,
            st.settings.max_token_ttl(),
        )
        .map_err(AppError::internal)
    })
    .await??;
    for k in created {
        auth::audit(&state, &req, who.as_admin(), Event::KeysRotate, k.kid).await?;
    }
    Ok(see_other("/admin/keys"))
}
