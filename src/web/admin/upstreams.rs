//! Admin pages for upstream identity providers (federation): list, add, edit, enable/disable,
//! remove. Every write goes through `federation::providers::save`/`remove` — the same check
//! (`providers::check`) and audit entry as `ostiary upstream add` and config-as-code. The client
//! secret typed into the form is sealed under the KEK there; it is never shown back (the pages
//! say only whether one is set). Removing a provider (its links go too) needs a recent login or
//! the admin's password.

use std::collections::BTreeMap;

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::see_other;
use crate::db::models::federation::ProviderRow;
use crate::federation::providers::{self, Refused, Spec, KIND_OIDC};
use crate::state::AppState;
use crate::web::auth::{self, FormData, SignedIn};
use crate::web::db;
use crate::web::error::AppError;
use crate::web::templates::render;

/// What the form shows: what the admin typed, or the stored provider (never its secret).
#[derive(Default)]
pub struct UpstreamFormView {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub issuer: String,
    pub client_id: String,
    pub scopes: String,
    pub account_policy: String,
    pub trusted_email: bool,
    pub trusted_acr: bool,
    pub upstream_logout: bool,
    pub sync_claims: bool,
    pub enabled: bool,
    pub username_claim: String,
    pub groups_claim: String,
    /// `local=claim`, one per line.
    pub claim_map: String,
    pub claim_paths: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub userinfo_endpoint: String,
    pub preset: String,
    pub base_url: String,
    pub api_url: String,
    /// A `data:` image URL.
    pub icon: String,
}

fn lines_of(map: &Option<BTreeMap<String, String>>) -> String {
    map.iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `local=claim` lines; a line without `=` is kept whole as a key, which `check` then names.
fn map_of(text: &str) -> Option<BTreeMap<String, String>> {
    let m: BTreeMap<String, String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.trim().to_owned(), v.trim().to_owned()),
            None => (l.to_owned(), String::new()),
        })
        .collect();
    (!m.is_empty()).then_some(m)
}

fn opt(s: &str) -> Option<String> {
    Some(s.trim().to_owned()).filter(|s| !s.is_empty())
}

impl UpstreamFormView {
    pub fn kind_is(&self, k: &str) -> bool {
        self.kind == k
    }

    pub fn policy_is(&self, p: &str) -> bool {
        self.account_policy == p
    }

    fn defaults() -> Self {
        UpstreamFormView {
            kind: KIND_OIDC.into(),
            account_policy: "refuse".into(),
            sync_claims: true,
            enabled: true,
            ..Default::default()
        }
    }

    fn from_spec(s: &Spec) -> Self {
        UpstreamFormView {
            id: s.id.clone(),
            name: s.name.clone(),
            kind: s.kind.clone(),
            issuer: s.issuer.clone().unwrap_or_default(),
            client_id: s.client_id.clone(),
            scopes: s.scopes.join(" "),
            account_policy: s.account_policy.clone(),
            trusted_email: s.trusted_email,
            trusted_acr: s.trusted_acr,
            upstream_logout: s.upstream_logout,
            sync_claims: s.sync_claims,
            enabled: s.enabled,
            username_claim: s.username_claim.clone().unwrap_or_default(),
            groups_claim: s.groups_claim.clone().unwrap_or_default(),
            claim_map: lines_of(&s.claim_map),
            claim_paths: lines_of(&s.claim_paths),
            authorization_endpoint: s.authorization_endpoint.clone().unwrap_or_default(),
            token_endpoint: s.token_endpoint.clone().unwrap_or_default(),
            userinfo_endpoint: s.userinfo_endpoint.clone().unwrap_or_default(),
            preset: s.preset.clone().unwrap_or_default(),
            base_url: s.base_url.clone().unwrap_or_default(),
            api_url: s.api_url.clone().unwrap_or_default(),
            icon: s.icon.clone().unwrap_or_default(),
        }
    }

    fn from_form(f: &FormData, id: String) -> Self {
        UpstreamFormView {
            id,
            name: f.text("name"),
            kind: f.text("kind"),
            issuer: f.text("issuer"),
            client_id: f.text("client_id"),
            scopes: f.text("scopes"),
            account_policy: f.text("account_policy"),
            trusted_email: f.get("trusted_email").is_some(),
            trusted_acr: f.get("trusted_acr").is_some(),
            upstream_logout: f.get("upstream_logout").is_some(),
            sync_claims: f.get("sync_claims").is_some(),
            enabled: f.get("enabled").is_some(),
            username_claim: f.text("username_claim"),
            groups_claim: f.text("groups_claim"),
            claim_map: f.get("claim_map").unwrap_or("").to_owned(),
            claim_paths: f.get("claim_paths").unwrap_or("").to_owned(),
            authorization_endpoint: f.text("authorization_endpoint"),
            token_endpoint: f.text("token_endpoint"),
            userinfo_endpoint: f.text("userinfo_endpoint"),
            preset: f.text("preset"),
            base_url: f.text("base_url"),
            api_url: f.text("api_url"),
            icon: f.text("icon"),
        }
    }

