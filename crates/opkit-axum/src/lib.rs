//! The axum host kit for [opkit]: an OpenID Connect provider as one axum [`Router`].
//!
//! [`OpenIdProvider`] takes what only the host knows (configuration, signing keys, a store for
//! clients and grants, its users) and builds an [`OpenIdApp`] whose [`router`](OpenIdApp::router)
//! serves every endpoint the core implements at the paths in the [`Config`](opkit::Config) (so
//! discovery lists exactly what is served), plus what every host would otherwise write: the
//! HTTP adapter, login sessions, pending login and consent steps with expiry, browser binding
//! and CSRF, CORS per endpoint, default pages behind one trait ([`Pages`]), the management API
//! behind an admin token, a rate limiter, the purge of expired records and a serving loop
//! ([`serve`]).
//!
//! ```no_run
//! use opkit::jose::KeySet;
//! use opkit::store::{MemoryStore, MemoryUsers};
//! use opkit::Config;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = Config::new("http://127.0.0.1:8080")?;
//! let keys = KeySet::generate(&opkit::host::SystemRng::new())?;
//! let users = MemoryUsers::new();
//! users.add_user("alice", "correct horse", "alice-id", Default::default())?;
//! let app = opkit_axum::OpenIdProvider::new(config, keys, MemoryStore::new(), users).build()?;
//! app.spawn_purge(std::time::Duration::from_secs(60));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! opkit_axum::serve(listener, app.router(), 2, std::future::pending()).await?;
//! # Ok(()) }
//! ```
//!
//! [`Router`]: axum::Router

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod adapter;
mod admin;
mod app;
mod browser;
pub mod contract;
mod endpoints;
mod interaction;
mod keys;
mod kit;
pub mod limiter;
mod log;
mod logout;
mod memory;
mod observe;
pub mod pages;
mod paths;
mod serve;
mod state;
mod users;

pub use adapter::{into_axum, Incoming};
pub use app::{
    OpenIdApp, OpenIdProvider, PurgeError, PurgeReport, DEFAULT_BODY_LIMIT, DEFAULT_SESSION_TTL,
    HEALTHZ_PATH, METRICS_PATH, READYZ_PATH,
};
pub use keys::{
    load_or_generate_keys, KekError, KeyEncryptionKey, KeyFileError, StoredKeyError, StoredKeys,
};
pub use kit::KitProvider;
pub use limiter::Limiter;
pub use memory::{ExpiringMap, Full, MemoryPending, MemorySessions};
pub use pages::{DefaultPages, Pages};
pub use paths::BuildError;
pub use serve::{
    serve, serve_with, shutdown_signal, ServeOptions, DEFAULT_BODY_READ_TIMEOUT,
    DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_CONNECTIONS,
    DEFAULT_SHUTDOWN_TIMEOUT,
};
pub use state::{
    BoxFuture, PendingRecord, PendingStore, SessionRecord, SessionStore, StateError, StateResult,
};
pub use users::BlockingUsers;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
