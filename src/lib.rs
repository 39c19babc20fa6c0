//! Ostiary: an OAuth 2.0 / OpenID Connect identity provider. See ARCHITECTURE.md for the map.

pub mod account_policy;
pub mod accounts;
pub mod audit;
pub mod authn;
pub mod backchannel;
pub mod cache;
pub mod cli;
pub mod clients;
pub mod config;
pub mod crypto;
pub mod db;
pub mod domain;
pub mod mail;
pub mod maintenance;
pub mod metrics;
pub mod oauth;
pub mod oidc;
pub mod outbound;
pub mod outbox;
pub mod outbox_sender;
pub mod random;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod web;
