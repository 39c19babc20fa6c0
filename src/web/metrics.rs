//! GET /metrics (Prometheus text format, `crate::metrics`), and the middleware that counts and
//! times every request. Never behind a login; refused (403) to addresses outside
//! `metrics_allow` (loopback only unless configured).

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::state::AppState;

/// Counts and times a request under its route pattern (bounded: unknown paths share one label).
pub async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().as_str().to_owned();
    let start = Instant::now();
    let res = next.call(req).await?;
    crate::metrics::request(&route, &method, res.status().as_u16(), start.elapsed());
    Ok(res)
}

pub async fn metrics(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    // The TCP peer: a proxy in front must not make /metrics public by forwarding.
    let peer = req.peer_addr().map(|a| a.ip());
    let allowed =
        peer.is_some_and(|ip| state.settings.metrics_allow.iter().any(|n| n.contains(&ip)));
    if !allowed {
        return HttpResponse::Forbidden()
            .insert_header(("Cache-Control", "no-store"))
            .body("metrics are not served to this address\n");
    }
    let pool = state.pool.state();
    let in_use = i64::from(pool.connections.saturating_sub(pool.idle_connections));
    let idle = i64::from(pool.idle_connections);
    let st = state.clone();
    let backlog = web::block(move || {
        let mut conn = st.pool.get().ok()?;
        crate::db::models::outbox::backlog(&mut conn).ok()
    })
    .await
    .ok()
    .flatten()
    .unwrap_or_default();
    let hashing = i64::try_from(state.passwords.in_flight()).unwrap_or(i64::MAX);
    HttpResponse::Ok()
        .insert_header(("Content-Type", "text/plain; version=0.0.4; charset=utf-8"))
        .insert_header(("Cache-Control", "no-store"))
        .body(crate::metrics::render(in_use, idle, &backlog, hashing))
}
