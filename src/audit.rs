//! The audit log's one writer. A service records its event on the connection (and so in the
//! transaction) of the change it describes; a failure to record is an error like any other,
//! never dropped: an action that cannot be audited does not happen.

use crate::db::models::audit::{self as rows, NewAuditEvent};
use crate::db::DbConn;
pub use crate::domain::audit::{Actor, Event};

/// One entry: who did what to which thing, from where.
#[derive(Clone, Debug)]
pub struct Entry<'a> {
    pub actor: &'a Actor,
    pub event: Event,
    pub target: Option<&'a str>,
    pub ip: Option<&'a str>,
    pub detail: Option<&'a str>,
}

impl<'a> Entry<'a> {
    pub fn new(actor: &'a Actor, event: Event) -> Self {
        Entry {
            actor,
            event,
            target: None,
            ip: None,
            detail: None,
        }
    }

    pub fn target(mut self, target: &'a str) -> Self {
        self.target = Some(target);
        self
    }

    pub fn ip(mut self, ip: Option<&'a str>) -> Self {
        self.ip = ip;
        self
    }

    pub fn detail(mut self, detail: Option<&'a str>) -> Self {
        self.detail = detail;
        self
    }
}

/// Writes the entry, now.
pub fn record(conn: &mut DbConn, entry: &Entry<'_>) -> diesel::QueryResult<()> {
    let actor = entry.actor.encode();
    rows::record(
        conn,
        &NewAuditEvent {
            at: crate::db::now(),
            actor: Some(&actor),
            action: entry.event.as_str(),
            target: entry.target,
            ip: entry.ip,
            detail: entry.detail,
        },
    )
}
