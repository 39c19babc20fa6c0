//! The Content-Security-Policy of our pages: what they may load, in one place. Every response
//! gets `policy(None)` (the security headers in `startup`); the one exception is a page showing
//! a verified client's logo, which lets that logo's origin, and nothing else, into `img-src`.
//! An unverified client's logo is never shown (`templates::client_logo`), so no page makes a
//! browser fetch from a host an administrator has not vouched for (a tracking pixel, a
//! look-alike logo).

use actix_web::http::header::{HeaderValue, CONTENT_SECURITY_POLICY};
use actix_web::HttpResponse;

/// The policy; `logo_origin` is an origin as `url::Origin::ascii_serialization` writes it
/// (`https://host[:port]`: no spaces or semicolons, so it cannot add a directive).
pub fn policy(logo_origin: Option<&str>) -> String {
    let img = match logo_origin {
        Some(origin) => format!("'self' data: {origin}"),
        None => "'self' data:".to_owned(),
    };
    // Forms may end in a redirect to a client, which Chromium checks against form-action.
    format!(
        "default-src 'self'; img-src {img}; frame-ancestors 'none'; \
         form-action 'self' http: https:; base-uri 'none'"
    )
}

/// Sets the policy of a page showing a logo from `logo_origin` (the default headers leave a
/// policy already set alone).
pub fn allow_logo(res: &mut HttpResponse, logo_origin: &str) {
    if let Ok(v) = HeaderValue::from_str(&policy(Some(logo_origin))) {
        res.headers_mut().insert(CONTENT_SECURITY_POLICY, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_come_from_us_unless_a_logo_origin_is_named() {
        let p = policy(None);
        assert!(p.contains("img-src 'self' data:;"), "{p}");
        let p = policy(Some("https://logo.example"));
        assert!(
            p.contains("img-src 'self' data: https://logo.example;"),
            "{p}"
        );
        assert!(p.contains("frame-ancestors 'none'"));
    }
}
