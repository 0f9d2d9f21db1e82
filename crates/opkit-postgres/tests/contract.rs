//! The contract kits of opkit and opkit-axum against a real PostgreSQL server.

mod common;

use opkit::claims::UserClaims;
use opkit::test_kit;

use common::{cluster, fresh_store, Stores};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn core_store_contract() {
    let Some(cluster) = cluster() else { return };
    // check_all makes 15 stores (5 client parts, 9 store parts, 1 interleaved race).
    let stores = Stores::new(cluster, 15).await;
    test_kit::check_all(|| stores.make()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interleaved_races() {
    let Some(cluster) = cluster() else { return };
    let stores = Stores::new(cluster, 1).await;
    test_kit::check_store_interleaved(|| stores.make()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_store_contract() {
    let Some(cluster) = cluster() else { return };
    let stores = Stores::new(cluster, 2).await;
    test_kit::check_key_store(|| stores.make()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_store_contract() {
    let Some(cluster) = cluster() else { return };
    let store = fresh_store(cluster).await;
    let claims = UserClaims {
        name: Some("Ada Lovelace".into()),
        email: Some("ada@example.com".into()),
        ..Default::default()
    };
    store
        .put_user("ada", "correct horse", "user-ada", claims.clone())
        .await
        .expect("put_user");
    // Idempotent: the same arguments again.
    store
        .put_user("ada", "correct horse", "user-ada", claims.clone())
        .await
        .expect("put_user again");
    test_kit::check_user_store(&store, "ada", "correct horse", "user-ada").await;

    // Another username cannot take the subject.
    let err = store
        .put_user("eve", "pw", "user-ada", UserClaims::default())
        .await
        .expect_err("a taken subject");
    assert_eq!(err.kind(), opkit::store::StoreErrorKind::Conflict, "{err}");

    use opkit::store::UserStore;
    assert_eq!(
        store.claims("user-ada").await.expect("claims").as_deref(),
        Some(&claims)
    );
    assert!(store.remove_user("ada").await.expect("remove"));
    assert!(!store.remove_user("ada").await.expect("remove again"));
    assert_eq!(store.claims("user-ada").await.expect("claims"), None);
    assert_eq!(
        store
            .authenticate("ada", "correct horse")
            .await
            .expect("authenticate"),
        None
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_hash_that_does_not_parse_is_a_backend_error() {
    let Some(cluster) = cluster() else { return };
    let url = cluster.fresh_database();
    let store = opkit_postgres::PostgresStore::connect(&url, common::options())
        .await
        .expect("connect");
    store
        .put_user("bob", "pw", "user-bob", UserClaims::default())
        .await
        .expect("put_user");
    cluster.execute(&url, "UPDATE users SET password_hash = 'garbage'");
    use opkit::store::UserStore;
    let err = store.authenticate("bob", "pw").await.expect_err("corrupt");
    assert_eq!(err.kind(), opkit::store::StoreErrorKind::Backend, "{err}");
    assert!(!err.to_string().contains("garbage"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kit_state_contracts() {
    let Some(cluster) = cluster() else { return };
    let store = fresh_store(cluster).await;
    opkit_axum::contract::session_store(&store).await;
    opkit_axum::contract::pending_store(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kit_purges_loop_in_batches() {
    use opkit::secret::SecretHash;
    use opkit_axum::{SessionRecord, SessionStore};
    use time::{Duration, OffsetDateTime};

    let Some(cluster) = cluster() else { return };
    let url = cluster.fresh_database();
    let store = opkit_postgres::PostgresStore::connect(&url, common::options())
        .await
        .expect("connect");
    let now = OffsetDateTime::now_utc();
    let record = SessionRecord {
        session: opkit::Session {
            subject: "s".into(),
            auth_time: now,
        },
        username: "u".into(),
    };
    let doc = serde_json::to_string(&record).expect("json");
    // 2 500 expired sessions: more than two batches.
    cluster.execute(
        &url,
        &format!(
            "INSERT INTO kit_sessions (id, doc, expires_at) \
             SELECT sha256(i::text::bytea), '{doc}', now() - interval '1 hour' \
             FROM generate_series(1, 2500) AS i"
        ),
    );
    let live = SecretHash::of("live");
    store
        .insert(live, record.clone(), now + Duration::hours(1), now)
        .await
        .expect("insert");
    let purged = SessionStore::purge_expired(&store, now)
        .await
        .expect("purge");
    assert_eq!(purged, 2500);
    assert_eq!(store.get(live, now).await.expect("get"), Some(record));
}
