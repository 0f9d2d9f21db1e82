//! Migrations: concurrent first opens, a schema newer than the binary, reopening.

mod common;

use common::{options, TempDir};
use opkit_sqlite::{OpenError, SqliteStore, SCHEMA_VERSION};

fn user_version(path: &std::path::Path) -> i64 {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap()
}

/// Like processes starting together: each thread has its own runtime and pool, and all are
/// released at once on a file that does not exist yet.
#[test]
fn stores_opening_one_new_file_at_the_same_moment_all_come_up() {
    const OPENERS: usize = 4;
    for round in 0..5 {
        let dir = TempDir::new("race-open");
        let path = dir.db(&format!("race-{round}.db"));
        let barrier = std::sync::Barrier::new(OPENERS);
        std::thread::scope(|scope| {
            let openers: Vec<_> = (0..OPENERS)
                .map(|_| {
                    scope.spawn(|| {
                        let rt = tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build()
                            .unwrap();
                        barrier.wait();
                        let store = rt.block_on(SqliteStore::open(&path, options()));
                        store.map(drop).map_err(|e| e.to_string())
                    })
                })
                .collect();
            for opener in openers {
                opener.join().unwrap().unwrap_or_else(|e| panic!("{e}"));
            }
        });
        assert_eq!(user_version(&path), SCHEMA_VERSION);
    }
}

#[tokio::test]
async fn a_schema_newer_than_the_binary_is_refused() {
    let dir = TempDir::new("too-new");
    let path = dir.db("new.db");
    drop(SqliteStore::open(&path, options()).await.unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", SCHEMA_VERSION + 41)
        .unwrap();
    drop(conn);
    match SqliteStore::open(&path, options()).await {
        Err(e @ OpenError::SchemaTooNew { found, known }) => {
            assert_eq!((found, known), (SCHEMA_VERSION + 41, SCHEMA_VERSION));
            let text = e.to_string();
            assert!(
                text.contains(&format!("version {}", SCHEMA_VERSION + 41))
                    && text.contains(&format!("version {SCHEMA_VERSION}")),
                "{text}"
            );
        }
        Err(other) => panic!("expected SchemaTooNew, got {other}"),
        Ok(_) => panic!("a newer schema was opened"),
    }
    // Nothing was changed.
    assert_eq!(user_version(&path), SCHEMA_VERSION + 41);
}

#[tokio::test]
async fn open_creates_missing_folders_and_sets_up_wal() {
    let dir = TempDir::new("folders");
    let path = dir.path().join("a/b/c/op.db");
    let store = SqliteStore::open(&path, options()).await.unwrap();
    assert!(path.exists());
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    drop(store);
}

/// A database written at version 1 (before grace windows) migrates in place: its tokens keep
/// working, and a token rotated back then has no rotation time, so it gets no grace reuse.
#[tokio::test]
async fn a_version_1_database_migrates_and_its_old_rotations_get_no_grace() {
    use opkit::scope::Scopes;
    use opkit::secret::SecretHash;
    use opkit::store::{GrantId, RefreshRecord, RefreshReuse, RefreshRotation, RefreshTokenStore};
    use time::{Duration, OffsetDateTime};

    let dir = TempDir::new("from-v1");
    std::fs::create_dir_all(dir.path()).unwrap();
    let path = dir.db("v1.db");
    let t = OffsetDateTime::UNIX_EPOCH + Duration::seconds(1_700_000_000);
    let record = |secret: &str| RefreshRecord {
        hash: SecretHash::of(secret),
        grant_id: GrantId("g".into()),
        client_id: "c".into(),
        subject: "alice".into(),
        scopes: Scopes::from_values(["openid"]).unwrap(),
        auth_time: t,
        issued_at: t,
        expires_at: t + Duration::days(1),
    };
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(include_str!("../migrations/0001_initial.sql"))
            .unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        for (secret, rotated) in [("old-rotated", true), ("old-active", false)] {
            let r = record(secret);
            conn.execute(
                "INSERT INTO refresh_tokens (hash, grant_id, doc, expires_at, rotated) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                rusqlite::params![
                    &r.hash.0[..],
                    r.grant_id.0,
                    serde_json::to_string(&r).unwrap(),
                    (r.expires_at.unix_timestamp_nanos() / 1_000) as i64,
                    rotated
                ],
            )
            .unwrap();
        }
    }
    let store = SqliteStore::open(&path, options()).await.unwrap();
    assert_eq!(user_version(&path), SCHEMA_VERSION);
    let refused = store
        .reuse_rotated_refresh_token(
            &SecretHash::of("old-rotated"),
            t - Duration::days(365),
            10,
            record("next-1"),
        )
        .await
        .unwrap();
    assert_eq!(
        refused,
        RefreshReuse::Refused {
            grant_id: GrantId("g".into())
        }
    );
    // A token active before the migration rotates, and then has its grace.
    let next = RefreshRecord {
        issued_at: t + Duration::seconds(10),
        ..record("next-2")
    };
    let rotated = store
        .rotate_refresh_token(&SecretHash::of("old-active"), next)
        .await
        .unwrap();
    assert_eq!(rotated, RefreshRotation::Rotated);
    let granted = store
        .reuse_rotated_refresh_token(&SecretHash::of("old-active"), t, 1, record("next-3"))
        .await
        .unwrap();
    assert_eq!(granted, RefreshReuse::Granted);
}
