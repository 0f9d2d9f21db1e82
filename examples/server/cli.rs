//! The command line, parsed by hand (no dependency for a dozen flags).

use std::net::SocketAddr;

use opkit::jose::KeySet;

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
    --open-registration          Let anyone register clients (RFC 7591) at /register
                                 [default: registration is closed]
    --registration-token TOKEN   Open registration to holders of this initial access token
    --password-grant             Allow clients to be given the resource owner password grant
    --workers N                  Threads serving requests, each with its own single-threaded
                                 runtime [default: one per CPU core]
    -q, --quiet                  No access log (one line per request on stderr otherwise)
    -h, --help                   Print this help
";

/// Where to listen without `--addr`.
pub const DEFAULT_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8080);

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
    pub log_requests: bool,
    /// Signing keys; `None` generates them at start.
    pub keys: Option<KeySet>,
}

/// Parse the arguments (without the program name): the options, `None` for `--help`, or a
/// message for people.
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Option<Options>, String> {
    let mut args = args.into_iter();
    let mut o = Options {
        log_requests: true,
        ..Options::default()
    };
    while let Some(arg) = args.next() {
        // Both `--flag value` and `--flag=value`.
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        let switch = inline.is_none();
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or(format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--addr" => {
                let v = value()?;
                let parsed = v
                    .parse()
                    .map_err(|_| format!("--addr {v}: expected IP:PORT"))?;
                once(&mut o.addr, &flag, parsed)?;
            }
            "--issuer" => {
                let v = value()?;
                let config = opkit::Config::new(&v).map_err(|e| format!("--issuer {v}: {e}"))?;
                once(&mut o.issuer, &flag, config.issuer().to_owned())?;
            }
            "--user" => {
                let (name, password) = user(&value()?)?;
                if o.users.iter().any(|(n, _)| *n == name) {
                    return Err(format!("--user {name} is given twice"));
                }
                o.users.push((name, password));
            }
            "--admin-token" => once(&mut o.admin_token, &flag, token(&flag, value()?)?)?,
            "--registration-token" => {
                once(&mut o.registration_token, &flag, token(&flag, value()?)?)?
            }
            "--open-registration" if switch => o.open_registration = true,
            "--password-grant" if switch => o.password_grant = true,
            "-q" | "--quiet" if switch => o.log_requests = false,
            "--workers" => match value()?.parse::<usize>() {
                Ok(n @ 1..=1024) => once(&mut o.workers, &flag, n)?,
                _ => return Err("--workers: expected a number from 1 to 1024".into()),
            },
            _ => return Err(format!("unknown argument: {arg}")),
        }
    }
    let loopback = o.addr.is_none_or(|addr| addr.ip().is_loopback());
    if o.issuer.is_none() && !loopback {
        return Err("--issuer (an https URL) is required when --addr is not loopback".into());
    }
    Ok(Some(o))
}

fn once<T>(slot: &mut Option<T>, flag: &str, value: T) -> Result<(), String> {
    match slot.replace(value) {
        Some(_) => Err(format!("{flag} is given twice")),
        None => Ok(()),
    }
}

/// `NAME:PASSWORD`: 1-64 letters, digits, `.`, `_`, `-` (the name also makes the e-mail
/// address) and a password of 1-1024 bytes.
fn user(s: &str) -> Result<(String, String), String> {
    let (name, password) = s.split_once(':').ok_or("--user expects NAME:PASSWORD")?;
    let name_ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if !name_ok {
        return Err(format!(
            "--user {name:?}: 1-64 letters, digits, '.', '_' or '-'"
        ));
    }
    if !(1..=1024).contains(&password.len()) {
        return Err(format!("--user {name}: the password must be 1-1024 bytes"));
    }
    Ok((name.to_owned(), password.to_owned()))
}

/// A token usable in `Authorization: Bearer` (RFC 6750 `b64token` characters).
fn token(flag: &str, s: String) -> Result<String, String> {
    let ok = (1..=512).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b));
    if !ok {
        return Err(format!("{flag}: 1-512 letters, digits and - . _ ~ + / ="));
    }
    if s.len() < 16 {
        eprintln!("warning: {flag} is shorter than 16 characters; anyone who guesses it gets in");
    }
    Ok(s)
}
