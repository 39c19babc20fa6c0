//! The audit log page: the latest entries, each actor shown the same way whoever wrote it — a
//! person by their current username, linked to their account; a client by its name, linked to
//! it; the command line by its operating-system user. Targets that are a person or a client (by
//! id) are shown the same way; other targets (a name tried at login) as stored.

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
    pub target: ActorView,
    pub ip: String,
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
struct AuditPage {
    events: Vec<EventView>,
}

/// Current usernames and client names of the ids an entry names.
#[derive(Default)]
struct Names {
    usernames: HashMap<String, String>,
    client_names: HashMap<String, String>,
}

impl Names {
    fn person(&self, id: &str, role: &str) -> ActorView {
        let name = self
            .usernames
            .get(id)
            .cloned()
            .unwrap_or_else(|| format!("deleted user {id}"));
        let href = self.usernames.get(id).map(|username| {
            let q = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("q", username)
                .finish();
            format!("/admin/users?{q}")
        });
        ActorView {
            label: format!("{name}{role}"),
            href,
        }
    }

    fn client(&self, id: &str, role: &str) -> ActorView {
        ActorView {
            label: format!(
                "{}{role}",
                self.client_names.get(id).map_or(id, |n| n.as_str())
            ),
            href: self
                .client_names
                .contains_key(id)
                .then(|| format!("/admin/clients/{id}")),
        }
    }

    /// Looks up `id` as a user, then as a client, unless already known.
    fn learn(&mut self, conn: &mut crate::db::DbConn, id: &str) -> Result<(), AppError> {
        if self.usernames.contains_key(id) || self.client_names.contains_key(id) {
            return Ok(());
        }
        if let Some(u) = users::by_id(conn, id)? {
            self.usernames.insert(u.id, u.username);
        } else if let Some(c) = clients::by_id(conn, id)? {
            self.client_names.insert(c.row.client_id, c.row.name);
        }
        Ok(())
    }

    fn target(&self, stored: Option<String>) -> ActorView {
        let stored = stored.unwrap_or_default();
        if self.usernames.contains_key(&stored) {
            self.person(&stored, "")
        } else if self.client_names.contains_key(&stored) {
            self.client(&stored, " (client)")
        } else {
            ActorView {
                label: stored,
                href: None,
            }
        }
    }
}

fn actor_view(stored: Option<&str>, names: &Names) -> ActorView {
    let plain = |label: String| ActorView { label, href: None };
    let Some(stored) = stored else {
        return plain(String::new());
    };
    match Actor::decode(stored) {
        Some(Actor::User(id)) => names.person(id.as_str(), ""),
        Some(Actor::Admin(id)) => names.person(id.as_str(), " (admin)"),
        Some(Actor::Cli(who)) => plain(format!("{who} (command line)")),
        Some(Actor::Client(id)) => names.client(id.as_str(), " (client)"),
        Some(Actor::Anonymous) => plain("anonymous".into()),
        Some(Actor::System) => plain("Ostiary".into()),
        // Written before actors were typed: shown as stored.
        None => plain(stored.to_owned()),
    }
}

pub async fn list(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    auth::require_admin(&req, &state).await?;
    let (events, names) = db(&state, move |conn| {
        let events = audit::recent(conn, 200)?;
        let mut names = Names::default();
        for e in &events {
            match e.actor.as_deref().and_then(Actor::decode) {
                Some(Actor::User(id) | Actor::Admin(id)) => names.learn(conn, id.as_str())?,
                Some(Actor::Client(id)) => names.learn(conn, id.as_str())?,
                _ => {}
            }
            if let Some(target) = &e.target {
                names.learn(conn, target)?;
            }
        }
        Ok((events, names))
    })
    .await?;
    let events = events
        .into_iter()
        .map(|e| EventView {
            when: utc(e.at),
            actor: actor_view(e.actor.as_deref(), &names),
            action: e.action,
            target: names.target(e.target),
            ip: e.ip.unwrap_or_default(),
        })
        .collect();
    render(HttpResponse::Ok(), &AuditPage { events }, None)
}