    fn spec(&self) -> Spec {
        Spec {
            id: self.id.clone(),
            name: self.name.clone(),
            kind: self.kind.clone(),
            issuer: opt(&self.issuer),
            client_id: self.client_id.clone(),
            scopes: self
                .scopes
                .split_ascii_whitespace()
                .map(str::to_owned)
                .collect(),
            account_policy: self.account_policy.clone(),
            trusted_email: self.trusted_email,
            trusted_acr: self.trusted_acr,
            username_claim: opt(&self.username_claim),
            groups_claim: opt(&self.groups_claim),
            claim_map: map_of(&self.claim_map),
            upstream_logout: self.upstream_logout,
            enabled: self.enabled,
            authorization_endpoint: opt(&self.authorization_endpoint),
            token_endpoint: opt(&self.token_endpoint),
            userinfo_endpoint: opt(&self.userinfo_endpoint),
            claim_paths: map_of(&self.claim_paths),
            preset: opt(&self.preset),
            base_url: opt(&self.base_url),
            api_url: opt(&self.api_url),
            icon: opt(&self.icon),
            sync_claims: self.sync_claims,
        }
    }
}

#[derive(Template)]
#[template(path = "admin/upstreams.html")]
struct ListPage<'a> {
    providers: Vec<ProviderRow>,
    csrf_token: &'a str,
}

#[derive(Template)]
#[template(path = "admin/upstream_form.html")]
struct FormPage<'a> {
    heading: &'a str,
    action: &'a str,
    submit_label: &'a str,
    csrf_token: &'a str,
    form: UpstreamFormView,
    errors: Vec<String>,
    /// `Some` when editing: whether a client secret is stored.
    secret_set: Option<bool>,
    callback: String,
}

fn form_page(
    status: actix_web::HttpResponseBuilder,
    state: &AppState,
    who: &SignedIn,
    editing: Option<(&str, bool)>,
    form: UpstreamFormView,
    errors: Vec<String>,
) -> Result<HttpResponse, AppError> {
    let action = match editing {
        Some((id, _)) => format!("/admin/upstreams/{}", path_segment(id)),
        None => "/admin/upstreams/new".to_owned(),
    };
    render(
        status,
        &FormPage {
            heading: if editing.is_some() {
                "Edit sign-in provider"
            } else {
                "Add a sign-in provider"
            },
            action: &action,
            submit_label: if editing.is_some() {
                "Save changes"
            } else {
                "Add provider"
            },
            csrf_token: &who.session.csrf_token,
            form,
            errors,
            secret_set: editing.map(|(_, set)| set),
            callback: crate::web::upstream::callback_uri(state),
        },
        None,
    )
}

fn path_segment(id: &str) -> String {
    url::form_urlencoded::byte_serialize(id.as_bytes()).collect()
}

async fn load(state: &web::Data<AppState>, id: String) -> Result<ProviderRow, AppError> {
    db(state, move |conn| {
        Ok(crate::db::models::federation::get(conn, &id)?)
    })
    .await?
    .ok_or(AppError::NotFound)
}

/// Stores `spec` (`providers::save`): the stored row, or the form's problems in words.
async fn save(
    state: &web::Data<AppState>,
    who: &SignedIn,
    spec: Spec,
    secret: Option<String>,
    replace: bool,
) -> Result<Result<ProviderRow, Vec<String>>, AppError> {
    let st = state.clone();
    let actor = who.as_admin();
    let saved = db(state, move |conn| {
        Ok(providers::save(
            conn,
            st.keys.kek(),
            &spec,
            secret.as_deref(),
            replace,
            &actor,
            crate::db::now(),
        )?)
    })
    .await?;
    Ok(match saved {
        Ok(saved) => Ok(saved.row),
        Err(Refused::Invalid(problems)) => Err(problems),
        Err(Refused::Exists) => Err(vec!["id is taken: a provider with this id exists".into()]),
        Err(Refused::Unknown) => return Err(AppError::NotFound),
    })
}

