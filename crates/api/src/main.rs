use bloc_api::{telemetry, Application, Settings};

/// mimalloc rather than glibc's malloc: per request the service allocates
/// and frees many small buffers, and glibc's malloc, free and consolidation
/// were ~20% of the HTTP workers' CPU at 256 senders (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    telemetry::init();
    if std::env::args().nth(1).as_deref() == Some("openapi") {
        print!("{}", bloc_api::routes::openapi::document());
        return std::process::ExitCode::SUCCESS;
    }
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("{e}");
            return std::process::ExitCode::from(2);
        }
    };
    let app = match Application::start(settings).await {
        Ok(app) => app,
        Err(e) => {
            eprintln!("bloc-api: {e:#}");
            return std::process::ExitCode::FAILURE;
        }
    };
    tracing::info!(port = app.port(), admin_port = app.admin_port(), "bloc-api listening");
    match app.run_until_stopped().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bloc-api: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
