//! The example provider as a library: builds an opkit [`Provider`] over the in-memory stores,
//! adds the host's part (login sessions, login and consent pages, the admin gate, a demo
//! client) and exposes it all as an axum [`Router`].
//!
//! `main.rs` uses it to serve; `tests/example_server.rs` includes this file with `#[path]` and
//! drives the router over real HTTP. Submodules are declared with `#[path]` relative to this
//! file's directory so both builds find them.

#[path = "demo.rs"]
mod demo;
#[path = "endpoints.rs"]
mod endpoints;
#[path = "expiring.rs"]
mod expiring;
#[path = "interaction.rs"]
mod interaction;
#[path = "limiter.rs"]
mod limiter;
#[path = "logout.rs"]
mod logout;
#[path = "pages.rs"]
mod pages;
#[path = "session.rs"]
mod session;
#[path = "users.rs"]
mod users;
#[path = "web.rs"]
mod web;

use std::fmt;
use std::sync::{Arc, Weak};
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::routing::{any, get, post};
use axum::Router;
use opkit::config::RegistrationPolicy;
use opkit::host::{Rng, SystemRng};
use opkit::jose::KeySet;
use opkit::secret::{random_token, SecretHash};
use opkit::store::MemoryStore;
use opkit::{Config, Provider};

use self::expiring::ExpiringMap;
use self::interaction::Interaction;
use self::limiter::Limiter;
use self::logout::PendingLogout;
use self::session::SessionRecord;
use self::users::Users;

/// The provider type of the example: clients and grants in one [`MemoryStore`], users in
/// [`Users`] (in memory, passwords checked off the async workers).
pub type ExampleProvider = Provider<MemoryStore, MemoryStore, Users>;

/// Largest request body accepted anywhere.
const MAX_BODY: usize = 64 * 1024;

/// How often expired grants, sessions and interactions are purged.
const PURGE_EVERY: Duration = Duration::from_secs(60);

/// A user to create at start.
#[derive(Clone)]
pub struct UserSpec {
    /// Login name; also the `preferred_username` and the local part of the e-mail address.
    pub username: String,
    /// Password (hashed with PBKDF2 when the user is added, never kept in plaintext).
    pub password: String,
}

impl fmt::Debug for UserSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserSpec")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// How to build the application.
pub struct AppOptions {
    /// The issuer identifier (`https://…`, or `http://` on a loopback host).
    pub issuer: String,
    /// Users to create. When empty, a user `demo` with a random password is created.
    pub users: Vec<UserSpec>,
    /// The bearer token of the `/clients` management API; random when `None`.
    pub admin_token: Option<String>,
    /// When set, RFC 7591 registration requires this initial access token.
    pub registration_token: Option<String>,
    /// Whether clients may be given the resource owner password grant.
    pub password_grant: bool,
    /// Log one line per request (method, path, status, time) to stderr.
    pub log_requests: bool,
    /// The signing keys; `None` generates an ES256 and an RS256 key at start (so tokens from
    /// an earlier run no longer verify). A host that keeps keys loads them here.
    pub keys: Option<KeySet>,
}

impl fmt::Debug for AppOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppOptions")
            .field("issuer", &self.issuer)
            .field("users", &self.users)
            .field(
                "admin_token",
                &self.admin_token.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "registration_token",
                &self.registration_token.as_ref().map(|_| "<redacted>"),
            )
            .field("password_grant", &self.password_grant)
            .field("log_requests", &self.log_requests)
            .field("keys", &self.keys.as_ref().map(|k| k.len()))
            .finish()
    }
}

/// What the operator needs to know at start (printed once by `main`, never logged later).
#[derive(Clone)]
pub struct StartupInfo {
    /// The issuer identifier.
    pub issuer: String,
    /// The discovery document URL.
    pub discovery_url: String,
    /// The management API token.
    pub admin_token: String,
    /// Whether the admin token was generated (and so must be printed to be known at all).
    pub admin_token_generated: bool,
    /// The usernames created.
    pub usernames: Vec<String>,
    /// The generated demo user and its password, when no `--user` was given.
    pub demo_user: Option<(String, String)>,
    /// The demo client's `client_id`.
    pub demo_client_id: String,
    /// The demo client's secret.
    pub demo_client_secret: String,
    /// Where to start the demo login.
    pub login_url: String,
    /// Whether dynamic registration needs an initial access token.
    pub registration_protected: bool,
}

