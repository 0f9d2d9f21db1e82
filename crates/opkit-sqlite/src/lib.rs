//! A durable SQLite store for opkit: every store trait of the core (clients, grants, codes,
//! refresh tokens, consents, revoked access tokens, signing keys, users) and the axum kit's
//! sessions and pending steps, in one file, on one cloneable [`SqliteStore`].
//!
//! SQLite is compiled in (rusqlite's `bundled`), so a fresh machine needs nothing installed.
//! Connections come from a small [`deadpool_sqlite`] pool and every call runs on tokio's
//! blocking pool, never on an async worker. Each connection uses WAL, a busy timeout,
//! `foreign_keys = ON` and `synchronous = FULL` unless [`SqliteOptions::synchronous_normal`]
//! trades durability on power loss for faster commits.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use opkit::store::{RevokedTokenStore, Store};
//! use opkit_sqlite::{SqliteOptions, SqliteStore};
//!
//! let path = std::env::temp_dir().join(format!("opkit-doc-{}.db", std::process::id()));
//! let store = SqliteStore::open(&path, SqliteOptions::default()).await?;
//! let expires = time::OffsetDateTime::now_utc() + time::Duration::minutes(5);
//! store.revoke_access_token("jti-1", expires).await?;
//! assert!(store.is_access_token_revoked("jti-1").await?);
//! let purged = store.purge_expired(expires, 1000).await?;
//! assert_eq!(purged.revoked_access_tokens, 1);
//! # drop(store);
//! # for suffix in ["", "-wal", "-shm"] {
//! #     let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
//! # }
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod clients;
mod codec;
mod error;
mod grants;
mod keys;
mod kit_state;
mod migrate;
mod options;
mod sql;
mod tokens;
mod users;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use deadpool_sqlite::{Config, Hook, HookError, InteractError, Pool, PoolError, Runtime};
use rusqlite::Connection;
use tokio::runtime::Handle;

pub use crate::error::OpenError;
use crate::error::{Error, Result};
pub use crate::options::{SqliteOptions, Synchronous};

/// The schema version this build of the crate writes (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i64 = migrate::SCHEMA_VERSION;

/// The statements on the store's hot path, each with a name: what the query-plan test (and
/// the README) checks with `EXPLAIN QUERY PLAN`. Not a stable API.
#[doc(hidden)]
pub fn hot_queries() -> &'static [(&'static str, &'static str)] {
    sql::HOT
}

/// How many prepared statements each connection keeps (`prepare_cached`): more than the
/// crate has.
const STATEMENT_CACHE: usize = 64;

/// Every opkit store concern, and the kit's sessions and pending steps, in one SQLite file.
///
/// Cloning is cheap (an `Arc`); clones share the pool. Its futures run on any executor: inside
/// a tokio runtime they use it, elsewhere they hand the work to the runtime the store was
/// opened on. See the crate README for what is atomic and how errors map.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    /// Taken by every write before it gets a connection, so this process's writers queue here
    /// (in order, without holding a connection) instead of in SQLite's busy handler, which
    /// sleeps and retries in growing steps and turns contention into long tail latencies.
    writer: tokio::sync::Mutex<()>,
    /// The runtime the store was opened on, for futures polled outside any runtime.
    handle: Handle,
    path: PathBuf,
    options: SqliteOptions,
}

impl Drop for Inner {
    /// The pool's connections are closed on tokio's blocking pool, which needs a runtime: the
    /// last clone of a store may be dropped on a plain thread, so enter the store's runtime
    /// and empty the pool here (a runtime already shut down closes them on this thread).
    fn drop(&mut self) {
        let _runtime = self.handle.enter();
        self.pool.close();
    }
}

/// What each new connection is set up with.
#[derive(Clone, Copy)]
struct ConnectionSettings {
    busy_timeout: Duration,
    synchronous: Synchronous,
    read_only: bool,
    max_size: Option<u64>,
}

