//! What the test binaries share: one cluster per binary, and stores on fresh databases.
#![allow(dead_code)]

use std::sync::{Mutex, OnceLock};

use opkit_postgres::testing::TestCluster;
use opkit_postgres::{PostgresOptions, PostgresStore};

/// The binary's cluster, started on first use (`None`: skipped, see `TestCluster::start`).
pub fn cluster() -> Option<&'static TestCluster> {
    static CLUSTER: OnceLock<Option<TestCluster>> = OnceLock::new();
    CLUSTER.get_or_init(TestCluster::start).as_ref()
}

/// Small pools (tests run in parallel on one server) and quick password hashes.
pub fn options() -> PostgresOptions {
    PostgresOptions::default()
        .max_connections(4)
        .password_iterations(1_000)
}

/// A store on a new, empty database.
pub async fn fresh_store(cluster: &TestCluster) -> PostgresStore {
    fresh_store_with(cluster, options()).await
}

pub async fn fresh_store_with(cluster: &TestCluster, options: PostgresOptions) -> PostgresStore {
    let url = cluster.fresh_database();
    PostgresStore::connect(&url, options)
        .await
        .unwrap_or_else(|e| panic!("connect to {url}: {e}"))
}

/// `n` stores on fresh databases, for a contract check's synchronous `make`, which hands
/// them out one per call (each check wants an empty store).
pub struct Stores(Mutex<Vec<PostgresStore>>);

impl Stores {
    pub async fn new(cluster: &TestCluster, n: usize) -> Stores {
        let mut stores = Vec::with_capacity(n);
        for _ in 0..n {
            stores.push(fresh_store(cluster).await);
        }
        Stores(Mutex::new(stores))
    }

    pub fn make(&self) -> PostgresStore {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop()
            .expect("more stores prepared for the contract check: raise the count")
    }
}
