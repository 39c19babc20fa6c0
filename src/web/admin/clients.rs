//! Admin pages for clients: list, register (secret shown once), edit, rotate secret, delete.

use crate::audit::Event;
use std::collections::HashMap;

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::see_other;
use crate::clients::{self, Client, ClientRow, NewClient, StoreError};
use crate::db::{self};
use crate::domain::grants::SUPPORTED_GRANTS;
use crate::oauth::client_policy::{ClientSpec, AUTH_NONE, SUPPORTED_AUTH_METHODS};
use crate::state::AppState;
use crate::web::auth::{self, FormData, SignedIn};
use crate::web::db;
use crate::web::error::AppError;
use crate::web::session;
use crate::web::templates::render;

/// What the form shows: exactly what the admin typed, or the stored client.
#[derive(Default)]
pub struct ClientFormView {
    pub name: String,
    pub public: bool,
    pub redirect_uris: String,
    pub post_logout_redirect_uris: String,
    pub grant_types: Vec<String>,
    pub scopes: String,
    pub auth_method: String,
    pub id_token_alg: String,
    pub logo_uri: String,
    pub homepage_uri: String,
    pub policy_uri: String,
    pub tos_uri: String,
    /// The least authentication class; empty: any.
    pub minimum_acr: String,
    /// private_key_jwt: the keys' URL, or the JWK Set itself (JSON).
    pub jwks_uri: String,
    pub jwks: String,
    pub require_par: bool,
    pub backchannel_logout_uri: String,
    pub backchannel_logout_session_required: bool,
    pub frontchannel_logout_uri: String,
    pub frontchannel_logout_session_required: bool,
    /// Space-separated.
    pub token_exchange_audiences: String,
    /// One per line.
    pub request_uris: String,
    /// Empty: any signed one.
    pub request_object_signing_alg: String,
    pub require_signed_request_object: bool,
    /// Empty: plain JSON.
    pub userinfo_alg: String,
    /// `public` or `pairwise` (OIDC Core §8).
    pub subject_type: String,
    pub sector_identifier_uri: String,
}

impl ClientFormView {
    pub fn has_grant(&self, g: &str) -> bool {
        self.grant_types.iter().any(|x| x == g)
    }

    pub fn auth_is(&self, m: &str) -> bool {
        self.auth_method == m
    }

    pub fn alg_is(&self, a: &str) -> bool {
        self.id_token_alg == a
    }

    pub fn acr_is(&self, a: &str) -> bool {
        self.minimum_acr == a
    }

    pub fn subject_type_is(&self, t: &str) -> bool {
        self.subject_type == t || (t == "public" && self.subject_type.is_empty())
    }

    pub fn userinfo_alg_is(&self, a: &str) -> bool {
        self.userinfo_alg == a
    }

    pub fn request_alg_is(&self, a: &str) -> bool {
        self.request_object_signing_alg == a
    }

    fn defaults() -> Self {
        ClientFormView {
            grant_types: vec!["authorization_code".into(), "refresh_token".into()],
            scopes: "openid profile email".into(),
            auth_method: "client_secret_basic".into(),
            id_token_alg: "RS256".into(),
            ..Default::default()
        }
    }

