//! Prometheus metrics: counters and histograms recorded where things happen, gauges read when
//! `/metrics` is scraped. One registry per process (each replica is scraped on its own).
//!
//! Families (all prefixed `ostiary_`): `http_requests_total{route,method,status_class}`,
//! `http_request_duration_seconds{route}`, `logins_total{outcome}` (ok, bad_credentials,
//! throttled, locked, mfa_required), `tokens_issued_total{grant_type}`,
//! `refresh_token_reuse_total`, `password_hash_in_flight`, `password_hash_wait_seconds`,
//! `db_pool_connections{state}` (in_use, idle), `db_pool_wait_seconds`,
//! `outbox_backlog{kind}` (mail, backchannel_logout).

use std::sync::LazyLock;
use std::time::Duration;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

pub struct Metrics {
    registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
    pub logins: IntCounterVec,
    pub tokens: IntCounterVec,
    pub refresh_reuse: IntCounter,
    pub hash_in_flight: IntGauge,
    pub hash_wait: Histogram,
    pub db_pool: IntGaugeVec,
    pub db_pool_wait: Histogram,
    pub outbox_backlog: IntGaugeVec,
    pub cached_requests: IntCounterVec,
}

const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

fn build() -> Result<Metrics, prometheus::Error> {
    let registry = Registry::new_custom(Some("ostiary".into()), None)?;
    let m = Metrics {
        http_requests: IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by route, method and status class",
            ),
            &["route", "method", "status_class"],
        )?,
        http_duration: HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency by route",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["route"],
        )?,
        logins: IntCounterVec::new(
            Opts::new("logins_total", "Password logins by outcome"),
            &["outcome"],
        )?,
        tokens: IntCounterVec::new(
            Opts::new("tokens_issued_total", "Access tokens issued by grant type"),
            &["grant_type"],
        )?,
        refresh_reuse: IntCounter::new(
            "refresh_token_reuse_total",
            "Rotated-out refresh tokens presented again (their families were revoked)",
        )?,
        hash_in_flight: IntGauge::new(
            "password_hash_in_flight",
            "Password hashes running or waiting in the bounded pool",
        )?,
        hash_wait: Histogram::with_opts(
            HistogramOpts::new(
                "password_hash_wait_seconds",
                "Time a password check waited for a hashing thread",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
        )?,
        db_pool: IntGaugeVec::new(
            Opts::new("db_pool_connections", "Database pool connections by state"),
            &["state"],
        )?,
        db_pool_wait: Histogram::with_opts(
            HistogramOpts::new(
                "db_pool_wait_seconds",
                "Time spent getting a pooled connection",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
        )?,
        outbox_backlog: IntGaugeVec::new(
            Opts::new(
                "outbox_backlog",
                "Outbox rows waiting for delivery, by kind",
            ),
            &["kind"],
        )?,
        cached_requests: IntCounterVec::new(
            Opts::new(
                "cached_requests_total",
                "Requests the caches may answer (client_credentials tokens, introspection), by \
                 where they were answered: memory, or the database (caches stale or missing it)",
            ),
            &["endpoint", "answered"],
        )?,
        registry,
    };
    register(&m)?;
    start_known_labels(&m);
    Ok(m)
}

/// Every family into the registry the scrape endpoint gathers.
fn register(m: &Metrics) -> Result<(), prometheus::Error> {
    m.registry.register(Box::new(m.http_requests.clone()))?;
    m.registry.register(Box::new(m.http_duration.clone()))?;
    m.registry.register(Box::new(m.logins.clone()))?;
    m.registry.register(Box::new(m.tokens.clone()))?;
    m.registry.register(Box::new(m.refresh_reuse.clone()))?;
    m.registry.register(Box::new(m.hash_in_flight.clone()))?;
    m.registry.register(Box::new(m.hash_wait.clone()))?;
    m.registry.register(Box::new(m.db_pool.clone()))?;
    m.registry.register(Box::new(m.db_pool_wait.clone()))?;
    m.registry.register(Box::new(m.outbox_backlog.clone()))?;
    m.registry.register(Box::new(m.cached_requests.clone()))?;
    Ok(())
}

/// Families with labels appear once a label is used: the known ones start at zero so a
/// dashboard (and an alert on absence) sees them from the first scrape.
fn start_known_labels(m: &Metrics) {
    for outcome in [
        "ok",
        "bad_credentials",
        "throttled",
        "locked",
        "mfa_required",
    ] {
        m.logins.with_label_values(&[outcome]);
    }
    for state in ["in_use", "idle"] {
        m.db_pool.with_label_values(&[state]);
    }
    for kind in ["mail", "backchannel_logout"] {
        m.outbox_backlog.with_label_values(&[kind]);
    }
    for endpoint in ["token", "introspect"] {
        for answered in ["memory", "database"] {
            m.cached_requests.with_label_values(&[endpoint, answered]);
        }
    }
}

#[allow(clippy::expect_used)]
pub static METRICS: LazyLock<Metrics> =
    LazyLock::new(|| build().expect("metric definitions are valid"));

/// Login outcomes as `logins_total` labels them.
#[derive(Clone, Copy, Debug)]
pub enum LoginOutcome {
    Ok,
    BadCredentials,
    Throttled,
    Locked,
    MfaRequired,
}

pub fn login(outcome: LoginOutcome) {
    let label = match outcome {
        LoginOutcome::Ok => "ok",
        LoginOutcome::BadCredentials => "bad_credentials",
        LoginOutcome::Throttled => "throttled",
        LoginOutcome::Locked => "locked",
        LoginOutcome::MfaRequired => "mfa_required",
    };
    METRICS.logins.with_label_values(&[label]).inc();
}

/// A token issued for `grant_type` (the RFC name; URNs are shortened to their last part).
pub fn token_issued(grant_type: &str) {
    let short = grant_type.rsplit(':').next().unwrap_or(grant_type);
    METRICS.tokens.with_label_values(&[short]).inc();
}

/// A request the caches may answer, answered from memory (`true`) or the database.
pub fn cached_request(endpoint: &str, from_memory: bool) {
    let answered = if from_memory { "memory" } else { "database" };
    METRICS
        .cached_requests
        .with_label_values(&[endpoint, answered])
        .inc();
}

pub fn db_wait(d: Duration) {
    METRICS.db_pool_wait.observe(d.as_secs_f64());
}

/// One finished HTTP request.
pub fn request(route: &str, method: &str, status: u16, d: Duration) {
    let class = match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    };
    METRICS
        .http_requests
        .with_label_values(&[route, method, class])
        .inc();
    METRICS
        .http_duration
        .with_label_values(&[route])
        .observe(d.as_secs_f64());
}

/// The text exposition, with the gauges that are read at scrape time set first.
pub fn render(pool_in_use: i64, pool_idle: i64, backlog: &[(String, i64)], hashing: i64) -> String {
    let m = &*METRICS;
    m.db_pool.with_label_values(&["in_use"]).set(pool_in_use);
    m.db_pool.with_label_values(&["idle"]).set(pool_idle);
    for kind in ["mail", "backchannel_logout"] {
        let n = backlog
            .iter()
            .find(|(k, _)| k == kind)
            .map(|(_, n)| *n)
            .unwrap_or(0);
        m.outbox_backlog.with_label_values(&[kind]).set(n);
    }
    m.hash_in_flight.set(hashing);
    let mut out = Vec::new();
    if let Err(e) = TextEncoder::new().encode(&m.registry.gather(), &mut out) {
        tracing::error!(error = %e, "metrics could not be encoded");
    }
    String::from_utf8(out).unwrap_or_default()
}
