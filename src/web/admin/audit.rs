use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use crate::db::models::audit;
use crate::domain::time::utc;
use crate::state::AppState;
use crate::web::auth;
use crate::web::db;
use crate::web::error::AppError;
use crate::web::templates::render;

pub struct EventView {
    pub when: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub ip: String,
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
struct AuditPage {
    events: Vec<EventView>,
}

pub async fn list(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    auth::require_admin(&req, &state).await?;
    let events = db(&state, move |conn| Ok(audit::recent(conn, 200)?)).await?;
    let events = events
        .into_iter()
        .map(|e| EventView {
            when: utc(e.at),
            actor: e.actor.unwrap_or_default(),
            action: e.action,
            target: e.target.unwrap_or_default(),
            ip: e.ip.unwrap_or_default(),
        })
        .collect();
    render(HttpResponse::Ok(), &AuditPage { events }, None)
}
