//! In-memory state stores: a map with expiry and a size cap ([`ExpiringMap`]), and on it the
//! kit's default [`SessionStore`] and [`PendingStore`]. For one process; a provider running on
//! several instances implements the traits on a shared database.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard};

use opkit::secret::SecretHash;
use time::OffsetDateTime;

use crate::state::{
    BoxFuture, PendingRecord, PendingStore, SessionRecord, SessionStore, StateError, StateResult,
};

/// Values by the SHA-256 of a secret, each until its expiry, at most `capacity` of them. When
/// full of live entries, a new key is refused ([`Full`]) or, for a map made with
/// [`evicting`](Self::evicting), the entry expiring soonest makes room (so a flood of new
/// entries cannot refuse everyone else; it has to outpace them instead).
///
/// ```
/// use opkit::secret::SecretHash;
/// use opkit_axum::ExpiringMap;
/// use time::{Duration, OffsetDateTime};
///
/// let map = ExpiringMap::new(2);
/// let now = OffsetDateTime::UNIX_EPOCH;
/// map.insert(SecretHash::of("a"), 1, now + Duration::minutes(5), now).unwrap();
/// assert_eq!(map.take(&SecretHash::of("a"), now), Some((1, now + Duration::minutes(5))));
/// assert_eq!(map.take(&SecretHash::of("a"), now), None, "single use");
/// ```
#[derive(Debug)]
pub struct ExpiringMap<V> {
    inner: Mutex<Entries<V>>,
    capacity: usize,
    evict: bool,
}

#[derive(Debug)]
struct Entries<V> {
    by_key: HashMap<SecretHash, (V, OffsetDateTime)>,
    /// The same entries by expiry, for purging and eviction without a scan.
    by_expiry: BTreeSet<(OffsetDateTime, SecretHash)>,
}

impl<V> Entries<V> {
    fn remove(&mut self, key: &SecretHash) -> Option<(V, OffsetDateTime)> {
        let removed = self.by_key.remove(key)?;
        self.by_expiry.remove(&(removed.1, *key));
        Some(removed)
    }

    /// Drop entries expired at `now`; how many.
    fn purge(&mut self, now: OffsetDateTime) -> u64 {
        let mut dropped = 0;
        while let Some(&(expires, key)) = self.by_expiry.first() {
            if expires > now {
                break;
            }
            self.remove(&key);
            dropped += 1;
        }
        dropped
    }
}

/// The map is full even after dropping expired entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full;

impl<V> ExpiringMap<V> {
    /// An empty map holding at most `capacity` live entries, refusing new keys beyond.
    pub fn new(capacity: usize) -> Self {
        ExpiringMap {
            inner: Mutex::new(Entries {
                by_key: HashMap::new(),
                by_expiry: BTreeSet::new(),
            }),
            capacity: capacity.max(1),
            evict: false,
        }
    }

    /// An empty map holding at most `capacity` live entries, evicting the one expiring soonest
    /// for a new key beyond.
    pub fn evicting(capacity: usize) -> Self {
        ExpiringMap {
            evict: true,
            ..ExpiringMap::new(capacity)
        }
    }

    fn lock(&self) -> MutexGuard<'_, Entries<V>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Insert or replace the entry for `key`.
    pub fn insert(
        &self,
        key: SecretHash,
        value: V,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<(), Full> {
        let mut entries = self.lock();
        entries.remove(&key);
        if entries.by_key.len() >= self.capacity {
            entries.purge(now);
        }
        if entries.by_key.len() >= self.capacity {
            if !self.evict {
                return Err(Full);
            }
            if let Some(&(_, soonest)) = entries.by_expiry.first() {
                entries.remove(&soonest);
            }
        }
        entries.by_expiry.insert((expires_at, key));
        entries.by_key.insert(key, (value, expires_at));
        Ok(())
    }

    /// A copy of the live value for `key`.
    pub fn get(&self, key: &SecretHash, now: OffsetDateTime) -> Option<V>
    where
        V: Clone,
    {
        let entries = self.lock();
        let (value, expires) = entries.by_key.get(key)?;
        (*expires > now).then(|| value.clone())
    }

    /// Remove and return the live value for `key` with its expiry (an expired one is dropped).
    pub fn take(&self, key: &SecretHash, now: OffsetDateTime) -> Option<(V, OffsetDateTime)> {
        let (value, expires) = self.lock().remove(key)?;
        (expires > now).then_some((value, expires))
    }

    /// Remove the entry for `key`.
    pub fn remove(&self, key: &SecretHash) {
        self.lock().remove(key);
    }

    /// Drop expired entries; how many were dropped.
    pub fn purge(&self, now: OffsetDateTime) -> u64 {
        let mut entries = self.lock();
        let dropped = entries.purge(now);
        if entries.by_key.capacity() > 4 * entries.by_key.len().max(64) {
            entries.by_key.shrink_to_fit();
        }
        dropped
    }

    /// Live and expired entries held.
    pub fn len(&self) -> usize {
        self.lock().by_key.len()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn full(_: Full) -> StateError {
    StateError::Full
}

/// In-memory login sessions (default cap 100,000; only a successful login makes one, so when
/// full new ones are refused rather than signing anyone out).
#[derive(Debug)]
pub struct MemorySessions(ExpiringMap<SessionRecord>);

impl MemorySessions {
    /// At most `capacity` live sessions.
    pub fn new(capacity: usize) -> Self {
        MemorySessions(ExpiringMap::new(capacity))
    }
}

impl Default for MemorySessions {
    fn default() -> Self {
        MemorySessions::new(100_000)
    }
}

impl SessionStore for MemorySessions {
    fn insert(
        &self,
        id: SecretHash,
        record: SessionRecord,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> BoxFuture<'_, StateResult<()>> {
        let result = self.0.insert(id, record, expires_at, now).map_err(full);
        Box::pin(std::future::ready(result))
    }

    fn get(
        &self,
        id: SecretHash,
        now: OffsetDateTime,
    ) -> BoxFuture<'_, StateResult<Option<SessionRecord>>> {
        Box::pin(std::future::ready(Ok(self.0.get(&id, now))))
    }

    fn remove(&self, id: SecretHash) -> BoxFuture<'_, StateResult<()>> {
        self.0.remove(&id);
        Box::pin(std::future::ready(Ok(())))
    }

    fn purge_expired(&self, now: OffsetDateTime) -> BoxFuture<'_, StateResult<u64>> {
        Box::pin(std::future::ready(Ok(self.0.purge(now))))
    }
}

