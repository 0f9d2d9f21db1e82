//! Errors: what [`PostgresStore::connect`](crate::PostgresStore::connect) refuses with, and how
//! driver and pool failures map to the store errors of the core and the kit.

use std::fmt;

use deadpool_postgres::PoolError;
use opkit::store::{StoreError, StoreErrorKind};
use opkit_axum::StateError;
use tokio_postgres::error::SqlState;

/// Why [`PostgresStore::connect`](crate::PostgresStore::connect) failed.
///
/// ```
/// use opkit_postgres::ConnectError;
///
/// let e = ConnectError::SchemaTooNew { found: 7, supported: 1 };
/// assert_eq!(
///     e.to_string(),
///     "the database schema is at version 7, newer than the 1 this opkit-postgres knows: \
///      upgrade the binary (refusing to use a schema it does not know)"
/// );
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum ConnectError {
    /// The URL or connection string could not be read, or an option is out of range.
    Config(String),
    /// The server could not be reached, or it refused the connection (authentication, no such
    /// database, shutting down): retry later or fix the configuration.
    Connect(String),
    /// The database holds a schema of a newer version than this binary knows. It is refused,
    /// never used: an older binary could corrupt records a newer one relies on.
    SchemaTooNew {
        /// The version found in the database.
        found: i64,
        /// The newest version this binary knows.
        supported: i64,
    },
    /// Applying a migration failed (the transaction was rolled back).
    Migration(String),
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::Config(m) => write!(f, "invalid PostgreSQL configuration: {m}"),
            ConnectError::Connect(m) => write!(f, "cannot connect to PostgreSQL: {m}"),
            ConnectError::SchemaTooNew { found, supported } => write!(
                f,
                "the database schema is at version {found}, newer than the {supported} this \
                 opkit-postgres knows: upgrade the binary (refusing to use a schema it does not \
                 know)"
            ),
            ConnectError::Migration(m) => write!(f, "migrating the database failed: {m}"),
        }
    }
}

impl std::error::Error for ConnectError {}

/// What a database call inside the crate fails with: the driver's error (mapped at the edge,
/// where serialization failures are retried) or one already mapped (a record that does not
/// decode, say).
#[derive(Debug)]
pub(crate) enum DbError {
    Pg(tokio_postgres::Error),
    Store(StoreError),
}

impl From<tokio_postgres::Error> for DbError {
    fn from(e: tokio_postgres::Error) -> Self {
        DbError::Pg(e)
    }
}

impl From<StoreError> for DbError {
    fn from(e: StoreError) -> Self {
        DbError::Store(e)
    }
}

impl DbError {
    /// A serialization failure or deadlock: the whole call may be retried.
    pub(crate) fn is_retryable(&self) -> bool {
        match self {
            DbError::Pg(e) => matches!(
                e.code(),
                Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE
                    || *c == SqlState::T_R_DEADLOCK_DETECTED
            ),
            DbError::Store(_) => false,
        }
    }

    pub(crate) fn into_store(self) -> StoreError {
        match self {
            DbError::Pg(e) => map_pg(&e),
            DbError::Store(e) => e,
        }
    }
}

/// A stored record that does not decode: the database holds something this binary did not
/// write (a Backend error, never retried).
pub(crate) fn corrupt(what: &str, e: impl fmt::Display) -> DbError {
    DbError::Store(StoreError::new(format!(
        "a stored {what} does not decode: {e}"
    )))
}

/// Map a driver error to a store error, by SQLSTATE where the server sent one.
pub(crate) fn map_pg(e: &tokio_postgres::Error) -> StoreError {
    let Some(db) = e.as_db_error() else {
        // No SQLSTATE: the connection (closed, reset, timed out, refused) or a client-side
        // encoding problem.
        let text = e.to_string();
        let transient = e.is_closed()
            || text.starts_with("error communicating with the server")
            || text.starts_with("error connecting to server")
            || text.starts_with("timeout waiting for server")
            || std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>());
        let message = match std::error::Error::source(e) {
            Some(source) => format!("PostgreSQL: {text}: {source}"),
            None => format!("PostgreSQL: {text}"),
        };
        return if transient {
            StoreError::unavailable(message)
        } else {
            StoreError::new(message)
        };
    };
    let code = db.code();
    // The detail of a unique violation quotes the key; keys are hashes and ids, but leave it
    // out anyway: messages go to logs.
    let what = format!("{} [{}]", db.message(), code.code());
    if *code == SqlState::UNIQUE_VIOLATION {
        return StoreError::conflict(match db.constraint() {
            Some(c) => format!("a record with the same key exists ({c})"),
            None => format!("a record with the same key exists: {what}"),
        });
    }
    if *code == SqlState::READ_ONLY_SQL_TRANSACTION {
        return StoreError::new(format!(
            "the database is read-only (a standby, or default_transaction_read_only is on): {what}"
        ));
    }
    if *code == SqlState::DISK_FULL {
        return StoreError::unavailable(format!("the database disk is full: {what}"));
    }
    if *code == SqlState::T_R_SERIALIZATION_FAILURE || *code == SqlState::T_R_DEADLOCK_DETECTED {
        return StoreError::unavailable(format!(
            "a serialization failure or deadlock persisted after retries: {what}"
        ));
    }
    if *code == SqlState::QUERY_CANCELED {
        return StoreError::unavailable(format!(
            "the statement was cancelled (statement_timeout): {what}"
        ));
    }
    let class = &code.code()[..2.min(code.code().len())];
    let transient = matches!(
        class,
        // connection exception, insufficient resources, operator intervention (shutdown)
        "08" | "53" | "57"
    ) || *code == SqlState::LOCK_NOT_AVAILABLE
        || *code == SqlState::T_R_STATEMENT_COMPLETION_UNKNOWN;
    if transient {
        StoreError::unavailable(format!("PostgreSQL is unavailable: {what}"))
    } else {
        StoreError::new(format!("PostgreSQL: {what}"))
    }
}

/// Map a pool failure: a wait that timed out, or a new connection that could not be made.
pub(crate) fn map_pool(e: PoolError) -> StoreError {
    match e {
        PoolError::Backend(e) => map_pg(&e),
        PoolError::Timeout(kind) => StoreError::unavailable(format!(
            "no PostgreSQL connection within the pool's bound ({kind:?} timed out)"
        )),
        PoolError::Closed => StoreError::unavailable("the connection pool is closed"),
        other => StoreError::new(format!("connection pool: {other}")),
    }
}

/// The kit's state stores speak [`StateError`]: a full disk is [`StateError::Full`], what a
/// retry may cure (no connection, a pool wait or statement timeout, a persisting serialization
/// failure) is [`StateError::Unavailable`] (the kit answers 503 to both); everything else is a
/// backend error. The message is the [`StoreError`]'s.
pub(crate) fn to_state(e: StoreError) -> StateError {
    let message = e.to_string();
    match e.kind() {
        StoreErrorKind::Unavailable if message.contains("disk is full") => StateError::Full,
        StoreErrorKind::Unavailable => StateError::Unavailable(message),
        _ => StateError::Backend(message),
    }
}
