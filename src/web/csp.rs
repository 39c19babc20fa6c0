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

/// Where a form may be posted besides us: the origin of `action` (`https://host[:port]`), or for
/// a URI without one (a native app's private-use scheme) its scheme.
fn form_target(action: &str) -> Option<String> {
    let url = url::Url::parse(action).ok()?;
    let origin = url.origin();
    if origin.is_tuple() {
        Some(origin.ascii_serialization())
    } else {
        let scheme = url.scheme();
        scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
            .then(|| format!("{scheme}:"))
    }
}

/// The policy of the logged-out page with front-channel logout frames (`web::logout`): frames
/// from exactly `frame_origins` (origins as `url::Origin::ascii_serialization` writes them), and
/// the one script that continues to the client once they loaded, by `nonce`.
pub fn logged_out_policy(nonce: &str, frame_origins: &[String]) -> String {
    let mut origins: Vec<&str> = frame_origins.iter().map(String::as_str).collect();
    origins.sort_unstable();
    origins.dedup();
    let frames = if origins.is_empty() {
        "'none'".to_owned()
    } else {
        origins.join(" ")
    };
    format!(
        "default-src 'self'; script-src 'nonce-{nonce}'; frame-src {frames}; \
         img-src 'self' data:; frame-ancestors 'none'; form-action 'self' http: https:; \
         base-uri 'none'"
    )
}

/// The policy of the form-post response page (`web::form_post`): its one inline script runs by
/// `nonce` (no `'unsafe-inline'`), and its form may go to `action`'s origin only.
pub fn form_post_policy(nonce: &str, action: &str) -> String {
    let target = form_target(action).unwrap_or_else(|| "'none'".to_owned());
    format!(
        "default-src 'self'; script-src 'nonce-{nonce}'; img-src 'self' data:; \
         frame-ancestors 'none'; form-action {target}; base-uri 'none'"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logged_out_pages_frame_exactly_the_clients_origins() {
        let p = logged_out_policy(
            "n1",
            &[
                "https://b.example".to_owned(),
                "https://a.example:8443".to_owned(),
                "https://b.example".to_owned(),
            ],
        );
        assert!(
            p.contains("frame-src https://a.example:8443 https://b.example;"),
            "{p}"
        );
        assert!(p.contains("script-src 'nonce-n1';"), "{p}");
    }

    #[test]
    fn form_post_pages_run_their_nonce_and_post_only_to_the_redirect_origin() {
        let p = form_post_policy("abc", "https://rp.example:8443/cb?x=1");
        assert!(p.contains("script-src 'nonce-abc';"), "{p}");
        assert!(p.contains("form-action https://rp.example:8443;"), "{p}");
        assert!(!p.contains("unsafe-inline"), "{p}");
        let p = form_post_policy("abc", "com.example.app:/cb");
        assert!(p.contains("form-action com.example.app:;"), "{p}");
    }

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
