//! WebAuthn (passkeys) through webauthn-rs: registration of named, discoverable credentials
//! with user verification; their use as a second factor (the user is known) or alone
//! (username-less: the credential names its user). Each ceremony's state waits in the database
//! between its two requests and is taken out, once, by the second.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey, PasskeyAuthentication, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential, Url, Uuid, Webauthn, WebauthnBuilder,
};
use webauthn_rs_proto::ResidentKeyRequirement;

use super::acr::{Method, Methods};
use crate::db::models::factors::{self, CeremonyRow, PasskeyRow};
use crate::db::models::users::User;
use crate::db::DbConn;
use crate::random;

/// Time for the browser's prompt (webauthn-rs asks browsers for five minutes).
pub const CEREMONY_TTL: i64 = 300;
const REGISTER: &str = "register";
const SECOND_FACTOR: &str = "second_factor";
const PASSWORDLESS: &str = "passwordless";

/// The relying party for `issuer`: its host is the RP ID, its origin the only one accepted.
/// `None` when the host is not a domain name (browsers refuse IP addresses as RP IDs).
pub fn relying_party(issuer: &str) -> Option<Webauthn> {
    let origin = Url::parse(issuer).ok()?;
    let rp_id = origin.domain()?.to_owned();
    WebauthnBuilder::new(&rp_id, &origin)
        .and_then(|b| b.rp_name("Ostiary").build())
        .map_err(|e| tracing::warn!(error = %e, "passkeys are off: the issuer cannot be a WebAuthn relying party"))
        .ok()
}

