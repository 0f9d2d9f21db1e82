//! The builder ([`OpenIdProvider`]) and the built application ([`OpenIdApp`]): its router, its
//! provider, and the purge of what expired.

use std::fmt;
use std::sync::{Arc, Weak};

use axum::extract::DefaultBodyLimit;
use axum::routing::{any, get, post};
use axum::Router;
use opkit::config::Endpoint;
use opkit::host::{Clock, Events, RateLimit, Rng};
use opkit::jose::KeySet;
use opkit::secret::SecretHash;
use opkit::store::{KeyStore, PurgeCounts, Store, StoreError, UserStore};
use opkit::{Config, Provider};
use time::Duration;

use crate::adapter::Incoming;
use crate::admin::{self, CLIENTS_PATH};
use crate::browser::CookiePolicy;
use crate::endpoints as ep;
use crate::interaction::{self, INTERACTION_PATH};
use crate::keys::StoredKeys;
use crate::kit::{Kit, KitProvider};
use crate::limiter::Limiter;
use crate::logout;
use crate::memory::{MemoryPending, MemorySessions};
use crate::observe::{self, Metrics, Observer};
use crate::pages::{DefaultPages, Pages};
use crate::paths::BuildError;
use crate::state::{PendingStore, SessionRecord, SessionStore, StateError};
use crate::users::BlockingUsers;

/// Largest request body accepted anywhere by default (the core applies tighter limits per
/// endpoint).
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;
/// How long a login session lasts by default.
pub const DEFAULT_SESSION_TTL: Duration = Duration::hours(12);
/// Records removed per store statement by [`OpenIdApp::purge_expired`].
const PURGE_BATCH: usize = 1000;

/// Builds an [`OpenIdApp`]: the provider, plus the host's choices (admin token, pages, state
/// stores, rate limiter). Everything but the provider has a default.
///
/// ```
/// use opkit::jose::{Algorithm, KeySet, SigningKey};
/// use opkit::store::{MemoryStore, MemoryUsers};
/// use opkit::Config;
///
/// let mut keys = KeySet::new();
/// let rng = opkit::host::SystemRng::new();
/// keys.insert(SigningKey::generate(Algorithm::Es256, "k1", &rng).unwrap()).unwrap();
/// let config = Config::new("https://id.example.com").unwrap();
/// let app = opkit_axum::OpenIdProvider::new(config, keys, MemoryStore::new(), MemoryUsers::new())
///     .admin_token("a long random admin token")
///     .build()?; // a BuildError if two configured paths collide
/// let router: axum::Router = app.router();
/// # Ok::<(), opkit_axum::BuildError>(())
/// ```
pub struct OpenIdProvider<S, U> {
    provider: KitProvider<S, U>,
    pages: Arc<dyn Pages>,
    sessions: Arc<dyn SessionStore>,
    pending: Arc<dyn PendingStore>,
    limiter: Option<Arc<dyn RateLimit>>,
    admin_token: Option<SecretHash>,
    session_ttl: Duration,
    access_log: bool,
    body_limit: usize,
    events: Option<Arc<dyn Events>>,
    metrics: bool,
    health: bool,
}

/// Where [`OpenIdProvider::metrics`] serves the metrics, under the issuer's path.
pub const METRICS_PATH: &str = "/metrics";
/// Where [`OpenIdProvider::health_checks`] serves liveness, under the issuer's path.
pub const HEALTHZ_PATH: &str = "/healthz";
/// Where [`OpenIdProvider::health_checks`] serves readiness, under the issuer's path.
pub const READYZ_PATH: &str = "/readyz";

impl<S: Store + 'static, U: UserStore + 'static> fmt::Debug for OpenIdProvider<S, U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenIdProvider")
            .field("issuer", &self.provider.config().issuer())
            .field("management_api", &self.admin_token.is_some())
            .finish_non_exhaustive()
    }
}

impl<S: Store + 'static, U: UserStore + 'static> OpenIdProvider<S, U> {
    /// A provider for `config` with these signing keys, this store (clients, grants, codes,
    /// tokens, consents) and the host's users. The users' password check will run on the
    /// blocking pool ([`BlockingUsers`]).
    pub fn new(config: Config, keys: KeySet, store: S, users: U) -> Self {
        Self::from_provider(Provider::new(
            config,
            keys,
            store,
            BlockingUsers::new(users),
        ))
    }

