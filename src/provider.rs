//! The provider: configuration, keys, the host's stores, clock and random source, and the
//! endpoints as methods.

use std::fmt;
use std::sync::{Arc, Mutex, RwLock};

use crate::config::Config;
use crate::error::{Error, ErrorKind};
use crate::host::{Attempt, ClaimsHook, Clock, Event, Events, ExtraClaims, NoEvents};
use crate::host::{NoRateLimit, RateLimit, Rng, TokenContext, TokenExchangePolicy};
use crate::host::{SystemClock, SystemRng};
use crate::jose::KeySet;
use crate::store::{Store, UserStore};

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
/// let provider = Provider::new(
///     Config::new("https://id.example.com").unwrap(),
///     keys,
///     MemoryStore::new(),
///     MemoryUsers::new(),
/// );
/// let discovery: serde_json::Value = serde_json::from_slice(&provider.discovery().body).unwrap();
/// assert_eq!(discovery["issuer"], "https://id.example.com");
/// ```
pub struct Provider<S, U> {
    pub(crate) config: Config,
    pub(crate) store: S,
    pub(crate) users: U,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) rng: Arc<dyn Rng>,
    pub(crate) rate_limit: Arc<dyn RateLimit>,
    pub(crate) events: Arc<dyn Events>,
    pub(crate) claims_hook: Option<Arc<dyn ClaimsHook>>,
    pub(crate) exchange_policy: Option<Arc<dyn TokenExchangePolicy>>,
    /// The keys and the documents built from them, swapped whole on rotation.
    published: RwLock<Arc<Published>>,
    /// Held by [`Provider::rotate_keys`] while the host's change runs, so rotations happen one
    /// at a time while requests keep reading the published set.
    rotation: Mutex<()>,
}

/// A key set with the discovery and JWKS documents that describe it.
pub(crate) struct Published {
    pub(crate) keys: Arc<KeySet>,
    pub(crate) discovery_json: Vec<u8>,
    pub(crate) jwks_json: Vec<u8>,
}

impl Published {
    fn new(config: &Config, keys: Arc<KeySet>) -> Published {
        Published {
            discovery_json: crate::discovery::document(config, &keys),
            jwks_json: serde_json::to_vec(&keys.jwks()).unwrap_or_default(),
            keys,
        }
    }
}

