//! Why a round trip to an upstream failed (`FlowError`, with the words a page shows), and the
//! one reading of an upstream's JSON answer: shared by the round trip (`flow`) and the plain
//! OAuth 2.0 flavour (`oauth2`), below both.

use std::sync::Arc;

use serde_json::Value;

use crate::outbound::FetchError;

/// Why a round trip failed, in words for the page (`message`).
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    #[error("this sign-in provider is not available")]
    UnknownProvider,
    #[error("the sign-in has expired or was finished already")]
    UnknownState,
    #[error("the sign-in was started in another browser")]
    OtherBrowser,
    #[error("the provider refused the sign-in")]
    Upstream {
        error: String,
        description: Option<String>,
    },
    #[error("the provider could not be reached")]
    Unreachable(#[source] Arc<FetchError>),
    #[error("the provider's answer was not acceptable: {0}")]
    Invalid(&'static str),
    #[error("database error")]
    Db(#[from] diesel::result::Error),
    #[error("database pool error")]
    Pool(#[from] diesel::r2d2::PoolError),
    #[error("the task was cancelled")]
    Join,
}

impl From<FetchError> for FlowError {
    fn from(e: FetchError) -> Self {
        FlowError::Unreachable(Arc::new(e))
    }
}

impl From<crate::fetched::Unavailable> for FlowError {
    fn from(e: crate::fetched::Unavailable) -> Self {
        FlowError::Unreachable(e.0)
    }
}

impl FlowError {
    /// What the person is told (escaped by the page; nothing from the upstream unfiltered).
    pub fn message(&self, provider: &str) -> String {
        match self {
            FlowError::UnknownProvider => "This sign-in provider is not available.".into(),
            FlowError::UnknownState => {
                "This sign-in has expired or was finished already. Start again from the sign-in page."
                    .into()
            }
            FlowError::OtherBrowser => {
                "This sign-in was started in another browser. Start again from the sign-in page in this one."
                    .into()
            }
            FlowError::Upstream { error, description } => {
                let said = match error.as_str() {
                    "access_denied" => "the sign-in was cancelled or not allowed".to_owned(),
                    "login_required" | "interaction_required" | "consent_required" => {
                        "you need to sign in there first".to_owned()
                    }
                    "temporarily_unavailable" | "server_error" => {
                        "it is unavailable at the moment".to_owned()
                    }
                    other => format!("error \u{201c}{}\u{201d}", printable(other, 64)),
                };
                match description {
                    Some(d) => format!("{provider} said: {said} ({}).", printable(d, 200)),
                    None => format!("{provider} said: {said}."),
                }
            }
            FlowError::Unreachable(e) if matches!(**e, FetchError::Timeout(_)) => {
                format!("{provider} did not answer in time. Try again later, or sign in another way.")
            }
            FlowError::Unreachable(_) => format!(
                "{provider} could not be reached. Try again later, or sign in another way."
            ),
            FlowError::Invalid(why) => {
                format!("{provider}'s answer could not be verified ({why}). Nothing was changed.")
            }
            FlowError::Db(_) | FlowError::Pool(_) | FlowError::Join => {
                "Something went wrong on our side. Try again.".into()
            }
        }
    }

    /// Whether our side failed (a 500), rather than the upstream or the request.
    pub fn is_internal(&self) -> bool {
        matches!(
            self,
            FlowError::Db(_) | FlowError::Pool(_) | FlowError::Join
        )
    }
}

/// At most `max` characters of `s`, controls and invisible characters dropped (the page
/// escapes the rest).
fn printable(s: &str, max: usize) -> String {
    crate::domain::text::without_invisible(s)
        .chars()
        .filter(|c| !c.is_control())
        .take(max)
        .collect()
}

pub(super) fn json(r: &crate::outbound::Response) -> Result<Value, FlowError> {
    serde_json::from_slice::<Value>(&r.body)
        .ok()
        .filter(Value::is_object)
        .ok_or(FlowError::Invalid("not a JSON object"))
}

/// An upstream's answer that is a JSON array (GitHub's lists).
pub(super) fn json_list(r: &crate::outbound::Response) -> Result<Vec<Value>, FlowError> {
    match serde_json::from_slice::<Value>(&r.body) {
        Ok(Value::Array(a)) => Ok(a),
        _ => Err(FlowError::Invalid("not a JSON list")),
    }
}
