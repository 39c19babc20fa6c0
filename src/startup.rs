//! The one place routes and middleware are wired.

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::middleware::DefaultHeaders;
use actix_web::{App, HttpServer};
use tracing_actix_web::TracingLogger;

use crate::config::Settings;
use crate::state::{AppState, StartError};
use crate::web;

pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
}

impl Application {
    /// Prepares storage and keys, then binds `settings.bind`.
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let listener = TcpListener::bind(settings.bind)
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", settings.bind))?;
        Self::build_with_listener(settings, listener).await
    }

    /// As `build`, on a listener the caller bound (tests bind port 0 and learn the port first).
    pub async fn build_with_listener(
        mut settings: Settings,
        listener: TcpListener,
    ) -> anyhow::Result<Application> {
        // Before anything reads the issuer (the setup link, discovery, tokens).
        settings.settle_issuer(listener.local_addr()?);
        let state = tokio::task::spawn_blocking(move || AppState::prepare(settings))
            .await
            .map_err(|e| anyhow::anyhow!("start-up task failed: {e}"))?
            .map_err(|e: StartError| anyhow::anyhow!(e))?;
        let state = web::Data::new(state);
        let st = state.clone();
        match tokio::task::spawn_blocking(move || crate::web::setup::prepare_link(&st)).await {
            // Logged on purpose: on a fresh server this link is the only way in, and it stops
            // working once used or once any user exists.
            Ok(Ok(Some(link))) => {
                tracing::warn!(%link, "no users yet: open this one-time link to create the first administrator")
            }
            Ok(Ok(None)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "could not prepare the setup link"),
            Err(e) => tracing::warn!(error = %e, "could not prepare the setup link"),
        }
        crate::maintenance::spawn(
            state.clone().into_inner(),
            std::time::Duration::from_secs(state.settings.maintenance_interval),
        );
        // Checks what this process caches against the database (`crate::cache`).
        crate::cache::sync::spawn(state.caches.clone(), state.settings.db.clone());
        // Delivers queued mail (only when SMTP is configured).
        crate::outbox_sender::spawn(state.clone().into_inner());
        // /metrics on an address of its own, for a scraper on another network.
        if let Some(bind) = state.settings.metrics_bind.clone() {
            let st = state.clone();
            let metrics = HttpServer::new(move || {
                App::new()
                    .app_data(st.clone())
                    .route("/metrics", actix_web::web::get().to(web::metrics::metrics))
            })
            .workers(1)
            .bind(&bind)?
            .run();
            tokio::spawn(metrics);
            tracing::info!(%bind, "metrics served");
        }
        let port = listener.local_addr()?.port();
        let workers = state.settings.workers;
        let app_state = state.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(app_state.clone())
                .configure(web::routes)
                .default_service(actix_web::web::to(web::error::not_found))
                .wrap(security_headers())
                .wrap(actix_web::middleware::from_fn(web::metrics::record))
                .wrap(actix_web::middleware::from_fn(web::request_id::echo))
                .wrap(TracingLogger::<web::log_span::RootSpan>::new())
        })
        .workers(workers)
        .shutdown_timeout(30)
        .listen(listener)?
        .run();
        Ok(Application {
            port,
            server,
            state,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// Serves until SIGTERM/SIGINT, then drains in-flight requests (actix's graceful shutdown).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// Headers every response carries (RFC 9700 §4.16 clickjacking; no MIME sniffing; no referrer
/// leaking codes or state to third parties).
fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("X-Frame-Options", "DENY"))
        .add(("Referrer-Policy", "no-referrer"))
        // What pages may load (images from us only; a verified client's logo is the one
        // exception, set by the page that shows it).
        .add(("Content-Security-Policy", web::csp::policy(None)))
}
