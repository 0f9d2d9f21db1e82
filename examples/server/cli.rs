//! The command line, with clap (derive): the flags, their checks and the help text.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use opkit::jose::KeySet;

/// Where to listen without `--addr`.
pub const DEFAULT_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8080);

/// opkit example OpenID Connect provider
#[derive(Parser)]
#[command(name = "server")]
struct Cli {
    /// Address to listen on [default: 127.0.0.1:8080]
    #[arg(long, value_name = "ADDR")]
    addr: Option<SocketAddr>,
    /// Issuer identifier [default: http://ADDR]; https, or http on a loopback host
    #[arg(long, value_name = "URL", value_parser = issuer)]
    issuer: Option<String>,
    /// Add a user (repeatable). Without any, a user `demo` with a random password is created
    /// and its password printed
    #[arg(long = "user", value_name = "NAME:PASSWORD", value_parser = user)]
    users: Vec<(String, String)>,
    /// Bearer token for the /clients management API [default: random, printed at start]
    #[arg(long, value_name = "TOKEN", value_parser = token)]
    admin_token: Option<String>,
    /// Let anyone register clients (RFC 7591) at /register [default: registration is closed]
    #[arg(long)]
    open_registration: bool,
    /// Open registration to holders of this initial access token
    #[arg(long, value_name = "TOKEN", value_parser = token)]
    registration_token: Option<String>,
    /// Allow clients to be given the resource owner password grant
    #[arg(long)]
    password_grant: bool,
    /// Serve RFC 8693 token exchange to clients the management API gives the grant
    #[arg(long)]
    token_exchange: bool,
    /// Refresh rotation grace window: a refresh token presented again within N seconds of its
    /// rotation (up to 3 times) gets a fresh pair instead of revoking its family; 0-300
    /// [default: 0, off]
    #[arg(long, value_name = "N", default_value_t = 0, hide_default_value = true,
          value_parser = clap::value_parser!(u32).range(0..=300))]
    refresh_grace_seconds: u32,
    /// Threads serving requests, each with its own single-threaded runtime [default: one per
    /// CPU core]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    workers: Option<u16>,
    /// No access log and no events but warnings on stderr (RUST_LOG overrides)
    #[arg(short, long)]
    quiet: bool,
    /// Serve Prometheus metrics at /metrics (unauthenticated: for an internal address)
    #[arg(long)]
    metrics: bool,
    /// Where clients, grants, tokens, users and keys live: memory (lost at exit),
    /// sqlite:PATH or postgres://URL
    #[arg(long, value_name = "STORE", default_value = "sqlite:opkit-data/opkit.db", value_parser = store)]
    store: StoreChoice,
    /// File with the key that encrypts signing keys in the store (64 hex digits; or set
    /// OPKIT_KEY_ENCRYPTION_KEY)
    #[arg(long, value_name = "PATH")]
    kek_file: Option<PathBuf>,
}

/// Where the provider keeps its state (`--store`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum StoreChoice {
    /// In process memory: gone at exit.
    #[default]
    Memory,
    /// An SQLite file (created with its folder on first start).
    Sqlite(PathBuf),
    /// A PostgreSQL database, shared by every instance started with it.
    Postgres(String),
}

/// How to run: where to listen and how to build the provider. (No `Debug`: it holds
/// passwords and tokens.)
#[derive(Default)]
pub struct Options {
    /// `--addr`; without it, [`DEFAULT_ADDR`].
    pub addr: Option<SocketAddr>,
    /// `--issuer`; without it, `http://` + the address actually bound.
    pub issuer: Option<String>,
    pub workers: Option<usize>,
    /// Username and password of each `--user`.
    pub users: Vec<(String, String)>,
    pub admin_token: Option<String>,
    pub open_registration: bool,
    pub registration_token: Option<String>,
    pub password_grant: bool,
    pub token_exchange: bool,
    /// `--refresh-grace-seconds` (0: off).
    pub refresh_grace_seconds: u32,
    pub log_requests: bool,
    pub metrics: bool,
    /// Signing keys; `None` generates them at start (memory) or loads them from the store.
    pub keys: Option<KeySet>,
    pub store: StoreChoice,
    pub kek_file: Option<PathBuf>,
}

/// Parse the arguments (without the program name): the options, `None` once `--help` has been
/// printed, or a message for people.
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Option<Options>, String> {
    let program = std::iter::once("server".to_owned());
    let cli = match Cli::try_parse_from(program.chain(args)) {
        Ok(cli) => cli,
        Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelp => {
            print!("{}", e.render());
            return Ok(None);
        }
        // The first line says what is wrong; `main` adds the pointer to --help.
        Err(e) => {
            let message = e.render().to_string();
            let first = message.lines().next().unwrap_or_default();
            return Err(first.trim_start_matches("error: ").to_owned());
        }
    };
    let mut names: Vec<&str> = cli.users.iter().map(|(name, _)| name.as_str()).collect();
    names.sort_unstable();
    if let Some(twice) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(format!("--user {} is given twice", twice[0]));
    }
    if cli.issuer.is_none() && cli.addr.is_some_and(|a| !a.ip().is_loopback()) {
        return Err("--issuer (an https URL) is required when --addr is not loopback".into());
    }
    Ok(Some(Options {
        addr: cli.addr,
        issuer: cli.issuer,
        workers: cli.workers.map(usize::from),
        users: cli.users,
        admin_token: cli.admin_token,
        open_registration: cli.open_registration,
        registration_token: cli.registration_token,
        password_grant: cli.password_grant,
        token_exchange: cli.token_exchange,
        refresh_grace_seconds: cli.refresh_grace_seconds,
        log_requests: !cli.quiet,
        metrics: cli.metrics,
        keys: None,
        store: cli.store,
        kek_file: cli.kek_file,
    }))
}

/// The help text (what `--help` prints).
#[cfg(test)]
pub fn usage() -> String {
    use clap::CommandFactory;
    Cli::command().render_help().to_string()
}

fn issuer(s: &str) -> Result<String, String> {
    let config = opkit::Config::new(s).map_err(|e| e.to_string())?;
    Ok(config.issuer().to_owned())
}

/// `NAME:PASSWORD`: 1-64 letters, digits, `.`, `_`, `-` (the name also makes the e-mail
/// address) and a password of 1-1024 bytes.
fn user(s: &str) -> Result<(String, String), String> {
    let (name, password) = s.split_once(':').ok_or("expected NAME:PASSWORD")?;
    let name_ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if !name_ok {
        return Err(format!("{name:?}: 1-64 letters, digits, '.', '_' or '-'"));
    }
    if !(1..=1024).contains(&password.len()) {
        return Err(format!("{name}: the password must be 1-1024 bytes"));
    }
    Ok((name.to_owned(), password.to_owned()))
}

fn store(s: &str) -> Result<StoreChoice, String> {
    match s.split_once(':') {
        _ if s == "memory" => Ok(StoreChoice::Memory),
        Some(("sqlite", path)) if !path.is_empty() => Ok(StoreChoice::Sqlite(path.into())),
        Some(("postgres" | "postgresql", _)) => Ok(StoreChoice::Postgres(s.to_owned())),
        _ => Err("memory, sqlite:PATH or postgres://URL".into()),
    }
}

/// A token usable in `Authorization: Bearer` (RFC 6750 `b64token` characters).
fn token(s: &str) -> Result<String, String> {
    let ok = (1..=512).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b));
    if !ok {
        return Err("1-512 letters, digits and - . _ ~ + / =".into());
    }
    if s.len() < 16 {
        eprintln!("warning: a token shorter than 16 characters is easy to guess");
    }
    Ok(s.to_owned())
}
