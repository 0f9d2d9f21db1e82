//! Test helpers: a fresh temporary database folder per test, removed afterwards.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

use opkit_sqlite::{SqliteOptions, SqliteStore};

/// A folder under the system temp dir, unique to this process and call, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "opkit-sqlite-{name}-{}-{n}-{nanos}",
            std::process::id()
        ));
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn db(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Options for tests: cheap password hashes.
pub fn options() -> SqliteOptions {
    SqliteOptions::default().password_iterations(1_000)
}

/// `count` stores, each on its own new file in `dir`, handed out one per call of
/// [`Stores::make`]: the contract kit's `make` is a sync `Fn() -> S` that must return an empty
/// store each time.
pub struct Stores(Mutex<Vec<SqliteStore>>);

impl Stores {
    pub async fn open(dir: &TempDir, count: usize) -> Stores {
        let mut stores = Vec::new();
        for i in 0..count {
            let store = SqliteStore::open(dir.db(&format!("store-{i}.db")), options())
                .await
                .expect("open a fresh store");
            stores.push(store);
        }
        Stores(Mutex::new(stores))
    }

    pub fn make(&self) -> SqliteStore {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop()
            .expect("more stores pre-opened than the kit asked for")
    }
}
