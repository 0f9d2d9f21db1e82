//! Command-line parsing for the example provider, by hand: `--addr`, `--issuer`, `--user`,
//! `--admin-token`, `--registration-token`, `--password-grant`, `--workers`, `--quiet` and
//! `--help`.

use std::fmt;
use std::net::SocketAddr;

use crate::app::{AppOptions, UserSpec};

/// Most `--workers` accepted.
const MAX_WORKERS: usize = 1024;

/// The help text.
pub const USAGE: &str = "\
opkit example OpenID Connect provider

USAGE:
    server [OPTIONS]

OPTIONS:
    --addr ADDR                  Address to listen on [default: 127.0.0.1:8080]
    --issuer URL                 Issuer identifier [default: http://ADDR]; https, or http on a
                                 loopback host
    --user NAME:PASSWORD         Add a user (repeatable). Without any, a user `demo` with a random
                                 password is created and its password printed
    --admin-token TOKEN          Bearer token for the /clients management API [default: random,
                                 printed at start]
    --registration-token TOKEN   Require this initial access token for dynamic registration
                                 (RFC 7591) at /register [default: registration is open]
    --password-grant             Allow clients to be given the resource owner password grant
    --workers N                  Threads serving requests, each with its own single-threaded
                                 runtime; connections are dealt out to them in turn
                                 [default: one per CPU core]
    -q, --quiet                  No access log (one line per request on stderr otherwise)
    -h, --help                   Print this help
";

/// What the command line asks for.
#[derive(Debug)]
pub enum Command {
    /// Print the help text.
    Help,
    /// Run the provider.
    Run(Box<Settings>),
}

/// Settings for a run. The issuer is left open when not given: it derives from the address the
/// listener actually got (`--addr 127.0.0.1:0`).
pub struct Settings {
    /// Where to listen.
    pub addr: SocketAddr,
    /// `--issuer`, if given.
    pub issuer: Option<String>,
    /// `--workers`: threads serving requests; `None` for one per CPU core.
    pub workers: Option<usize>,
    /// Everything else the application needs; its `issuer` is filled in by [`Settings::into_options`].
    pub options: AppOptions,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("addr", &self.addr)
            .field("issuer", &self.issuer)
            .field("workers", &self.workers)
            .field("options", &self.options)
            .finish()
    }
}

impl Settings {
    /// The application options, with the issuer defaulting to `http://` + the bound address.
    pub fn into_options(self, bound: SocketAddr) -> AppOptions {
        AppOptions {
            issuer: self.issuer.unwrap_or_else(|| format!("http://{bound}")),
            ..self.options
        }
    }
}

/// A command-line mistake, for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError(pub String);

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn err(message: impl Into<String>) -> CliError {
    CliError(message.into())
}

/// Parse the arguments (without the program name).
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Command, CliError> {
    let mut args = args.into_iter();
    let mut addr: Option<SocketAddr> = None;
    let mut issuer: Option<String> = None;
    let mut users: Vec<UserSpec> = Vec::new();
    let mut admin_token: Option<String> = None;
    let mut registration_token: Option<String> = None;
    let mut password_grant = false;
    let mut workers: Option<usize> = None;
    let mut quiet = false;

    while let Some(arg) = args.next() {
        // Both `--flag value` and `--flag=value`.
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| -> Result<String, CliError> {
            match inline.clone().or_else(|| args.next()) {
                Some(v) => Ok(v),
                None => Err(err(format!("{name} needs a value"))),
            }
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--addr" => set_once(&mut addr, "--addr", parse_addr(&value("--addr")?)?)?,
            "--issuer" => set_once(&mut issuer, "--issuer", parse_issuer(&value("--issuer")?)?)?,
            "--user" => {
                let user = parse_user(&value("--user")?)?;
                if users.iter().any(|u| u.username == user.username) {
                    return Err(err(format!("--user {} is given twice", user.username)));
                }
                users.push(user);
            }
            "--admin-token" => {
                let token = parse_token("--admin-token", &value("--admin-token")?)?;
                set_once(&mut admin_token, "--admin-token", token)?;
            }
            "--registration-token" => {
                let token = parse_token("--registration-token", &value("--registration-token")?)?;
                set_once(&mut registration_token, "--registration-token", token)?;
            }
            "--password-grant" if inline.is_none() => password_grant = true,
            "--workers" => set_once(
                &mut workers,
                "--workers",
                parse_workers(&value("--workers")?)?,
            )?,
            "-q" | "--quiet" if inline.is_none() => quiet = true,
            _ => return Err(err(format!("unknown argument: {arg}"))),
        }
    }

    let addr = addr.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
    if issuer.is_none() && !addr.ip().is_loopback() {
        return Err(err(
            "--issuer is required when --addr is not a loopback address \
             (an issuer reachable from elsewhere must be an https URL)",
        ));
    }
    Ok(Command::Run(Box::new(Settings {
        addr,
        issuer,
        workers,
        options: AppOptions {
            issuer: String::new(),
            users,
            admin_token,
            registration_token,
            password_grant,
            log_requests: !quiet,
            keys: None,
        },
    })))
}

fn set_once<T>(slot: &mut Option<T>, name: &str, value: T) -> Result<(), CliError> {
    if slot.is_some() {
        return Err(err(format!("{name} is given twice")));
    }
    *slot = Some(value);
    Ok(())
}

fn parse_addr(s: &str) -> Result<SocketAddr, CliError> {
    s.parse()
        .map_err(|_| err(format!("--addr {s}: expected IP:PORT, e.g. 127.0.0.1:8080")))
}

fn parse_workers(s: &str) -> Result<usize, CliError> {
    match s.parse::<usize>() {
        Ok(n @ 1..=MAX_WORKERS) => Ok(n),
        _ => Err(err(format!(
            "--workers {s}: expected a number from 1 to {MAX_WORKERS}"
        ))),
    }
}

fn parse_issuer(s: &str) -> Result<String, CliError> {
    // The provider checks the rest (https, or http on loopback; no query or fragment).
    opkit::Config::new(s)
        .map(|c| c.issuer().to_owned())
        .map_err(|e| err(format!("--issuer {s}: {e}")))
}

/// `NAME:PASSWORD`; the name is 1–64 characters of letters, digits, `.`, `_` and `-` (it also
/// makes the e-mail address), the password anything non-empty up to 1024 bytes.
fn parse_user(s: &str) -> Result<UserSpec, CliError> {
    let Some((username, password)) = s.split_once(':') else {
        return Err(err("--user expects NAME:PASSWORD"));
    };
    let name_ok = (1..=64).contains(&username.len())
        && username
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !name_ok {
        return Err(err(format!(
            "--user {username:?}: the name must be 1-64 letters, digits, '.', '_' or '-'"
        )));
    }
    if password.is_empty() || password.len() > 1024 {
        return Err(err(format!(
            "--user {username}: the password must be 1-1024 bytes"
        )));
    }
    Ok(UserSpec {
        username: username.to_owned(),
        password: password.to_owned(),
    })
}

/// A bearer token must be usable in `Authorization: Bearer` (RFC 6750 `b64token` characters),
/// or it could never be presented.
fn parse_token(name: &str, s: &str) -> Result<String, CliError> {
    let ok = !s.is_empty()
        && s.len() <= 512
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/' | b'=')
        });
    if !ok {
        return Err(err(format!(
            "{name}: 1-512 characters of letters, digits and - . _ ~ + / ="
        )));
    }
    if s.len() < 16 {
        eprintln!("warning: {name} is shorter than 16 characters; anyone who can guess it gets in");
    }
    Ok(s.to_owned())
}
