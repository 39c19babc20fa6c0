//! Second factors: TOTP secrets (sealed), WebAuthn credentials, recovery codes, and the
//! WebAuthn ceremonies between their two requests (see `authn::factors`).

use diesel::prelude::*;

use crate::db::schema::{passkeys, recovery_codes, totp_factors, webauthn_ceremonies};
use crate::db::DbConn;

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = totp_factors)]
pub struct TotpRow {
    pub user_id: String,
    /// The secret sealed under the key-encryption key.
    pub secret_sealed: String,
    pub created_at: i64,
    /// `None` until the first valid code confirmed the enrolment.
    pub confirmed_at: Option<i64>,
    pub last_step: i64,
}

pub fn totp(conn: &mut DbConn, user_id: &str) -> QueryResult<Option<TotpRow>> {
    totp_factors::table
        .find(user_id)
        .select(TotpRow::as_select())
        .first(conn)
        .optional()
}

/// Starts (or restarts) an enrolment; a confirmed factor is never replaced (false then).
pub fn begin_totp(conn: &mut DbConn, row: &TotpRow) -> QueryResult<bool> {
    conn.transaction(|conn| {
        if let Some(existing) = totp(conn, &row.user_id)? {
            if existing.confirmed_at.is_some() {
                return Ok(false);
            }
            diesel::delete(totp_factors::table.find(&row.user_id)).execute(conn)?;
        }
        diesel::insert_into(totp_factors::table)
            .values(row)
            .execute(conn)?;
        Ok(true)
    })
}

