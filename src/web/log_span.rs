//! The root span of every request's log lines: tracing-actix-web's default builder takes the
//! client address from `X-Forwarded-For`, which any client can write; ours logs the address
//! from `client_addr`, the same one audit, sessions and lockouts use.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::Error;
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RequestId, RootSpanBuilder};

pub struct RootSpan;

impl RootSpanBuilder for RootSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        use actix_web::HttpMessage;
        let client_ip = super::client_addr::of_service(request)
            .map(|a| a.to_string())
            .unwrap_or_default();
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map(|id| id.to_string())
            .unwrap_or_default();
        tracing::info_span!(
            "HTTP request",
            http.method = %request.method(),
            http.route = %request.match_pattern().unwrap_or_else(|| "default".into()),
            http.target = %request.uri().path(),
            http.client_ip = %client_ip,
            http.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
            request_id = %request_id,
            client_id = tracing::field::Empty,
            outcome = tracing::field::Empty,
            exception.message = tracing::field::Empty,
            exception.details = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        // Status and error fields serve the exported trace only: no log line follows the end of
        // the request, and each record costs the log formatter a re-format of the span's fields.
        if crate::telemetry::exporting() {
            DefaultRootSpanBuilder::on_request_end(span, outcome);
        }
    }
}
