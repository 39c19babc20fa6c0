//! GET /metrics (Prometheus text format, `crate::metrics`), and the middleware that counts and
//! times every request. Never behind a login; refused (403) to addresses outside
//! `metrics_allow` (loopback only unless configured).

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::state::AppState;

/// What a handler knows about a protocol request that the access log line should carry: the
/// client it names (claimed, before or without authentication) and how it ended (an OAuth
/// error code). Put in the response's extensions.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    pub client_id: Option<String>,
    pub error: Option<&'static str>,
}

/// Adds to the outcome a response already carries (or starts one).
pub fn tag(res: &mut HttpResponse, client_id: Option<String>, error: Option<&'static str>) {
    let mut ext = res.extensions_mut();
    let mut o = ext.remove::<Outcome>().unwrap_or_default();
    if client_id.is_some() {
        o.client_id = client_id;
    }
    if error.is_some() {
        o.error = error;
    }
    ext.insert(o);
}

/// Counts and times a request under its route pattern (bounded: unknown paths share one
/// label), and writes its access log line (request id, route, client, outcome, duration) inside
/// the request's span.
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
    let elapsed = start.elapsed();
    let status = res.status().as_u16();
    crate::metrics::request(&route, &method, status, elapsed);
    let outcome = res
        .response()
        .extensions()
        .get::<Outcome>()
        .cloned()
        .unwrap_or_default();
    let result = match (outcome.error, status) {
        (Some(e), _) => e,
        (None, 200..=399) => "ok",
        (None, 429) => "throttled",
        (None, 400..=499) => "refused",
        (None, _) => "error",
    };
    // The request's span carries them too when it is exported as a trace (OTLP); the access
    // line below has them for the log.
    if crate::telemetry::exporting() {
        let span = tracing::Span::current();
        if let Some(c) = outcome.client_id.as_deref() {
            span.record("client_id", c);
        }
        span.record("outcome", result);
    }
    // Protocol requests are logged at info; documents (discovery, keys, static files, health,
    // metrics) only at debug — a line per request costs a third of a discovery request's time.
    let protocol = !matches!(
        route.as_str(),
        "/.well-known/openid-configuration"
            | "/.well-known/oauth-authorization-server"
            | "/jwks.json"
            | "/static/{name}"
            | "/healthz"
            | "/readyz"
            | "/metrics"
    );
    let client_id = outcome.client_id.as_deref().unwrap_or("");
    let duration_ms = elapsed.as_secs_f64() * 1000.0;
    if protocol {
        tracing::info!(target: "ostiary::access", route = %route, method = %method, status,
            client_id, outcome = result, duration_ms, "request");
    } else {
        tracing::debug!(target: "ostiary::access", route = %route, method = %method, status,
            client_id, outcome = result, duration_ms, "request");
    }
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
