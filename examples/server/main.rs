//! The example OpenID Connect provider: a thin program on `opkit-axum`. It parses the command
//! line (`cli.rs`), opens the store (SQLite in `./opkit-data/` unless `--store` says otherwise),
//! builds the provider on it, adds a demo relying party (`demo.rs`, which `/` leads to), prints
//! what the operator needs, and serves until Ctrl-C.
//!
//! ```text
//! cargo run --release --example server -- --addr 127.0.0.1:8080
//! cargo run --release --example server -- --workers 1 --quiet   # one thread, no access log
//! cargo run --release --example server -- --store postgres://localhost/opkit
//! ```

mod cli;
mod demo;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use axum::response::Redirect;
use axum::routing::get;
use axum::Router;
use opkit::claims::UserClaims;
use opkit::config::{RefreshGrace, RegistrationPolicy};
use opkit::host::SystemRng;
use opkit::jose::KeySet;
use opkit::secret::{random_token, SecretHash};
use opkit::store::{KeyStore, MemoryStore, MemoryUsers, Store, UserDirectory, UserStore};
use opkit::Config;
use opkit_axum::{KeyEncryptionKey, OpenIdProvider, PendingStore, SessionStore, StoredKeys};
use opkit_postgres::{PostgresOptions, PostgresStore};
use opkit_sqlite::{SqliteOptions, SqliteStore};