impl SqliteStore {
    /// Open (or create) the database at `path`, creating its folder if missing, and bring its
    /// schema to [`SCHEMA_VERSION`] under SQLite's write lock, so several processes opening one
    /// new file at once all come up. Must be called inside a tokio runtime (with its time
    /// driver, as `#[tokio::main]` sets up).
    ///
    /// Fails with [`OpenError::SchemaTooNew`] for a file written by a newer version of the
    /// crate.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), opkit_sqlite::OpenError> {
    /// use opkit_sqlite::{SqliteOptions, SqliteStore};
    ///
    /// let dir = std::env::temp_dir().join(format!("opkit-open-doc-{}", std::process::id()));
    /// let store = SqliteStore::open(dir.join("nested/op.db"), SqliteOptions::default()).await?;
    /// assert!(store.path().exists());
    /// # drop(store);
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn open(
        path: impl AsRef<Path>,
        options: SqliteOptions,
    ) -> std::result::Result<SqliteStore, OpenError> {
        let path = path.as_ref().to_path_buf();
        let handle = Handle::try_current().map_err(|_| {
            OpenError::Database("SqliteStore::open must be called inside a tokio runtime".into())
        })?;
        if options.read_only && !path.exists() {
            return Err(OpenError::Database(format!(
                "{} does not exist (a read-only store opens an existing database)",
                path.display()
            )));
        }
        if !options.read_only {
            let file = path.clone();
            tokio::task::spawn_blocking(move || create_private(&file))
                .await
                .map_err(|e| OpenError::Database(format!("creating the folder failed: {e}")))?
                .map_err(OpenError::Folder)?;
        }
        let settings = ConnectionSettings {
            busy_timeout: options.busy_timeout,
            synchronous: options.synchronous,
            read_only: options.read_only,
            max_size: options.max_size,
        };
        let pool = Config::new(&path)
            .builder(Runtime::Tokio1)
            .map_err(|e| OpenError::Database(e.to_string()))?
            .max_size(options.pool_size)
            .wait_timeout(Some(options.pool_wait_timeout))
            .create_timeout(Some(options.pool_wait_timeout + options.busy_timeout))
            .recycle_timeout(Some(options.pool_wait_timeout))
            .post_create(Hook::async_fn(move |conn, _| {
                Box::pin(async move {
                    conn.interact(move |c| configure(c, settings))
                        .await
                        .map_err(|e| HookError::Message(e.to_string().into()))?
                })
            }))
            .build()
            .map_err(|e| OpenError::Database(e.to_string()))?;
        let conn = pool.get().await.map_err(|e| {
            OpenError::Database(opkit::store::StoreError::from(pool_error(e)).to_string())
        })?;
        let read_only = options.read_only;
        conn.interact(move |c| migrate::migrate(c, read_only))
            .await
            .map_err(|e| OpenError::Database(format!("the migration task failed: {e}")))??;
        drop(conn);
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                pool,
                writer: tokio::sync::Mutex::new(()),
                handle,
                path,
                options,
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The options the store was opened with.
    pub fn options(&self) -> &SqliteOptions {
        &self.inner.options
    }

    /// Write a consistent copy of the whole database to `dest` (SQLite's `VACUUM INTO`, a
    /// compacted snapshot taken in one read transaction while the store keeps serving).
    /// `dest` must not exist.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use opkit_sqlite::{SqliteOptions, SqliteStore};
    /// let dir = std::env::temp_dir().join(format!("opkit-backup-doc-{}", std::process::id()));
    /// let store = SqliteStore::open(dir.join("op.db"), SqliteOptions::default()).await?;
    /// store.backup(dir.join("copy.db")).await?;
    /// let copy = SqliteStore::open(dir.join("copy.db"), SqliteOptions::default()).await?;
    /// # drop((store, copy));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn backup(&self, dest: impl AsRef<Path>) -> opkit::store::StoreResult<()> {
        let dest = dest.as_ref().to_string_lossy().into_owned();
        self.run(move |c| {
            c.execute("VACUUM INTO ?1", [&dest])?;
            Ok(())
        })
        .await
        .map_err(Into::into)
    }

