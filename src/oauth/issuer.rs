//! The `Issuer`: JWT access tokens (RFC 9068) and refresh tokens in families with atomic
//! rotation, an opt-in grace window for retries, and family revocation on reuse.

use oxide_auth::primitives::grant::{Extensions, Grant};
use oxide_auth::primitives::issuer::{IssuedToken, Issuer, RefreshedToken, TokenType};

use super::authorizer::to_time;
use super::context::{Ctx, Noted};
use super::errors::ProtocolError;
use super::tokens::{
    mint_access_token, new_refresh_token, AccessTokenRequest, Issued, SuccessorKey,
};
use crate::db::models::codes;
use crate::db::models::refresh::{self, FamilyRow, Liveness, Rotation, TokenRow};
use crate::domain::grants::GRANT_REFRESH_TOKEN;
use crate::random;

/// Which grant the issuer serves in this request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrantKind {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
}

pub struct JwtIssuer<'a> {
    pub ctx: &'a Ctx,
    pub kind: GrantKind,
    pub successor_key: &'a SuccessorKey,
}

impl JwtIssuer<'_> {
    fn mint(
        &self,
        subject: &str,
        client_id: &str,
        scope: &str,
        auth_time: Option<i64>,
        amr: Option<&str>,
        claims: Option<&str>,
    ) -> Result<(String, String, i64), ()> {
        let ctx = self.ctx;
        mint_access_token(
            &ctx.keys,
            ctx.settings.access_token_alg,
            &AccessTokenRequest {
                issuer: &ctx.settings.issuer,
                subject,
                client_id,
                scope,
                auth_time,
                amr,
                ttl: ctx.settings.access_token_ttl,
                now: ctx.now,
                audience: None,
                act: None,
                claims,
            },
        )
        .map_err(|e| {
            tracing::error!(error = %e, "signing access token failed");
            ctx.note(Noted::Storage);
        })
    }

    fn storage<T>(&self, r: diesel::QueryResult<T>) -> Result<T, ()> {
        r.map_err(|e| {
            tracing::error!(error = %e, "token storage failed");
            self.ctx.note_storage(&e);
        })
    }
}

/// The `sub` of an access token for `user_id` at `client_id`: what the client sees
/// (`subject::for_client`), pairwise ones too (RFC 9068 §2.2 leaves it to the server; a
/// client can read its JWT). Whoever reads it back resolves it (`subject::user_of_token`).
fn token_subject(ctx: &Ctx, client_id: &str, user_id: &str) -> diesel::QueryResult<String> {
    match ctx.client(client_id) {
        Some(c) if super::subject::is_pairwise(&c) => {
            let mut conn = ctx.conn()?;
            super::subject::for_client(&mut conn, &c, user_id)
        }
        _ => Ok(user_id.to_owned()),
    }
}

/// A user's login that tokens are issued for: from an authorization code, or an approved
/// device code.
pub struct Login {
    pub client_id: String,
    pub user_id: String,
    /// Canonical (sorted, space-separated).
    pub scope: String,
    pub auth_time: i64,
    pub amr: Option<String>,
    pub session_id: Option<String>,
    pub nonce: Option<String>,
    /// The released `claims` request (stored JSON).
    pub claims: Option<String>,
}

