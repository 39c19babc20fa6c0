//! The `Issuer`: JWT access tokens (RFC 9068) and refresh tokens in families with atomic
//! rotation, an opt-in grace window for retries, and family revocation on reuse.

use oxide_auth::primitives::grant::{Extensions, Grant};
use oxide_auth::primitives::issuer::{IssuedToken, Issuer, RefreshedToken, TokenType};

use super::authorizer::to_time;
use super::client_policy::GRANT_REFRESH_TOKEN;
use super::context::{Ctx, Noted};
use super::tokens::{
    mint_access_token, new_refresh_token, AccessTokenRequest, Issued, SuccessorKey,
};
use crate::crypto::random;
use crate::db::models::codes;
use crate::db::models::refresh::{self, FamilyRow, Liveness, Rotation, TokenRow};

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
            self.ctx.note(Noted::Storage);
        })
    }
}

impl Issuer for JwtIssuer<'_> {
    fn issue(&mut self, grant: Grant) -> Result<IssuedToken, ()> {
        let ctx = self.ctx;
        let scope = super::tokens::canonical_scope(&grant.scope);
        match self.kind {
            GrantKind::ClientCredentials => {
                let (token, jti, exp) =
                    self.mint(&grant.client_id, &grant.client_id, &scope, None, None)?;
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
                let (token, jti, exp) = self.mint(
                    &grant.owner_id,
                    &grant.client_id,
                    &scope,
                    Some(code.auth_time),
                    code.amr.as_deref(),
                )?;
                let wants_refresh = ctx
                    .client(&grant.client_id)
                    .is_some_and(|c| c.allows_grant(GRANT_REFRESH_TOKEN));
                let mut refresh_token = None;
                let mut family_id = None;
                if wants_refresh {
                    let t = new_refresh_token();
                    let family = FamilyRow {
                        id: random::token::<16>(),
                        client_id: grant.client_id.clone(),
                        user_id: Some(grant.owner_id.clone()),
                        scope: scope.clone(),
                        auth_time: Some(code.auth_time),
                        session_id: code.session_id.clone(),
                        created_at: ctx.now,
                        expires_at: ctx.now + ctx.settings.refresh_token_ttl,
                        revoked_at: None,
                        amr: code.amr.clone(),
                    };
                    let first = TokenRow {
                        token_hash: random::sha256_hex(&t),
                        family_id: family.id.clone(),
                        generation: 0,
                        scope: scope.clone(),
                        created_at: ctx.now,
                        expires_at: family.expires_at,
                        rotated_at: None,
                        successor_hash: None,
                    };
                    let mut conn = ctx.conn();
                    self.storage(refresh::create_family(&mut conn, &family, &first))?;
                    family_id = Some(family.id);
                    refresh_token = Some(t);
                }
                {
                    let mut conn = ctx.conn();
                    self.storage(codes::record_issued(
                        &mut conn,
                        &code.code_hash,
                        family_id.as_deref(),
                        &jti,
                    ))?;
                }
                *ctx.issued.borrow_mut() = Some(Issued {
                    access_token: token.clone(),
                    jti,
                    expires_in: exp - ctx.now,
                    expires_at: exp,
                    refresh_token: refresh_token.clone(),
                    scope,
                    client_id: grant.client_id,
                    subject: grant.owner_id.clone(),
                    user_id: Some(grant.owner_id),
                    auth_time: Some(code.auth_time),
                    nonce: code.nonce,
                    session_id: code.session_id,
                    amr: code.amr,
                });
                Ok(IssuedToken {
                    token,
                    refresh: refresh_token,
                    until: to_time(exp),
                    token_type: TokenType::Bearer,
                })
            }
        }
    }

    fn refresh(&mut self, presented: &str, grant: Grant) -> Result<RefreshedToken, ()> {
        let ctx = self.ctx;
        let hash = random::sha256_hex(presented);
        let found = {
            let mut conn = ctx.conn();
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
            let mut conn = ctx.conn();
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
        let subject = family
            .user_id
            .clone()
            .unwrap_or_else(|| family.client_id.clone());
        let (token, jti, exp) = self.mint(
            &subject,
            &family.client_id,
            &scope,
            family.auth_time,
            family.amr.as_deref(),
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
            let mut conn = ctx.conn();
            self.storage(refresh::find(&mut conn, &hash))?
        };
        let Some((row, family)) = found else {
            ctx.note(Noted::BadRefreshToken);
            return Ok(None);
        };
        let liveness = {
            let mut conn = ctx.conn();
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
                tracing::warn!(client_id = %family.client_id, family = %family.id, "refresh token reused after rotation; family revoked");
                let mut conn = ctx.conn();
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
