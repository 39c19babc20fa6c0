//! The audit log page: the latest entries, each actor shown the same way whoever wrote it — a
//! person by their current username, linked to their account; a client by its name, linked to
//! it; the command line by its operating-system user.

use std::collections::HashMap;

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use crate::audit::Actor;
use crate::db::models::{audit, clients, users};
use crate::domain::time::utc;
use crate::state::AppState;
use crate::web::auth;
use crate::web::db;
use crate::web::error::AppError;
use crate::web::templates::render;

/// How an actor is shown: words, and where they link to.
pub struct ActorView {
    pub label: String,
    pub href: Option<String>,
}

pub struct EventView {
    pub when: String,
    pub actor: ActorView,
    pub action: String,
    pub target: String,
    pub ip: String,
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
struct AuditPage {
    events: Vec<EventView>,
}

fn actor_view(
    stored: Option<&str>,
    usernames: &HashMap<String, String>,
    client_names: &HashMap<String, String>,
) -> ActorView {
    let plain = |label: String| ActorView { label, href: None };
    let Some(stored) = stored else {
        return plain(String::new());
    };
    let person = |id: &str, role: &str| {
        let name = usernames
            .get(id)
            .cloned()
            .unwrap_or_else(|| format!("deleted user {id}"));
        let href = usernames.get(id).map(|username| {
            let q = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("q", username)
                .finish();
            format!("/admin/users?{q}")
        });
        ActorView {
            label: format!("{name}{role}"),
            href,
        }
    };
    match Actor::decode(stored) {
        Some(Actor::User(id)) => person(id.as_str(), ""),
        Some(Actor::Admin(id)) => person(id.as_str(), " (admin)"),
        Some(Actor::Cli(who)) => plain(format!("{who} (command line)")),
        Some(Actor::Client(id)) => ActorView {
            label: format!(
                "{} (client)",
                client_names
                    .get(id.as_str())
                    .map_or(id.as_str(), |n| n.as_str())
            ),
            href: client_names
                .contains_key(id.as_str())
                .then(|| format!("/admin/clients/{id}")),
        },
        Some(Actor::Anonymous) => plain("anonymous".into()),
        Some(Actor::System) => plain("Ostiary".into()),
        // Written before actors were typed: shown as stored.
        None => plain(stored.to_owned()),
    }
}

pub async fn list(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    auth::require_admin(&req, &state).await?;
    let (events, usernames, client_names) = db(&state, move |conn| {
        let events = audit::recent(conn, 200)?;
        let (mut usernames, mut client_names) = (HashMap::new(), HashMap::new());
        for e in &events {
            match e.actor.as_deref().and_then(Actor::decode) {
                Some(Actor::User(id) | Actor::Admin(id))
                    if !usernames.contains_key(id.as_str()) =>
                {
                    if let Some(u) = users::by_id(conn, id.as_str())? {
                        usernames.insert(u.id, u.username);
                    }
                }
                Some(Actor::Client(id)) if !client_names.contains_key(id.as_str()) => {
                    if let Some(c) = clients::by_id(conn, id.as_str())? {
                        client_names.insert(c.row.client_id, c.row.name);
                    }
                }
                _ => {}
            }
        }
        Ok((events, usernames, client_names))
    })
    .await?;
    let events = events
        .into_iter()
        .map(|e| EventView {
            when: utc(e.at),
            actor: actor_view(e.actor.as_deref(), &usernames, &client_names),
            action: e.action,
            target: e.target.unwrap_or_default(),
            ip: e.ip.unwrap_or_default(),
        })
        .collect();
    render(HttpResponse::Ok(), &AuditPage { events }, None)
}