    fn from_client(c: &Client) -> Self {
        let request_object = crate::oauth::request_object::ClientSettings::of(c);
        ClientFormView {
            name: c.row.name.clone(),
            public: c.row.is_public,
            redirect_uris: c.redirect_uris.join("\n"),
            post_logout_redirect_uris: c.post_logout_redirect_uris.join("\n"),
            grant_types: c.grant_types().map(str::to_owned).collect(),
            scopes: c.row.scopes.clone(),
            auth_method: c.row.auth_method.clone(),
            id_token_alg: c.row.id_token_alg.clone(),
            logo_uri: c.row.logo_uri.clone().unwrap_or_default(),
            homepage_uri: c.row.homepage_uri.clone().unwrap_or_default(),
            policy_uri: c.metadata_url("policy_uri").unwrap_or_default(),
            tos_uri: c.metadata_url("tos_uri").unwrap_or_default(),
            minimum_acr: c.row.minimum_acr.clone().unwrap_or_default(),
            jwks_uri: c
                .metadata()
                .get("jwks_uri")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned(),
            jwks: c
                .metadata()
                .get("jwks")
                .map(|v| v.to_string())
                .unwrap_or_default(),
            require_par: c.row.require_par,
            backchannel_logout_uri: c.row.backchannel_logout_uri.clone().unwrap_or_default(),
            backchannel_logout_session_required: c.row.backchannel_logout_session_required,
            frontchannel_logout_uri: c.row.frontchannel_logout_uri.clone().unwrap_or_default(),
            frontchannel_logout_session_required: c.row.frontchannel_logout_session_required,
            token_exchange_audiences: c.row.token_exchange_audiences.clone().unwrap_or_default(),
            request_uris: request_object.request_uris.join("\n"),
            request_object_signing_alg: request_object.signing_alg.unwrap_or_default(),
            require_signed_request_object: request_object.require_signed,
            userinfo_alg: c
                .metadata()
                .get("userinfo_signed_response_alg")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned(),
            subject_type: c
                .metadata()
                .get("subject_type")
                .and_then(|v| v.as_str())
                .unwrap_or("public")
                .to_owned(),
            sector_identifier_uri: c
                .metadata()
                .get("sector_identifier_uri")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned(),
        }
    }

    fn from_form(f: &FormData, public: bool) -> Self {
        ClientFormView {
            name: f.text("name"),
            public,
            redirect_uris: f.get("redirect_uris").unwrap_or("").to_owned(),
            post_logout_redirect_uris: f.get("post_logout_redirect_uris").unwrap_or("").to_owned(),
            grant_types: f.all("grant_types"),
            scopes: f.text("scopes"),
            auth_method: f.text("auth_method"),
            id_token_alg: f.text("id_token_alg"),
            logo_uri: f.text("logo_uri"),
            homepage_uri: f.text("homepage_uri"),
            policy_uri: f.text("policy_uri"),
            tos_uri: f.text("tos_uri"),
            minimum_acr: f.text("minimum_acr"),
            jwks_uri: f.text("jwks_uri"),
            jwks: f.text("jwks"),
            require_par: f.get("require_par").is_some(),
            backchannel_logout_uri: f.text("backchannel_logout_uri"),
            backchannel_logout_session_required: f
                .get("backchannel_logout_session_required")
                .is_some(),
            frontchannel_logout_uri: f.text("frontchannel_logout_uri"),
            frontchannel_logout_session_required: f
                .get("frontchannel_logout_session_required")
                .is_some(),
            token_exchange_audiences: f.text("token_exchange_audiences"),
            request_uris: f.get("request_uris").unwrap_or("").to_owned(),
            request_object_signing_alg: f.text("request_object_signing_alg"),
            require_signed_request_object: f.get("require_signed_request_object").is_some(),
            userinfo_alg: f.text("userinfo_alg"),
            subject_type: f.text("subject_type"),
            sector_identifier_uri: f.text("sector_identifier_uri"),
        }
    }

