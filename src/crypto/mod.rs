//! Cryptographic building blocks. Nothing here logs or returns a secret in a form that could end
//! up in a log line: secrets are `String`s handed straight to the caller that must show them once.

pub mod jwt;
pub mod kek;
pub mod keys;
pub mod password;