    /// Serve a provider the host built itself (say with its own clock). The kit installs its
    /// rate limiter into it at [`build`](Self::build) unless [`rate_limit`](Self::rate_limit)
    /// gives another.
    pub fn from_provider(provider: KitProvider<S, U>) -> Self {
        OpenIdProvider {
            provider,
            pages: Arc::new(DefaultPages),
            sessions: Arc::new(MemorySessions::default()),
            pending: Arc::new(MemoryPending::default()),
            limiter: None,
            admin_token: None,
            session_ttl: DEFAULT_SESSION_TTL,
            access_log: false,
            body_limit: DEFAULT_BODY_LIMIT,
            events: None,
            metrics: false,
            health: false,
        }
    }

    /// Mount the management API (`/clients…`) for callers presenting `token` as a bearer
    /// token. Only its SHA-256 is kept. Without it, the management API is not served. Use a
    /// random token of 32 bytes or more, of RFC 6750 `b64token` characters (letters, digits,
    /// `-._~+/=`): a token with others cannot be presented as a bearer token.
    pub fn admin_token(mut self, token: &str) -> Self {
        self.admin_token = Some(SecretHash::of(token));
        self
    }

    /// Render the login, consent, logout and message pages with `pages`.
    pub fn pages(mut self, pages: impl Pages) -> Self {
        self.pages = Arc::new(pages);
        self
    }

    /// Keep login sessions in `store` (default: [`MemorySessions`]).
    pub fn session_store(mut self, store: impl SessionStore) -> Self {
        self.sessions = Arc::new(store);
        self
    }

    /// Keep pending login, consent and logout steps in `store` (default: [`MemoryPending`]).
    pub fn pending_store(mut self, store: impl PendingStore) -> Self {
        self.pending = Arc::new(store);
        self
    }

    /// Throttle password and client secret checks, and limit open registrations and login
    /// pages per source, with `limiter` (default: [`Limiter`] with its default
    /// [`Policy`](crate::limiter::Policy); give `Limiter::with_policy` to tune it). The login
    /// page and the password grant share it.
    pub fn rate_limit(mut self, limiter: Arc<dyn RateLimit>) -> Self {
        self.limiter = Some(limiter);
        self
    }

    /// How long a login session lasts (default [`DEFAULT_SESSION_TTL`]).
    pub fn session_ttl(mut self, ttl: Duration) -> Self {
        self.session_ttl = ttl;
        self
    }

    /// Largest request body accepted (default [`DEFAULT_BODY_LIMIT`]); larger ones get `413`.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// Log one line per request on stderr: method, path (ids masked, never the query),
    /// status and time (default off).
    pub fn access_log(mut self, on: bool) -> Self {
        self.access_log = on;
        self
    }

    /// Also report the provider's [events](opkit::host::Event) to `events` (an audit trail,
    /// say). Whatever is given here, the kit emits every event as a `tracing` event (target
    /// `opkit::event`) and counts it in the metrics when they are on. Give the sink here, not to
    /// [`Provider::with_events`], which the kit's own sink replaces at [`build`](Self::build).
    pub fn events(mut self, events: Arc<dyn Events>) -> Self {
        self.events = Some(events);
        self
    }

    /// Serve Prometheus metrics at [`METRICS_PATH`] (default off): requests by route, method
    /// and status, their latency, the provider's events, tokens issued by grant type,
    /// throttling by attempt and store failures by kind. The endpoint has no authentication:
    /// expose it only where the scraper can reach it and nobody else (an internal listener, a
    /// network policy, or the host's own middleware).
    pub fn metrics(mut self, on: bool) -> Self {
        self.metrics = on;
        self
    }

    /// Serve [`HEALTHZ_PATH`] (`200` while the process answers) and [`READYZ_PATH`] (`200` when
    /// the store answers a lookup within two seconds, `503` otherwise) (default off).
    pub fn health_checks(mut self, on: bool) -> Self {
        self.health = on;
        self
    }

    /// Ask `hook` for extra claims in every ID token and access token the provider issues (see
    /// [`ClaimsHook`](opkit::host::ClaimsHook)).
    pub fn claims_hook(mut self, hook: Arc<dyn opkit::host::ClaimsHook>) -> Self {
        self.provider = self.provider.with_claims_hook(hook);
        self
    }

