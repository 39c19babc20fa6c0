//! OpenID Connect on top of the OAuth 2.0 core: discovery, id_tokens, claims, userinfo, token
//! revocation and introspection, RP-initiated logout. Written by us: oxide-auth has no OIDC.

pub mod claims;
pub mod discovery;
pub mod frontchannel;
pub mod id_token;
pub mod introspection;
pub mod logout;
pub mod revocation;
pub mod userinfo;