impl fmt::Display for StartupInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "opkit example provider")?;
        writeln!(f, "  issuer:              {}", self.issuer)?;
        writeln!(f, "  discovery:           {}", self.discovery_url)?;
        if self.admin_token_generated {
            writeln!(f, "  admin token:         {}", self.admin_token)?;
        } else {
            writeln!(f, "  admin token:         (as given with --admin-token)")?;
        }
        match &self.demo_user {
            Some((name, password)) => {
                writeln!(f, "  demo user:           {name}")?;
                writeln!(f, "  demo password:       {password}")?;
            }
            None => writeln!(f, "  users:               {}", self.usernames.join(", "))?,
        }
        writeln!(f, "  demo client_id:      {}", self.demo_client_id)?;
        writeln!(f, "  demo client_secret:  {}", self.demo_client_secret)?;
        let registration = if self.registration_protected {
            "needs the initial access token (--registration-token)"
        } else {
            "open"
        };
        writeln!(f, "  registration:        {registration}")?;
        write!(f, "  log in at:           {}", self.login_url)
    }
}

/// Shared state of all handlers.
pub(crate) struct AppState {
    pub(crate) provider: ExampleProvider,
    pub(crate) store: MemoryStore,
    /// Throttles password and client secret guessing (also installed in the provider).
    pub(crate) limiter: Arc<Limiter>,
    pub(crate) admin_token: SecretHash,
    /// Cookies get `Secure` (and the `__Host-` prefix) when the issuer is https.
    pub(crate) secure_cookies: bool,
    /// Login sessions by the hash of their cookie value.
    pub(crate) sessions: ExpiringMap<SessionRecord>,
    /// Pending login and consent pages by the hash of their id.
    pub(crate) interactions: ExpiringMap<Interaction>,
    /// Logouts waiting for the user's confirmation.
    pub(crate) logouts: ExpiringMap<PendingLogout>,
    /// The demo client and its pending requests.
    pub(crate) demo: demo::Demo,
}

impl AppState {
    /// The issuer identifier.
    pub(crate) fn issuer(&self) -> &str {
        self.provider.config().issuer()
    }

    /// Drop whatever expired.
    fn purge(&self) {
        let now = self.provider.clock().now();
        self.store.purge_expired(now);
        self.sessions.purge(now);
        self.interactions.purge(now);
        self.logouts.purge(now);
        self.limiter.purge();
        self.demo.purge(now);
    }
}

/// The built application.
pub struct App {
    state: Arc<AppState>,
    startup: StartupInfo,
    log_requests: bool,
}

impl fmt::Debug for App {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("App")
            .field("issuer", &self.startup.issuer)
            .finish_non_exhaustive()
    }
}

/// Build the provider, its users and the demo client, and start the purge task (needs a tokio
/// runtime).
pub async fn build(mut options: AppOptions) -> Result<App, String> {
    let rng = SystemRng::new();
    let mut config = Config::new(&options.issuer).map_err(|e| e.to_string())?;
    config.password_grant_enabled = options.password_grant;
    if let Some(token) = &options.registration_token {
        config.registration = RegistrationPolicy::InitialAccessToken(SecretHash::of(token));
    }
    let secure_cookies = config.issuer().starts_with("https://");

    // RSA key generation and password hashing take a moment: both on the blocking pool, at
    // the same time.
    let users = Users::new();
    let given_keys = options.keys.take();
    let keys = async move {
        match given_keys {
            Some(keys) => Ok(keys),
            None => tokio::task::spawn_blocking(|| KeySet::generate(&SystemRng::new()))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string()),
        }
    };
    let (keys, added) = tokio::join!(keys, users.add(&options.users, &rng));
    let keys = keys.map_err(|e| format!("key generation failed: {e}"))?;
    if keys.is_empty() {
        return Err("no signing keys".to_owned());
    }
    let (usernames, demo_user) = added?;

    let store = MemoryStore::new();
    let limiter = Arc::new(Limiter::default());
    let provider = Provider::new(config, keys, store.clone(), store.clone(), users)
        .with_rate_limit(limiter.clone());

    let (admin_token, admin_token_generated) = match options.admin_token {
        Some(token) => (token, false),
        None => (random_secret(&rng)?, true),
    };
    let demo = demo::Demo::create(&provider).await?;
    let issuer = provider.config().issuer().to_owned();
    let startup = StartupInfo {
        discovery_url: format!("{issuer}/.well-known/openid-configuration"),
        admin_token: admin_token.clone(),
        admin_token_generated,
        usernames,
        demo_user,
        demo_client_id: demo.client_id.clone(),
        demo_client_secret: demo.client_secret.clone(),
        login_url: format!("{issuer}/demo/start"),
        registration_protected: options.registration_token.is_some(),
        issuer,
    };
    let state = Arc::new(AppState {
        provider,
        store,
        limiter,
        admin_token: SecretHash::of(&admin_token),
        secure_cookies,
        sessions: ExpiringMap::new(100_000),
        interactions: ExpiringMap::new(20_000),
        logouts: ExpiringMap::new(10_000),
        demo,
    });
    spawn_purge(Arc::downgrade(&state));
    Ok(App {
        state,
        startup,
        log_requests: options.log_requests,
    })
}

