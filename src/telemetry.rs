//! Tracing set-up: human-readable lines by default, JSON lines for log shippers, and optionally
//! OpenTelemetry spans exported over OTLP/HTTP (`otlp_endpoint`): one span per request, carrying
//! its route, status, client and outcome.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::LogFormat;

static EXPORTING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether spans are exported (OTLP): fields that only a trace needs are recorded only then, as
/// each record costs the log formatter a re-format of the span's fields.
pub fn exporting() -> bool {
    EXPORTING.load(std::sync::atomic::Ordering::Relaxed)
}

/// Flushes exported spans and buffered log lines when dropped (at the end of `serve`).
pub struct Guard(
    Option<SdkTracerProvider>,
    Option<tracing_appender::non_blocking::WorkerGuard>,
);

impl Drop for Guard {
    fn drop(&mut self) {
        drop(self.1.take());
        if let Some(p) = self.0.take() {
            if let Err(e) = p.shutdown() {
                eprintln!("ostiary: flushing traces failed: {e}");
            }
        }
    }
}

fn otlp(endpoint: &str) -> Option<SdkTracerProvider> {
    // The exporter's HTTP client uses rustls with the process's default crypto provider: the
    // same aws-lc-rs the rest of the binary uses.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(endpoint)
        .build()
        .map_err(|e| eprintln!("ostiary: OTLP export is off: {e}"))
        .ok()?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name("ostiary")
        .build();
    Some(
        SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource)
            .build(),
    )
}

/// Installs the global subscriber once; later calls (tests spawning many apps) are no-ops.
pub fn init(filter: &str, format: LogFormat, otlp_endpoint: Option<&str>) -> Guard {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    // Lines go through a buffer to a writer thread, which flushes whenever it has nothing more
    // to write; not lossy: when 16k lines are waiting, the worker waits rather than drop audit
    // lines (the queue is allocated up front: 128k slots cost 5 MB of idle RSS).
    let (writer, flush) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .buffered_lines_limit(16 * 1024)
        .lossy(false)
        .thread_name("ostiary-log")
        .finish(std::io::BufWriter::with_capacity(
            64 * 1024,
            std::io::stderr(),
        ));
    // Colour codes only for a terminal: in a file or a log shipper they are noise, and cost.
    use std::io::IsTerminal;
    let fmt = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(writer);
    let fmt = match format {
        LogFormat::Human => fmt.boxed(),
        LogFormat::Json => fmt.json().flatten_event(true).boxed(),
    };
    let provider = otlp_endpoint.and_then(otlp);
    let traces = provider.as_ref().map(|p| {
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer("ostiary"))
            // Only request spans and what happens inside them; log filtering stays on the fmt layer.
            .with_filter(EnvFilter::new("info"))
    });
    if provider.is_some() {
        EXPORTING.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    let installed = tracing_subscriber::registry()
        .with(fmt.with_filter(filter))
        .with(traces)
        .try_init()
        .is_ok();
    Guard(provider, installed.then_some(flush))
}
