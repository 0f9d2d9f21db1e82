//! A small in-memory map with expiry and a size cap, keyed by the SHA-256 of a random secret
//! (session cookie, interaction id, demo `state`), so the map never holds the secret itself.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use opkit::secret::SecretHash;
use time::OffsetDateTime;

/// Entries that stop counting at their expiry.
pub(crate) struct ExpiringMap<V> {
    entries: Mutex<HashMap<SecretHash, Entry<V>>>,
    capacity: usize,
}

struct Entry<V> {
    value: V,
    expires_at: OffsetDateTime,
}

/// The map is full even after dropping expired entries.
#[derive(Debug)]
pub(crate) struct Full;

impl<V> ExpiringMap<V> {
    /// An empty map holding at most `capacity` entries.
    pub(crate) fn new(capacity: usize) -> Self {
        ExpiringMap {
            entries: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<SecretHash, Entry<V>>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Insert (or replace) the entry for `key`.
    pub(crate) fn insert(
        &self,
        key: &str,
        value: V,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<(), Full> {
        let mut entries = self.lock();
        if entries.len() >= self.capacity {
            entries.retain(|_, e| e.expires_at > now);
            if entries.len() >= self.capacity {
                return Err(Full);
            }
        }
        entries.insert(SecretHash::of(key), Entry { value, expires_at });
        Ok(())
    }

    /// Run `f` on the live entry for `key`, if any.
    pub(crate) fn with<R>(
        &self,
        key: &str,
        now: OffsetDateTime,
        f: impl FnOnce(&mut V) -> R,
    ) -> Option<R> {
        let mut entries = self.lock();
        let entry = entries.get_mut(&SecretHash::of(key))?;
        if entry.expires_at <= now {
            return None;
        }
        Some(f(&mut entry.value))
    }

    /// Remove and return the live entry for `key` when `accept` says so.
    pub(crate) fn take_if(
        &self,
        key: &str,
        now: OffsetDateTime,
        accept: impl FnOnce(&V) -> bool,
    ) -> Option<V> {
        let hash = SecretHash::of(key);
        let mut entries = self.lock();
        let entry = entries.get(&hash)?;
        if entry.expires_at <= now || !accept(&entry.value) {
            return None;
        }
        entries.remove(&hash).map(|e| e.value)
    }

    /// Remove the entry for `key`.
    pub(crate) fn remove(&self, key: &str) {
        self.lock().remove(&SecretHash::of(key));
    }

    /// Drop expired entries.
    pub(crate) fn purge(&self, now: OffsetDateTime) {
        let mut entries = self.lock();
        entries.retain(|_, e| e.expires_at > now);
        if entries.capacity() > 4 * entries.len().max(64) {
            entries.shrink_to_fit();
        }
    }
}
