//! The outbox: messages waiting to be delivered, written in the transaction that causes them.
//! A sender owns a row only after `claim` changed it (one conditional UPDATE), so replicas never
//! deliver the same row twice while a claim lasts; a crashed sender's claim simply runs out.

use diesel::prelude::*;

use crate::db::schema::outbox;
use crate::db::DbConn;

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = outbox)]
pub struct OutboxRow {
    pub id: String,
    pub kind: String,
    pub recipient: String,
    pub payload: String,
    pub created_at: i64,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub claimed_until: Option<i64>,
    pub claim_id: Option<String>,
    pub sent_at: Option<i64>,
    pub failed_at: Option<i64>,
    pub last_error: Option<String>,
}

pub fn insert(conn: &mut DbConn, row: &OutboxRow) -> QueryResult<()> {
    diesel::insert_into(outbox::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

/// Queues a new row of `kind` for `recipient`, due now.
pub fn queue(
    conn: &mut DbConn,
    kind: &str,
    recipient: &str,
    payload: String,
    now: i64,
) -> QueryResult<()> {
    insert(
        conn,
        &OutboxRow {
            id: crate::random::token::<16>(),
            kind: kind.to_owned(),
            recipient: recipient.to_owned(),
            payload,
            created_at: now,
            attempts: 0,
            next_attempt_at: now,
            claimed_until: None,
            claim_id: None,
            sent_at: None,
            failed_at: None,
            last_error: None,
        },
    )
}

/// Rows waiting (neither delivered nor given up), per kind.
pub fn backlog(conn: &mut DbConn) -> QueryResult<Vec<(String, i64)>> {
    outbox::table
        .filter(outbox::sent_at.is_null())
        .filter(outbox::failed_at.is_null())
        .group_by(outbox::kind)
        .select((outbox::kind, diesel::dsl::count_star()))
        .load(conn)
}

/// Rows due for an attempt and not claimed by a live sender, oldest first.
pub fn due(conn: &mut DbConn, now: i64, limit: i64) -> QueryResult<Vec<String>> {
    outbox::table
        .filter(outbox::sent_at.is_null())
        .filter(outbox::failed_at.is_null())
        .filter(outbox::next_attempt_at.le(now))
        .filter(
            outbox::claimed_until
                .is_null()
                .or(outbox::claimed_until.le(now)),
        )
        .order((outbox::next_attempt_at.asc(), outbox::created_at.asc()))
        .limit(limit)
        .select(outbox::id)
        .load(conn)
}

/// Takes the row for `claim_id` until `now + lease` and counts the attempt, if it is still due
/// and unclaimed: true when this caller now owns it. The one statement is the whole decision,
/// so of two replicas racing for a row exactly one sees an affected row.
pub fn claim(
    conn: &mut DbConn,
    id: &str,
    claim_id: &str,
    now: i64,
    lease: i64,
) -> QueryResult<Option<OutboxRow>> {
    let n = diesel::update(
        outbox::table
            .find(id)
            .filter(outbox::sent_at.is_null())
            .filter(outbox::failed_at.is_null())
            .filter(outbox::next_attempt_at.le(now))
            .filter(
                outbox::claimed_until
                    .is_null()
                    .or(outbox::claimed_until.le(now)),
            ),
    )
    .set((
        outbox::claimed_until.eq(now + lease),
        outbox::claim_id.eq(claim_id),
        outbox::attempts.eq(outbox::attempts + 1),
    ))
    .execute(conn)?;
    if n != 1 {
        return Ok(None);
    }
    outbox::table
        .find(id)
        .filter(outbox::claim_id.eq(claim_id))
        .select(OutboxRow::as_select())
        .first(conn)
        .optional()
}

/// Delivered: the payload (which may hold a single-use link) is dropped.
pub fn mark_sent(conn: &mut DbConn, id: &str, claim_id: &str, now: i64) -> QueryResult<usize> {
    diesel::update(outbox::table.find(id).filter(outbox::claim_id.eq(claim_id)))
        .set((
            outbox::sent_at.eq(now),
            outbox::payload.eq(""),
            outbox::claimed_until.eq(None::<i64>),
            outbox::last_error.eq(None::<String>),
        ))
        .execute(conn)
}

/// Not delivered this time: try again at `next_attempt_at`.
pub fn mark_retry(
    conn: &mut DbConn,
    id: &str,
    claim_id: &str,
    next_attempt_at: i64,
    error: &str,
) -> QueryResult<usize> {
    diesel::update(outbox::table.find(id).filter(outbox::claim_id.eq(claim_id)))
        .set((
            outbox::next_attempt_at.eq(next_attempt_at),
            outbox::claimed_until.eq(None::<i64>),
            outbox::last_error.eq(error),
        ))
        .execute(conn)
}

/// Given up: kept for operators with its last error, without the payload.
pub fn mark_failed(
    conn: &mut DbConn,
    id: &str,
    claim_id: &str,
    now: i64,
    error: &str,
) -> QueryResult<usize> {
    diesel::update(outbox::table.find(id).filter(outbox::claim_id.eq(claim_id)))
        .set((
            outbox::failed_at.eq(now),
            outbox::payload.eq(""),
            outbox::claimed_until.eq(None::<i64>),
            outbox::last_error.eq(error),
        ))
        .execute(conn)
}

pub fn by_id(conn: &mut DbConn, id: &str) -> QueryResult<Option<OutboxRow>> {
    outbox::table
        .find(id)
        .select(OutboxRow::as_select())
        .first(conn)
        .optional()
}

/// Messages not yet delivered nor given up.
pub fn pending(conn: &mut DbConn) -> QueryResult<i64> {
    outbox::table
        .filter(outbox::sent_at.is_null())
        .filter(outbox::failed_at.is_null())
        .count()
        .get_result(conn)
}

/// Forgets delivered and given-up rows created before `before`.
pub fn delete_finished_before(conn: &mut DbConn, before: i64) -> QueryResult<usize> {
    diesel::delete(
        outbox::table.filter(outbox::created_at.lt(before)).filter(
            outbox::sent_at
                .is_not_null()
                .or(outbox::failed_at.is_not_null()),
        ),
    )
    .execute(conn)
}