/// Mints the access token for `login` and, when the client may refresh, starts a refresh
/// family; what was issued goes back to the caller (and, for the code grant, to oxide-auth).
pub fn issue_for_login(ctx: &Ctx, login: Login) -> Result<Issued, ProtocolError> {
    let storage = |e: diesel::result::Error| {
        ctx.note_storage(&e);
        ProtocolError::from(e)
    };
    let sub = token_subject(ctx, &login.client_id, &login.user_id).map_err(storage)?;
    let (token, jti, exp) = mint_access_token(
        &ctx.keys,
        ctx.settings.access_token_alg,
        &AccessTokenRequest {
            issuer: &ctx.settings.issuer,
            subject: &sub,
            client_id: &login.client_id,
            scope: &login.scope,
            auth_time: Some(login.auth_time),
            amr: login.amr.as_deref(),
            ttl: ctx.settings.access_token_ttl,
            now: ctx.now,
            audience: None,
            act: None,
            claims: login.claims.as_deref(),
        },
    )
    .map_err(|e| {
        ctx.note(Noted::Storage);
        ProtocolError::server_error(format!("signing an access token: {e}"))
    })?;
    let wants_refresh = ctx
        .client(&login.client_id)
        .is_some_and(|c| c.allows_grant(GRANT_REFRESH_TOKEN));
    let mut refresh_token = None;
    let mut family_id = None;
    if wants_refresh {
        let t = new_refresh_token();
        let family = FamilyRow {
            id: random::token::<16>(),
            client_id: login.client_id.clone(),
            user_id: Some(login.user_id.clone()),
            scope: login.scope.clone(),
            auth_time: Some(login.auth_time),
            session_id: login.session_id.clone(),
            created_at: ctx.now,
            expires_at: ctx.now + ctx.settings.refresh_token_ttl,
            revoked_at: None,
            amr: login.amr.clone(),
            claims: login.claims.clone(),
        };
        let first = TokenRow {
            token_hash: random::sha256_hex(&t),
            family_id: family.id.clone(),
            generation: 0,
            scope: login.scope.clone(),
            created_at: ctx.now,
            expires_at: family.expires_at,
            rotated_at: None,
            successor_hash: None,
        };
        let mut conn = ctx.conn().map_err(storage)?;
        refresh::create_family(&mut conn, &family, &first).map_err(storage)?;
        family_id = Some(family.id);
        refresh_token = Some(t);
    }
    Ok(Issued {
        access_token: token,
        jti,
        expires_in: exp - ctx.now,
        expires_at: exp,
        refresh_token,
        scope: login.scope,
        client_id: login.client_id,
        subject: sub,
        user_id: Some(login.user_id),
        auth_time: Some(login.auth_time),
        nonce: login.nonce,
        session_id: login.session_id,
        amr: login.amr,
        claims: login.claims,
        family_id,
    })
}