    /// Use another clock (tests move time with it).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.provider = self.provider.with_clock(clock);
        self
    }

    /// Use another random source.
    pub fn rng(mut self, rng: Arc<dyn Rng>) -> Self {
        self.provider = self.provider.with_rng(rng);
        self
    }

    /// The provider being built (to create clients before serving, say).
    pub fn provider(&self) -> &KitProvider<S, U> {
        &self.provider
    }

    /// The application.
    ///
    /// # Errors
    ///
    /// [`BuildError`] if the configuration's paths cannot all be served: one given to two
    /// endpoints, one inside another's (or the kit's `/interaction/…`, `/clients/…`), or one
    /// that is not a plain `/segment/…` path.
    pub fn build(self) -> Result<OpenIdApp<S, U>, BuildError> {
        let mut own_paths = Vec::new();
        if self.metrics {
            own_paths.push(METRICS_PATH);
        }
        if self.health {
            own_paths.extend([HEALTHZ_PATH, READYZ_PATH]);
        }
        crate::paths::check(
            self.provider.config(),
            self.admin_token.is_some(),
            &own_paths,
        )?;
        let observer = Arc::new(Observer {
            metrics: self.metrics.then(|| Arc::new(Metrics::new())),
            host: self.events,
        });
        let (limiter, own_limiter): (Arc<dyn RateLimit>, _) = match self.limiter {
            Some(limiter) => (limiter, None),
            None => {
                let own = Arc::new(Limiter::default());
                (own.clone(), Some(own))
            }
        };
        let provider = self
            .provider
            .with_rate_limit(limiter.clone())
            .with_events(observer.clone());
        let secure = provider.config().issuer().starts_with("https://");
        Ok(OpenIdApp {
            kit: Arc::new(Kit {
                provider,
                pages: self.pages,
                sessions: self.sessions,
                pending: self.pending,
                limiter,
                own_limiter,
                admin_token: self.admin_token,
                cookies: CookiePolicy { secure },
                session_ttl: self.session_ttl,
                access_log: self.access_log,
                body_limit: self.body_limit,
                observer,
                health: self.health,
            }),
        })
    }
}

/// The built provider: [`router`](Self::router) serves it, [`spawn_purge`](Self::spawn_purge)
/// keeps its stores small. Cheap to clone (one `Arc`).
pub struct OpenIdApp<S, U> {
    kit: Arc<Kit<S, U>>,
}

impl<S, U> Clone for OpenIdApp<S, U> {
    fn clone(&self) -> Self {
        OpenIdApp {
            kit: self.kit.clone(),
        }
    }
}

impl<S: Store + 'static, U: UserStore + 'static> fmt::Debug for OpenIdApp<S, U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenIdApp")
            .field("issuer", &self.kit.issuer())
            .finish_non_exhaustive()
    }
}

/// What one [`OpenIdApp::purge_expired`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PurgeReport {
    /// From the provider's store.
    pub store: PurgeCounts,
    /// Login sessions.
    pub sessions: u64,
    /// Pending login, consent and logout steps.
    pub pending: u64,
}

/// A purge failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum PurgeError {
    /// The provider's store failed.
    Store(StoreError),
    /// A state store of the kit failed.
    State(StateError),
}

impl fmt::Display for PurgeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PurgeError::Store(e) => write!(f, "purge failed: {e}"),
            PurgeError::State(e) => write!(f, "purge failed: {e}"),
        }
    }
}

impl std::error::Error for PurgeError {}

/// The path part of the issuer (`""` for `https://host`, `"/tenant"` for
/// `https://host/tenant`).
fn issuer_path(issuer: &str) -> String {
    url::Url::parse(issuer)
        .map(|u| u.path().trim_end_matches('/').to_owned())
        .unwrap_or_default()
}

impl<S: Store + 'static, U: UserStore + 'static> OpenIdApp<S, U> {
    /// The provider (to create clients, rotate keys, revoke consents…).
    pub fn provider(&self) -> &KitProvider<S, U> {
        &self.kit.provider
    }

    /// The path part of the issuer, under which [`router`](Self::router) mounts everything but
    /// the RFC 8414 metadata (`""` for an issuer without a path). A host mounting pages of its
    /// own next to the provider's puts them under it too.
    pub fn issuer_path(&self) -> String {
        issuer_path(self.kit.issuer())
    }

    /// The browser's login session, for a host's own pages ("signed in as …").
    pub async fn current_session(&self, incoming: &Incoming) -> Option<SessionRecord> {
        self.kit.current_session(incoming).await
    }

