use diesel::prelude::*;

use crate::db::schema::audit_events;
use crate::db::DbConn;

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = audit_events)]
pub struct AuditEvent {
    pub id: i64,
    pub at: i64,
    pub actor: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub ip: Option<String>,
    pub detail: Option<String>,
}

#[derive(Debug, Default, Insertable)]
#[diesel(table_name = audit_events)]
pub struct NewAuditEvent<'a> {
    pub at: i64,
    pub actor: Option<&'a str>,
    pub action: &'a str,
    pub target: Option<&'a str>,
    pub ip: Option<&'a str>,
    pub detail: Option<&'a str>,
}

pub fn record(conn: &mut DbConn, event: &NewAuditEvent<'_>) -> QueryResult<()> {
    crate::execute_prepared!(
        conn,
        diesel::insert_into(audit_events::table).values(event),
        audit_events::id,
        i64
    )
    .map(|_| ())
}

pub fn recent(conn: &mut DbConn, limit: i64) -> QueryResult<Vec<AuditEvent>> {
    audit_events::table
        .order(audit_events::id.desc())
        .limit(limit)
        .select(AuditEvent::as_select())
        .load(conn)
}