impl Issuer for JwtIssuer<'_> {
    fn issue(&mut self, grant: Grant) -> Result<IssuedToken, ()> {
        let ctx = self.ctx;
        let scope = super::tokens::canonical_scope(&grant.scope);
        match self.kind {
            GrantKind::ClientCredentials => {
                let (token, jti, exp) =
                    self.mint(&grant.client_id, &grant.client_id, &scope, None, None, None)?;
                *ctx.issued.borrow_mut() = Some(Issued {
                    access_token: token.clone(),
                    jti,
                    expires_in: exp - ctx.now,
                    expires_at: exp,
                    refresh_token: None,
                    scope,
                    client_id: grant.client_id.clone(),
                    subject: grant.client_id,
                    user_id: None,
                    auth_time: None,
                    nonce: None,
                    session_id: None,
                    amr: None,
                    claims: None,
                    family_id: None,
                });
                Ok(IssuedToken {
                    token,
                    refresh: None,
                    until: to_time(exp),
                    token_type: TokenType::Bearer,
                })
            }
            GrantKind::AuthorizationCode | GrantKind::RefreshToken => {
                let code = ctx.redeemed_code.borrow().clone().ok_or(())?;
                let login = Login {
                    client_id: grant.client_id,
                    user_id: grant.owner_id,
                    scope,
                    auth_time: code.auth_time,
                    amr: code.amr,
                    session_id: code.session_id,
                    nonce: code.nonce,
                    claims: code.claims,
                };
                // The cause is logged and noted; oxide-auth only learns that it failed.
                let issued = issue_for_login(ctx, login).map_err(|_| ())?;
                {
                    let mut conn = self.storage(ctx.conn())?;
                    self.storage(codes::record_issued(
                        &mut conn,
                        &code.code_hash,
                        issued.family_id.as_deref(),
                        &issued.jti,
                    ))?;
                }
                let token = issued.access_token.clone();
                let refresh = issued.refresh_token.clone();
                let until = to_time(issued.expires_at);
                *ctx.issued.borrow_mut() = Some(issued);
                Ok(IssuedToken {
                    token,
                    refresh,
                    until,
                    token_type: TokenType::Bearer,
                })
            }
        }
    }

    fn refresh(&mut self, presented: &str, grant: Grant) -> Result<RefreshedToken, ()> {
        let ctx = self.ctx;
        let hash = random::sha256_hex(presented);
        let found = {
            let mut conn = self.storage(ctx.conn())?;
            self.storage(refresh::find(&mut conn, &hash))?
        };
        let Some((row, family)) = found else {
            ctx.note(Noted::BadRefreshToken);
            return Err(());
        };
        let successor = self.successor_key.successor_of(presented);
        let next = TokenRow {
            token_hash: random::sha256_hex(&successor),
            family_id: family.id.clone(),
            generation: row.generation + 1,
            scope: family.scope.clone(),
            created_at: ctx.now,
            expires_at: family.expires_at,
            rotated_at: None,
            successor_hash: None,
        };
        let rotation = {
            let mut conn = self.storage(ctx.conn())?;
            self.storage(refresh::rotate(
                &mut conn,
                &hash,
                &next,
                ctx.now,
                ctx.settings.refresh_grace,
            ))?
        };
        match rotation {
            Rotation::Rotated | Rotation::Retried => {}
            Rotation::ReuseDetected => {
                crate::metrics::METRICS.refresh_reuse.inc();
                tracing::warn!(client_id = %family.client_id, family = %family.id, "refresh token reused after rotation; family revoked");
                ctx.note(Noted::BadRefreshToken);
                return Err(());
            }
            Rotation::Invalid => {
                ctx.note(Noted::BadRefreshToken);
                return Err(());
            }
        }
        let scope = super::tokens::canonical_scope(&grant.scope);
        let subject = match &family.user_id {
            Some(uid) => self.storage(token_subject(ctx, &family.client_id, uid))?,
            None => family.client_id.clone(),
        };
        let (token, jti, exp) = self.mint(
            &subject,
            &family.client_id,
            &scope,
            family.auth_time,
            family.amr.as_deref(),
            family.claims.as_deref(),
        )?;
        *ctx.issued.borrow_mut() = Some(Issued {
            access_token: token.clone(),
            jti,
            expires_in: exp - ctx.now,
            expires_at: exp,
            refresh_token: Some(successor.clone()),
            scope,
            client_id: family.client_id,
            subject,
            user_id: family.user_id,
            auth_time: family.auth_time,
            nonce: None,
            session_id: family.session_id,
            amr: family.amr,
            claims: family.claims,
            family_id: Some(family.id.clone()),
        });
        Ok(RefreshedToken {
            token,
            refresh: Some(successor),
            until: to_time(exp),
            token_type: TokenType::Bearer,
        })
    }

    fn recover_token<'a>(&'a self, _: &'a str) -> Result<Option<Grant>, ()> {
        // Access tokens are self-contained JWTs, verified by `oidc`, never looked up here.
        Ok(None)
    }

    fn recover_refresh<'a>(&'a self, presented: &'a str) -> Result<Option<Grant>, ()> {
        let ctx = self.ctx;
        let hash = random::sha256_hex(presented);
        let found = {
            let mut conn = self.storage(ctx.conn())?;
            self.storage(refresh::find(&mut conn, &hash))?
        };
        let Some((row, family)) = found else {
            ctx.note(Noted::BadRefreshToken);
            return Ok(None);
        };
        let liveness = {
            let mut conn = self.storage(ctx.conn())?;
            self.storage(refresh::liveness(
                &mut conn,
                &row,
                &family,
                ctx.now,
                ctx.settings.refresh_grace,
            ))?
        };
        match liveness {
            Liveness::Live | Liveness::RecentlyRotated => {}
            Liveness::Dead => {
                ctx.note(Noted::BadRefreshToken);
                return Ok(None);
            }
            Liveness::Rotated => {
                crate::metrics::METRICS.refresh_reuse.inc();
                tracing::warn!(client_id = %family.client_id, family = %family.id, "refresh token reused after rotation; family revoked");
                let mut conn = self.storage(ctx.conn())?;
                self.storage(refresh::revoke_family(&mut conn, &family.id, ctx.now))?;
                ctx.note(Noted::BadRefreshToken);
                return Ok(None);
            }
        }
        Ok(Some(Grant {
            owner_id: family.user_id.clone().unwrap_or_default(),
            client_id: family.client_id.clone(),
            scope: family.scope.parse().map_err(|_| ())?,
            redirect_uri: ctx.settings.issuer.parse().map_err(|_| ())?,
            until: to_time(family.expires_at),
            extensions: Extensions::new(),
        }))
    }
}
