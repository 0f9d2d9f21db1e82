//! The in-memory stores: [`MemoryStore`] (every concern of [`Store`](super::Store)) and
//! [`MemoryUsers`].
//!
//! Maps behind locks, for tests, development and single-process deployments that may lose
//! their state on restart. A database store keeps the same contracts (`opkit::test_kit`).

mod clients;
mod grants;
mod interner;
mod keys;
mod users;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use time::OffsetDateTime;

use self::clients::ClientState;
use self::interner::Interner;
pub use self::users::MemoryUsers;
use crate::scope::Scopes;
use crate::secret::SecretHash;
use crate::store::{CodeRecord, Consent, GrantId, SigningKeyRecord};

/// Clients, grants, authorization codes, refresh tokens, consents and revoked access tokens,
/// in memory.
///
/// Cloning is cheap and clones share the same data. Each concern is one map behind one lock,
/// so [`CodeStore::redeem_code`](super::CodeStore::redeem_code),
/// [`RefreshTokenStore::rotate_refresh_token`](super::RefreshTokenStore::rotate_refresh_token)
/// and [`RefreshTokenStore::reuse_rotated_refresh_token`](super::RefreshTokenStore::reuse_rotated_refresh_token)
/// are atomic by holding that lock for the check and the change. A lock poisoned by a
/// panicking thread is recovered, not propagated. Every future completes on its first poll.
///
/// Expired records stay until [`Store::purge_expired`](super::Store::purge_expired) removes
/// them: the host runs it periodically with the provider's clock (`opkit-axum` schedules it).
///
/// Grants and refresh tokens are the records a provider holds by the million, so they are kept
/// compact: each is boxed (the maps' empty slots stay small), its client id, subject and scope
/// set are shared with every other record that has the same ones (interned), a refresh token
/// shares its grant's id, and the hash a record is found by is not stored twice. A million
/// grants with a refresh token each take about 450 MB with 250 000 users, 510 MB with a million
/// (`examples/memory.rs`).
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
    /// Grant id → grant.
    grants: RwLock<HashMap<Arc<str>, Box<GrantEntry>>>,
    codes: Mutex<HashMap<SecretHash, CodeEntry>>,
    refresh_tokens: Mutex<HashMap<SecretHash, Box<RefreshEntry>>>,
    /// Client ids and subjects, shared by the records that name them.
    names: Interner<Arc<str>>,
    /// Scope sets, likewise.
    scope_sets: Interner<Scopes>,
    /// subject → client_id → consent.
    consents: RwLock<HashMap<String, HashMap<String, Consent>>>,
    /// jti → when the access token expires.
    revoked: RwLock<HashMap<String, Instant>>,
    signing_keys: Mutex<Vec<SigningKeyRecord>>,
}

/// An authorization code: whole until redeemed, then only what recognising a replay needs.
enum CodeEntry {
    Issued(CodeRecord),
    Redeemed {
        grant_id: GrantId,
        expires_at: OffsetDateTime,
    },
}

impl CodeEntry {
    fn expires_at(&self) -> OffsetDateTime {
        match self {
            CodeEntry::Issued(record) => record.expires_at,
            CodeEntry::Redeemed { expires_at, .. } => *expires_at,
        }
    }
}

/// A [`Grant`](crate::store::Grant) without its id (the map's key).
struct GrantEntry {
    client_id: Arc<str>,
    subject: Option<Arc<str>>,
    scopes: Scopes,
    auth_time: Option<OffsetDateTime>,
    created_at: OffsetDateTime,
    expires_at: Instant,
    revoked: bool,
    /// Interned: a provider serves a handful of resources.
    resource: Option<Arc<str>>,
}

/// A [`RefreshRecord`](crate::store::RefreshRecord) without its hash (the map's key).
struct RefreshEntry {
    grant_id: Arc<str>,
    client_id: Arc<str>,
    subject: Arc<str>,
    scopes: Scopes,
    auth_time: OffsetDateTime,
    issued_at: OffsetDateTime,
    expires_at: Instant,
    /// Set once the token is rotated. Boxed, so that the active tokens a store holds by the
    /// million stay as small as before grace windows.
    rotation: Option<Box<Rotation>>,
}

/// When a refresh token was rotated and how many grace reuses it was granted since.
struct Rotation {
    at: Instant,
    reuses: u32,
}

/// A point in time as nanoseconds since the epoch: what the purges compare, millions of times
/// per pass, at the cost of an integer comparison (`OffsetDateTime`'s comparison normalises
/// offsets first).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Instant(i128);

impl From<OffsetDateTime> for Instant {
    fn from(t: OffsetDateTime) -> Instant {
        Instant(t.unix_timestamp_nanos())
    }
}

impl Instant {
    /// Back to a date-time (in UTC). Every `Instant` comes from an `OffsetDateTime`, so the
    /// conversion cannot fail; if it somehow did, the epoch (long expired) is the safe answer.
    fn to_datetime(self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(self.0).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
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
            consents: read(&self.inner.consents).values().map(HashMap::len).sum(),
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

impl MemoryStore {
    /// The shared copy of a client id or subject.
    fn name(&self, name: &str) -> Arc<str> {
        self.inner.names.intern(name, || Arc::from(name))
    }

    /// The shared copy of a scope set.
    fn scopes(&self, scopes: &Scopes) -> Scopes {
        self.inner.scope_sets.intern(scopes, || scopes.clone())
    }

    /// The grant map's copy of a grant id, or a new one if the grant is not (or no longer) in
    /// the store.
    fn grant_key(&self, id: &str) -> Arc<str> {
        match read(&self.inner.grants).get_key_value(id) {
            Some((key, _)) => key.clone(),
            None => Arc::from(id),
        }
    }

    /// Drop interned names and scope sets no record holds any more.
    fn forget_unused(&self) {
        self.inner
            .names
            .forget_unused(|name| Arc::strong_count(name) > 1);
        self.inner.scope_sets.forget_unused(Scopes::is_shared);
    }
}

/// Remove up to `limit` entries of `map` that `expired` says are due, in one pass over the
/// map; returns how many.
fn purge_some<K: Eq + std::hash::Hash, V>(
    map: &mut HashMap<K, V>,
    limit: usize,
    expired: impl Fn(&V) -> bool,
) -> u64 {
    let mut removed = 0;
    map.retain(|_, v| {
        let purge = removed < limit && expired(v);
        removed += usize::from(purge);
        !purge
    });
    if map.capacity() > 4 * map.len().max(64) {
        map.shrink_to_fit();
    }
    removed as u64
}