    /// Every endpoint the configuration switches on ([`Config::endpoints`], which discovery
    /// lists) at its path, the RFC 8414 metadata at
    /// `/.well-known/oauth-authorization-server{issuer path}`, RFC 7592 client configuration
    /// below the registration endpoint when registration is open, the login and consent forms
    /// (`/interaction/…`), the logout confirmation (`{end_session}/{id}`) and, with an admin
    /// token, the management API (`/clients…`). CORS is on the token, UserInfo, JWKS and
    /// discovery endpoints only. Merge it with the host's own routes; it has no fallback.
    ///
    /// The paths were checked by [`OpenIdProvider::build`], so this cannot collide with
    /// itself; routes the host merges in must not collide with these (axum panics on merging
    /// overlapping routes).
    pub fn router(&self) -> Router {
        let kit = &self.kit;
        let config = kit.provider.config();
        let mut routes = Router::new();
        for (endpoint, path) in config.endpoints() {
            routes = match endpoint {
                Endpoint::Discovery => routes.route(
                    path,
                    get(ep::discovery::<S, U>).options(ep::preflight::<S, U>),
                ),
                Endpoint::Authorization => routes
                    .route(path, any(interaction::authorize::<S, U>))
                    .route(
                        &format!("{INTERACTION_PATH}/{{id}}/login"),
                        post(interaction::login::<S, U>),
                    )
                    .route(
                        &format!("{INTERACTION_PATH}/{{id}}/consent"),
                        post(interaction::consent::<S, U>),
                    ),
                Endpoint::Token => {
                    routes.route(path, any(ep::token::<S, U>).options(ep::preflight::<S, U>))
                }
                Endpoint::UserInfo => routes.route(
                    path,
                    any(ep::userinfo::<S, U>).options(ep::preflight::<S, U>),
                ),
                Endpoint::Jwks => {
                    routes.route(path, get(ep::jwks::<S, U>).options(ep::preflight::<S, U>))
                }
                Endpoint::Registration => routes.route(path, any(ep::register::<S, U>)).route(
                    &format!("{path}/{{client_id}}"),
                    any(ep::registration_client::<S, U>),
                ),
                Endpoint::Revocation => routes.route(path, any(ep::revoke::<S, U>)),
                Endpoint::Introspection => routes.route(path, any(ep::introspect::<S, U>)),
                Endpoint::EndSession => routes
                    .route(path, any(logout::end_session::<S, U>))
                    .route(&format!("{path}/{{id}}"), post(logout::confirm::<S, U>)),
                other => {
                    crate::log::line(&format!("opkit-axum does not serve {other:?} yet"));
                    routes
                }
            };
        }
        if kit.admin_token.is_some() {
            routes = routes
                .route(CLIENTS_PATH, any(admin::clients::<S, U>))
                .route(
                    &format!("{CLIENTS_PATH}/{{id}}"),
                    any(admin::client_by_id::<S, U>),
                )
                .route(
                    &format!("{CLIENTS_PATH}/{{id}}/secrets"),
                    any(admin::client_secrets::<S, U>),
                )
                .route(
                    &format!("{CLIENTS_PATH}/{{id}}/secrets/{{secret_id}}"),
                    any(admin::client_secret::<S, U>),
                );
        }
        if kit.health {
            routes = routes
                .route(HEALTHZ_PATH, get(observe::healthz))
                .route(READYZ_PATH, get(observe::readyz::<S, U>));
        }
        let mut routes = routes.with_state(kit.clone());
        if let Some(metrics) = &kit.observer.metrics {
            routes = routes.merge(
                Router::new()
                    .route(METRICS_PATH, get(observe::metrics_endpoint))
                    .with_state(metrics.clone()),
            );
        }
        // RFC 8414 metadata sits at the host's root, with the issuer's path appended.
        let prefix = self.issuer_path();
        let metadata = Router::new()
            .route(
                &format!("/.well-known/oauth-authorization-server{prefix}"),
                get(ep::discovery::<S, U>).options(ep::preflight::<S, U>),
            )
            .with_state(kit.clone());
        let mut router = if prefix.is_empty() {
            routes.merge(metadata)
        } else {
            Router::new().nest(&prefix, routes).merge(metadata)
        };
        router = router.layer(DefaultBodyLimit::max(kit.body_limit));
        if let Some(metrics) = &kit.observer.metrics {
            router = router.layer(axum::middleware::from_fn_with_state(
                metrics.clone(),
                observe::measure,
            ));
        }
        if kit.access_log {
            router = router.layer(axum::middleware::from_fn(crate::log::access_log));
        }
        router
    }

