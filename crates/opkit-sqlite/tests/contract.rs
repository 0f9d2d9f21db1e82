//! The whole contract kit against SqliteStore, each store on a fresh file.

mod common;

use common::{options, Stores, TempDir};
use opkit::claims::UserClaims;
use opkit::store::{StoreErrorKind, UserStore};
use opkit::test_kit;
use opkit_sqlite::SqliteStore;

#[tokio::test]
async fn check_all() {
    let dir = TempDir::new("check-all");
    let stores = Stores::open(&dir, 16).await;
    test_kit::check_all(|| stores.make()).await;
}

/// The kit's threads drive the store's futures with their own minimal executor, outside any
/// runtime: the store hands that work to the runtime it was opened on, so the test runtime
/// needs worker threads free while the calling thread waits on the racers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_store_concurrency() {
    let dir = TempDir::new("concurrency");
    let stores = Stores::open(&dir, 1).await;
    test_kit::check_store_concurrency(|| stores.make()).await;
}

#[tokio::test]
async fn check_key_store() {
    let dir = TempDir::new("keys");
    let stores = Stores::open(&dir, 2).await;
    test_kit::check_key_store(|| stores.make()).await;
}

#[tokio::test]
async fn check_user_store() {
    let dir = TempDir::new("users");
    let store = SqliteStore::open(dir.db("users.db"), options())
        .await
        .unwrap();
    let claims = UserClaims {
        name: Some("Kit Alice".into()),
        ..Default::default()
    };
    store
        .put_user(
            "kit-alice",
            "correct horse",
            "kit-sub-alice",
            claims.clone(),
        )
        .await
        .unwrap();
    // Idempotent: the same arguments again leave the same user.
    store
        .put_user(
            "kit-alice",
            "correct horse",
            "kit-sub-alice",
            claims.clone(),
        )
        .await
        .unwrap();
    test_kit::check_user_store(&store, "kit-alice", "correct horse", "kit-sub-alice").await;
    assert_eq!(
        store.claims("kit-sub-alice").await.unwrap().as_deref(),
        Some(&claims)
    );

    // A subject another username holds is a conflict, and changes nothing.
    let err = store
        .put_user("kit-bob", "pw", "kit-sub-alice", UserClaims::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Conflict, "{err}");
    assert_eq!(store.authenticate("kit-bob", "pw").await.unwrap(), None);

    // Upsert by username: a new password replaces the old.
    store
        .put_user("kit-alice", "new password", "kit-sub-alice", claims)
        .await
        .unwrap();
    assert_eq!(
        store
            .authenticate("kit-alice", "correct horse")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .authenticate("kit-alice", "new password")
            .await
            .unwrap(),
        Some("kit-sub-alice".into())
    );

    assert!(store.remove_user("kit-alice").await.unwrap());
    assert!(!store.remove_user("kit-alice").await.unwrap());
    assert!(store.claims("kit-sub-alice").await.unwrap().is_none());
    assert_eq!(
        store
            .authenticate("kit-alice", "new password")
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn a_stored_hash_that_does_not_parse_is_a_backend_error() {
    let dir = TempDir::new("bad-hash");
    let path = dir.db("users.db");
    let store = SqliteStore::open(&path, options()).await.unwrap();
    store
        .put_user("eve", "pw", "sub-eve", UserClaims::default())
        .await
        .unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute("UPDATE users SET password_hash = 'not a hash'", [])
        .unwrap();
    let err = store.authenticate("eve", "pw").await.unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Backend, "{err}");
}

#[tokio::test]
async fn kit_session_and_pending_stores() {
    let dir = TempDir::new("kit");
    let store = SqliteStore::open(dir.db("kit.db"), options())
        .await
        .unwrap();
    opkit_axum::contract::session_store(&store).await;
    opkit_axum::contract::pending_store(&store).await;
    // Also through the kit's object-safe form.
    let shared: std::sync::Arc<dyn opkit_axum::SessionStore> = std::sync::Arc::new(store.clone());
    opkit_axum::contract::session_store(&shared).await;
}
