//! Provider configuration: the issuer, endpoint locations, lifetimes and policy switches.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::Duration;
use url::Url;

use crate::client::redirect::is_loopback;
use crate::jose::Algorithm;
use crate::secret::SecretHash;

/// Where each endpoint is served, as paths below the issuer. An optional endpoint set to
/// `None` is switched off: it is neither served (by `opkit-axum`) nor listed in discovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointPaths {
    /// Authorization endpoint.
    pub authorization: String,
    /// Token endpoint.
    pub token: String,
    /// UserInfo endpoint.
    pub userinfo: String,
    /// JWKS document.
    pub jwks: String,
    /// RFC 7591 dynamic registration (served unless [`Config::registration`] is
    /// [`RegistrationPolicy::Closed`]); RFC 7592 client configuration below it.
    pub registration: String,
    /// RFC 7009 revocation.
    pub revocation: Option<String>,
    /// RFC 7662 introspection.
    pub introspection: Option<String>,
    /// RP-initiated logout.
    pub end_session: Option<String>,
}

impl Default for EndpointPaths {
    fn default() -> Self {
        EndpointPaths {
            authorization: "/authorize".into(),
            token: "/token".into(),
            userinfo: "/userinfo".into(),
            jwks: "/jwks".into(),
            registration: "/register".into(),
            revocation: Some("/revoke".into()),
            introspection: Some("/introspect".into()),
            end_session: Some("/logout".into()),
        }
    }
}

/// A protocol endpoint of the provider (see [`Config::endpoints`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Endpoint {
    /// `/.well-known/openid-configuration` (and the RFC 8414 metadata).
    Discovery,
    /// The authorization endpoint.
    Authorization,
    /// The token endpoint.
    Token,
    /// The UserInfo endpoint.
    UserInfo,
    /// The JWKS document.
    Jwks,
    /// RFC 7591 registration (and RFC 7592 client configuration below it).
    Registration,
    /// RFC 7009 revocation.
    Revocation,
    /// RFC 7662 introspection.
    Introspection,
    /// RP-initiated logout.
    EndSession,
}

/// The path of the discovery document below the issuer.
pub const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";

/// Who may use the RFC 7591 registration endpoint. Closed unless the host opens it.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum RegistrationPolicy {
    /// Anyone (suitable on loopback or behind another gate).
    Open,
    /// Only callers presenting this initial access token as a bearer token (its SHA-256).
    InitialAccessToken(SecretHash),
    /// Dynamic registration is switched off (the default).
    #[default]
    Closed,
}

impl fmt::Debug for RegistrationPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistrationPolicy::Open => f.write_str("Open"),
            RegistrationPolicy::InitialAccessToken(_) => f.write_str("InitialAccessToken(<hash>)"),
            RegistrationPolicy::Closed => f.write_str("Closed"),
        }
    }
}

/// The refresh rotation grace window: for `window` after a refresh token was rotated, presenting
/// it again returns a fresh token pair in the same family instead of revoking the family, at
/// most `reuses` times per rotated token. Off by default ([`RefreshGrace::OFF`]).
///
/// It forgives concurrent tabs and retried requests that present the token being rotated twice;
/// the price is that a stolen rotated token can be replayed within the window, up to `reuses`
/// times, without revoking the family. Outside the window or past the count, reuse revokes the
/// whole family as without a grace window. Bounded: at most
/// [`MAX_WINDOW_SECONDS`](RefreshGrace::MAX_WINDOW_SECONDS) and
/// [`MAX_REUSES`](RefreshGrace::MAX_REUSES).
///
/// ```
/// use opkit::config::RefreshGrace;
/// let grace = RefreshGrace::new(30, RefreshGrace::DEFAULT_REUSES).unwrap();
/// assert_eq!(grace.window(), time::Duration::seconds(30));
/// assert_eq!(grace.reuses(), 3);
/// assert!(RefreshGrace::new(0, 3).unwrap().is_off());
/// assert!(RefreshGrace::new(301, 3).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "GraceDoc", into = "GraceDoc")]
pub struct RefreshGrace {
    window_seconds: u32,
    reuses: u32,
}

/// How a [`RefreshGrace`] is stored in a client's settings (and checked when read back).
#[derive(Serialize, Deserialize)]
struct GraceDoc {
    window_seconds: u32,
    reuses: u32,
}

impl TryFrom<GraceDoc> for RefreshGrace {
    type Error = InvalidRefreshGrace;
    fn try_from(doc: GraceDoc) -> Result<Self, Self::Error> {
        RefreshGrace::new(doc.window_seconds, doc.reuses)
    }
}

impl From<RefreshGrace> for GraceDoc {
    fn from(g: RefreshGrace) -> Self {
        GraceDoc {
            window_seconds: g.window_seconds,
            reuses: g.reuses,
        }
    }
}

impl RefreshGrace {
    /// No grace: presenting a rotated token again always revokes its family.
    pub const OFF: RefreshGrace = RefreshGrace {
        window_seconds: 0,
        reuses: 0,
    };
    /// The longest window: 5 minutes.
    pub const MAX_WINDOW_SECONDS: u32 = 300;
    /// The most reuses of one rotated token.
    pub const MAX_REUSES: u32 = 10;
    /// The reuses a window allows when none are given (the example's `--refresh-grace-seconds`).
    pub const DEFAULT_REUSES: u32 = 3;