/// GET /admin/upstreams
pub async fn list(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let who = auth::require_admin(&req, &state).await?;
    let providers = db(&state, move |conn| Ok(providers::list(conn)?)).await?;
    render(
        HttpResponse::Ok(),
        &ListPage {
            providers,
            csrf_token: &who.session.csrf_token,
        },
        None,
    )
}

/// GET /admin/upstreams/new
pub async fn new_form(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let who = auth::require_admin(&req, &state).await?;
    form_page(
        HttpResponse::Ok(),
        &state,
        &who,
        None,
        UpstreamFormView::defaults(),
        Vec::new(),
    )
}

/// POST /admin/upstreams/new
pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let (who, form) = auth::admin_post(&req, &state, &body).await?;
    // A provider (its trust in upstream addresses and acr above all) lets an outside party sign
    // people in here: like opening registration, it asks for a recent sign-in.
    auth::require_recent_auth(&state, &req, &who, &form).await?;
    let view = UpstreamFormView::from_form(&form, form.text("id"));
    let secret = opt(form.get("client_secret").unwrap_or(""));
    match save(&state, &who, view.spec(), secret, false).await? {
        Ok(_) => Ok(see_other("/admin/upstreams")),
        Err(errors) => form_page(HttpResponse::BadRequest(), &state, &who, None, view, errors),
    }
}

/// GET /admin/upstreams/{id}
pub async fn edit_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let who = auth::require_admin(&req, &state).await?;
    let row = load(&state, path.into_inner()).await?;
    form_page(
        HttpResponse::Ok(),
        &state,
        &who,
        Some((&row.id, row.client_secret_enc.is_some())),
        UpstreamFormView::from_spec(&providers::spec_of(&row)),
        Vec::new(),
    )
}

/// POST /admin/upstreams/{id}: the provider replaced by the form (the id is the path's); the
/// secret kept unless a new one is typed or "remove the secret" is ticked.
pub async fn update(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let (who, form) = auth::admin_post(&req, &state, &body).await?;
    auth::require_recent_auth(&state, &req, &who, &form).await?;
    let row = load(&state, path.into_inner()).await?;
    let view = UpstreamFormView::from_form(&form, row.id.clone());
    let secret = match opt(form.get("client_secret").unwrap_or("")) {
        Some(s) => Some(s),
        None if form.get("clear_secret").is_some() => Some(String::new()),
        None => None,
    };
    match save(&state, &who, view.spec(), secret, true).await? {
        Ok(_) => Ok(see_other("/admin/upstreams")),
        Err(errors) => form_page(
            HttpResponse::BadRequest(),
            &state,
            &who,
            Some((&row.id, row.client_secret_enc.is_some())),
            view,
            errors,
        ),
    }
}

/// POST /admin/upstreams/{id}/state/{enable|disable}: the stored spec with `enabled` changed,
/// saved like any edit (checked again, audited). Disabling takes the button off the login page
/// and refuses its logins; links stay.
pub async fn set_state(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let (who, _form) = auth::admin_post(&req, &state, &body).await?;
    let (id, action) = path.into_inner();
    let enabled = match action.as_str() {
        "enable" => true,
        "disable" => false,
        _ => return Err(AppError::NotFound),
    };
    let row = load(&state, id).await?;
    let spec = Spec {
        enabled,
        ..providers::spec_of(&row)
    };
    match save(&state, &who, spec, None, true).await? {
        Ok(_) => Ok(see_other("/admin/upstreams")),
        // A provider stored before a rule it breaks now: the edit form says what to fix.
        Err(errors) => Err(AppError::BadRequest(format!(
            "The provider cannot be saved as it is: {}. Edit it first.",
            errors.join("; ")
        ))),
    }
}

/// POST /admin/upstreams/{id}/delete: the provider, its links and the group memberships it
/// manages removed (`providers::remove`); a recent login or the password first.
pub async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let (who, form) = auth::admin_post(&req, &state, &body).await?;
    auth::require_recent_auth(&state, &req, &who, &form).await?;
    let id = path.into_inner();
    let actor = who.as_admin();
    // The console's removal is the forced one (`upstream remove --force`): the administrator
    // confirmed it, with a recent login or the password, on a page that says links go too.
    let removed = db(&state, move |conn| {
        Ok(providers::remove(conn, &id, &actor, true)?)
    })
    .await?;
    if removed.is_err() {
        return Err(AppError::NotFound);
    }
    Ok(see_other("/admin/upstreams"))
}