    /// [`router`](Self::router) with the host's own routes mounted next to the provider's,
    /// under the issuer's path (for an issuer `https://host/tenant`, the host's `/hello` is
    /// served at `/tenant/hello`).
    pub fn router_with(&self, own: Router) -> Router {
        let prefix = self.issuer_path();
        let own = if prefix.is_empty() {
            own
        } else {
            Router::new().nest(&prefix, own)
        };
        self.router().merge(own)
    }

    /// Remove what expired: the provider's store ([`Store::purge_expired`], in batches), the
    /// login sessions, the pending steps and the kit's rate limiter windows.
    pub async fn purge_expired(&self) -> Result<PurgeReport, PurgeError> {
        let kit = &self.kit;
        let now = kit.provider.clock().now();
        let store = kit
            .provider
            .store()
            .purge_expired(now, PURGE_BATCH)
            .await
            .map_err(PurgeError::Store)?;
        let sessions = kit
            .sessions
            .purge_expired(now)
            .await
            .map_err(PurgeError::State)?;
        let pending = kit
            .pending
            .purge_expired(now)
            .await
            .map_err(PurgeError::State)?;
        if let Some(limiter) = &kit.own_limiter {
            limiter.purge();
        }
        Ok(PurgeReport {
            store,
            sessions,
            pending,
        })
    }

    /// Reload the signing keys from `keys` every `every` and publish what changed, so a
    /// rotation made by another instance on the same store ([`StoredKeys::rotate`]) reaches
    /// this one within `every`, and a key published ahead starts signing here when its time
    /// comes. Keys no unexpired token can need are deleted from the store. A failed reload is
    /// logged and the current keys stay. The task ends when the app is dropped.
    ///
    /// Give [`StoredKeys::rotate`] a `publish_ahead` longer than `every`, so that every instance
    /// publishes a new key before any signs with it.
    pub fn spawn_key_refresh<K: KeyStore + 'static>(
        &self,
        keys: StoredKeys<K>,
        every: std::time::Duration,
    ) -> tokio::task::JoinHandle<()> {
        let keys = Arc::new(keys);
        self.spawn_every(every, move |app| {
            let keys = keys.clone();
            async move { app.refresh_keys(&keys).await }
        })
    }

    /// Reload the signing keys from `keys` once and publish them if they changed, then delete
    /// the stored keys no unexpired token can need (what [`spawn_key_refresh`](Self::spawn_key_refresh)
    /// does periodically; call it after a rotation to have this instance see it at once).
    /// Failures are logged and the current keys stay.
    pub async fn refresh_keys<K: KeyStore>(&self, keys: &StoredKeys<K>) {
        let provider = &self.kit.provider;
        let now = provider.clock().now();
        let keep_for = provider.config().longest_token_lifetime();
        match keys.load(now, keep_for).await {
            Ok(set)
                if set.jwks() != provider.keys().jwks()
                    || active_changed(&set, &provider.keys()) =>
            {
                let _ = provider.rotate_keys(|current| {
                    *current = set;
                    Ok::<(), std::convert::Infallible>(())
                });
            }
            Ok(_) => {}
            Err(e) => crate::log::line(&format!("key refresh failed: {e}")),
        }
        if let Err(e) = keys.delete_retired(now, keep_for).await {
            crate::log::line(&format!("deleting retired keys failed: {e}"));
        }
    }

    /// Run [`purge_expired`](Self::purge_expired) every `every` on the current tokio runtime
    /// until the last clone of this application is dropped (failures are logged to stderr).
    pub fn spawn_purge(&self, every: std::time::Duration) -> tokio::task::JoinHandle<()> {
        self.spawn_every(every, |app| async move {
            if let Err(e) = app.purge_expired().await {
                crate::log::line(&e.to_string());
            }
        })
    }

    /// Run `job` every `every` (the first time one period from now) on the current tokio
    /// runtime, until the last clone of this application is dropped.
    fn spawn_every<F, Fut>(
        &self,
        every: std::time::Duration,
        mut job: F,
    ) -> tokio::task::JoinHandle<()>
    where
        F: FnMut(OpenIdApp<S, U>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send,
    {
        let weak: Weak<Kit<S, U>> = Arc::downgrade(&self.kit);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(kit) = weak.upgrade() else { break };
                job(OpenIdApp { kit }).await;
            }
        })
    }
}

/// Whether another key signs in `next` than in `current`, for some algorithm.
fn active_changed(next: &KeySet, current: &KeySet) -> bool {
    opkit::jose::Algorithm::ALL
        .iter()
        .any(|alg| next.active(*alg).map(|k| k.kid()) != current.active(*alg).map(|k| k.kid()))
}