use cli::{Options, StoreChoice};

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
    // The kit's access log, events and warnings go through `tracing`; print them on stderr.
    let level = if options.log_requests { "info" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .try_init();
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

/// Open the chosen store and build the provider on it; the router and the startup banner.
async fn build(mut options: Options) -> Result<(Router, String), String> {
    let config = config(&options)?;
    let users = accounts(&mut options)?;
    match options.store.clone() {
        StoreChoice::Memory => on_memory(options, config, users).await,
        StoreChoice::Sqlite(path) => {
            let store = SqliteStore::open(&path, SqliteOptions::default()).await;
            let store = store.map_err(|e| format!("{}: {e}", path.display()))?;
            on_durable(options, config, users, store).await
        }
        StoreChoice::Postgres(url) => {
            let store = PostgresStore::connect(&url, PostgresOptions::default()).await;
            let store = store.map_err(|e| format!("PostgreSQL: {e}"))?;
            on_durable(options, config, users, store).await
        }
    }
}

/// Everything in process memory: gone at exit.
async fn on_memory(
    mut options: Options,
    config: Config,
    users: Users,
) -> Result<(Router, String), String> {
    // Generating the RSA key takes a moment: on the blocking pool.
    let keys = match options.keys.take() {
        Some(keys) => keys,
        None => tokio::task::spawn_blocking(|| KeySet::generate(&SystemRng::new()))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?,
    };
    let table = MemoryUsers::new();
    add_users(&table, &users).await?;
    let kit = OpenIdProvider::new(config, keys, MemoryStore::new(), table);
    let (router, banner, _) = assemble(options, kit, &users.line).await?;
    Ok((router, banner))
}

/// A database store holds everything: clients, grants, tokens, users, signing keys, login
/// sessions and pending steps, so a restart, or another instance on the same database, carries
/// on where this one stopped.
async fn on_durable<D>(
    options: Options,
    config: Config,
    users: Users,
    store: D,
) -> Result<(Router, String), String>
where
    D: Store + UserDirectory + KeyStore + SessionStore + PendingStore + Clone + 'static,
{
    add_users(&store, &users).await?;
    let kek = match &options.kek_file {
        Some(path) => Some(KeyEncryptionKey::from_file(path)),
        None => KeyEncryptionKey::from_env("OPKIT_KEY_ENCRYPTION_KEY").transpose(),
    };
    let kek = kek.transpose().map_err(|e| e.to_string())?;
    let keys = StoredKeys::new(store.clone(), kek, Arc::new(SystemRng::new()));
    let now = time::OffsetDateTime::now_utc();
    let set = keys
        .load_or_create(now, config.longest_token_lifetime())
        .await;
    let set = set.map_err(|e| e.to_string())?;
    let kit = OpenIdProvider::new(config, set, store.clone(), store.clone())
        .session_store(store.clone())
        .pending_store(store);
    let (router, banner, app) = assemble(options, kit, &users.line).await?;
    // A rotation made by another instance on the same database reaches this one.
    app.spawn_key_refresh(keys, Duration::from_secs(60));
    Ok((router, banner))
}

/// Add (or update) the users of the flags.
async fn add_users(table: &impl UserDirectory, users: &Users) -> Result<(), String> {
    for (name, password) in &users.accounts {
        let subject = subject_for(name);
        let put = table.put_user(name, password, &subject, claims_for(name));
        put.await
            .map_err(|e| format!("cannot add user {name}: {e}"))?;
    }
    Ok(())
}

/// The configuration the flags ask for.
fn config(options: &Options) -> Result<Config, String> {
    let issuer = options.issuer.as_deref().unwrap_or_default();
    let mut config = Config::new(issuer).map_err(|e| e.to_string())?;
    config.password_grant_enabled = options.password_grant;
    config.token_exchange_enabled = options.token_exchange;
    config.refresh_grace =
        RefreshGrace::new(options.refresh_grace_seconds, RefreshGrace::DEFAULT_REUSES)
            .map_err(|e| format!("--refresh-grace-seconds: {e}"))?;
    // Registration is closed unless asked for: open, or for holders of an initial access token.
    config.registration = match (&options.registration_token, options.open_registration) {
        (Some(token), _) => RegistrationPolicy::InitialAccessToken(SecretHash::of(token)),
        (None, true) => RegistrationPolicy::Open,
        (None, false) => RegistrationPolicy::Closed,
    };
    Ok(config)
}

/// The users to add, and the banner's line about them.
struct Users {
    accounts: Vec<(String, String)>,
    line: String,
}

/// The `--user`s, or a user `demo` with a random password.
fn accounts(options: &mut Options) -> Result<Users, String> {
    let accounts = std::mem::take(&mut options.users);
    if !accounts.is_empty() {
        let names: Vec<&str> = accounts.iter().map(|u| u.0.as_str()).collect();
        let line = format!("users:               {}", names.join(", "));
        return Ok(Users { accounts, line });
    }
    let password = random_token(&SystemRng::new(), 12).map_err(|e| e.to_string())?;
    let line = format!("demo user:           demo\n  demo password:       {password}");
    Ok(Users {
        accounts: vec![("demo".into(), password)],
        line,
    })
}

/// The app on `kit` with the admin token and the demo client; the router and the banner.
async fn assemble<S: Store + 'static, U: UserStore + 'static>(
    options: Options,
    kit: OpenIdProvider<S, U>,
    user_line: &str,
) -> Result<(Router, String, opkit_axum::OpenIdApp<S, U>), String> {
    let (admin_token, shown) = match options.admin_token {
        Some(token) => (token, "(as given with --admin-token)".to_owned()),
        None => random_token(&SystemRng::new(), 32)
            .map(|t| (t.clone(), t))
            .map_err(|e| e.to_string())?,
    };
    // The provider: every endpoint, login and consent pages, sessions, the management API.
    let app = kit
        .admin_token(&admin_token)
        .access_log(options.log_requests)
        .metrics(options.metrics)
        .health_checks(true)
        .build()
        .map_err(|e| e.to_string())?;
    app.spawn_purge(Duration::from_secs(60));
    let demo = demo::Demo::create(app.clone()).await?;
    // The host's own pages, next to the provider's under the issuer's path.
    let home = Router::new().route("/", get(|| async { Redirect::to("demo/start") }));
    let router = app.router_with(home.merge(demo.routes()));

    let config = app.provider().config();
    let registration = match config.registration {
        RegistrationPolicy::Open => "open: anyone may register clients at /register",
        RegistrationPolicy::Closed => "closed (--open-registration or --registration-token)",
        _ => "needs the initial access token (--registration-token)",
    };
    let store = match &options.store {
        StoreChoice::Memory => "memory (lost at exit)".to_owned(),
        StoreChoice::Sqlite(path) => format!("SQLite, {}", path.display()),
        StoreChoice::Postgres(_) => "PostgreSQL".to_owned(),
    };
    let issuer = config.issuer();
    let banner = format!(
        "opkit example provider\n  issuer:              {issuer}\n  \
         discovery:           {issuer}/.well-known/openid-configuration\n  \
         store:               {store}\n  \
         admin token:         {shown}\n  {user_line}\n  \
         demo client_id:      {}\n  \
         registration:        {registration}\n  log in at:           {issuer}/demo/start",
        demo.client_id,
    );
    Ok((router, banner, app))
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