/// In-memory pending steps (default cap 20,000). Anyone can open a login page, so when full the
/// step expiring soonest makes room rather than refusing everyone.
#[derive(Debug)]
pub struct MemoryPending(ExpiringMap<PendingRecord>);

impl MemoryPending {
    /// At most `capacity` live pending steps.
    pub fn new(capacity: usize) -> Self {
        MemoryPending(ExpiringMap::evicting(capacity))
    }
}

impl Default for MemoryPending {
    fn default() -> Self {
        MemoryPending::new(20_000)
    }
}

impl PendingStore for MemoryPending {
    fn put(
        &self,
        id: SecretHash,
        record: PendingRecord,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> BoxFuture<'_, StateResult<()>> {
        let result = self.0.insert(id, record, expires_at, now).map_err(full);
        Box::pin(std::future::ready(result))
    }

    fn take(
        &self,
        id: SecretHash,
        now: OffsetDateTime,
    ) -> BoxFuture<'_, StateResult<Option<(PendingRecord, OffsetDateTime)>>> {
        Box::pin(std::future::ready(Ok(self.0.take(&id, now))))
    }

    fn purge_expired(&self, now: OffsetDateTime) -> BoxFuture<'_, StateResult<u64>> {
        Box::pin(std::future::ready(Ok(self.0.purge(now))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;

    #[test]
    fn expiry_cap_and_purge() {
        let map = ExpiringMap::new(2);
        let now = OffsetDateTime::UNIX_EPOCH;
        let soon = now + Duration::seconds(1);
        map.insert(SecretHash::of("a"), 1, soon, now).unwrap();
        map.insert(SecretHash::of("b"), 2, now + Duration::hours(1), now)
            .unwrap();
        assert_eq!(map.insert(SecretHash::of("c"), 3, soon, now), Err(Full));
        // Replacing a key is not refused.
        map.insert(SecretHash::of("a"), 4, soon, now).unwrap();
        assert_eq!(map.get(&SecretHash::of("a"), now), Some(4));
        // Once `a` expired, there is room again.
        assert_eq!(map.get(&SecretHash::of("a"), soon), None);
        map.insert(SecretHash::of("c"), 3, soon + Duration::seconds(1), soon)
            .unwrap();
        assert_eq!(map.purge(soon + Duration::seconds(1)), 1);
        assert_eq!(map.len(), 1);
        assert_eq!(map.take(&SecretHash::of("b"), soon).map(|v| v.0), Some(2));
        assert!(map.is_empty());
    }

    #[test]
    fn an_evicting_map_drops_the_entry_expiring_soonest() {
        let map = ExpiringMap::evicting(2);
        let now = OffsetDateTime::UNIX_EPOCH;
        let at = |minutes| now + Duration::minutes(minutes);
        map.insert(SecretHash::of("late"), 1, at(9), now).unwrap();
        map.insert(SecretHash::of("soon"), 2, at(3), now).unwrap();
        map.insert(SecretHash::of("new"), 3, at(10), now).unwrap();
        assert_eq!(map.len(), 2);
        assert_eq!(map.get(&SecretHash::of("soon"), now), None);
        assert_eq!(map.get(&SecretHash::of("late"), now), Some(1));
        // Replacing keeps one index entry per key.
        map.insert(SecretHash::of("late"), 4, at(1), now).unwrap();
        assert_eq!(map.purge(at(2)), 1);
        assert_eq!(map.len(), 1);
    }

    #[tokio::test]
    async fn sessions_store_contract() {
        let store = MemorySessions::new(10);
        let now = OffsetDateTime::UNIX_EPOCH;
        let record = SessionRecord {
            session: opkit::Session {
                subject: "s".into(),
                auth_time: now,
            },
            username: "u".into(),
        };
        let id = SecretHash::of("cookie");
        store
            .insert(id, record.clone(), now + Duration::hours(1), now)
            .await
            .unwrap();
        assert_eq!(store.get(id, now).await.unwrap(), Some(record));
        assert_eq!(store.get(id, now + Duration::hours(1)).await.unwrap(), None);
        assert_eq!(
            store.purge_expired(now + Duration::hours(2)).await.unwrap(),
            1
        );
        store.remove(id).await.unwrap();
    }
}
