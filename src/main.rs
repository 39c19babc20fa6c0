use ostiary::cli::{self, Cli, Command};
use ostiary::startup::Application;

fn main() {
    let args = Cli::parse_args();
    // Every command opens the database: a URL that cannot is refused like any invalid setting.
    let checked = args
        .resolve_settings()
        .and_then(|s| cli::check_database(&s).map(|()| s));
    let settings = match checked {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ostiary: {e}");
            std::process::exit(2);
        }
    };
    let telemetry = ostiary::telemetry::init(
        &settings.log,
        settings.log_format,
        settings.otlp_endpoint.as_deref(),
    );
    let result = match args.command.unwrap_or(Command::Serve(Box::default())) {
        Command::Serve(_) => serve(settings),
        Command::Migrate { dry_run } => cli::migrate(&settings, dry_run),
        Command::Gc => cli::gc(&settings),
        Command::Export { output } => cli::config_as_code::export(&settings, output.as_deref()),
        Command::Apply { file, dry_run } => cli::config_as_code::apply(&settings, &file, dry_run),
        Command::User(c) => cli::user::run(&settings, c),
        Command::Client(c) => cli::client::run(&settings, c),
        Command::Keys(c) => cli::keys::run(&settings, c),
        Command::Registration(c) => cli::registration::run(&settings, c),
        Command::Upstream(c) => cli::upstream::run(&settings, c),
        Command::Group(c) => cli::upstream::run_group(&settings, c),
    };
    // Flushes buffered log lines and spans before the process ends (exit skips destructors).
    drop(telemetry);
    if let Err(e) = result {
        eprintln!("ostiary: {}", e.message);
        std::process::exit(e.code);
    }
}

fn serve(settings: ostiary::config::Settings) -> cli::CliResult {
    actix_web::rt::System::new().block_on(async move {
        let bind = settings.bind;
        let app = Application::build(settings).await?;
        // Settled by `build` (derived from the bound port when not configured).
        let issuer = app.state().settings.issuer.clone();
        tracing::info!(%issuer, %bind, "ostiary listening");
        app.run_until_stopped().await?;
        tracing::info!("ostiary stopped");
        Ok::<(), anyhow::Error>(())
    })?;
    Ok(())
}