impl App {
    /// What to print at start.
    pub fn startup(&self) -> &StartupInfo {
        &self.startup
    }

    /// Every route, under the issuer's path if it has one. The protocol endpoints sit where the
    /// configuration (and so discovery) says they are.
    pub fn router(&self) -> Router {
        let paths = &self.state.provider.config().paths;
        let routes = Router::new()
            .route("/", get(pages::landing))
            // CORS (the core's policy) on exactly these four: discovery, JWKS, token, UserInfo.
            .route(
                "/.well-known/openid-configuration",
                get(endpoints::discovery).options(endpoints::preflight),
            )
            .route(
                &paths.jwks,
                get(endpoints::jwks).options(endpoints::preflight),
            )
            .route(
                &paths.token,
                any(endpoints::token).options(endpoints::preflight),
            )
            .route(
                &paths.userinfo,
                any(endpoints::userinfo).options(endpoints::preflight),
            )
            .route(&paths.registration, any(endpoints::register))
            .route(
                &format!("{}/{{client_id}}", paths.registration),
                any(endpoints::registration_client),
            )
            .route("/clients", any(endpoints::clients))
            .route("/clients/{id}", any(endpoints::client_by_id))
            .route("/clients/{id}/secrets", any(endpoints::client_secrets))
            .route(
                "/clients/{id}/secrets/{secret_id}",
                any(endpoints::client_secret),
            )
            .route(&paths.authorization, any(interaction::authorize))
            .route("/interaction/{id}/login", post(interaction::login))
            .route("/interaction/{id}/consent", post(interaction::consent))
            .route(&paths.end_session, any(logout::end_session))
            .route(
                &format!("{}/{{id}}", paths.end_session),
                post(logout::confirm),
            )
            .route(&paths.revocation, any(endpoints::revoke))
            .route(&paths.introspection, any(endpoints::introspect))
            .route("/demo/start", get(demo::start))
            .route("/demo/callback", get(demo::callback))
            .fallback(pages::not_found)
            .with_state(self.state.clone());
        // RFC 8414 metadata sits at the host's root, with the issuer's path appended.
        let prefix = issuer_path(&self.startup.issuer);
        let metadata = Router::new()
            .route(
                &format!("/.well-known/oauth-authorization-server{prefix}"),
                get(endpoints::discovery).options(endpoints::preflight),
            )
            .with_state(self.state.clone());
        let mut router = if prefix.is_empty() {
            routes.merge(metadata)
        } else {
            Router::new()
                .nest(&prefix, routes)
                .merge(metadata)
                .fallback(pages::not_found)
        };
        router = router.layer(DefaultBodyLimit::max(MAX_BODY));
        if self.log_requests {
            router = router.layer(axum::middleware::from_fn(web::log_request));
        }
        router
    }
}

/// The path part of the issuer (`""` for `https://host`, `"/tenant"` for `https://host/tenant`).
fn issuer_path(issuer: &str) -> String {
    url::Url::parse(issuer)
        .map(|u| u.path().trim_end_matches('/').to_owned())
        .unwrap_or_default()
}

/// A 256-bit random secret, base64url.
fn random_secret(rng: &dyn Rng) -> Result<String, String> {
    random_token(rng, 32).map_err(|e| e.to_string())
}

/// Purge every [`PURGE_EVERY`] until the application is dropped.
fn spawn_purge(state: Weak<AppState>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(PURGE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match state.upgrade() {
                Some(state) => state.purge(),
                None => break,
            }
        }
    });
}
