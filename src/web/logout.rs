//! GET/POST /logout (OIDC RP-Initiated Logout 1.0). A verified request ends the session at
//! once; anything else is confirmed by the user first. Redirects only to registered URIs.

use actix_web::http::{header, Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::session;
use super::templates::render;
use crate::oidc::frontchannel;
use crate::oidc::logout::{self, LogoutPlan, LogoutRequest};
use crate::state::AppState;
use crate::web::error::{error_page, AppError};

#[derive(Template)]
#[template(path = "logout.html")]
struct ConfirmPage<'a> {
    client_name: Option<&'a str>,
    csrf_token: &'a str,
    hidden: Vec<(&'static str, String)>,
}

/// Signed out; with front-channel logout frames to load (and, with a `redirect`, a script that
/// continues there once they loaded, or after a short wait; a visible link without script).
#[derive(Template)]
#[template(path = "logged_out.html")]
struct LoggedOutPage<'a> {
    frames: Vec<&'a str>,
    redirect: Option<&'a str>,
    nonce: &'a str,
}

/// The front-channel logout frames of the session about to end (`oidc::frontchannel`), read
/// before it ends.
async fn frames_of(
    state: &web::Data<AppState>,
    session: Option<&crate::db::models::sessions::SessionRow>,
) -> Result<Vec<frontchannel::Frame>, AppError> {
    let Some(lineage) = session
        .filter(|s| s.user_id.is_some())
        .map(|s| s.lineage().to_owned())
    else {
        return Ok(Vec::new());
    };
    let st = state.clone();
    web::block(move || {
        let mut conn = st.pool.get()?;
        Ok::<_, AppError>(frontchannel::frames(
            &mut conn,
            &st.settings.issuer,
            &lineage,
        )?)
    })
    .await?
}

fn parse(pairs: &[(String, String)]) -> (LogoutRequest, Option<String>, bool) {
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    (
        LogoutRequest {
            id_token_hint: get("id_token_hint").filter(|v| !v.is_empty()),
            post_logout_redirect_uri: get("post_logout_redirect_uri").filter(|v| !v.is_empty()),
            state: get("state").filter(|v| !v.is_empty()),
            client_id: get("client_id").filter(|v| !v.is_empty()),
        },
        get("csrf_token"),
        get("confirm").as_deref() == Some("yes"),
    )
}

pub async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let raw: &[u8] = if req.method() == Method::POST {
        &body
    } else {
        req.query_string().as_bytes()
    };
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(raw)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let (request, csrf, _) = parse(&pairs);
    let current = session::current(&req, &state).await?;
    // A POST from our own pages (sign-out button, confirmation) carries the session's CSRF token.
    let confirmed = req.method() == Method::POST
        && session::check_form_csrf(&req, &state, current.as_ref(), csrf.as_deref()).is_ok();
    if req.method() == Method::POST && current.is_some() && !confirmed && csrf.is_some() {
        return Err(AppError::Csrf);
    }

    let st = state.clone();
    let user = current.as_ref().and_then(|s| s.user_id.clone());
    let req_copy = request.clone();
    let plan = web::block(move || {
        let mut conn = st.pool.get()?;
        Ok::<_, AppError>(logout::plan(
            &mut conn,
            &st.keys,
            &st.settings.issuer,
            &req_copy,
            user.as_deref(),
        )?)
    })
    .await??;

    let finish = |redirect: Option<String>,
                  frames: Vec<frontchannel::Frame>|
     -> Result<HttpResponse, AppError> {
        let clear = session::clearing_cookie(&state);
        // A half-done login (password passed, second step pending) ends with the session.
        let pending = super::pending_login::clearing(&state);
        if !frames.is_empty() {
            // Front-channel logout: the frames load before the browser goes anywhere else.
            let nonce = crate::random::token::<16>();
            let mut res = render(
                HttpResponse::Ok(),
                &LoggedOutPage {
                    frames: frames.iter().map(|f| f.src.as_str()).collect(),
                    redirect: redirect.as_deref(),
                    nonce: &nonce,
                },
                Some(clear),
            )?;
            res.add_cookie(&pending).map_err(AppError::internal)?;
            let origins: Vec<String> = frames.into_iter().map(|f| f.origin).collect();
            if let Ok(v) =
                header::HeaderValue::from_str(&crate::web::csp::logged_out_policy(&nonce, &origins))
            {
                res.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
            }
            return Ok(res);
        }
        match redirect {
            Some(to) => Ok(HttpResponse::Found()
                .cookie(clear)
                .cookie(pending)
                .insert_header((header::LOCATION, to))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .finish()),
            None => {
                let page = LoggedOutPage {
                    frames: Vec::new(),
                    redirect: None,
                    nonce: "",
                };
                let mut res = render(HttpResponse::Ok(), &page, Some(clear))?;
                res.add_cookie(&pending).map_err(AppError::internal)?;
                Ok(res)
            }
        }
    };
    match plan {
        LogoutPlan::Reject(message) => Ok(error_page(
            StatusCode::BAD_REQUEST,
            "This sign-out request cannot be completed",
            &message,
            Some("invalid_request"),
        )),
        LogoutPlan::Proceed { redirect } => {
            let frames = frames_of(&state, current.as_ref()).await?;
            session::destroy(&req, &state).await?;
            finish(redirect, frames)
        }
        LogoutPlan::Confirm { redirect, .. } if confirmed => {
            let frames = frames_of(&state, current.as_ref()).await?;
            session::destroy(&req, &state).await?;
            finish(redirect, frames)
        }
        LogoutPlan::Confirm { client_name, .. } => {
            let (token, _) = session::form_token(&req, &state).await?;
            let mut hidden = Vec::new();
            for (name, value) in [
                ("id_token_hint", &request.id_token_hint),
                (
                    "post_logout_redirect_uri",
                    &request.post_logout_redirect_uri,
                ),
                ("state", &request.state),
                ("client_id", &request.client_id),
            ] {
                if let Some(v) = value {
                    hidden.push((name, v.clone()));
                }
            }
            render(
                HttpResponse::Ok(),
                &ConfirmPage {
                    client_name: client_name.as_deref(),
                    csrf_token: &token.token,
                    hidden,
                },
                token.cookie,
            )
        }
    }
}
