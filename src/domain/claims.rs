//! The claims of our JWT access tokens (RFC 9068), as minted, verified and cached.

use serde::{Deserialize, Serialize};

/// RFC 9068 §2.2 claims.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub client_id: String,
    pub scope: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub auth_time: Option<i64>,
    /// RFC 9068 §2.2.3.1: how the user authenticated, for resource servers that demand more.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub acr: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub amr: Option<Vec<String>>,
    /// RFC 8693 §4.1: who acts on the subject's behalf (token exchange).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub act: Option<serde_json::Value>,
    /// The claims the client asked to read at userinfo with this token (OIDC Core §5.5's
    /// `claims.userinfo`, as released to it), beyond those of its scope.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub userinfo_claims: Option<Vec<String>>,
}