/// Accepts time step `step` for the user's factor (confirming it if it was pending) unless
/// this step or a later one was accepted already: one conditional UPDATE, so a code is
/// accepted once even by racing replicas.
pub fn accept_totp_step(
    conn: &mut DbConn,
    user_id: &str,
    step: i64,
    now: i64,
) -> QueryResult<bool> {
    let target = totp_factors::table
        .find(user_id)
        .filter(totp_factors::last_step.lt(step));
    let n = diesel::update(target)
        .set((
            totp_factors::last_step.eq(step),
            totp_factors::confirmed_at.eq(diesel::dsl::sql::<
                diesel::sql_types::Nullable<diesel::sql_types::BigInt>,
            >(&format!("COALESCE(confirmed_at, {now})"))),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

pub fn delete_totp(conn: &mut DbConn, user_id: &str) -> QueryResult<usize> {
    diesel::delete(totp_factors::table.find(user_id)).execute(conn)
}

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = passkeys)]
pub struct PasskeyRow {
    pub credential_id: String,
    pub user_id: String,
    /// The WebAuthn user handle, a UUID (the same for all of a user's passkeys).
    pub user_handle: String,
    pub name: String,
    /// webauthn-rs's `Passkey`, JSON.
    pub credential: String,
    pub sign_count: i64,
    pub backup_eligible: bool,
    pub backup_state: bool,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

pub fn passkeys_of(conn: &mut DbConn, user_id: &str) -> QueryResult<Vec<PasskeyRow>> {
    passkeys::table
        .filter(passkeys::user_id.eq(user_id))
        .order(passkeys::created_at.asc())
        .select(PasskeyRow::as_select())
        .load(conn)
}

pub fn passkey(conn: &mut DbConn, credential_id: &str) -> QueryResult<Option<PasskeyRow>> {
    passkeys::table
        .find(credential_id)
        .select(PasskeyRow::as_select())
        .first(conn)
        .optional()
}

pub fn insert_passkey(conn: &mut DbConn, row: &PasskeyRow) -> QueryResult<()> {
    diesel::insert_into(passkeys::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

/// Records a use: the credential as updated (counter, backup state) and when.
pub fn passkey_used(
    conn: &mut DbConn,
    credential_id: &str,
    credential: &str,
    sign_count: i64,
    backup_state: bool,
    now: i64,
) -> QueryResult<usize> {
    diesel::update(passkeys::table.find(credential_id))
        .set((
            passkeys::credential.eq(credential),
            passkeys::sign_count.eq(sign_count),
            passkeys::backup_state.eq(backup_state),
            passkeys::last_used_at.eq(Some(now)),
        ))
        .execute(conn)
}

pub fn rename_passkey(
    conn: &mut DbConn,
    user_id: &str,
    credential_id: &str,
    name: &str,
) -> QueryResult<usize> {
    diesel::update(
        passkeys::table
            .find(credential_id)
            .filter(passkeys::user_id.eq(user_id)),
    )
    .set(passkeys::name.eq(name))
    .execute(conn)
}

pub fn delete_passkey(conn: &mut DbConn, user_id: &str, credential_id: &str) -> QueryResult<usize> {
    diesel::delete(
        passkeys::table
            .find(credential_id)
            .filter(passkeys::user_id.eq(user_id)),
    )
    .execute(conn)
}

/// Replaces the user's recovery codes with these (SHA-256 hex) hashes.
pub fn replace_recovery_codes(
    conn: &mut DbConn,
    user_id: &str,
    hashes: &[String],
    now: i64,
) -> QueryResult<()> {
    conn.transaction(|conn| {
        diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user_id)))
            .execute(conn)?;
        for h in hashes {
            diesel::insert_into(recovery_codes::table)
                .values((
                    recovery_codes::code_hash.eq(h),
                    recovery_codes::user_id.eq(user_id),
                    recovery_codes::created_at.eq(now),
                ))
                .execute(conn)?;
        }
        Ok(())
    })
}

/// Spends the code with this hash: true once, for its own user, never again.
pub fn use_recovery_code(
    conn: &mut DbConn,
    user_id: &str,
    code_hash: &str,
    now: i64,
) -> QueryResult<bool> {
    let n = diesel::update(
        recovery_codes::table
            .find(code_hash)
            .filter(recovery_codes::user_id.eq(user_id))
            .filter(recovery_codes::used_at.is_null()),
    )
    .set(recovery_codes::used_at.eq(Some(now)))
    .execute(conn)?;
    Ok(n == 1)
}

/// What a user has enrolled, in one statement (it is read on every password login): a
/// confirmed TOTP factor, the number of passkeys, the recovery codes left.
pub fn summary(conn: &mut DbConn, user_id: &str) -> QueryResult<(bool, i64, i64)> {
    use diesel::dsl::exists;
    let (totp, passkeys, recovery): (bool, Option<i64>, Option<i64>) = diesel::select((
        exists(
            totp_factors::table
                .filter(totp_factors::user_id.eq(user_id))
                .filter(totp_factors::confirmed_at.is_not_null()),
        ),
        passkeys::table
            .filter(passkeys::user_id.eq(user_id))
            .count()
            .single_value(),
        recovery_codes::table
            .filter(recovery_codes::user_id.eq(user_id))
            .filter(recovery_codes::used_at.is_null())
            .count()
            .single_value(),
    ))
    .get_result(conn)?;
    Ok((totp, passkeys.unwrap_or(0), recovery.unwrap_or(0)))
}

pub fn recovery_codes_left(conn: &mut DbConn, user_id: &str) -> QueryResult<i64> {
    recovery_codes::table
        .filter(recovery_codes::user_id.eq(user_id))
        .filter(recovery_codes::used_at.is_null())
        .count()
        .get_result(conn)
}

/// Removes every factor of a user (an administrator's reset).
pub fn delete_all(conn: &mut DbConn, user_id: &str) -> QueryResult<usize> {
    conn.transaction(|conn| {
        let mut n = delete_totp(conn, user_id)?;
        n += diesel::delete(passkeys::table.filter(passkeys::user_id.eq(user_id))).execute(conn)?;
        n += diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user_id)))
            .execute(conn)?;
        Ok(n)
    })
}

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = webauthn_ceremonies)]
pub struct CeremonyRow {
    pub id_hash: String,
    pub kind: String,
    pub user_id: Option<String>,
    pub state: String,
    pub expires_at: i64,
}

pub fn insert_ceremony(conn: &mut DbConn, row: &CeremonyRow) -> QueryResult<()> {
    diesel::insert_into(webauthn_ceremonies::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

/// Takes the ceremony out (single use): the row if it existed, was of this kind and live.
pub fn take_ceremony(
    conn: &mut DbConn,
    id_hash: &str,
    kind: &str,
    now: i64,
) -> QueryResult<Option<CeremonyRow>> {
    conn.transaction(|conn| {
        let row = webauthn_ceremonies::table
            .find(id_hash)
            .select(CeremonyRow::as_select())
            .first(conn)
            .optional()?;
        let Some(row) = row else { return Ok(None) };
        let n = diesel::delete(webauthn_ceremonies::table.find(id_hash)).execute(conn)?;
        Ok(Some(row).filter(|r| n == 1 && r.kind == kind && r.expires_at > now))
    })
}
