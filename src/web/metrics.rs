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
    let error = res.response().error().map(|e| e.to_string());
    log_access(&Access {
        route: &route,
        method: &method,
        status,
        client_id: outcome.client_id.as_deref().unwrap_or(""),
        outcome: result,
        duration_ms: duration_ms(elapsed),
        error: error.as_deref(),
    });
    Ok(res)
}

/// What one access line says about a request.
pub struct Access<'a> {
    pub route: &'a str,
    pub method: &'a str,
    pub status: u16,
    pub client_id: &'a str,
    pub outcome: &'a str,
    pub duration_ms: f64,
    /// The error the response was built from, if any (logged for a 5xx only).
    pub error: Option<&'a str>,
}

/// The level of a request's access line. A server failure (5xx) is an ERROR: an operator must
/// look. A refusal (4xx) is the client's business, at INFO like a success, except a 404, which
/// scanners send by the thousand: DEBUG. Documents (discovery, keys, static files, health,
/// metrics) are DEBUG: a line per request costs a third of a discovery request's time. A probe's
/// 503 is an answer, not a failure (`/readyz` logs its reason itself): DEBUG too.
pub fn access_level(route: &str, status: u16) -> tracing::Level {
    let probe = matches!(route, "/healthz" | "/readyz");
    let document = probe
        || matches!(
            route,
            "/.well-known/openid-configuration"
                | "/.well-known/oauth-authorization-server"
                | "/jwks.json"
                | "/static/{name}"
                | "/metrics"
        );
    match status {
        _ if probe => tracing::Level::DEBUG,
        500.. => tracing::Level::ERROR,
        404 => tracing::Level::DEBUG,
        _ if document => tracing::Level::DEBUG,
        _ => tracing::Level::INFO,
    }
}

/// Milliseconds rounded to the microsecond: `0.268`, not `0.26739199999999996` (a whole number
/// of microseconds over 1000 prints with at most three decimals).
pub fn duration_ms(elapsed: std::time::Duration) -> f64 {
    let micros = u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX);
    f64::from(micros) / 1000.0
}

/// Writes a request's access line, inside the request's span, at the level `access_level` gives.
pub fn log_access(a: &Access) {
    let (route, method, status, client_id, outcome, duration_ms) = (
        a.route,
        a.method,
        a.status,
        a.client_id,
        a.outcome,
        a.duration_ms,
    );
    // tracing's macros take the level as a constant: one arm per level.
    match access_level(route, status) {
        tracing::Level::ERROR => {
            // The error's text may quote a database URL: never its password.
            let error = crate::db::redact_url(a.error.unwrap_or(""));
            tracing::error!(target: "ostiary::access", route, method, status, client_id,
                outcome, duration_ms, error, "request")
        }
        tracing::Level::INFO => tracing::info!(target: "ostiary::access", route, method, status,
            client_id, outcome, duration_ms, "request"),
        _ => tracing::debug!(target: "ostiary::access", route, method, status, client_id,
            outcome, duration_ms, "request"),
    }
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
