//! Protocol errors as domain values; the web layer gives them their HTTP form.

/// RFC 6749 §5.2 error codes (plus RFC 6749 §4.1.2.1 ones used in redirects).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    UnsupportedResponseType,
    InvalidScope,
    AccessDenied,
    ServerError,
    TemporarilyUnavailable,
    /// RFC 8628 §3.5.
    AuthorizationPending,
    SlowDown,
    ExpiredToken,
    /// RFC 8693 §2.2.2.
    InvalidTarget,
    /// OIDC Core §6.4, RFC 9101 §6.3: the request object is invalid.
    InvalidRequestObject,
    /// OIDC Core §6.4, RFC 9101 §7: the request_uri is not registered or cannot be fetched.
    InvalidRequestUri,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::UnsupportedResponseType => "unsupported_response_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::ServerError => "server_error",
            ErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
            ErrorCode::AuthorizationPending => "authorization_pending",
            ErrorCode::SlowDown => "slow_down",
            ErrorCode::ExpiredToken => "expired_token",
            ErrorCode::InvalidTarget => "invalid_target",
            ErrorCode::InvalidRequestObject => "invalid_request_object",
            ErrorCode::InvalidRequestUri => "invalid_request_uri",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtocolError {
    pub code: ErrorCode,
    pub description: String,
    /// A failed client authentication of a client that used the Authorization header: its
    /// answer carries a Basic challenge (RFC 6749 §5.2). Set only by `client_auth::answer`.
    pub basic_challenge: bool,
}

impl ProtocolError {
    pub fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        ProtocolError {
            code,
            description: description.into(),
            basic_challenge: false,
        }
    }

    pub fn invalid_request(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, d)
    }

    pub fn invalid_client(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidClient, d)
    }

    pub fn invalid_grant(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidGrant, d)
    }

    pub fn server_error(cause: impl std::fmt::Display) -> Self {
        tracing::error!(%cause, "protocol request failed");
        Self::new(
            ErrorCode::ServerError,
            "the server could not complete the request",
        )
    }
}

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.description)
    }
}

impl From<diesel::result::Error> for ProtocolError {
    fn from(e: diesel::result::Error) -> Self {
        if crate::db::is_unavailable(&e) {
            tracing::warn!(error = %e, "database unavailable");
            return ProtocolError::new(
                ErrorCode::TemporarilyUnavailable,
                "the server is busy; retry shortly",
            );
        }
        ProtocolError::server_error(format!("database: {e}"))
    }
}
