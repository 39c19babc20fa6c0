//! The diesel-backed `Authorizer`: 256-bit codes stored as SHA-256, single use by a conditional
//! UPDATE; a replayed code revokes what was issued from it (RFC 6749 §4.1.2).

use std::collections::BTreeMap;

use oxide_auth::primitives::authorizer::Authorizer;
use oxide_auth::primitives::grant::{Extensions, Grant, Value};
use serde::{Deserialize, Serialize};

use super::context::{Ctx, Noted};
use crate::db::models::codes::{self, CodeRow, Redeem};
use crate::db::models::{denylist, refresh};
use crate::random;

pub struct DbAuthorizer<'a>(pub &'a Ctx);

#[derive(Serialize, Deserialize)]
enum StoredValue {
    Public(Option<String>),
    Private(Option<String>),
}

/// Grant extensions (PKCE data) as JSON for the code row.
fn encode_extensions(ext: &Extensions, ids: &[&'static str]) -> Option<String> {
    let mut map = BTreeMap::new();
    for (k, v) in ext.public() {
        if ids.contains(&k) {
            map.insert(k.to_owned(), StoredValue::Public(v.map(str::to_owned)));
        }
    }
    for (k, v) in ext.private() {
        if ids.contains(&k) {
            map.insert(k.to_owned(), StoredValue::Private(v.map(str::to_owned)));
        }
    }
    (!map.is_empty()).then(|| serde_json::to_string(&map).unwrap_or_default())
}

fn decode_extensions(stored: Option<&str>) -> Extensions {
    let mut ext = Extensions::new();
    let map: BTreeMap<String, StoredValue> = stored
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default();
    for (k, v) in map {
        let value = match v {
            StoredValue::Public(p) => Value::public(p),
            StoredValue::Private(p) => Value::private(p),
        };
        ext.set_raw(k, value);
    }
    ext
}

pub fn to_time(secs: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(secs, 0).unwrap_or_default()
}

impl Authorizer for DbAuthorizer<'_> {
    fn authorize(&mut self, grant: Grant) -> Result<String, ()> {
        let ctx = self.0;
        let code = random::token::<32>();
        let extra = ctx.code_context.borrow().clone();
        let row = CodeRow {
            code_hash: random::sha256_hex(&code),
            client_id: grant.client_id.clone(),
            user_id: grant.owner_id.clone(),
            redirect_uri: grant.redirect_uri.as_str().to_owned(),
            scope: super::tokens::canonical_scope(&grant.scope),
            nonce: extra.nonce,
            code_challenge: None,
            code_challenge_method: None,
            session_id: extra.session_id,
            auth_time: extra.auth_time,
            extensions: encode_extensions(&grant.extensions, &["pkce"]),
            created_at: ctx.now,
            expires_at: ctx.now + ctx.settings.code_ttl,
            consumed_at: None,
            family_id: None,
            access_jti: None,
            amr: extra.amr,
            redirect_uri_given: extra.redirect_uri_given,
            claims: extra.claims,
        };
        let mut conn = ctx.conn().map_err(|e| {
            tracing::error!(error = %e, "no connection to store an authorization code");
        })?;
        codes::insert(&mut conn, &row).map_err(|e| {
            tracing::error!(error = %e, "storing authorization code failed");
        })?;
        Ok(code)
    }

    fn extract(&mut self, code: &str) -> Result<Option<Grant>, ()> {
        let ctx = self.0;
        let hash = random::sha256_hex(code);
        let outcome = ctx
            .conn()
            .and_then(|mut conn| codes::redeem(&mut conn, &hash, ctx.now));
        match outcome {
            Ok(Redeem::Fresh(row)) => {
                match ctx.user(&row.user_id) {
                    Ok(Some(u)) if !u.disabled => {}
                    Ok(_) => {
                        ctx.note(Noted::BadCode);
                        return Ok(None);
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "loading the code's user failed");
                        ctx.note_storage(&e);
                        return Err(());
                    }
                }
                let grant = Grant {
                    owner_id: row.user_id.clone(),
                    client_id: row.client_id.clone(),
                    scope: row.scope.parse().map_err(|_| ())?,
                    redirect_uri: row.redirect_uri.parse().map_err(|_| ())?,
                    until: to_time(row.expires_at),
                    extensions: decode_extensions(row.extensions.as_deref()),
                };
                *ctx.redeemed_code.borrow_mut() = Some(row);
                Ok(Some(grant))
            }
            Ok(Redeem::Replayed(row)) => {
                tracing::warn!(client_id = %row.client_id, "authorization code replayed; revoking what it issued");
                if let Ok(mut conn) = ctx.conn() {
                    if let Some(family) = &row.family_id {
                        let _ = refresh::revoke_family(&mut conn, family, ctx.now);
                    }
                    if let Some(jti) = &row.access_jti {
                        let _ =
                            denylist::add(&mut conn, jti, ctx.now + ctx.settings.access_token_ttl);
                    }
                }
                ctx.note(Noted::BadCode);
                Ok(None)
            }
            Ok(Redeem::Invalid) => {
                ctx.note(Noted::BadCode);
                Ok(None)
            }
            Err(e) => {
                tracing::error!(error = %e, "redeeming authorization code failed");
                ctx.note_storage(&e);
                Err(())
            }
        }
    }
}
