//! OAuth 2.0 protocol logic. The only module that imports oxide-auth: our primitives
//! (registrar, authorizer, issuer, PKCE) plugged into its code-grant state machines, and domain
//! results the web layer turns into HTTP.

pub mod access_token;
pub mod authorize;
pub mod authorizer;
pub mod claims_request;
pub mod client_assertion;
pub mod client_auth;
pub mod client_policy;
pub mod context;
pub mod device;
pub mod errors;
pub mod flow;
pub mod issuer;
pub mod metadata_document;
pub mod par;
pub mod params;
pub mod pkce;
pub mod registrar;
pub mod registration;
pub mod request_object;
pub mod response_mode;
pub mod scope;
pub mod subject;
pub mod token;
pub mod tokens;
