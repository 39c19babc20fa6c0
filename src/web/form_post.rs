//! OAuth 2.0 Form Post Response Mode: the authorization response as a page whose form posts
//! itself to the client's redirect URI. A script allowed by a per-response CSP nonce submits it;
//! without script, the person presses "Continue". Never cached (the form holds a code).

use actix_web::http::header::{HeaderValue, CONTENT_SECURITY_POLICY};
use actix_web::HttpResponse;
use askama::Template;

use super::templates::render;
use crate::oauth::response_mode::FormPost;
use crate::web::error::AppError;

#[derive(Template)]
#[template(path = "form_post.html")]
struct FormPostPage<'a> {
    action: &'a str,
    fields: &'a [(String, String)],
    nonce: &'a str,
}

/// The self-submitting page for `post` (`Cache-Control: no-store`, a CSP whose only script is
/// this page's, by nonce, and whose only form target besides us is the redirect URI).
pub fn page(post: &FormPost) -> Result<HttpResponse, AppError> {
    let nonce = crate::random::token::<16>();
    let mut res = render(
        HttpResponse::Ok(),
        &FormPostPage {
            action: &post.action,
            fields: &post.fields,
            nonce: &nonce,
        },
        None,
    )?;
    let policy = super::csp::form_post_policy(&nonce, &post.action);
    if let Ok(v) = HeaderValue::from_str(&policy) {
        res.headers_mut().insert(CONTENT_SECURITY_POLICY, v);
    }
    Ok(res)
}
