//! Versioned schema migrations, shipped in the crate and applied at open under
//! `BEGIN IMMEDIATE` (SQLite's write lock), with the version in `PRAGMA user_version`.

use rusqlite::{Connection, TransactionBehavior};

use crate::error::OpenError;

/// The migrations, in order: entry `i` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_initial.sql"),
    include_str!("../migrations/0002_refresh_grace.sql"),
];

/// The schema version this build writes and reads.
pub(crate) const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

fn version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA user_version", [], |row| row.get(0))
}

fn database(e: rusqlite::Error) -> OpenError {
    OpenError::Database(e.to_string())
}

/// Bring the schema to [`SCHEMA_VERSION`]. Several processes may call it on one file at the same
/// moment: the first to take the write lock migrates, the others then find the schema current.
/// A schema newer than this build's is refused; a read-only database at the current version
/// needs no write at all.
pub(crate) fn migrate(conn: &mut Connection, read_only: bool) -> Result<(), OpenError> {
    let found = version(conn).map_err(database)?;
    if found == SCHEMA_VERSION {
        return Ok(());
    }
    check_not_newer(found)?;
    if read_only {
        return Err(OpenError::ReadOnlyNeedsMigration {
            found,
            known: SCHEMA_VERSION,
        });
    }
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(database)?;
    // Read again under the lock: another process may have migrated meanwhile.
    let found = version(&tx).map_err(database)?;
    check_not_newer(found)?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found.max(0) as usize) {
        tx.execute_batch(sql)
            .map_err(|e| OpenError::Database(format!("migration {} failed: {e}", i + 1)))?;
        tx.pragma_update(None, "user_version", i as i64 + 1)
            .map_err(database)?;
    }
    tx.commit().map_err(database)
}

fn check_not_newer(found: i64) -> Result<(), OpenError> {
    if found > SCHEMA_VERSION {
        return Err(OpenError::SchemaTooNew {
            found,
            known: SCHEMA_VERSION,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_an_empty_database_once_and_refuses_a_newer_one() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn, false).unwrap();
        assert_eq!(version(&conn).unwrap(), SCHEMA_VERSION);
        // Again: nothing to do.
        migrate(&mut conn, false).unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        match migrate(&mut conn, false) {
            Err(OpenError::SchemaTooNew { found, known }) => {
                assert_eq!((found, known), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
            }
            other => panic!("expected SchemaTooNew, got {other:?}"),
        }
    }
}
