//! Errors as users and clients see them: HTML pages for browsers, RFC 6749 §5.2 JSON for the
//! token, revocation and introspection endpoints, RFC 6750 for bearer-protected resources.
//! The cause goes to the log; the response says only what the caller can act on.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use askama::Template;
use serde_json::json;

/// A page-level failure.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    BadRequest(String),
    #[error("not found")]
    NotFound,
    #[error("forbidden")]
    Forbidden,
    /// Not logged in: go to the login page, then come back to this local path.
    #[error("login required")]
    LoginRequired(String),
    #[error("the form expired or was not sent from this site")]
    Csrf,
    #[error("busy")]
    Busy { retry_after: u32 },
    /// Too many password attempts: nothing was checked.
    #[error("too many attempts")]
    Throttled { retry_after: u64 },
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
    pub fn internal(e: impl std::fmt::Display) -> Self {
        AppError::Internal(e.to_string())
    }
}

impl From<diesel::result::Error> for AppError {
    fn from(e: diesel::result::Error) -> Self {
        if crate::db::is_unavailable(&e) {
            tracing::warn!(error = %e, "database unavailable");
            return AppError::Busy {
                retry_after: UNAVAILABLE_RETRY_AFTER,
            };
        }
        AppError::Internal(format!("database: {e}"))
    }
}

/// What a client is told to wait when the database is away (seconds).
pub const UNAVAILABLE_RETRY_AFTER: u32 = 5;

impl From<crate::db::DbError> for AppError {
    fn from(e: crate::db::DbError) -> Self {
        AppError::Internal(crate::db::redact_url(&e.to_string()))
    }
}

impl From<r2d2_err::PoolError> for AppError {
    fn from(e: r2d2_err::PoolError) -> Self {
        // No connection within `db_timeout`: the database is down or saturated. Fail fast,
        // and say when to come back, rather than hang or look broken.
        tracing::warn!(error = %crate::db::redact_url(&e.to_string()), "no database connection");
        AppError::Busy {
            retry_after: UNAVAILABLE_RETRY_AFTER,
        }
    }
}

/// A protocol failure met by a page: the database away is the busy page, anything else internal.
impl From<crate::oauth::errors::ProtocolError> for AppError {
    fn from(e: crate::oauth::errors::ProtocolError) -> Self {
        match e.code {
            crate::oauth::errors::ErrorCode::TemporarilyUnavailable => AppError::Busy {
                retry_after: UNAVAILABLE_RETRY_AFTER,
            },
            _ => AppError::Internal(e.to_string()),
        }
    }
}

impl From<crate::crypto::password::PasswordError> for AppError {
    fn from(e: crate::crypto::password::PasswordError) -> Self {
        match e {
            crate::crypto::password::PasswordError::Busy => AppError::Busy { retry_after: 2 },
            other => AppError::Internal(other.to_string()),
        }
    }
}

impl From<crate::authn::password::CheckError> for AppError {
    fn from(e: crate::authn::password::CheckError) -> Self {
        match e {
            crate::authn::password::CheckError::Password(p) => p.into(),
            crate::authn::password::CheckError::Db(e) => e.into(),
            crate::authn::password::CheckError::Pool(e) => e.into(),
            other => AppError::Internal(other.to_string()),
        }
    }
}

impl From<actix_web::error::BlockingError> for AppError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        AppError::Internal(e.to_string())
    }
}

mod r2d2_err {
    pub use diesel::r2d2::PoolError;
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage<'a> {
    pub title: &'a str,
    pub message: &'a str,
    pub error_code: Option<&'a str>,
    pub request_id: Option<String>,
}