    fn spec(&self) -> ClientSpec {
        let lines = |s: &str| {
            s.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect()
        };
        ClientSpec {
            name: self.name.clone(),
            redirect_uris: lines(&self.redirect_uris),
            post_logout_redirect_uris: lines(&self.post_logout_redirect_uris),
            public: self.public,
            grant_types: self.grant_types.clone(),
            scopes: self
                .scopes
                .split_ascii_whitespace()
                .map(str::to_owned)
                .collect(),
            // Public clients have no secret whatever the menu says.
            auth_method: Some(if self.public {
                AUTH_NONE.to_owned()
            } else {
                self.auth_method.clone()
            }),
            id_token_alg: Some(self.id_token_alg.clone()),
            logo_uri: Some(self.logo_uri.clone()),
            homepage_uri: Some(self.homepage_uri.clone()),
            policy_uri: Some(self.policy_uri.clone()).filter(|u| !u.is_empty()),
            tos_uri: Some(self.tos_uri.clone()).filter(|u| !u.is_empty()),
            minimum_acr: Some(self.minimum_acr.clone()),
            jwks_uri: Some(self.jwks_uri.clone()).filter(|u| !u.is_empty()),
            // Text that is not JSON becomes a string, which validation refuses as a JWK Set.
            jwks: (!self.jwks.trim().is_empty()).then(|| {
                serde_json::from_str(&self.jwks)
                    .unwrap_or_else(|_| serde_json::Value::String(self.jwks.clone()))
            }),
            require_par: self.require_par,
            backchannel_logout_uri: Some(self.backchannel_logout_uri.clone()),
            backchannel_logout_session_required: self.backchannel_logout_session_required,
            frontchannel_logout_uri: Some(self.frontchannel_logout_uri.clone()),
            frontchannel_logout_session_required: self.frontchannel_logout_session_required,
            token_exchange_audiences: vec![self.token_exchange_audiences.clone()],
            request_uris: lines(&self.request_uris),
            request_object_signing_alg: Some(self.request_object_signing_alg.clone()),
            require_signed_request_object: self.require_signed_request_object,
            userinfo_signed_response_alg: Some(self.userinfo_alg.clone()),
            subject_type: Some(self.subject_type.clone()),
            sector_identifier_uri: Some(self.sector_identifier_uri.clone()),
            ..Default::default()
        }
    }
}

#[derive(Template)]
#[template(path = "admin/clients.html")]
struct ListPage<'a> {
    clients: Vec<ClientRow>,
    csrf_token: &'a str,
}

#[derive(Template)]
#[template(path = "admin/client_form.html")]
struct FormPage<'a> {
    heading: &'a str,
    action: &'a str,
    submit_label: &'a str,
    csrf_token: &'a str,
    form: ClientFormView,
    errors: HashMap<&'static str, String>,
    grant_choices: &'a [&'a str],
    auth_choices: &'a [&'a str],
    alg_choices: &'a [&'a str],
    request_alg_choices: &'a [&'a str],
    client_id: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "admin/client_secret.html")]
struct SecretPage<'a> {
    heading: &'a str,
    client_id: &'a str,
    client_secret: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "admin/client_delete.html")]
struct DeletePage<'a> {
    name: &'a str,
    client_id: &'a str,
    csrf_token: &'a str,
}

const ALGS: [&str; 3] = ["RS256", "ES256", "EdDSA"];
/// Request-object algorithms, unsigned last (`oauth::request_object`).
const REQUEST_ALGS: [&str; 5] = ["RS256", "PS256", "ES256", "EdDSA", "none"];

fn form_page(
    status: actix_web::HttpResponseBuilder,
    who: &SignedIn,
    editing: Option<&str>,
    form: ClientFormView,
    errors: HashMap<&'static str, String>,
) -> Result<HttpResponse, AppError> {
    let action = match editing {
        Some(id) => format!("/admin/clients/{id}"),
        None => "/admin/clients/new".to_owned(),
    };
    render(
        status,
        &FormPage {
            heading: if editing.is_some() {
                "Edit client"
            } else {
                "Register a client"
            },
            action: &action,
            submit_label: if editing.is_some() {
                "Save changes"
            } else {
                "Register client"
            },
            csrf_token: &who.session.csrf_token,
            form,
            errors,
            grant_choices: &SUPPORTED_GRANTS,
            auth_choices: &SUPPORTED_AUTH_METHODS,
            alg_choices: &ALGS,
            request_alg_choices: &REQUEST_ALGS,
            client_id: editing,
        },
        None,
    )
}

