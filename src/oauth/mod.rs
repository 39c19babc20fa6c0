//! OAuth 2.0 protocol logic. The only module that imports oxide-auth.

pub mod client_policy;