#[derive(Debug, thiserror::Error)]
pub enum PasskeyError {
    #[error("database: {0}")]
    Db(#[from] diesel::result::Error),
    #[error("passkeys are not available on this server (its address is not a domain name)")]
    Unavailable,
    #[error("this passkey request expired or was used already; try again")]
    Ceremony,
    #[error("the passkey could not be verified")]
    Rejected(#[source] webauthn_rs::prelude::WebauthnError),
    #[error("this passkey is not registered here")]
    Unknown,
    #[error("this passkey is registered already")]
    Duplicate,
    #[error("there is no passkey for this account")]
    NoPasskeys,
    #[error("stored passkey data is unreadable: {0}")]
    Stored(#[source] serde_json::Error),
}

/// A ceremony begun: its id (for the finishing request) and the options for the browser.
pub struct Begun {
    pub ceremony: String,
    pub options: Value,
}

fn stored<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, PasskeyError> {
    serde_json::from_str(json).map_err(PasskeyError::Stored)
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String, PasskeyError> {
    serde_json::to_string(v).map_err(PasskeyError::Stored)
}

fn keep(
    conn: &mut DbConn,
    kind: &str,
    user_id: Option<&str>,
    state: String,
    options: Value,
    now: i64,
) -> Result<Begun, PasskeyError> {
    let ceremony = random::token::<32>();
    factors::insert_ceremony(
        conn,
        &CeremonyRow {
            id_hash: random::sha256_hex(&ceremony),
            kind: kind.to_owned(),
            user_id: user_id.map(str::to_owned),
            state,
            expires_at: now + CEREMONY_TTL,
        },
    )?;
    Ok(Begun { ceremony, options })
}

/// Takes the ceremony out: it works once, for the user it was begun for.
fn take(
    conn: &mut DbConn,
    ceremony: &str,
    kind: &str,
    user_id: Option<&str>,
    now: i64,
) -> Result<String, PasskeyError> {
    if ceremony.len() > 64 {
        return Err(PasskeyError::Ceremony);
    }
    let row = factors::take_ceremony(conn, &random::sha256_hex(ceremony), kind, now)?
        .ok_or(PasskeyError::Ceremony)?;
    if row.user_id.as_deref() != user_id {
        return Err(PasskeyError::Ceremony);
    }
    Ok(row.state)
}

fn credentials_of(
    conn: &mut DbConn,
    user_id: &str,
) -> Result<Vec<(PasskeyRow, Passkey)>, PasskeyError> {
    factors::passkeys_of(conn, user_id)?
        .into_iter()
        .map(|row| {
            let pk: Passkey = stored(&row.credential)?;
            Ok((row, pk))
        })
        .collect()
}

/// The counter and backup flags webauthn-rs keeps inside a credential (it has no accessors).
fn flags(pk: &Passkey) -> (i64, bool, bool) {
    let v = serde_json::to_value(pk).unwrap_or(Value::Null);
    let c = &v["cred"];
    (
        c["counter"].as_i64().unwrap_or(0),
        c["backup_eligible"].as_bool().unwrap_or(false),
        c["backup_state"].as_bool().unwrap_or(false),
    )
}

/// Starts registering a passkey for `user`; the browser may not re-register one it holds.
pub fn begin_registration(
    conn: &mut DbConn,
    wa: &Webauthn,
    user: &User,
    now: i64,
) -> Result<Begun, PasskeyError> {
    let existing = credentials_of(conn, &user.id)?;
    let handle = existing
        .first()
        .and_then(|(row, _)| Uuid::parse_str(&row.user_handle).ok())
        .unwrap_or_else(Uuid::new_v4);
    let exclude: Vec<_> = existing
        .iter()
        .map(|(_, pk)| pk.cred_id().clone())
        .collect();
    let display = user.name.clone().unwrap_or_else(|| user.username.clone());
    let (mut options, state) = wa
        .start_passkey_registration(
            handle,
            &user.username,
            &display,
            Some(exclude).filter(|e| !e.is_empty()),
        )
        .map_err(PasskeyError::Rejected)?;
    // A discoverable credential, so the same passkey also signs in without a username (the
    // library's default is a non-resident key); user verification stays required.
    if let Some(sel) = options.public_key.authenticator_selection.as_mut() {
        sel.resident_key = Some(ResidentKeyRequirement::Required);
        sel.require_resident_key = true;
    }
    let options = serde_json::to_value(&options).map_err(PasskeyError::Stored)?;
    let state = to_json(&(handle.to_string(), state))?;
    keep(conn, REGISTER, Some(&user.id), state, options, now)
}

/// Verifies the browser's new credential and stores it under `name`.
pub fn finish_registration(
    conn: &mut DbConn,
    wa: &Webauthn,
    user: &User,
    ceremony: &str,
    name: &str,
    credential: &Value,
    now: i64,
) -> Result<(PasskeyRow, Vec<Method>), PasskeyError> {
    let state = take(conn, ceremony, REGISTER, Some(&user.id), now)?;
    let (handle, state): (String, PasskeyRegistration) = stored(&state)?;
    let reg: RegisterPublicKeyCredential =
        serde_json::from_value(credential.clone()).map_err(|_| PasskeyError::Ceremony)?;
    let pk = wa
        .finish_passkey_registration(&reg, &state)
        .map_err(PasskeyError::Rejected)?;
    let id = URL_SAFE_NO_PAD.encode(pk.cred_id());
    if factors::passkey(conn, &id)?.is_some() {
        return Err(PasskeyError::Duplicate);
    }
    let (sign_count, backup_eligible, backup_state) = flags(&pk);
    let row = PasskeyRow {
        credential_id: id,
        user_id: user.id.clone(),
        user_handle: handle,
        name: name.to_owned(),
        credential: to_json(&pk)?,
        sign_count,
        backup_eligible,
        backup_state,
        created_at: now,
        last_used_at: None,
    };
    factors::insert_passkey(conn, &row)?;
    // Registration required user verification: the person holds the key and unlocked it.
    let methods = Methods::passkey(backup_eligible, true);
    Ok((row, methods))
}

/// Starts a second-factor assertion with the user's passkeys.
pub fn begin_second_factor(
    conn: &mut DbConn,
    wa: &Webauthn,
    user_id: &str,
    now: i64,
) -> Result<Begun, PasskeyError> {
    let creds: Vec<Passkey> = credentials_of(conn, user_id)?
        .into_iter()
        .map(|(_, pk)| pk)
        .collect();
    if creds.is_empty() {
        return Err(PasskeyError::NoPasskeys);
    }
    let (options, state) = wa
        .start_passkey_authentication(&creds)
        .map_err(PasskeyError::Rejected)?;
    let options = serde_json::to_value(&options).map_err(PasskeyError::Stored)?;
    keep(
        conn,
        SECOND_FACTOR,
        Some(user_id),
        to_json(&state)?,
        options,
        now,
    )
}

/// Records a successful assertion on the stored credential (counter, backup state, last use)
/// and says what it proved.
fn used(
    conn: &mut DbConn,
    row: &PasskeyRow,
    mut pk: Passkey,
    result: &webauthn_rs::prelude::AuthenticationResult,
    now: i64,
) -> Result<Vec<Method>, PasskeyError> {
    pk.update_credential(result);
    let (sign_count, _, backup_state) = flags(&pk);
    factors::passkey_used(
        conn,
        &row.credential_id,
        &to_json(&pk)?,
        sign_count,
        backup_state,
        now,
    )?;
    Ok(Methods::passkey(
        row.backup_eligible || result.backup_eligible(),
        result.user_verified(),
    ))
}

/// Verifies a second-factor assertion for `user_id`.
pub fn finish_second_factor(
    conn: &mut DbConn,
    wa: &Webauthn,
    user_id: &str,
    ceremony: &str,
    credential: &Value,
    now: i64,
) -> Result<Vec<Method>, PasskeyError> {
    let state: PasskeyAuthentication =
        stored(&take(conn, ceremony, SECOND_FACTOR, Some(user_id), now)?)?;
    let cred: PublicKeyCredential =
        serde_json::from_value(credential.clone()).map_err(|_| PasskeyError::Ceremony)?;
    let result = wa
        .finish_passkey_authentication(&cred, &state)
        .map_err(PasskeyError::Rejected)?;
    let id = URL_SAFE_NO_PAD.encode(result.cred_id());
    let row = factors::passkey(conn, &id)?
        .filter(|r| r.user_id == user_id)
        .ok_or(PasskeyError::Unknown)?;
    let pk: Passkey = stored(&row.credential)?;
    used(conn, &row, pk, &result, now)
}

/// Starts a username-less assertion: any discoverable credential for this site.
pub fn begin_passwordless(
    conn: &mut DbConn,
    wa: &Webauthn,
    now: i64,
) -> Result<Begun, PasskeyError> {
    let (options, state) = wa
        .start_discoverable_authentication()
        .map_err(PasskeyError::Rejected)?;
    let mut options = serde_json::to_value(&options).map_err(PasskeyError::Stored)?;
    // The library asks for conditional (autofill) mediation; the page's button wants the
    // ordinary prompt, and decides that itself.
    if let Some(o) = options.as_object_mut() {
        o.remove("mediation");
    }
    keep(conn, PASSWORDLESS, None, to_json(&state)?, options, now)
}

/// Verifies a username-less assertion: the user its credential belongs to, and what it proved.
pub fn finish_passwordless(
    conn: &mut DbConn,
    wa: &Webauthn,
    ceremony: &str,
    credential: &Value,
    now: i64,
) -> Result<(String, Vec<Method>), PasskeyError> {
    let state: DiscoverableAuthentication =
        stored(&take(conn, ceremony, PASSWORDLESS, None, now)?)?;
    let cred: PublicKeyCredential =
        serde_json::from_value(credential.clone()).map_err(|_| PasskeyError::Ceremony)?;
    let (handle, raw_id) = wa
        .identify_discoverable_authentication(&cred)
        .map_err(PasskeyError::Rejected)?;
    let row =
        factors::passkey(conn, &URL_SAFE_NO_PAD.encode(raw_id))?.ok_or(PasskeyError::Unknown)?;
    // webauthn-rs does not tie the presented user handle to the credential's owner: we do.
    if Uuid::parse_str(&row.user_handle).ok() != Some(handle) {
        return Err(PasskeyError::Unknown);
    }
    let pk: Passkey = stored(&row.credential)?;
    let result = wa
        .finish_discoverable_authentication_v2(&cred, state, &pk)
        .map_err(PasskeyError::Rejected)?;
    if !result.user_verified() {
        return Err(PasskeyError::Unknown);
    }
    let methods = used(conn, &row, pk, &result, now)?;
    Ok((row.user_id, methods))
}
