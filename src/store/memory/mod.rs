//! The in-memory stores: [`MemoryStore`] (every concern of [`Store`](super::Store)) and
//! [`MemoryUsers`].
//!
//! Maps behind locks, for tests, development and single-process deployments that may lose
//! their state on restart. A database store keeps the same contracts (`opkit::test_kit`).

mod clients;
mod grants;
mod users;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use time::OffsetDateTime;

use self::clients::ClientState;
pub use self::users::MemoryUsers;
use crate::secret::SecretHash;
use crate::store::{CodeRecord, Consent, Grant, GrantId, RefreshRecord};

/// Clients, grants, authorization codes, refresh tokens, consents and revoked access tokens,
/// in memory.
///
/// Cloning is cheap and clones share the same data. Each concern is one map behind one lock,
/// so [`CodeStore::redeem_code`](super::CodeStore::redeem_code) and
/// [`RefreshTokenStore::rotate_refresh_token`](super::RefreshTokenStore::rotate_refresh_token)
/// are atomic by holding that lock for the check and the change. A lock poisoned by a
/// panicking thread is recovered, not propagated. Every future completes on its first poll.
///
/// Expired records stay until [`Store::purge_expired`](super::Store::purge_expired) removes
/// them: the host runs it periodically with the provider's clock (`opkit-axum` schedules it).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), opkit::store::StoreError> {
/// use opkit::store::{MemoryStore, RevokedTokenStore, Store};
///
/// let store = MemoryStore::new();
/// let expires = time::OffsetDateTime::now_utc() + time::Duration::minutes(5);
/// store.revoke_access_token("jti-1", expires).await?;
/// assert!(store.is_access_token_revoked("jti-1").await?);
///
/// // The host purges periodically with the provider's clock.
/// let purged = store.purge_expired(expires, 1000).await?;
/// assert_eq!(purged.revoked_access_tokens, 1);
/// assert!(!store.is_access_token_revoked("jti-1").await?);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    clients: RwLock<ClientState>,
    grants: RwLock<HashMap<GrantId, Grant>>,
    codes: Mutex<HashMap<SecretHash, CodeEntry>>,
    refresh_tokens: Mutex<HashMap<SecretHash, RefreshEntry>>,
    /// (subject, client_id) → consent.
    consents: RwLock<HashMap<(String, String), Consent>>,
    /// jti → when the access token expires.
    revoked: RwLock<HashMap<String, OffsetDateTime>>,
}

struct CodeEntry {
    record: CodeRecord,
    redeemed: bool,
}

struct RefreshEntry {
    record: RefreshRecord,
    rotated: bool,
}

/// How much a [`MemoryStore`] holds (see [`MemoryStore::stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MemoryStats {
    /// Registered clients.
    pub clients: usize,
    /// Grants, revoked or not, until they expire and are purged.
    pub grants: usize,
    /// Authorization codes, redeemed or not, until they expire and are purged.
    pub codes: usize,
    /// Refresh tokens, rotated or not, until they expire and are purged.
    pub refresh_tokens: usize,
    /// Consents.
    pub consents: usize,
    /// Revoked access tokens, until they expire and are purged.
    pub revoked_access_tokens: usize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn read<T>(m: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(m: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(|e| e.into_inner())
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        MemoryStore::default()
    }

    /// How much the store holds.
    pub fn stats(&self) -> MemoryStats {
        MemoryStats {
            clients: read(&self.inner.clients).len(),
            grants: read(&self.inner.grants).len(),
            codes: lock(&self.inner.codes).len(),
            refresh_tokens: lock(&self.inner.refresh_tokens).len(),
            consents: read(&self.inner.consents).len(),
            revoked_access_tokens: read(&self.inner.revoked).len(),
        }
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("stats", &self.stats())
            .finish()
    }
}

/// Remove up to `limit` entries of `map` that `expired` says are due; returns how many.
fn purge_some<K: Clone + Eq + std::hash::Hash, V>(
    map: &mut HashMap<K, V>,
    limit: usize,
    expired: impl Fn(&V) -> bool,
) -> u64 {
    let due: Vec<K> = map
        .iter()
        .filter(|(_, v)| expired(v))
        .map(|(k, _)| k.clone())
        .take(limit)
        .collect();
    for key in &due {
        map.remove(key);
    }
    if map.capacity() > 4 * map.len().max(64) {
        map.shrink_to_fit();
    }
    due.len() as u64
}