    /// A window of `window_seconds` allowing `reuses` reuses of each rotated token. Either
    /// being 0 switches grace off; more than [`MAX_WINDOW_SECONDS`](Self::MAX_WINDOW_SECONDS) or
    /// [`MAX_REUSES`](Self::MAX_REUSES) is refused.
    pub fn new(window_seconds: u32, reuses: u32) -> Result<RefreshGrace, InvalidRefreshGrace> {
        if window_seconds > Self::MAX_WINDOW_SECONDS {
            return Err(InvalidRefreshGrace(
                "the grace window is at most 300 seconds",
            ));
        }
        if reuses > Self::MAX_REUSES {
            return Err(InvalidRefreshGrace("the grace reuses are at most 10"));
        }
        if window_seconds == 0 || reuses == 0 {
            return Ok(Self::OFF);
        }
        Ok(RefreshGrace {
            window_seconds,
            reuses,
        })
    }

    /// Whether grace is off.
    pub fn is_off(&self) -> bool {
        self.window_seconds == 0
    }

    /// How long after its rotation a token may be presented again (zero when off).
    pub fn window(&self) -> Duration {
        Duration::seconds(i64::from(self.window_seconds))
    }

    /// The window in whole seconds.
    pub fn window_seconds(&self) -> u32 {
        self.window_seconds
    }

    /// How many times one rotated token may be presented again (zero when off).
    pub fn reuses(&self) -> u32 {
        self.reuses
    }
}

/// A [`RefreshGrace`] out of bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidRefreshGrace(&'static str);

impl fmt::Display for InvalidRefreshGrace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for InvalidRefreshGrace {}

/// Provider settings. Build with [`Config::new`], then adjust fields.
///
/// ```
/// use opkit::Config;
/// let mut config = Config::new("https://id.example.com").unwrap();
/// config.registration = opkit::config::RegistrationPolicy::Open;
/// assert_eq!(config.issuer(), "https://id.example.com");
/// assert_eq!(config.endpoint_url(&config.paths.token), "https://id.example.com/token");
/// ```
#[derive(Debug, Clone)]
pub struct Config {
    issuer: String,
    /// Endpoint paths below the issuer.
    pub paths: EndpointPaths,
    /// Authorization code lifetime (default 60 s).
    pub code_ttl: Duration,
    /// Access token lifetime (default 1 h).
    pub access_token_ttl: Duration,
    /// ID token lifetime (default 1 h).
    pub id_token_ttl: Duration,
    /// Refresh token idle lifetime: unused this long, it expires (default 14 days).
    pub refresh_token_idle_ttl: Duration,
    /// Refresh token family absolute lifetime from the original authorization (default 90 days).
    pub refresh_token_absolute_ttl: Duration,
    /// The refresh rotation grace window for every client that does not set its own
    /// (default [`RefreshGrace::OFF`]).
    pub refresh_grace: RefreshGrace,
    /// The algorithm JWT access tokens are signed with (default ES256).
    pub access_token_alg: Algorithm,
    /// How long a login or consent step of the authorization endpoint stays usable after the
    /// request arrived (default 10 minutes). The core refuses an older step. It is capped at the
    /// access and ID token lifetimes (see [`Config::step_lifetime`]).
    pub interaction_ttl: Duration,
    /// Whether the password grant may be enabled for clients at all (default off).
    pub password_grant_enabled: bool,
    /// Serve RFC 8693 token exchange to clients the administrator gave the grant (default
    /// off).
    pub token_exchange_enabled: bool,
    /// Who may register clients dynamically.
    pub registration: RegistrationPolicy,
    /// The `aud` of JWT access tokens (RFC 9068); defaults to the issuer, whose UserInfo
    /// endpoint accepts them.
    pub access_token_audience: String,
    /// Largest form body accepted at the token, revocation and introspection endpoints.
    pub max_form_body: usize,
    /// Largest parameters accepted at the authorization and end-session endpoints, as a query
    /// string or a POSTed form alike.
    pub max_query: usize,
    /// Largest JSON body accepted at the registration and management endpoints.
    pub max_json_body: usize,
}

/// The issuer is not an acceptable URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidIssuer(&'static str);

impl fmt::Display for InvalidIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid issuer: {}", self.0)
    }
}

impl std::error::Error for InvalidIssuer {}