    /// Run `f`, which only reads, on a pooled connection on tokio's blocking pool (see
    /// [`write`](Self::write)).
    pub(crate) async fn run<T, F>(&self, f: F) -> Result<T>
    where
        F: FnMut(&mut Connection) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        self.call(false, f).await
    }

    /// Run `f`, which writes, on a pooled connection on tokio's blocking pool, after the
    /// writers of this process that came first.
    pub(crate) async fn write<T, F>(&self, f: F) -> Result<T>
    where
        F: FnMut(&mut Connection) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        self.call(true, f).await
    }

    /// Run `f` on a pooled connection on tokio's blocking pool, again while SQLite stays busy
    /// past its timeout (at most `busy_retries` more times). `f` runs its statements in one
    /// transaction where it needs several, so a retry starts from a clean slate.
    async fn call<T, F>(&self, writes: bool, mut f: F) -> Result<T>
    where
        F: FnMut(&mut Connection) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        let work = async move {
            let _turn = match writes {
                true => Some(inner.writer.lock().await),
                false => None,
            };
            let conn = inner.pool.get().await.map_err(pool_error)?;
            let retries = inner.options.busy_retries;
            conn.interact(move |c| {
                let mut attempt = 0;
                loop {
                    match f(c) {
                        Err(e) if e.is_busy() && attempt < retries => attempt += 1,
                        done => return done,
                    }
                }
            })
            .await
            .map_err(interact_error)?
        };
        if Handle::try_current().is_ok() {
            work.await
        } else {
            // Polled outside any runtime (a plain thread's executor): the pool's timers and the
            // blocking pool need one, so the work runs as a task of the store's runtime.
            match self.inner.handle.spawn(work).await {
                Ok(done) => done,
                Err(e) => Err(Error::Task(format!(
                    "the store task did not finish (the runtime shut down or it panicked): {e}"
                ))),
            }
        }
    }
}

impl SqliteStore {
    /// Run CPU-heavy work (password hashing) on tokio's blocking pool, off the async workers
    /// and without holding a connection.
    pub(crate) async fn blocking<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let handle = Handle::try_current().unwrap_or_else(|_| self.inner.handle.clone());
        handle
            .spawn_blocking(f)
            .await
            .map_err(|e| Error::Task(format!("a blocking task did not finish: {e}")))
    }
}

/// Create the database's folder (mode 0700 on Unix) and an empty database file (mode 0600)
/// if they do not exist, so the file that holds password hashes and signing keys is readable
/// by its owner only. SQLite gives its `-wal` and `-shm` files the database file's mode.
fn create_private(path: &Path) -> std::io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        let mut folder = std::fs::DirBuilder::new();
        folder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut folder, 0o700);
        folder.create(parent)?;
    }
    let mut file = std::fs::OpenOptions::new();
    file.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut file, 0o600);
    match file.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Set up a new connection: busy timeout, statement cache, WAL, durability, foreign keys.
fn configure(
    conn: &mut Connection,
    settings: ConnectionSettings,
) -> std::result::Result<(), HookError> {
    conn.busy_timeout(settings.busy_timeout)
        .map_err(HookError::Backend)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    // Switching to WAL takes a lock: another process creating the same file may hold it.
    let mut attempts = 0;
    let mode: String = loop {
        match conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0)) {
            Ok(mode) => break mode,
            Err(e) if error::is_busy(&e) && attempts < 3 => attempts += 1,
            Err(e) => return Err(HookError::Backend(e)),
        }
    };
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(HookError::Message(
            format!("the database cannot use WAL (journal_mode is {mode})").into(),
        ));
    }
    conn.pragma_update(None, "synchronous", settings.synchronous.pragma())
        .map_err(HookError::Backend)?;
    conn.pragma_update(None, "foreign_keys", true)
        .map_err(HookError::Backend)?;
    if settings.read_only {
        conn.pragma_update(None, "query_only", true)
            .map_err(HookError::Backend)?;
    }
    if let Some(bytes) = settings.max_size {
        let page_size: i64 = conn
            .query_row("PRAGMA page_size", [], |row| row.get(0))
            .map_err(HookError::Backend)?;
        let pages = (bytes / page_size.max(512) as u64).max(1);
        // `max_page_count` never goes below the file's current size (SQLite keeps the larger).
        conn.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |_| Ok(()))
            .map_err(HookError::Backend)?;
    }
    Ok(())
}

