//! How a [`SqliteStore`](crate::SqliteStore) opens its file: durability, pool size, waits and
//! the password hash cost.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use opkit::host::{Rng, SystemRng};
use opkit::secret::PasswordHash;

/// What a commit survives: SQLite's `PRAGMA synchronous` in WAL mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Synchronous {
    /// `synchronous = FULL`: every commit is on disk (fsync of the write-ahead log) before it
    /// returns, so nothing committed is lost, even on power loss. The default.
    Full,
    /// `synchronous = NORMAL`: the log is synced only at checkpoints. A commit survives a crash
    /// of the process, but the last commits before a power loss or an operating system crash
    /// may be rolled back (the database stays consistent). Faster commits.
    Normal,
}

impl Synchronous {
    pub(crate) fn pragma(self) -> &'static str {
        match self {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        }
    }
}

/// Options for [`SqliteStore::open`](crate::SqliteStore::open). Start from
/// [`SqliteOptions::default`] and change what you need:
///
/// ```
/// use std::time::Duration;
/// use opkit_sqlite::SqliteOptions;
///
/// let options = SqliteOptions::default()
///     .synchronous_normal()
///     .pool_size(2)
///     .busy_timeout(Duration::from_secs(2))
///     .password_iterations(1_000);
/// assert_eq!(options.get_pool_size(), 2);
/// ```
#[derive(Clone)]
pub struct SqliteOptions {
    pub(crate) synchronous: Synchronous,
    pub(crate) pool_size: usize,
    pub(crate) busy_timeout: Duration,
    pub(crate) busy_retries: u32,
    pub(crate) pool_wait_timeout: Duration,
    pub(crate) read_only: bool,
    pub(crate) max_size: Option<u64>,
    pub(crate) password_iterations: u32,
    pub(crate) rng: Arc<dyn Rng>,
}

impl Default for SqliteOptions {
    /// `synchronous = FULL`, 4 connections, a 5 s busy timeout retried twice, a 10 s pool
    /// wait, read-write, [`PasswordHash::DEFAULT_ITERATIONS`] and the system random source.
    fn default() -> Self {
        SqliteOptions {
            synchronous: Synchronous::Full,
            pool_size: 4,
            busy_timeout: Duration::from_secs(5),
            busy_retries: 2,
            pool_wait_timeout: Duration::from_secs(10),
            read_only: false,
            max_size: None,
            password_iterations: PasswordHash::DEFAULT_ITERATIONS,
            rng: Arc::new(SystemRng::new()),
        }
    }
}

impl SqliteOptions {
    /// `synchronous = NORMAL` instead of `FULL`: commits no longer wait for an fsync of the
    /// write-ahead log. Everything committed survives a crash of the process (`kill -9`,
    /// a panic that aborts), but a power loss or an operating system crash may lose the last
    /// commits (say, a refresh rotation the client was already told about: it then finds its
    /// new token unknown and signs in again). The database itself is never corrupted.
    pub fn synchronous_normal(mut self) -> Self {
        self.synchronous = Synchronous::Normal;
        self
    }

    /// Set the durability level explicitly.
    pub fn synchronous(mut self, level: Synchronous) -> Self {
        self.synchronous = level;
        self
    }

    /// How many connections the pool keeps (default 4, at least 1). SQLite lets one writer in
    /// at a time, so more connections only add readers.
    pub fn pool_size(mut self, connections: usize) -> Self {
        self.pool_size = connections.max(1);
        self
    }

    /// How long a statement waits for another connection's write lock before it fails with
    /// `SQLITE_BUSY` (`PRAGMA busy_timeout`, default 5 s).
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// How many more times a call that stayed busy past the busy timeout is tried before it
    /// fails as unavailable (default 2).
    pub fn busy_retries(mut self, retries: u32) -> Self {
        self.busy_retries = retries;
        self
    }

    /// How long a call waits for a free connection before it fails as unavailable (default
    /// 10 s).
    pub fn pool_wait_timeout(mut self, timeout: Duration) -> Self {
        self.pool_wait_timeout = timeout;
        self
    }

    /// Open the database read-only (`PRAGMA query_only` on every connection): lookups work,
    /// every write fails with an error saying the database is read-only. The file must exist
    /// and hold the current schema.
    pub fn read_only(mut self) -> Self {
        self.read_only = true;
        self
    }

    /// Let the database file grow to at most about `bytes` (SQLite's `max_page_count`, in pages
    /// of the file's page size; unlimited by default). A write that would grow it further fails
    /// with an error saying the database is full ([`StoreErrorKind::Unavailable`], answered
    /// `503`), while reads and writes that reuse freed pages go on: a cap that keeps a flood
    /// of anonymous sign-ins from filling the disk the host needs for other things.
    ///
    /// [`StoreErrorKind::Unavailable`]: opkit::store::StoreErrorKind::Unavailable
    pub fn max_size(mut self, bytes: u64) -> Self {
        self.max_size = Some(bytes);
        self
    }

    /// PBKDF2 iterations for passwords set with [`put_user`](crate::SqliteStore::put_user)
    /// from now on (default [`PasswordHash::DEFAULT_ITERATIONS`]; tests use 1 000). Also the
    /// cost of the dummy check for an unknown username.
    pub fn password_iterations(mut self, iterations: u32) -> Self {
        self.password_iterations = iterations.max(1);
        self
    }

    /// Where password salts come from (default: the system random source).
    pub fn rng(mut self, rng: Arc<dyn Rng>) -> Self {
        self.rng = rng;
        self
    }

    /// The durability level.
    pub fn get_synchronous(&self) -> Synchronous {
        self.synchronous
    }

    /// The number of pooled connections.
    pub fn get_pool_size(&self) -> usize {
        self.pool_size
    }
}

impl fmt::Debug for SqliteOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteOptions")
            .field("synchronous", &self.synchronous)
            .field("pool_size", &self.pool_size)
            .field("busy_timeout", &self.busy_timeout)
            .field("busy_retries", &self.busy_retries)
            .field("pool_wait_timeout", &self.pool_wait_timeout)
            .field("read_only", &self.read_only)
            .field("password_iterations", &self.password_iterations)
            .finish_non_exhaustive()
    }
}
