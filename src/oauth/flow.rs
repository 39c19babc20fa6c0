//! One per-request endpoint that plugs our primitives into oxide-auth's code-grant state
//! machines. Built fresh for every request around a pooled connection (never a global actor), so
//! any replica can serve any step of a flow.

use oxide_auth::code_grant::{accesstoken, authorization, client_credentials, refresh};
use oxide_auth::primitives::authorizer::Authorizer;
use oxide_auth::primitives::issuer::Issuer;
use oxide_auth::primitives::registrar::Registrar;

use super::authorizer::DbAuthorizer;
use super::context::Ctx;
use super::issuer::{GrantKind, JwtIssuer};
use super::pkce::PkceExtension;
use super::registrar::DbRegistrar;
use super::tokens::SuccessorKey;

pub struct Flow<'a> {
    registrar: DbRegistrar<'a>,
    authorizer: DbAuthorizer<'a>,
    issuer: JwtIssuer<'a>,
    pkce: PkceExtension<'a>,
    no_extension: (),
}

impl<'a> Flow<'a> {
    pub fn new(ctx: &'a Ctx, kind: GrantKind, successor_key: &'a SuccessorKey) -> Self {
        Flow {
            registrar: DbRegistrar(ctx, kind),
            authorizer: DbAuthorizer(ctx),
            issuer: JwtIssuer {
                ctx,
                kind,
                successor_key,
            },
            pkce: PkceExtension(ctx),
            no_extension: (),
        }
    }
}

impl authorization::Endpoint for Flow<'_> {
    fn registrar(&self) -> &dyn Registrar {
        &self.registrar
    }
    fn authorizer(&mut self) -> &mut dyn Authorizer {
        &mut self.authorizer
    }
    fn extension(&mut self) -> &mut dyn authorization::Extension {
        &mut self.pkce
    }
}

impl accesstoken::Endpoint for Flow<'_> {
    fn registrar(&self) -> &dyn Registrar {
        &self.registrar
    }
    fn authorizer(&mut self) -> &mut dyn Authorizer {
        &mut self.authorizer
    }
    fn issuer(&mut self) -> &mut dyn Issuer {
        &mut self.issuer
    }
    fn extension(&mut self) -> &mut dyn accesstoken::Extension {
        &mut self.pkce
    }
}

impl refresh::Endpoint for Flow<'_> {
    fn registrar(&self) -> &dyn Registrar {
        &self.registrar
    }
    fn issuer(&mut self) -> &mut dyn Issuer {
        &mut self.issuer
    }
}

impl client_credentials::Endpoint for Flow<'_> {
    fn registrar(&self) -> &dyn Registrar {
        &self.registrar
    }
    fn issuer(&mut self) -> &mut dyn Issuer {
        &mut self.issuer
    }
    fn extension(&mut self) -> &mut dyn client_credentials::Extension {
        &mut self.no_extension
    }
}