fn pool_error(e: PoolError) -> Error {
    match e {
        PoolError::Backend(e) => Error::Sqlite(e),
        PoolError::PostCreateHook(HookError::Backend(e)) => Error::Sqlite(e),
        PoolError::PostCreateHook(HookError::Message(m)) => {
            Error::PoolUnavailable(format!("setting up a SQLite connection failed: {m}"))
        }
        PoolError::Timeout(kind) => Error::PoolUnavailable(format!(
            "no SQLite connection was free in time ({kind:?} timeout)"
        )),
        PoolError::Closed => Error::PoolUnavailable("the SQLite pool is closed".into()),
        PoolError::NoRuntimeSpecified => Error::Task("the SQLite pool has no runtime".into()),
    }
}

fn interact_error(e: InteractError) -> Error {
    match e {
        InteractError::Panic(_) => Error::Task("a SQLite call panicked".into()),
        InteractError::Aborted => Error::Task("a SQLite call was cancelled".into()),
    }
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.inner.path)
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use opkit::store::StoreErrorKind;

    use super::*;

    fn temp(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("opkit-sqlite-unit-{}-{name}", std::process::id()))
    }

    #[tokio::test]
    async fn a_panicking_call_is_a_backend_error_and_the_pool_recovers() {
        let dir = temp("panic");
        let store = SqliteStore::open(dir.join("db"), SqliteOptions::default().pool_size(1))
            .await
            .unwrap();
        let err = store
            .run(|_| -> Result<()> { panic!("boom") })
            .await
            .unwrap_err();
        let err = opkit::store::StoreError::from(err);
        assert_eq!(err.kind(), StoreErrorKind::Backend);
        assert!(err.to_string().contains("panicked"), "{err}");
        // The poisoned connection is dropped, a new one takes its place.
        let one: i64 = store
            .run(|c| Ok(c.query_row("SELECT 1", [], |r| r.get(0))?))
            .await
            .unwrap();
        assert_eq!(one, 1);
        drop(store);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn futures_run_outside_any_runtime() {
        let dir = temp("outside");
        let rt = tokio::runtime::Runtime::new().unwrap();
        let store = rt
            .block_on(SqliteStore::open(dir.join("db"), SqliteOptions::default()))
            .unwrap();
        // A plain thread with no runtime: the store hands the work to its own runtime.
        let s = store.clone();
        let one = std::thread::spawn(move || {
            futures_lite_block_on(
                s.run(|c| Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?)),
            )
        })
        .join()
        .unwrap()
        .unwrap();
        assert_eq!(one, 1);
        // Dropped after its runtime: no panic either.
        drop(rt);
        drop(store);
        let _ = std::fs::remove_dir_all(dir);
    }

    /// Poll a future to completion on this thread.
    fn futures_lite_block_on<F: std::future::Future>(f: F) -> F::Output {
        use std::sync::Arc;
        use std::task::{Context, Poll, Wake, Waker};
        struct Unpark(std::thread::Thread);
        impl Wake for Unpark {
            fn wake(self: Arc<Self>) {
                self.0.unpark();
            }
        }
        let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        let mut f = std::pin::pin!(f);
        loop {
            if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
            std::thread::park();
        }
    }
}

/// The README's examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
