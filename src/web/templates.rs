//! The askama page types rendered by the web layer, and one helper to turn them into responses.

use actix_web::cookie::Cookie;
use actix_web::http::header;
use actix_web::{HttpResponse, HttpResponseBuilder};
use askama::Template;

use crate::web::error::AppError;

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage<'a> {
    pub csrf_token: &'a str,
    pub return_to: &'a str,
    pub username: &'a str,
    pub error: Option<&'a str>,
    pub client_name: Option<&'a str>,
    /// Anyone may create an account: the page links to /signup.
    pub signup_open: bool,
    /// Mail is configured, so a reset link can be sent: the page links to /forgot-password.
    pub password_reset: bool,
    /// Passkeys work here: the page offers a username-less sign-in.
    pub passkeys: bool,
    /// The pending request's client's privacy policy and terms of service.
    pub links: ClientLinks,
    /// A button per enabled upstream provider: (where it starts, its name).
    pub upstreams: &'a [UpstreamButton],
}

/// An upstream login that failed: what happened, and the way back to the sign-in page.
#[derive(Template)]
#[template(path = "upstream_error.html")]
pub struct UpstreamErrorPage<'a> {
    pub title: &'a str,
    pub message: &'a str,
    pub back: &'a str,
}

#[derive(Template)]
#[template(path = "consent.html")]
pub struct ConsentPage<'a> {
    pub client_name: &'a str,
    /// Only a verified client's (`client_logo`); otherwise the page shows `client_initial`.
    pub logo_uri: Option<&'a str>,
    pub client_initial: String,
    pub homepage_uri: Option<&'a str>,
    pub username: &'a str,
    pub scopes: Vec<String>,
    pub csrf_token: &'a str,
    /// Where the form posts: the original /authorize request, unchanged.
    pub action: &'a str,
    /// No administrator vouched for this client (it registered itself or is described by a
    /// metadata document): the page says so, with the host of its site.
    pub unverified: bool,
    pub client_host: Option<String>,
    /// The client's privacy policy and terms of service.
    pub links: ClientLinks,
}

/// A pending authorization request reached from a browser that did not start it: it cannot be
/// continued here; a new one can be started from the app.
#[derive(Template)]
#[template(path = "other_browser.html")]
pub struct OtherBrowserPage<'a> {
    pub client_name: &'a str,
    /// Where the app says a person starts using it (its `client_uri`), if it said.
    pub homepage_uri: Option<&'a str>,
}

/// A logo a page may show, and the origin its Content-Security-Policy must then allow.
pub struct ClientLogo<'a> {
    pub uri: &'a str,
    pub origin: String,
}

/// The client's logo, if a page may load it: only a verified client's (an administrator created
/// it or vouched for it). Anyone else's `logo_uri` is the client's own claim on its own host: a
/// tracking pixel for every consent shown, or a look-alike of a known app's logo.
pub fn client_logo(client: &crate::db::models::clients::Client) -> Option<ClientLogo<'_>> {
    if !client.row.verified {
        return None;
    }
    let uri = client.row.logo_uri.as_deref()?;
    let origin = url::Url::parse(uri).ok()?.origin();
    // An opaque origin (a `data:` or odd URL) cannot be named in a policy: no logo then.
    origin.is_tuple().then(|| ClientLogo {
        uri,
        origin: origin.ascii_serialization(),
    })
}

/// A client's privacy policy and terms of service (`policy_uri`, `tos_uri`), which OIDC
/// Dynamic Client Registration §2 asks the provider to show the person signing in. Links only
/// (nothing is loaded from the client's host), so shown for every client; the values were
/// admitted as https (or loopback http) URLs by `client_policy`, and anything else is left out.
#[derive(Clone, Debug, Default)]
pub struct ClientLinks {
    pub policy_uri: Option<String>,
    pub tos_uri: Option<String>,
}

impl ClientLinks {
    pub fn of(client: &crate::db::models::clients::Client) -> ClientLinks {
        let web_url = |key: &str| {
            client.metadata_url(key).filter(|u| {
                url::Url::parse(u).is_ok_and(|p| matches!(p.scheme(), "https" | "http"))
            })
        };
        ClientLinks {
            policy_uri: web_url("policy_uri"),
            tos_uri: web_url("tos_uri"),
        }
    }

    pub fn any(&self) -> bool {
        self.policy_uri.is_some() || self.tos_uri.is_some()
    }
}

/// What stands in for a logo: the first letter or digit of the client's name.
pub fn client_initial(name: &str) -> String {
    name.chars()
        .find(|c| c.is_alphanumeric())
        .map(|c| c.to_uppercase().collect())
        .unwrap_or_else(|| "?".to_owned())
}

/// The host shown beside an unverified client's name: where it really is, never what it says
/// about itself (`client_uri` is the client's own claim). A metadata-document client is at its
/// `client_id` URL's host; a self-registered one sends codes to its redirect URI's host.
pub fn client_host(client: &crate::db::models::clients::Client) -> Option<String> {
    use crate::db::models::clients::{ORIGIN_ADMIN, ORIGIN_DOCUMENT};
    let site = match client.row.origin.as_str() {
        ORIGIN_DOCUMENT => client.row.client_id.as_str(),
        ORIGIN_ADMIN => client.row.homepage_uri.as_deref()?,
        _ => client.redirect_uris.first()?.as_str(),
    };
    url::Url::parse(site).ok()?.host_str().map(str::to_owned)
}
#[derive(Template)]
#[template(path = "signed_in.html")]
pub struct SignedInPage<'a> {
    pub username: &'a str,
    pub csrf_token: &'a str,
    /// Links the admin console (the console itself still checks on every request).
    pub is_admin: bool,
}

/// Renders `page` as an HTML response that is never cached, setting `cookie` when given.
pub fn render(
    mut builder: HttpResponseBuilder,
    page: &impl Template,
    cookie: Option<Cookie<'static>>,
) -> Result<HttpResponse, AppError> {
    let body = page.render().map_err(AppError::internal)?;
    if let Some(c) = cookie {
        builder.cookie(c);
    }
    Ok(builder
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body))
}

/// A sign-in button for an upstream provider.
pub struct UpstreamButton {
    /// Where it starts (`/login/upstream/{id}?return_to=…`).
    pub href: String,
    pub name: String,
    /// A `data:` image URL checked by `providers::check` (shown inline: the page's `img-src`
    /// has `data:`).
    pub icon: Option<String>,
}
