//! Thin actix handlers, one file per endpoint or page.

pub mod account;
pub mod admin;
pub mod assets;
pub mod auth;
pub mod authorize;
pub mod bearer;
pub mod browser;
pub mod client_addr;
pub mod csp;
pub mod device;
pub mod devices;
pub mod discovery;
pub mod email_change;
pub mod error;
pub mod form_post;
pub mod health;
pub mod log_span;
pub mod login;
pub mod logout;
pub mod metrics;
pub mod next_step;
pub mod par;
pub mod passkeys;
pub mod pending_login;
pub mod profile;
pub mod register;
pub mod request_id;
pub mod request_object;
pub mod reset;
pub mod revoke;
pub mod second_factor;
pub mod security;
pub mod session;
pub mod setup;
pub mod signup;
pub mod templates;
pub mod token;
pub mod upstream;
pub mod upstream_link;
pub mod userinfo;
pub mod verify;

pub use actix_web::web::Data;

use actix_web::web::{self, get, post, ServiceConfig};

use crate::db::DbConn;
use crate::state::AppState;
use crate::web::error::AppError;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.app_data(
        web::FormConfig::default()
            .limit(16 * 1024)
            .error_handler(|e, _| {
                AppError::BadRequest(format!("The form could not be read: {e}")).into()
            }),
    )
    .app_data(web::QueryConfig::default().error_handler(|e, _| {
        AppError::BadRequest(format!("The address is malformed: {e}")).into()
    }))
    .app_data(web::PayloadConfig::new(64 * 1024))
    .route("/healthz", get().to(health::healthz))
    .route("/readyz", get().to(health::readyz))
    .route("/metrics", get().to(metrics::metrics))
    .route("/", get().to(login::home))
    .route("/login", get().to(login::page))
    .route("/login", post().to(login::submit))
    .route("/login/upstream/callback", get().to(upstream::callback))
    .route("/login/upstream/{id}", get().to(upstream::start))
    .route("/signup", get().to(signup::page))
    .route("/signup", post().to(signup::submit))
    .route("/authorize", get().to(authorize::authorize))
    .route("/authorize", post().to(authorize::authorize))
    .route("/authorize/resume", get().to(authorize::resume))
    .route("/authorize/resume", post().to(authorize::resume))
    .route("/token", post().to(token::token))
    .route(
        "/.well-known/openid-configuration",
        get().to(discovery::metadata),
    )
    .route(
        "/.well-known/oauth-authorization-server",
        get().to(discovery::metadata),
    )
    .route("/jwks.json", get().to(discovery::jwks))
    .route("/userinfo", get().to(userinfo::userinfo))
    .route("/userinfo", post().to(userinfo::userinfo))
    .service(
        web::resource("/register")
            .route(post().to(register::register))
            .default_service(web::to(register::not_allowed_at_register)),
    )
    .service(
        web::resource("/register/{client_id}")
            .route(get().to(register::read))
            .route(web::put().to(register::replace))
            .route(web::delete().to(register::delete))
            .default_service(web::to(register::not_allowed_at_client_uri)),
    )
    .route("/par", post().to(par::push))
    .route("/device_authorization", post().to(device::authorize_device))
    .route("/device", get().to(device::page))
    .route("/device/resume", get().to(device::resume))
    .route("/device/resume", post().to(device::resume))
    .route("/revoke", post().to(revoke::revoke))
    .route("/introspect", post().to(revoke::introspect))
    .route("/logout", get().to(logout::logout))
    .route("/logout", post().to(logout::logout))
    .route("/static/{name}", get().to(assets::serve))
    .route("/setup", get().to(setup::page))
    .route("/setup", post().to(setup::submit))
    .route("/account", get().to(account::show))
    .route("/account/password", post().to(account::change_password))
    .route("/account/profile", get().to(profile::show))
    .route("/account/profile", post().to(profile::submit))
    .route(
        "/account/consents/{client_id}/revoke",
        post().to(account::revoke_app),
    )
    .route("/account/apps/revoke", post().to(account::revoke_app))
    .route("/account/sessions/sign-out", post().to(devices::sign_out))
    .route(
        "/account/upstreams/unlink",
        post().to(account::unlink_upstream),
    )
    .route("/account/upstreams/link", get().to(upstream_link::page))
    .route("/account/upstreams/link", post().to(upstream_link::answer))
    .route("/account/upstreams/add", post().to(upstream::link_start))
    .route(
        "/account/sessions/sign-out-others",
        post().to(devices::sign_out_others),
    )
    .configure(mail_routes)
    .configure(factor_routes)
    .configure(crate::web::admin::routes);
}

/// Second factors: the login's second step, enrolment, the account's security page, and the
/// WebAuthn ceremonies `passkeys.js` drives.
fn factor_routes(cfg: &mut ServiceConfig) {
    cfg.route("/login/second-factor", get().to(second_factor::page))
        .route("/login/second-factor", post().to(second_factor::submit))
        .route("/login/enrol", get().to(second_factor::enrol_page))
        .route("/login/enrol", post().to(second_factor::enrol_submit))
        .route("/account/security", get().to(security::page))
        .route("/account/security/totp", post().to(security::totp_start))
        .route(
            "/account/security/totp/confirm",
            post().to(security::totp_confirm),
        )
        .route(
            "/account/security/totp/remove",
            post().to(security::totp_remove),
        )
        .route(
            "/account/security/recovery-codes",
            post().to(security::recovery_new),
        )
        .route(
            "/account/security/passkeys/rename",
            post().to(security::passkey_rename),
        )
        .route(
            "/account/security/passkeys/delete",
            post().to(security::passkey_delete),
        )
        .route(
            "/webauthn/register/begin",
            post().to(passkeys::register_begin),
        )
        .route(
            "/webauthn/register/finish",
            post().to(passkeys::register_finish),
        )
        .route(
            "/webauthn/authenticate/begin",
            post().to(passkeys::authenticate_begin),
        )
        .route(
            "/webauthn/authenticate/finish",
            post().to(passkeys::authenticate_finish),
        );
}

/// Pages of the mail features: password reset, email verification, email change.
fn mail_routes(cfg: &mut ServiceConfig) {
    cfg.route("/forgot-password", get().to(reset::request_form))
        .route("/forgot-password", post().to(reset::request_submit))
        .route("/reset-password", get().to(reset::reset_form))
        .route("/reset-password", post().to(reset::reset_submit))
        .route("/verify-email", get().to(verify::confirm_form))
        .route("/verify-email", post().to(verify::confirm_submit))
        .route("/account/email", get().to(email_change::show))
        .route("/account/email", post().to(email_change::request))
        .route("/account/email/verify", post().to(verify::resend))
        .route(
            "/email-change/confirm",
            get().to(email_change::confirm_form),
        )
        .route(
            "/email-change/confirm",
            post().to(email_change::confirm_submit),
        );
}

/// Runs `f` with a pooled connection on the blocking thread pool (diesel is synchronous).
pub async fn db<T: Send + 'static>(
    state: &Data<AppState>,
    f: impl FnOnce(&mut DbConn) -> Result<T, AppError> + Send + 'static,
) -> Result<T, AppError> {
    let st = state.clone();
    actix_web::web::block(move || {
        let waited = std::time::Instant::now();
        let mut conn = st.pool.get()?;
        crate::metrics::db_wait(waited.elapsed());
        f(&mut conn)
    })
    .await?
}