impl Config {
    /// A configuration with defaults for this issuer. The issuer is an `https` URL (or `http`
    /// on a loopback host, for development) without query or fragment; a trailing slash is
    /// removed.
    pub fn new(issuer: &str) -> Result<Config, InvalidIssuer> {
        let url = Url::parse(issuer).map_err(|_| InvalidIssuer("not an absolute URL"))?;
        if url.query().is_some() || url.fragment().is_some() || issuer.contains('#') {
            return Err(InvalidIssuer("must not contain a query or fragment"));
        }
        match (url.scheme(), url.host()) {
            ("https", Some(_)) => {}
            ("http", Some(host)) if is_loopback(&host) => {}
            ("http", Some(_)) => {
                return Err(InvalidIssuer("http is allowed only on loopback hosts"))
            }
            _ => return Err(InvalidIssuer("must be an https URL")),
        }
        let issuer = issuer.trim_end_matches('/').to_owned();
        Ok(Config {
            access_token_audience: issuer.clone(),
            issuer,
            paths: EndpointPaths::default(),
            code_ttl: Duration::seconds(60),
            access_token_ttl: Duration::hours(1),
            id_token_ttl: Duration::hours(1),
            refresh_token_idle_ttl: Duration::days(14),
            refresh_token_absolute_ttl: Duration::days(90),
            refresh_grace: RefreshGrace::OFF,
            access_token_alg: Algorithm::Es256,
            interaction_ttl: Duration::minutes(10),
            password_grant_enabled: false,
            token_exchange_enabled: false,
            registration: RegistrationPolicy::Closed,
            max_form_body: 16 * 1024,
            max_query: 8 * 1024,
            max_json_body: 64 * 1024,
        })
    }

    /// The issuer identifier, without a trailing slash.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// How long a step of the authorization endpoint is accepted: [`Config::interaction_ttl`],
    /// but never longer than the shorter of the access and ID token lifetimes. The grant a
    /// request ends in lives at least that long, which is what makes a replayed step detectable.
    pub fn step_lifetime(&self) -> Duration {
        self.interaction_ttl
            .min(self.access_token_ttl)
            .min(self.id_token_ttl)
    }

    /// The longest lifetime of a token the provider signs (ID token or access token): how long
    /// a key stays published after it stops signing.
    pub fn longest_token_lifetime(&self) -> Duration {
        self.id_token_ttl.max(self.access_token_ttl)
    }

    /// Every endpoint that is switched on, with its path below the issuer: what discovery lists
    /// and what a host serves (`opkit-axum` mounts exactly these).
    pub fn endpoints(&self) -> Vec<(Endpoint, &str)> {
        let p = &self.paths;
        let mut out = vec![
            (Endpoint::Discovery, DISCOVERY_PATH),
            (Endpoint::Authorization, p.authorization.as_str()),
            (Endpoint::Token, p.token.as_str()),
            (Endpoint::UserInfo, p.userinfo.as_str()),
            (Endpoint::Jwks, p.jwks.as_str()),
        ];
        if self.registration != RegistrationPolicy::Closed {
            out.push((Endpoint::Registration, p.registration.as_str()));
        }
        let optional = [
            (Endpoint::Revocation, &p.revocation),
            (Endpoint::Introspection, &p.introspection),
            (Endpoint::EndSession, &p.end_session),
        ];
        out.extend(
            optional
                .into_iter()
                .filter_map(|(e, path)| path.as_deref().map(|path| (e, path))),
        );
        out
    }

    /// The path of `endpoint` below the issuer, if it is switched on.
    pub fn endpoint_path(&self, endpoint: Endpoint) -> Option<&str> {
        self.endpoints()
            .into_iter()
            .find(|(e, _)| *e == endpoint)
            .map(|(_, path)| path)
    }

    /// The absolute URL of an endpoint path.
    pub fn endpoint_url(&self, path: &str) -> String {
        let mut s = String::with_capacity(self.issuer.len() + path.len());
        s.push_str(&self.issuer);
        s.push_str(path);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuer_rules() {
        assert!(Config::new("https://id.example.com/").is_ok());
        assert_eq!(
            Config::new("https://id.example.com/tenant/")
                .unwrap()
                .issuer(),
            "https://id.example.com/tenant"
        );
        assert!(Config::new("http://127.0.0.1:8080").is_ok());
        assert!(Config::new("http://id.example.com").is_err());
        assert!(Config::new("https://id.example.com?x=1").is_err());
        assert!(Config::new("https://id.example.com#x").is_err());
        assert!(Config::new("id.example.com").is_err());
    }

    #[test]
    fn refresh_grace_bounds() {
        assert_eq!(
            Config::new("https://id.example.com").unwrap().refresh_grace,
            RefreshGrace::OFF
        );
        assert_eq!(RefreshGrace::new(0, 5), Ok(RefreshGrace::OFF));
        assert_eq!(RefreshGrace::new(30, 0), Ok(RefreshGrace::OFF));
        let max = RefreshGrace::new(300, 10).unwrap();
        assert_eq!((max.window(), max.reuses()), (Duration::seconds(300), 10));
        assert!(!max.is_off());
        assert!(RefreshGrace::new(301, 1).is_err());
        assert!(RefreshGrace::new(1, 11).is_err());
        // Stored documents are checked when read back.
        let doc = serde_json::to_string(&max).unwrap();
        assert_eq!(doc, r#"{"window_seconds":300,"reuses":10}"#);
        assert_eq!(serde_json::from_str::<RefreshGrace>(&doc).unwrap(), max);
        assert!(
            serde_json::from_str::<RefreshGrace>(r#"{"window_seconds":9999,"reuses":1}"#).is_err()
        );
    }
}
