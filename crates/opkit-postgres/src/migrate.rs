//! Versioned migrations, shipped in the crate and applied at connect under an advisory lock.

use deadpool_postgres::Client;

use crate::error::{map_pg, ConnectError};

/// Every migration: its version, name and SQL, in order.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "initial", include_str!("../migrations/0001_initial.sql")),
    (
        2,
        "refresh grace",
        include_str!("../migrations/0002_refresh_grace.sql"),
    ),
];

/// The newest schema version this binary knows.
pub const SCHEMA_VERSION: i64 = 2;

/// The advisory lock every instance takes in its migration transaction (an arbitrary constant:
/// "opkit-pg" in ASCII). Advisory locks are per database, so stores on different databases of
/// one server do not wait for each other.
const LOCK_KEY: i64 = 0x6f70_6b69_742d_7067;

/// The table recording applied versions.
pub(crate) const VERSION_TABLE: &str = "opkit_schema_migrations";

/// Bring the schema to [`SCHEMA_VERSION`], in one transaction holding
/// `pg_advisory_xact_lock`: of instances starting together on an empty database one migrates
/// and the others wait, then find nothing to do. A database at a newer version is refused. A
/// database already at this version is not written to (so a read-only replica opens).
pub(crate) async fn migrate(client: &mut Client) -> Result<(), ConnectError> {
    let fail = |e: tokio_postgres::Error| {
        let mapped = map_pg(&e);
        if mapped.kind() == opkit::store::StoreErrorKind::Unavailable {
            ConnectError::Connect(mapped.to_string())
        } else {
            ConnectError::Migration(mapped.to_string())
        }
    };
    let tx = client.transaction().await.map_err(fail)?;
    // Index builds on a large table may outlast the connection's statement_timeout; waiting for
    // another instance's migration is bounded by lock_timeout.
    tx.batch_execute("SET LOCAL statement_timeout = '15min'; SET LOCAL lock_timeout = '5min'")
        .await
        .map_err(fail)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])
        .await
        .map_err(fail)?;
    let exists: bool = tx
        .query_one(
            &format!("SELECT to_regclass('{VERSION_TABLE}') IS NOT NULL"),
            &[],
        )
        .await
        .map_err(fail)?
        .try_get(0)
        .map_err(fail)?;
    if !exists {
        tx.batch_execute(&format!(
            "CREATE TABLE {VERSION_TABLE} (\
                 version BIGINT PRIMARY KEY, \
                 name TEXT NOT NULL, \
                 applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        ))
        .await
        .map_err(fail)?;
    }
    let found: i64 = tx
        .query_one(
            &format!("SELECT COALESCE(max(version), 0) FROM {VERSION_TABLE}"),
            &[],
        )
        .await
        .map_err(fail)?
        .try_get(0)
        .map_err(fail)?;
    if found > SCHEMA_VERSION {
        return Err(ConnectError::SchemaTooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    let insert = format!("INSERT INTO {VERSION_TABLE} (version, name) VALUES ($1, $2)");
    for (version, name, sql) in MIGRATIONS.iter().filter(|(v, _, _)| *v > found) {
        tx.batch_execute(sql).await.map_err(|e| {
            ConnectError::Migration(format!("version {version} ({name}): {}", map_pg(&e)))
        })?;
        tx.execute(&insert, &[version, name]).await.map_err(fail)?;
    }
    tx.commit().await.map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_consecutive_and_end_at_the_schema_version() {
        for (i, (v, _, _)) in MIGRATIONS.iter().enumerate() {
            assert_eq!(*v, i as i64 + 1);
        }
        assert_eq!(MIGRATIONS.last().map(|m| m.0), Some(SCHEMA_VERSION));
    }
}