/// Renders the error page; never redirects anywhere.
pub fn error_page(
    status: StatusCode,
    title: &str,
    message: &str,
    code: Option<&str>,
) -> HttpResponse {
    let page = ErrorPage {
        title,
        message,
        error_code: code,
        request_id: None,
    };
    let body = page
        .render()
        .unwrap_or_else(|_| format!("<!doctype html><title>{status}</title><p>{status}</p>"));
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body)
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            AppError::BadRequest(_) | AppError::Csrf => StatusCode::BAD_REQUEST,
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::Forbidden => StatusCode::FORBIDDEN,
            AppError::LoginRequired(_) => StatusCode::SEE_OTHER,
            AppError::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if let AppError::LoginRequired(back) = self {
            let target = format!(
                "/login?{}",
                url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("return_to", back)
                    .finish()
            );
            return HttpResponse::SeeOther()
                .insert_header((header::LOCATION, target))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .finish();
        }
        let (title, message) = match self {
            AppError::BadRequest(m) => ("Invalid request", m.as_str()),
            AppError::NotFound => ("Not found", "There is nothing at this address."),
            AppError::Forbidden => ("Not allowed", "Your account may not open this page."),
            AppError::LoginRequired(_) => ("Sign in", "Please sign in."),
            AppError::Csrf => (
                "Please try again",
                "This form expired or was not sent from this site. Go back, reload the page and submit it again.",
            ),
            AppError::Busy { .. } => (
                "Busy",
                "The server is busy right now. Please try again in a moment.",
            ),
            AppError::Throttled { .. } => (
                "Too many attempts",
                "There were too many password attempts. Wait a while, then try again.",
            ),
            AppError::Internal(cause) => {
                tracing::error!(%cause, "request failed");
                ("Something went wrong", "The server could not complete this request. Please try again later.")
            }
        };
        let mut res = error_page(status, title, message, None);
        let retry_after = match self {
            AppError::Busy { retry_after } => Some(u64::from(*retry_after)),
            AppError::Throttled { retry_after } => Some(*retry_after),
            _ => None,
        };
        if let Some(secs) = retry_after {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                res.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        res
    }
}

/// An OAuth 2.0 error response (RFC 6749 §5.2): JSON, `Cache-Control: no-store`, and for failed
/// client authentication 401 with `WWW-Authenticate`.
#[derive(Debug, Clone)]
pub struct OAuthError {
    pub status: StatusCode,
    pub error: &'static str,
    pub description: String,
    pub www_authenticate: Option<String>,
}

impl OAuthError {
    pub fn new(error: &'static str, description: impl Into<String>) -> Self {
        OAuthError {
            status: StatusCode::BAD_REQUEST,
            error,
            description: description.into(),
            www_authenticate: None,
        }
    }

    pub fn invalid_request(d: impl Into<String>) -> Self {
        Self::new("invalid_request", d)
    }

    pub fn invalid_grant(d: impl Into<String>) -> Self {
        Self::new("invalid_grant", d)
    }

    pub fn invalid_scope(d: impl Into<String>) -> Self {
        Self::new("invalid_scope", d)
    }

    pub fn unauthorized_client(d: impl Into<String>) -> Self {
        Self::new("unauthorized_client", d)
    }

    pub fn unsupported_grant_type(d: impl Into<String>) -> Self {
        Self::new("unsupported_grant_type", d)
    }

    /// Client authentication failed: 401, with a Basic challenge (RFC 6749 §5.2).
    pub fn invalid_client(d: impl Into<String>) -> Self {
        OAuthError {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_client",
            description: d.into(),
            www_authenticate: Some("Basic realm=\"ostiary\", charset=\"UTF-8\"".into()),
        }
    }

    pub fn server_error(cause: impl std::fmt::Display) -> Self {
        tracing::error!(%cause, "token endpoint failure");
        OAuthError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            error: "server_error",
            description: "the server could not complete the request".into(),
            www_authenticate: None,
        }
    }

    pub fn temporarily_unavailable() -> Self {
        OAuthError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            error: "temporarily_unavailable",
            description: "the server is busy; retry shortly".into(),
            www_authenticate: None,
        }
    }

    pub fn response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status);
        res.insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::PRAGMA, "no-cache"));
        if let Some(challenge) = &self.www_authenticate {
            res.insert_header((header::WWW_AUTHENTICATE, challenge.as_str()));
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            res.insert_header((header::RETRY_AFTER, UNAVAILABLE_RETRY_AFTER.to_string()));
        }
        let mut out =
            res.json(json!({ "error": self.error, "error_description": self.description }));
        crate::web::metrics::tag(&mut out, None, Some(self.error));
        out
    }
}

impl std::fmt::Display for OAuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error, self.description)
    }
}

impl ResponseError for OAuthError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        self.response()
    }
}

impl From<crate::oauth::errors::ProtocolError> for OAuthError {
    fn from(e: crate::oauth::errors::ProtocolError) -> Self {
        use crate::oauth::errors::ErrorCode;
        let mut out = OAuthError::new(e.code.as_str(), e.description);
        match e.code {
            ErrorCode::InvalidClient => {
                out.status = StatusCode::UNAUTHORIZED;
                out.www_authenticate = Some("Basic realm=\"ostiary\", charset=\"UTF-8\"".into());
            }
            ErrorCode::ServerError => out.status = StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::TemporarilyUnavailable => out.status = StatusCode::SERVICE_UNAVAILABLE,
            _ => {}
        }
        out
    }
}

impl From<diesel::result::Error> for OAuthError {
    fn from(e: diesel::result::Error) -> Self {
        OAuthError::server_error(format!("database: {e}"))
    }
}
