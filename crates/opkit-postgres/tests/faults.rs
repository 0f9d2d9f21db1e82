//! Faults: the server goes away and comes back. This binary has a cluster of its own, since
//! stopping it would break tests running beside it.

use std::time::{Duration, Instant};

use opkit::store::{ClientStore, GrantId, GrantStore, StoreErrorKind};
use opkit_postgres::testing::TestCluster;
use opkit_postgres::{ConnectError, PostgresOptions, PostgresStore};

fn options() -> PostgresOptions {
    PostgresOptions::default()
        .max_connections(4)
        .pool_wait(Duration::from_secs(1))
        .connect_timeout(Duration::from_secs(1))
        .statement_timeout(Duration::from_secs(2))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pool_recovers_after_the_server_restarts() {
    let Some(cluster) = TestCluster::start() else {
        return;
    };
    if !cluster.is_managed() {
        eprintln!("SKIPPED: fault tests need a server of their own, not DATABASE_URL");
        return;
    }
    let url = cluster.fresh_database();
    let store = PostgresStore::connect(&url, options())
        .await
        .expect("connect");
    // Open a few connections, so the pool holds several that the restart kills.
    let warm = futures_join(&store).await;
    assert!(warm.iter().all(Result::is_ok), "{warm:?}");

    cluster.stop();
    let started = Instant::now();
    let err = store
        .client("anyone")
        .await
        .expect_err("no server, no answer");
    let elapsed = started.elapsed();
    eprintln!("with the server stopped: {err} after {elapsed:?}");
    assert_eq!(err.kind(), StoreErrorKind::Unavailable, "{err}");
    assert!(
        elapsed < Duration::from_secs(4),
        "an unreachable server must fail fast, took {elapsed:?}"
    );

    // The kit's state stores say the same in their own terms.
    let got = opkit_axum::SessionStore::get(
        &store,
        opkit::secret::SecretHash::of("cookie"),
        time::OffsetDateTime::now_utc(),
    )
    .await;
    assert!(
        matches!(got, Err(opkit_axum::StateError::Unavailable(_))),
        "{got:?}"
    );

    // A new instance cannot come up meanwhile, and says why, quickly.
    let started = Instant::now();
    match PostgresStore::connect(&url, options()).await {
        Err(ConnectError::Connect(_)) => {}
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("connected to a stopped server"),
    }
    assert!(started.elapsed() < Duration::from_secs(4));

    cluster.start_again();
    // The same store, not recreated: dead pooled connections are dropped and fresh ones
    // opened. At most one call may still meet a dead connection.
    let mut failures = 0;
    for _ in 0..4 {
        match store.client("anyone").await {
            Ok(found) => assert!(found.is_none()),
            Err(e) => {
                eprintln!("after the restart: {e}");
                assert_eq!(e.kind(), StoreErrorKind::Unavailable, "{e}");
                failures += 1;
            }
        }
    }
    assert!(failures <= 1, "{failures} calls failed after the restart");
    let again = futures_join(&store).await;
    assert!(again.iter().all(Result::is_ok), "{again:?}");
}

/// Four calls at once (each on its own pooled connection).
async fn futures_join(store: &PostgresStore) -> Vec<Result<(), opkit::store::StoreError>> {
    let id = GrantId("g".into());
    let (a, b, c, d) = tokio::join!(
        store.revoke_grant(&id),
        store.revoke_grant(&id),
        store.revoke_grant(&id),
        store.revoke_grant(&id),
    );
    vec![a, b, c, d]
}
