//! Errors: [`OpenError`] for opening a store, and the mapping of SQLite's result codes to
//! opkit's [`StoreError`] kinds and the kit's [`StateError`].

use std::fmt;

use opkit::store::StoreError;
use opkit_axum::StateError;
use rusqlite::ErrorCode;

/// [`SqliteStore::open`](crate::SqliteStore::open) failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum OpenError {
    /// The folder of the database file could not be created.
    Folder(std::io::Error),
    /// The database's schema is newer than this build knows: it was written by a later
    /// version of `opkit-sqlite`, and this one refuses to use it rather than misread it.
    SchemaTooNew {
        /// The schema version in the file (`PRAGMA user_version`).
        found: i64,
        /// The newest schema version this build knows.
        known: i64,
    },
    /// The database is read-only (or opened with
    /// [`SqliteOptions::read_only`](crate::SqliteOptions::read_only)) and its schema is not
    /// the current one, so it cannot be migrated.
    ReadOnlyNeedsMigration {
        /// The schema version in the file.
        found: i64,
        /// The version this build needs.
        known: i64,
    },
    /// SQLite or the pool failed (cannot open the file, not a database, WAL not possible, …).
    Database(String),
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::Folder(e) => write!(f, "cannot create the database folder: {e}"),
            OpenError::SchemaTooNew { found, known } => write!(
                f,
                "the database schema is version {found}, newer than the version {known} this \
                 build of opkit-sqlite knows; refusing to use it (upgrade opkit-sqlite)"
            ),
            OpenError::ReadOnlyNeedsMigration { found, known } => write!(
                f,
                "the database is read-only and its schema is version {found}, not {known}: \
                 it cannot be migrated"
            ),
            OpenError::Database(message) => write!(f, "cannot open the database: {message}"),
        }
    }
}

impl std::error::Error for OpenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            OpenError::Folder(e) => Some(e),
            _ => None,
        }
    }
}

/// What went wrong inside the crate, before it becomes a [`StoreError`] or a [`StateError`].
#[derive(Debug)]
pub(crate) enum Error {
    /// SQLite reported an error.
    Sqlite(rusqlite::Error),
    /// A stored value does not decode (a broken JSON document, an unknown algorithm, a
    /// malformed password hash).
    Corrupt(String),
    /// A conflict the crate found itself (a stale revision).
    Conflict(&'static str),
    /// No connection was to be had in time, or the pool is closed.
    PoolUnavailable(String),
    /// The blocking task panicked or was cancelled, or the runtime is gone.
    Task(String),
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Sqlite(e)
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Corrupt(format!("a stored document does not decode: {e}"))
    }
}

pub(crate) type Result<T> = std::result::Result<T, Error>;

/// How a SQLite error is classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Busy,
    Full,
    ReadOnly,
    Constraint,
    Other,
}

fn classify(e: &rusqlite::Error) -> Class {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => Class::Busy,
        Some(ErrorCode::DiskFull) => Class::Full,
        Some(ErrorCode::ReadOnly) => Class::ReadOnly,
        Some(ErrorCode::ConstraintViolation) => Class::Constraint,
        _ => Class::Other,
    }
}

/// Whether SQLite stayed busy (or locked) past the busy timeout.
pub(crate) fn is_busy(e: &rusqlite::Error) -> bool {
    classify(e) == Class::Busy
}

impl Error {
    /// Whether retrying may help: the database stayed locked past the busy timeout.
    pub(crate) fn is_busy(&self) -> bool {
        matches!(self, Error::Sqlite(e) if is_busy(e))
    }

    /// Whether the disk or database is full.
    fn is_full(&self) -> bool {
        matches!(self, Error::Sqlite(e) if classify(e) == Class::Full)
    }
}

impl From<Error> for StoreError {
    fn from(e: Error) -> StoreError {
        match e {
            Error::Sqlite(e) => match classify(&e) {
                Class::Busy => StoreError::unavailable(format!(
                    "the SQLite database stayed locked past the busy timeout: {e}"
                )),
                Class::Full => {
                    StoreError::unavailable(format!("the disk or the SQLite database is full: {e}"))
                }
                Class::ReadOnly => {
                    StoreError::new(format!("the SQLite database is read-only: {e}"))
                }
                Class::Constraint => StoreError::conflict(format!("SQLite: {e}")),
                Class::Other => StoreError::new(format!("SQLite: {e}")),
            },
            Error::Corrupt(message) => StoreError::new(message),
            Error::Conflict(message) => StoreError::conflict(message),
            Error::PoolUnavailable(message) => StoreError::unavailable(message),
            Error::Task(message) => StoreError::new(message),
        }
    }
}

impl From<Error> for StateError {
    /// A full disk is [`StateError::Full`]; what a retry may cure (busy past the timeout, no
    /// connection) is [`StateError::Unavailable`] (the kit answers 503 to both); everything else
    /// is a backend error, with the same message as the [`StoreError`].
    fn from(e: Error) -> StateError {
        if e.is_full() {
            return StateError::Full;
        }
        let e = StoreError::from(e);
        match e.kind() {
            opkit::store::StoreErrorKind::Unavailable => StateError::Unavailable(e.to_string()),
            _ => StateError::Backend(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use opkit::store::StoreErrorKind;

    use super::*;

    fn sqlite(code: i32) -> Error {
        Error::Sqlite(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(code),
            None,
        ))
    }

    #[test]
    fn result_codes_map_to_kinds_and_messages() {
        let busy = StoreError::from(sqlite(rusqlite::ffi::SQLITE_BUSY));
        assert_eq!(busy.kind(), StoreErrorKind::Unavailable);
        let locked = StoreError::from(sqlite(rusqlite::ffi::SQLITE_LOCKED));
        assert_eq!(locked.kind(), StoreErrorKind::Unavailable);
        let full = StoreError::from(sqlite(rusqlite::ffi::SQLITE_FULL));
        assert_eq!(full.kind(), StoreErrorKind::Unavailable);
        assert!(full.to_string().contains("full"), "{full}");
        let ro = StoreError::from(sqlite(rusqlite::ffi::SQLITE_READONLY));
        assert_eq!(ro.kind(), StoreErrorKind::Backend);
        assert!(ro.to_string().contains("read-only"), "{ro}");
        let unique = StoreError::from(sqlite(rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE));
        assert_eq!(unique.kind(), StoreErrorKind::Conflict);
        assert!(matches!(
            StateError::from(sqlite(rusqlite::ffi::SQLITE_FULL)),
            StateError::Full
        ));
        assert!(sqlite(rusqlite::ffi::SQLITE_BUSY).is_busy());
        assert!(!sqlite(rusqlite::ffi::SQLITE_FULL).is_busy());
    }

    #[test]
    fn schema_too_new_names_both_versions() {
        let e = OpenError::SchemaTooNew { found: 7, known: 1 };
        let text = e.to_string();
        assert!(
            text.contains("version 7") && text.contains("version 1"),
            "{text}"
        );
    }
}
