//! The provider: configuration, keys, the host's stores, clock and random source, and the
//! endpoints as methods.

use std::fmt;
use std::sync::Arc;

use crate::config::Config;
use crate::host::{Clock, NoRateLimit, RateLimit, Rng, SystemClock, SystemRng};
use crate::jose::KeySet;
use crate::store::{ClientStore, GrantStore, UserStore};

/// An OpenID Connect provider over the host's stores.
///
/// It is `Send + Sync`; share it behind an `Arc`. Each endpoint is a method taking an
/// [`HttpRequest`](crate::http::HttpRequest) (or parsed input) and returning an
/// [`HttpResponse`](crate::http::HttpResponse) or a typed outcome.
///
/// ```
/// use opkit::{Config, Provider};
/// use opkit::host::SystemRng;
/// use opkit::jose::KeySet;
/// use opkit::store::{MemoryStore, MemoryUsers};
///
/// let keys = KeySet::generate(&SystemRng::new()).unwrap();
/// let store = MemoryStore::new();
/// let provider = Provider::new(
///     Config::new("https://id.example.com").unwrap(),
///     keys,
///     store.clone(),
///     store,
///     MemoryUsers::new(),
/// );
/// let discovery: serde_json::Value = serde_json::from_slice(&provider.discovery().body).unwrap();
/// assert_eq!(discovery["issuer"], "https://id.example.com");
/// ```
pub struct Provider<C, G, U> {
    pub(crate) config: Config,
    pub(crate) keys: KeySet,
    pub(crate) clients: C,
    pub(crate) grants: G,
    pub(crate) users: U,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) rng: Arc<dyn Rng>,
    pub(crate) rate_limit: Arc<dyn RateLimit>,
    pub(crate) discovery_json: Vec<u8>,
    pub(crate) jwks_json: Vec<u8>,
}

impl<C: ClientStore, G: GrantStore, U: UserStore> Provider<C, G, U> {
    /// A provider with the system clock and ring's system random source.
    pub fn new(config: Config, keys: KeySet, clients: C, grants: G, users: U) -> Self {
        let mut provider = Provider {
            config,
            keys,
            clients,
            grants,
            users,
            clock: Arc::new(SystemClock),
            rng: Arc::new(SystemRng::new()),
            rate_limit: Arc::new(NoRateLimit),
            discovery_json: Vec::new(),
            jwks_json: Vec::new(),
        };
        provider.rebuild_documents();
        provider
    }

    /// Use another clock (tests move time with it).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Use another random source.
    pub fn with_rng(mut self, rng: Arc<dyn Rng>) -> Self {
        self.rng = rng;
        self
    }

    /// Throttle password and client secret checks with the host's limiter.
    pub fn with_rate_limit(mut self, limiter: Arc<dyn RateLimit>) -> Self {
        self.rate_limit = limiter;
        self
    }

    /// Replace the key set (rotation). Keep retired keys in the new set until the tokens they
    /// signed have expired.
    pub fn set_keys(&mut self, keys: KeySet) {
        self.keys = keys;
        self.rebuild_documents();
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The key set.
    pub fn keys(&self) -> &KeySet {
        &self.keys
    }

    /// The client store.
    pub fn clients(&self) -> &C {
        &self.clients
    }

    /// The grant store.
    pub fn grants(&self) -> &G {
        &self.grants
    }

    /// The user store.
    pub fn users(&self) -> &U {
        &self.users
    }

    /// The clock.
    pub fn clock(&self) -> &dyn Clock {
        &*self.clock
    }

    /// The random source.
    pub fn rng(&self) -> &dyn Rng {
        &*self.rng
    }

    fn rebuild_documents(&mut self) {
        self.discovery_json = crate::discovery::document(&self.config, &self.keys);
        self.jwks_json = serde_json::to_vec(&self.keys.jwks()).unwrap_or_default();
    }
}

impl<C, G, U> fmt::Debug for Provider<C, G, U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Provider")
            .field("issuer", &self.config.issuer())
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}