fn error_map(
    errors: Vec<crate::oauth::client_policy::FieldError>,
) -> HashMap<&'static str, String> {
    let mut map: HashMap<&'static str, String> = HashMap::new();
    for e in errors {
        map.entry(e.field)
            .and_modify(|m| {
                m.push_str("; ");
                m.push_str(&e.message);
            })
            .or_insert(e.message);
    }
    map
}

async fn load(state: &web::Data<AppState>, id: String) -> Result<std::sync::Arc<Client>, AppError> {
    let st = state.clone();
    db(state, move |conn| {
        Ok(clients::get(Some(&st.caches), conn, &id)?)
    })
    .await?
    .ok_or(AppError::NotFound)
}

/// A store refusal as the console shows it (a refused spec is the form again, handled apart).
fn store_error(e: StoreError) -> AppError {
    match e {
        StoreError::NotFound => AppError::NotFound,
        StoreError::Public => AppError::BadRequest("A public client has no secret.".into()),
        StoreError::Invalid(_) => AppError::BadRequest(e.to_string()),
        StoreError::Storage(e) => e.into(),
    }
}

pub async fn list(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let who = auth::require_admin(&req, &state).await?;
    let clients = db(&state, move |conn| Ok(clients::list(conn)?)).await?;
    render(
        HttpResponse::Ok(),
        &ListPage {
            clients,
            csrf_token: &who.session.csrf_token,
        },
        None,
    )
}

/// Marks a self-registered client verified (or not), or disables/enables any client.
pub async fn set_state(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let (who, form) = auth::admin_post(&req, &state, &body).await?;
    let (id, action) = path.into_inner();
    let audit_action = match action.as_str() {
        "verify" => Event::ClientVerify,
        "unverify" => Event::ClientUnverify,
        "disable" => Event::ClientDisable,
        "enable" => Event::ClientEnable,
        _ => return Err(AppError::NotFound),
    };
    if action == "disable" {
        auth::require_recent_auth(&state, &req, &who, &form).await?;
    }
    let (actor, ip) = (who.as_admin(), session::client_ip(&req));
    db(&state, move |conn| {
        let now = db::now();
        Ok(clients::write(conn, |tx| {
            match action.as_str() {
                "verify" => tx.set_verified(&id, true, now),
                "unverify" => tx.set_verified(&id, false, now),
                "disable" => tx.set_disabled(&id, true, now),
                _ => tx.set_disabled(&id, false, now),
            }?;
            Ok::<_, StoreError>(tx.audit(&actor, audit_action, &id, ip.as_deref())?)
        }))
    })
    .await?
    .map_err(store_error)?;
    Ok(see_other("/admin/clients"))
}

pub async fn new_form(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let who = auth::require_admin(&req, &state).await?;
    form_page(
        HttpResponse::Ok(),
        &who,
        None,
        ClientFormView::defaults(),
        HashMap::new(),
    )
}

pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let (who, form) = auth::admin_post(&req, &state, &body).await?;
    let view = ClientFormView::from_form(&form, form.get("client_type") == Some("public"));
    let mut spec = view.spec();
    let outbound = crate::outbound::Outbound::new(&state.settings.outbound_allow);
    crate::clients::sector::read_into(&outbound, &mut spec).await;
    let new = NewClient {
        spec,
        ..Default::default()
    };
    let (actor, ip) = (who.as_admin(), session::client_ip(&req));
    let created = db(&state, move |conn| {
        Ok(clients::write(conn, |tx| {
            let created = tx.create(&new, db::now())?;
            let id = &created.client.row.client_id;
            tx.audit(&actor, Event::ClientAdd, id, ip.as_deref())?;
            Ok::<_, StoreError>(created)
        }))
    })
    .await?;
    let (client, secret) = match created {
        Ok(c) => (c.client, c.secret),
        Err(StoreError::Invalid(errors)) => {
            return form_page(
                HttpResponse::BadRequest(),
                &who,
                None,
                view,
                error_map(errors),
            )
        }
        Err(e) => return Err(store_error(e)),
    };
    render(
        HttpResponse::Ok(),
        &SecretPage {
            heading: "Client registered",
            client_id: &client.row.client_id,
            client_secret: secret.as_deref(),
        },
        None,
    )
}

