//! A read-only database: lookups work, writes fail with an error saying it is read-only.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{options, TempDir};
use opkit::secret::SecretHash;
use opkit::store::{RevokedTokenStore, StoreError, StoreErrorKind};
use opkit_axum::{SessionRecord, SessionStore, StateError};
use opkit_sqlite::{OpenError, SqliteStore};
use time::{Duration, OffsetDateTime};

fn assert_read_only(err: StoreError) {
    assert_eq!(err.kind(), StoreErrorKind::Backend, "{err}");
    assert!(err.to_string().contains("read-only"), "{err}");
}

async fn seeded(dir: &TempDir) -> std::path::PathBuf {
    let path = dir.db("ro.db");
    let store = SqliteStore::open(&path, options()).await.unwrap();
    let later = OffsetDateTime::now_utc() + Duration::hours(1);
    store.revoke_access_token("jti-seed", later).await.unwrap();
    path
}

#[tokio::test]
async fn the_read_only_option_refuses_writes_with_a_read_only_error() {
    let dir = TempDir::new("read-only-option");
    let path = seeded(&dir).await;
    let store = SqliteStore::open(&path, options().read_only())
        .await
        .unwrap();
    assert!(store.is_access_token_revoked("jti-seed").await.unwrap());
    let later = OffsetDateTime::now_utc() + Duration::hours(1);
    assert_read_only(
        store
            .revoke_access_token("jti-new", later)
            .await
            .unwrap_err(),
    );
    // A multi-statement write (BEGIN IMMEDIATE) too.
    let err = store
        .put_user("ada", "pw", "sub-ada", Default::default())
        .await
        .unwrap_err();
    assert_read_only(err);
    // The kit's stores say so as well.
    let record = SessionRecord {
        session: opkit::Session {
            subject: "sub".into(),
            auth_time: OffsetDateTime::now_utc(),
        },
        username: "ada".into(),
    };
    let now = OffsetDateTime::now_utc();
    match store
        .insert(SecretHash::of("cookie"), record, later, now)
        .await
    {
        Err(StateError::Backend(message)) => assert!(message.contains("read-only"), "{message}"),
        other => panic!("expected a read-only backend error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_read_only_store_needs_an_existing_current_database() {
    let dir = TempDir::new("read-only-missing");
    match SqliteStore::open(dir.db("missing.db"), options().read_only()).await {
        Err(OpenError::Database(message)) => assert!(message.contains("does not exist")),
        other => panic!("expected an error, got {other:?}"),
    }
    // An existing file with no schema cannot be migrated read-only.
    std::fs::create_dir_all(dir.path()).unwrap();
    let path = dir.db("empty.db");
    drop(rusqlite::Connection::open(&path).unwrap());
    match SqliteStore::open(&path, options().read_only()).await {
        Err(e @ OpenError::ReadOnlyNeedsMigration { .. }) => {
            assert!(e.to_string().contains("read-only"), "{e}")
        }
        other => panic!("expected ReadOnlyNeedsMigration, got {other:?}"),
    }
}

/// A file the process may not write (mode 0444): SQLite opens it read-only by itself.
/// Skipped where permissions do not bind (root, CAP_DAC_OVERRIDE), as in many containers.
#[tokio::test]
async fn a_file_without_write_permission_gives_the_read_only_error() {
    let dir = TempDir::new("read-only-chmod");
    let path = seeded(&dir).await;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
    if std::fs::OpenOptions::new().write(true).open(&path).is_ok() {
        eprintln!("skipped: this process may write a 0444 file (root), so chmod proves nothing");
        return;
    }
    let store = SqliteStore::open(&path, options()).await.unwrap();
    assert!(store.is_access_token_revoked("jti-seed").await.unwrap());
    let later = OffsetDateTime::now_utc() + Duration::hours(1);
    assert_read_only(
        store
            .revoke_access_token("jti-new", later)
            .await
            .unwrap_err(),
    );
}