impl<S: Store, U: UserStore> Provider<S, U> {
    /// A provider with the system clock and the system random source.
    ///
    /// `store` holds clients, grants, codes, refresh tokens, consents and revoked access tokens
    /// (one type implementing every concern of [`Store`]); `users` is the host's user table.
    pub fn new(config: Config, keys: KeySet, store: S, users: U) -> Self {
        let published = RwLock::new(Arc::new(Published::new(&config, Arc::new(keys))));
        Provider {
            config,
            store,
            users,
            clock: Arc::new(SystemClock),
            rng: Arc::new(SystemRng::new()),
            rate_limit: Arc::new(NoRateLimit),
            events: Arc::new(NoEvents),
            claims_hook: None,
            exchange_policy: None,
            published,
            rotation: Mutex::new(()),
        }
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

    /// Report what happens (sign-ins, consents, issued tokens, replays, client changes, key
    /// changes, throttling) to `events`; see [`Event`].
    pub fn with_events(mut self, events: Arc<dyn Events>) -> Self {
        self.events = events;
        self
    }

    /// Ask `hook` for extra claims at every issuance (every grant type, and again at each
    /// refresh); see [`ClaimsHook`].
    pub fn with_claims_hook(mut self, hook: Arc<dyn ClaimsHook>) -> Self {
        self.claims_hook = Some(hook);
        self
    }

    /// Judge token exchanges with `policy` (RFC 8693; see [`TokenExchangePolicy`] for what is
    /// allowed without one).
    pub fn with_token_exchange_policy(mut self, policy: Arc<dyn TokenExchangePolicy>) -> Self {
        self.exchange_policy = Some(policy);
        self
    }

    /// The hook's extra claims for `token` (none without a hook).
    pub(crate) async fn extra_claims(&self, token: TokenContext<'_>) -> Result<ExtraClaims, Error> {
        match &self.claims_hook {
            None => Ok(ExtraClaims::default()),
            Some(hook) => Ok(hook.claims(&token).await?),
        }
    }

    /// Report `event` to the host's sink (hosts use it for what happens outside the core,
    /// such as a sign-in on their login page).
    pub fn emit(&self, event: &Event<'_>) {
        self.events.emit(event);
    }

    /// The wire answer for `err` at the endpoints answering with OAuth JSON errors, reporting
    /// store failures to the host's events first.
    pub(crate) fn error_response(&self, err: &Error) -> crate::http::HttpResponse {
        if let ErrorKind::Store(kind) = err.kind() {
            self.events.emit(&Event::StoreFailed { kind: *kind });
        }
        crate::http::HttpResponse::oauth_error(err)
    }

    /// Reserve an attempt with the host's rate limiter; a refusal is reported and becomes the
    /// `429` error.
    pub(crate) fn reserve(&self, attempt: &Attempt<'_>) -> Result<(), Error> {
        self.rate_limit.reserve(attempt).map_err(|throttled| {
            self.events.emit(&Event::Throttled {
                attempt: *attempt,
                retry_after: throttled.retry_after,
            });
            ErrorKind::RateLimited(throttled).into()
        })
    }

    /// Replace the key set while the provider serves: requests that started before keep the
    /// set they began with, every later one (signing, verification, discovery, JWKS) sees the
    /// new one. Keep retired keys in the new set until the tokens they signed have expired;
    /// [`Provider::rotate_keys`] does that bookkeeping.
    pub fn set_keys(&self, keys: KeySet) {
        let _one_at_a_time = self.rotation.lock().unwrap_or_else(|e| e.into_inner());
        self.publish(keys);
    }

    /// Change the key set in place (copy on write), for example to publish, activate or drop a
    /// key; see [`KeySet::insert`], [`KeySet::activate`] and [`KeySet::drop_retired`]. Returns
    /// what `change` returned; on an error the key set is left as it was.
    ///
    /// ```
    /// # use opkit::{Config, Provider};
    /// # use opkit::host::SystemRng;
    /// # use opkit::jose::{Algorithm, KeySet, SigningKey};
    /// # use opkit::store::{MemoryStore, MemoryUsers};
    /// # let rng = SystemRng::new();
    /// # let mut keys = KeySet::new();
    /// # keys.insert(SigningKey::generate(Algorithm::Es256, "2026-11", &rng)?)?;
    /// # let provider = Provider::new(
    /// #     Config::new("https://id.example.com")?, keys, MemoryStore::new(), MemoryUsers::new(),
    /// # );
    /// // 1. Publish the next key: in the JWKS at once, not signing yet.
    /// let next = SigningKey::generate(Algorithm::Es256, "2026-12", &rng)?;
    /// provider.rotate_keys(|keys| keys.insert(next))?;
    /// assert_eq!(provider.keys().active(Algorithm::Es256).unwrap().kid(), "2026-11");
    ///
    /// // 2. Once relying parties have refreshed their JWKS caches, sign with it. The old key
    /// //    stays published until every token it signed has expired.
    /// let now = provider.clock().now();
    /// let keep_for = provider.config().longest_token_lifetime();
    /// provider.rotate_keys(|keys| keys.activate("2026-12", now, keep_for))?;
    /// assert_eq!(provider.keys().active(Algorithm::Es256).unwrap().kid(), "2026-12");
    /// assert!(provider.keys().get("2026-11").is_some());
    ///
    /// // 3. Later (say, from a periodic task), drop keys whose tokens have all expired.
    /// provider.rotate_keys(|keys| {
    ///     keys.drop_retired(now + keep_for);
    ///     Ok::<_, opkit::jose::KeyError>(())
    /// })?;
    /// assert!(provider.keys().get("2026-11").is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn rotate_keys<T, E>(
        &self,
        change: impl FnOnce(&mut KeySet) -> Result<T, E>,
    ) -> Result<T, E> {
        // `change` runs while requests go on with the current set; only the swap is exclusive.
        let _one_at_a_time = self.rotation.lock().unwrap_or_else(|e| e.into_inner());
        let mut keys = KeySet::clone(&self.published().keys);
        let out = change(&mut keys)?;
        self.publish(keys);
        Ok(out)
    }

    /// Swap in `keys` (the caller holds `rotation`) and report what changed.
    fn publish(&self, keys: KeySet) {
        let next = Arc::new(Published::new(&self.config, Arc::new(keys)));
        let before = std::mem::replace(
            &mut *self.published.write().unwrap_or_else(|e| e.into_inner()),
            next.clone(),
        );
        report_key_changes(&*self.events, &before.keys, &next.keys);
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The current key set (a snapshot: a rotation meanwhile does not change it).
    pub fn keys(&self) -> Arc<KeySet> {
        self.published().keys.clone()
    }

    /// The current keys with their documents.
    pub(crate) fn published(&self) -> Arc<Published> {
        self.published
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
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
}

/// Report keys published, activated and dropped between two key sets.
fn report_key_changes(events: &dyn Events, before: &KeySet, after: &KeySet) {
    for key in after.iter().filter(|k| before.get(k.kid()).is_none()) {
        events.emit(&Event::KeyPublished {
            kid: key.kid(),
            alg: key.alg(),
        });
    }
    for (alg, key) in after
        .algorithms()
        .filter_map(|a| Some((a, after.active(a)?)))
    {
        if before.active(alg).map(|k| k.kid()) != Some(key.kid()) {
            events.emit(&Event::KeyActivated {
                kid: key.kid(),
                alg,
            });
        }
    }
    for key in before.iter().filter(|k| after.get(k.kid()).is_none()) {
        events.emit(&Event::KeyDropped {
            kid: key.kid(),
            alg: key.alg(),
        });
    }
}

impl<S, U> fmt::Debug for Provider<S, U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys = self
            .published
            .read()
            .map(|p| p.keys.len())
            .unwrap_or_default();
        f.debug_struct("Provider")
            .field("issuer", &self.config.issuer())
            .field("keys", &keys)
            .finish_non_exhaustive()
    }
}
