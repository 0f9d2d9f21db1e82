//! A PostgreSQL store for [opkit]: every store trait of the core ([`ClientStore`],
//! [`GrantStore`], [`CodeStore`], [`RefreshTokenStore`], [`ConsentStore`],
//! [`RevokedTokenStore`], so [`opkit::Store`] too, [`KeyStore`], [`UserStore`]) and of the
//! `opkit-axum` host kit ([`SessionStore`](opkit_axum::SessionStore),
//! [`PendingStore`](opkit_axum::PendingStore)) on one cloneable type, [`PostgresStore`].
//!
//! Built on `tokio-postgres` and a `deadpool-postgres` pool. Nothing is cached in the instance:
//! any number of instances can share one database. Every state change that must be atomic
//! (redeeming a code, rotating a refresh token, taking a pending step, creating a signing key
//! generation) is one statement, so the database decides races. Migrations ship in the crate
//! and run at [`PostgresStore::connect`].
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use opkit_postgres::{PostgresOptions, PostgresStore};
//!
//! let store = PostgresStore::connect(
//!     "postgres://opkit@db.internal/opkit",
//!     PostgresOptions::default().max_connections(32),
//! )
//! .await?;
//! // `store` (or clones of it) is the provider's store, user store, key store and the kit's
//! // session and pending stores.
//! # let _ = store;
//! # Ok(())
//! # }
//! ```
//!
//! [`ClientStore`]: opkit::store::ClientStore
//! [`GrantStore`]: opkit::store::GrantStore
//! [`CodeStore`]: opkit::store::CodeStore
//! [`RefreshTokenStore`]: opkit::store::RefreshTokenStore
//! [`ConsentStore`]: opkit::store::ConsentStore
//! [`RevokedTokenStore`]: opkit::store::RevokedTokenStore
//! [`KeyStore`]: opkit::store::KeyStore
//! [`UserStore`]: opkit::store::UserStore
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod clients;
mod db;
mod error;
mod grants;
mod keys;
mod kit_state;
mod migrate;
mod options;
mod tokens;
mod users;

#[cfg(feature = "testing")]
pub mod testing;

use std::fmt;
use std::sync::Arc;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use opkit::host::SystemRng;
use tokio_postgres::NoTls;

pub use error::ConnectError;
pub use migrate::SCHEMA_VERSION;
pub use options::PostgresOptions;

/// Every store of opkit and of `opkit-axum`, on a PostgreSQL database. Cloning is cheap (an
/// `Arc`): clones share the pool.
///
/// `Debug` shows the pool's size and state, never a password.
#[derive(Clone)]
pub struct PostgresStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    options: PostgresOptions,
    rng: SystemRng,
}

impl PostgresStore {
    /// Open a pool on `url_or_config` (a `postgres://user:password@host:port/db?…` URL or a
    /// `host=… user=… dbname=…` string, as libpq reads them), and bring the schema up to
    /// [`SCHEMA_VERSION`] under an advisory lock. Fails if the server cannot be reached within
    /// the connect timeout, or if the database's schema is newer than this binary knows
    /// ([`ConnectError::SchemaTooNew`]).
    ///
    /// Connections are plain TCP or a Unix socket (`host=/run/postgresql`); TLS is not
    /// supported yet, so a URL with `sslmode=require` is refused.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), opkit_postgres::ConnectError> {
    /// use opkit_postgres::{PostgresOptions, PostgresStore};
    /// let store = PostgresStore::connect(
    ///     "host=/run/postgresql user=opkit dbname=opkit",
    ///     PostgresOptions::default(),
    /// )
    /// .await?;
    /// # let _ = store; Ok(()) }
    /// ```
    pub async fn connect(
        url_or_config: &str,
        options: PostgresOptions,
    ) -> Result<PostgresStore, ConnectError> {
        let mut config: tokio_postgres::Config = url_or_config
            .parse()
            .map_err(|e: tokio_postgres::Error| ConnectError::Config(e.to_string()))?;
        config
            .connect_timeout(options.connect_timeout)
            .keepalives(true)
            .keepalives_idle(options.keepalive_idle)
            // Unacknowledged data on a vanished server fails the connection instead of waiting
            // for TCP's retransmission limit (minutes).
            .tcp_user_timeout(options.statement_timeout + options.connect_timeout);
        if config.get_application_name().is_none() {
            config.application_name(options.application_name.clone());
        }
        let server_options = format!(
            "-c statement_timeout={} -c idle_in_transaction_session_timeout={}",
            options.statement_timeout.as_millis().max(1),
            (options.statement_timeout * 4).as_millis().max(1),
        );
        let merged = match config.get_options() {
            Some(given) if !given.trim().is_empty() => format!("{given} {server_options}"),
            _ => server_options,
        };
        config.options(merged);

        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                // A connection whose socket closed (server restarted) is dropped when it is
                // next taken from the pool and a fresh one opened.
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.max_connections)
            .wait_timeout(Some(options.pool_wait))
            .create_timeout(Some(options.connect_timeout))
            .recycle_timeout(Some(options.connect_timeout))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| ConnectError::Config(e.to_string()))?;
        let mut client = pool
            .get()
            .await
            .map_err(|e| ConnectError::Connect(error::map_pool(e).to_string()))?;
        migrate::migrate(&mut client).await?;
        drop(client);
        Ok(PostgresStore {
            inner: Arc::new(Inner {
                pool,
                options,
                rng: SystemRng::new(),
            }),
        })
    }

    /// The options the store was opened with.
    pub fn options(&self) -> &PostgresOptions {
        &self.inner.options
    }

    /// Close the pool: idle connections are closed now, busy ones when they are returned, and
    /// calls from now on fail as unavailable. Clones share the pool, so they are closed too.
    pub fn close(&self) {
        self.inner.pool.close();
    }
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = self.inner.pool.status();
        f.debug_struct("PostgresStore")
            .field("max_connections", &status.max_size)
            .field("open_connections", &status.size)
            .field("idle_connections", &status.available)
            .finish_non_exhaustive()
    }
}
