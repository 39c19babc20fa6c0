//! The one integration-test binary: real HTTP against a server on port 0 and a real database.

mod admin;
mod adversarial;
mod browser;
mod cli;
mod config;
mod devices;
mod durability;
mod factors;
mod hardening;
mod health;
mod helpers;
mod jws;
mod login;
mod mail;
mod maintenance;
mod metadata_document;
mod oauth_code;
mod oidc;
mod ops;
mod props;
mod protocol;
mod refresh;
mod registration;
mod rp;
mod signup;
mod storage;
