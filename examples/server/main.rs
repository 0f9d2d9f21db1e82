//! The example OpenID Connect provider: parse the command line, bind, build the application,
//! print what the operator needs, and serve until Ctrl-C (or SIGTERM).
//!
//! ```text
//! cargo run --release --example server -- --addr 127.0.0.1:8080
//! cargo run --release --example server -- --workers 1 --quiet   # one thread, no access log
//! ```
//!
//! Every worker thread runs its own single-threaded tokio runtime (see `serve.rs` for why);
//! password hashing and RSA key generation go to a blocking pool.

mod app;
mod cli;
mod serve;

use std::process::ExitCode;

use cli::Command;

fn main() -> ExitCode {
    let settings = match cli::parse(std::env::args().skip(1)) {
        Ok(Command::Help) => {
            print!("{}", cli::USAGE);
            return ExitCode::SUCCESS;
        }
        Ok(Command::Run(settings)) => *settings,
        Err(e) => {
            eprintln!("error: {e}\n\nRun with --help for usage.");
            return ExitCode::from(2);
        }
    };
    // This thread's runtime runs the listener, the purge task and the first worker; `serve`
    // starts the other workers, each with a runtime of its own.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(settings));
    // Don't wait for the purge task or idle blocking threads.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(settings: cli::Settings) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind(settings.addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", settings.addr))?;
    let bound = listener
        .local_addr()
        .map_err(|e| format!("cannot read the bound address: {e}"))?;
    let workers = settings.workers.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    let app = app::build(settings.into_options(bound)).await?;
    println!("{}", app.startup());
    println!("  listening on:        {bound} (Ctrl-C to stop)");
    serve::serve(listener, app.router(), workers, shutdown_signal())
        .await
        .map_err(|e| format!("server error: {e}"))?;
    eprintln!("stopped");
    Ok(())
}

/// Resolves on Ctrl-C or, on Unix, SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            eprintln!("cannot listen for Ctrl-C: {e}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    eprintln!("shutting down");
}
