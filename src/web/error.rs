//! Errors as users and clients see them: HTML pages for browsers (`AppError`), RFC 6749 §5.2
//! JSON for the client-facing protocol endpoints (the HTTP form of `oauth::errors::
//! ProtocolError`), RFC 6750 for bearer-protected resources (`web::bearer`).
//! The cause goes to the log; the response says only what the caller can act on.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use askama::Template;
use serde_json::json;

use crate::oauth::errors::{ErrorCode, ProtocolError};

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
impl From<ProtocolError> for AppError {
    fn from(e: ProtocolError) -> Self {
        match e.code {
            ErrorCode::TemporarilyUnavailable => AppError::Busy {
                retry_after: UNAVAILABLE_RETRY_AFTER,
            },
            _ => AppError::Internal(e.to_string()),
        }
    }
}

impl From<crate::oidc::userinfo::UserinfoError> for AppError {
    fn from(e: crate::oidc::userinfo::UserinfoError) -> Self {
        match e {
            crate::oidc::userinfo::UserinfoError::Db(e) => e.into(),
            other => AppError::Internal(other.to_string()),
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

/// The answer for a path no route serves: the styled page people see for every other error,
/// rather than actix's empty 404.
pub async fn not_found() -> HttpResponse {
    AppError::NotFound.error_response()
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

/// The HTTP form of a protocol error (RFC 6749 §5.2), for every client-facing JSON endpoint
/// (token, revocation, introspection, PAR, device authorization): JSON `error` and
/// `error_description`, `Cache-Control: no-store` and `Pragma: no-cache`. A failed client
/// authentication is 401, with a Basic challenge when the client used the Authorization header
/// (`oauth::client_auth::answer` decides; §5.2), a server failure 500, the database away 503 with
/// `Retry-After`, anything else 400. The one place this mapping is made.
impl ResponseError for ProtocolError {
    fn status_code(&self) -> StatusCode {
        match self.code {
            ErrorCode::InvalidClient => StatusCode::UNAUTHORIZED,
            ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let mut res = HttpResponse::build(status);
        res.insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::PRAGMA, "no-cache"));
        if self.code == ErrorCode::InvalidClient && self.basic_challenge {
            res.insert_header((header::WWW_AUTHENTICATE, CLIENT_CHALLENGE));
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            res.insert_header((header::RETRY_AFTER, UNAVAILABLE_RETRY_AFTER.to_string()));
        }
        let error = self.code.as_str();
        let mut out = res.json(json!({ "error": error, "error_description": self.description }));
        crate::web::metrics::tag(&mut out, None, Some(error));
        out
    }
}

/// The challenge of a 401 `invalid_client` (RFC 6749 §5.2, RFC 7617).
const CLIENT_CHALLENGE: &str = "Basic realm=\"ostiary\", charset=\"UTF-8\"";
