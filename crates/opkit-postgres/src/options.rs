//! [`PostgresOptions`]: pool size and the bounds on every wait.

use std::time::Duration;

use opkit::secret::PasswordHash;

/// How [`PostgresStore::connect`](crate::PostgresStore::connect) sets up the pool and the
/// connections. Every wait is bounded, so no store call hangs: a call that cannot get a
/// connection, or whose statement runs too long, fails with an `unavailable` error.
///
/// ```
/// use std::time::Duration;
/// use opkit_postgres::PostgresOptions;
///
/// let options = PostgresOptions::default()
///     .max_connections(32)
///     .statement_timeout(Duration::from_secs(2));
/// assert_eq!(options.get_max_connections(), 32);
/// ```
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    pub(crate) max_connections: usize,
    pub(crate) pool_wait: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) statement_timeout: Duration,
    pub(crate) keepalive_idle: Duration,
    pub(crate) password_iterations: u32,
    pub(crate) application_name: String,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        PostgresOptions {
            max_connections: 16,
            pool_wait: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(2),
            statement_timeout: Duration::from_secs(5),
            keepalive_idle: Duration::from_secs(30),
            password_iterations: PasswordHash::DEFAULT_ITERATIONS,
            application_name: "opkit".to_owned(),
        }
    }
}

impl PostgresOptions {
    /// At most this many connections per store (per instance); default 16, at least 1.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// How long a call waits for a free connection before it fails as unavailable; default
    /// 2 s.
    pub fn pool_wait(mut self, wait: Duration) -> Self {
        self.pool_wait = wait;
        self
    }

    /// How long opening a connection may take (TCP, TLS, authentication); default 2 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The server-side `statement_timeout` of every connection; default 5 s. Migrations at
    /// start-up run without it (an index build on a large table can take longer).
    pub fn statement_timeout(mut self, timeout: Duration) -> Self {
        self.statement_timeout = timeout;
        self
    }

    /// TCP keepalive idle time, so a connection to a vanished server is noticed; default 30 s.
    pub fn keepalive_idle(mut self, idle: Duration) -> Self {
        self.keepalive_idle = idle;
        self
    }

    /// PBKDF2 iterations for passwords stored by
    /// [`put_user`](crate::PostgresStore::put_user) from now on (and for the dummy check of an
    /// unknown username); default [`PasswordHash::DEFAULT_ITERATIONS`]. Tests use 1 000.
    pub fn password_iterations(mut self, iterations: u32) -> Self {
        self.password_iterations = iterations.max(1);
        self
    }

    /// The `application_name` the connections report (`pg_stat_activity`); default `opkit`.
    pub fn application_name(mut self, name: impl Into<String>) -> Self {
        self.application_name = name.into();
        self
    }

    /// The pool size.
    pub fn get_max_connections(&self) -> usize {
        self.max_connections
    }

    /// The bound on one whole store call: waiting for a connection, opening it, and the
    /// statement (plus a second for the round trips). A call past it fails as unavailable even
    /// if the network swallowed the server's answer.
    pub(crate) fn call_deadline(&self) -> Duration {
        self.pool_wait + self.connect_timeout + self.statement_timeout + Duration::from_secs(1)
    }
}
