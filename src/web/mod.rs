//! Thin actix handlers, one file per endpoint or page.

pub mod health;
pub mod request_id;

pub use actix_web::web::Data;

use actix_web::web::{get, ServiceConfig};

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.route("/healthz", get().to(health::healthz))
        .route("/readyz", get().to(health::readyz));
}