pub async fn edit_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let who = auth::require_admin(&req, &state).await?;
    let client = load(&state, path.into_inner()).await?;
    let id = client.row.client_id.clone();
    form_page(
        HttpResponse::Ok(),
        &who,
        Some(&id),
        ClientFormView::from_client(&client),
        HashMap::new(),
    )
}

pub async fn update(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let (who, form) = auth::admin_post(&req, &state, &body).await?;
    let existing = load(&state, path.into_inner()).await?;
    let id = existing.row.client_id.clone();
    // The type is fixed at registration: it decides whether a secret exists at all.
    let view = ClientFormView::from_form(&form, existing.row.is_public);
    // What the form does not show (the application type, a self-registered client's extra
    // metadata) is kept by the store (`clients::edited_by_admin`).
    let mut spec = view.spec();
    let outbound = crate::outbound::Outbound::new(&state.settings.outbound_allow);
    crate::clients::sector::read_into(&outbound, &mut spec).await;
    let target = id.clone();
    let (actor, ip) = (who.as_admin(), session::client_ip(&req));
    let updated = db(&state, move |conn| {
        Ok(clients::write(conn, |tx| {
            let updated = tx.update(&target, &spec, db::now())?;
            tx.audit(&actor, Event::ClientUpdate, &target, ip.as_deref())?;
            Ok::<_, StoreError>(updated)
        }))
    })
    .await?;
    match updated {
        Ok(_) => {}
        Err(StoreError::Invalid(errors)) => {
            return form_page(
                HttpResponse::BadRequest(),
                &who,
                Some(&id),
                view,
                error_map(errors),
            )
        }
        Err(e) => return Err(store_error(e)),
    }
    Ok(see_other(&format!("/admin/clients/{id}")))
}

pub async fn rotate_secret(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let (who, form) = auth::admin_post(&req, &state, &body).await?;
    auth::require_recent_auth(&state, &req, &who, &form).await?;
    let client = load(&state, path.into_inner()).await?;
    let id = client.row.client_id.clone();
    let (actor, ip) = (who.as_admin(), session::client_ip(&req));
    let secret = db(&state, move |conn| {
        Ok(clients::write(conn, |tx| {
            let secret = tx.rotate_secret(&id, db::now())?;
            tx.audit(&actor, Event::ClientRotateSecret, &id, ip.as_deref())?;
            Ok::<_, StoreError>(secret)
        }))
    })
    .await?
    .map_err(store_error)?;
    render(
        HttpResponse::Ok(),
        &SecretPage {
            heading: "New client secret",
            client_id: &client.row.client_id,
            client_secret: Some(&secret),
        },
        None,
    )
}

pub async fn delete_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let who = auth::require_admin(&req, &state).await?;
    let client = load(&state, path.into_inner()).await?;
    render(
        HttpResponse::Ok(),
        &DeletePage {
            name: &client.row.name,
            client_id: &client.row.client_id,
            csrf_token: &who.session.csrf_token,
        },
        None,
    )
}

pub async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let (who, form) = auth::admin_post(&req, &state, &body).await?;
    auth::require_recent_auth(&state, &req, &who, &form).await?;
    let id = path.into_inner();
    let (actor, ip) = (who.as_admin(), session::client_ip(&req));
    db(&state, move |conn| {
        Ok(clients::write(conn, |tx| {
            tx.remove(&id)?;
            Ok::<_, StoreError>(tx.audit(&actor, Event::ClientRemove, &id, ip.as_deref())?)
        }))
    })
    .await?
    .map_err(store_error)?;
    Ok(see_other("/admin/clients"))
}
