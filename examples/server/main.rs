//! The example OpenID Connect provider: a thin program on `opkit-axum`. It parses the command
//! line (`cli.rs`), builds the provider over the in-memory stores, adds a demo relying party
//! (`demo.rs`, which `/` leads to), prints what the operator needs, and serves until Ctrl-C.
//!
//! ```text
//! cargo run --release --example server -- --addr 127.0.0.1:8080
//! cargo run --release --example server -- --workers 1 --quiet   # one thread, no access log
//! ```

mod cli;
mod demo;

use std::process::ExitCode;
use std::time::Duration;

use axum::response::Redirect;
use axum::routing::get;
use axum::Router;
use opkit::claims::UserClaims;
use opkit::config::RegistrationPolicy;
use opkit::host::SystemRng;
use opkit::jose::KeySet;
use opkit::secret::{random_token, SecretHash};
use opkit::store::{MemoryStore, MemoryUsers};
use opkit::Config;
use opkit_axum::{OpenIdApp, OpenIdProvider};

use cli::Options;

/// The application type of the example.
type App = OpenIdApp<MemoryStore, MemoryUsers>;

/// One single-threaded runtime here (listener, purge task, first worker); `opkit_axum::serve`
/// starts one more per extra worker.
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let result = match cli::parse(std::env::args().skip(1)) {
        Ok(Some(options)) => run(options).await,
        Ok(None) => Ok(()),
        Err(e) => {
            eprintln!("error: {e}\n\nRun with --help for usage.");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = &result {
        eprintln!("error: {e}");
    }
    ExitCode::from(u8::from(result.is_err()))
}

async fn run(mut options: Options) -> Result<(), String> {
    let addr = options.addr.unwrap_or(cli::DEFAULT_ADDR);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    options
        .issuer
        .get_or_insert_with(|| format!("http://{bound}"));
    let workers = options
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let (router, banner) = build(options).await?;
    println!("{banner}\n  listening on:        {bound} (Ctrl-C to stop)");
    opkit_axum::serve(listener, router, workers, opkit_axum::shutdown_signal())
        .await
        .map_err(|e| format!("server error: {e}"))
}

/// Build the provider, its users and the demo client; the router and the startup banner.
async fn build(options: Options) -> Result<(Router, String), String> {
    let issuer = options.issuer.as_deref().unwrap_or_default();
    let mut config = Config::new(issuer).map_err(|e| e.to_string())?;
    config.password_grant_enabled = options.password_grant;
    // Registration is closed unless asked for: open, or for holders of an initial access token.
    config.registration = match (&options.registration_token, options.open_registration) {
        (Some(token), _) => RegistrationPolicy::InitialAccessToken(SecretHash::of(token)),
        (None, true) => RegistrationPolicy::Open,
        (None, false) => RegistrationPolicy::Closed,
    };
    let registration = match config.registration {
        RegistrationPolicy::Open => "open: anyone may register clients at /register",
        RegistrationPolicy::Closed => "closed (--open-registration or --registration-token)",
        _ => "needs the initial access token (--registration-token)",
    };
    let secret = |bytes| random_token(&SystemRng::new(), bytes).map_err(|e| e.to_string());
    let mut users = options.users;
    let user_line = if users.is_empty() {
        let password = secret(12)?;
        let line = format!("demo user:           demo\n  demo password:       {password}");
        users.push(("demo".into(), password));
        line
    } else {
        let names: Vec<&str> = users.iter().map(|u| u.0.as_str()).collect();
        format!("users:               {}", names.join(", "))
    };
    // Key generation and password hashing take a moment: on the blocking pool.
    let given = options.keys;
    let (keys, table) = tokio::task::spawn_blocking(move || {
        let keys = match given {
            Some(keys) => keys,
            None => KeySet::generate(&SystemRng::new()).map_err(|e| e.to_string())?,
        };
        let table = MemoryUsers::new();
        for (name, password) in &users {
            table
                .add_user(name, password, &subject_for(name), claims_for(name))
                .map_err(|e| format!("cannot add user {name}: {e}"))?;
        }
        Ok::<_, String>((keys, table))
    })
    .await
    .map_err(|e| e.to_string())??;
    let (admin_token, shown) = match options.admin_token {
        Some(token) => (token, "(as given with --admin-token)".to_owned()),
        None => secret(32).map(|t| (t.clone(), t))?,
    };

    // The provider: every endpoint, login and consent pages, sessions, the management API.
    let app = OpenIdProvider::new(config, keys, MemoryStore::new(), table)
        .admin_token(&admin_token)
        .access_log(options.log_requests)
        .build()
        .map_err(|e| e.to_string())?;
    app.spawn_purge(Duration::from_secs(60));
    let demo = demo::Demo::create(app.clone()).await?;
    // The host's own pages, next to the provider's under the issuer's path.
    let home = Router::new().route("/", get(|| async { Redirect::to("demo/start") }));
    let router = app.router_with(home.merge(demo.routes()));

    let issuer = app.provider().config().issuer();
    let banner = format!(
        "opkit example provider\n  issuer:              {issuer}\n  \
         discovery:           {issuer}/.well-known/openid-configuration\n  \
         admin token:         {shown}\n  {user_line}\n  \
         demo client_id:      {}\n  demo client_secret:  {}\n  \
         registration:        {registration}\n  log in at:           {issuer}/demo/start",
        demo.client_id, demo.client_secret,
    );
    Ok((router, banner))
}

/// A stable subject for a username (the same at every start, so relying parties keep
/// recognising the user): 32 hex digits of SHA-256 over a fixed prefix and the name.
fn subject_for(username: &str) -> String {
    let mut hex = SecretHash::of(&format!("opkit-example-user:{username}")).to_hex();
    hex.truncate(32);
    hex
}

/// Plausible claims for a username.
fn claims_for(username: &str) -> UserClaims {
    UserClaims {
        name: Some(username.to_owned()),
        preferred_username: Some(username.to_owned()),
        email: Some(format!("{username}@example.com")),
        email_verified: Some(true),
        ..UserClaims::default()
    }
}

#[cfg(test)]
mod tests;
