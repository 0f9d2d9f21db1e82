//! The in-memory stores: [`MemoryStore`] (clients and grants) and [`MemoryUsers`].
//!
//! For tests, development and single-process deployments that can lose their grants on restart.

mod clients;
mod grants;
mod index;
mod slab;
mod users;

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use time::OffsetDateTime;

use self::clients::ClientState;
use self::grants::{shrink_map, GrantState};
pub use self::users::MemoryUsers;
use crate::client::Client;
use crate::host::Clock;
use crate::secret::SecretHash;
use crate::store::{
    ClientStore, CodeRecord, CodeRedemption, Consent, Grant, GrantId, GrantStore, RefreshLookup,
    RefreshRecord, RefreshRotation, SortOrder, StoreResult,
};

/// Inserts between two automatic purges, at least.
const MIN_PURGE_INTERVAL: usize = 1024;

/// Clients, grants, authorization codes, refresh tokens, consents and revoked access tokens,
/// in memory.
///
/// Cloning is cheap and clones share the same data. Every method completes without waiting
/// and is safe to call from many threads and tasks at once: [`GrantStore::redeem_code`] and
/// [`GrantStore::rotate_refresh_token`] are atomic (one lock covers grants, codes and tokens).
/// A lock poisoned by a panicking thread is recovered, not propagated.
///
/// # Expiry
///
/// Expired codes, refresh tokens, grants and revoked-token entries stay until
/// [`MemoryStore::purge_expired`] removes them. Either call it periodically with the provider's
/// clock, or build the store with [`MemoryStore::with_clock`] and it purges by itself. The
/// store never reads the wall clock on its own. A purge visits every entry, holding the grant
/// lock meanwhile: about a quarter of a second per million tokens in a release build.
///
/// # Revocation
///
/// [`GrantStore::revoke_grant`] flags the grant; from then on its unredeemed codes and
/// unrotated refresh tokens are gone (`Unknown` / `None`), while redeemed codes and rotated
/// tokens still report a replay or reuse until they expire.
///
/// # Memory
///
/// A refresh token takes 96 bytes (its slot and its index bucket), a grant about 140 (the same,
/// with grant ids of up to 22 bytes stored inline), and client ids, subjects and scope sets are
/// stored once per distinct value. Measured (`examples/memory.rs`): a million grants with one
/// refresh token each add 255 MB to the resident set with 250 000 users, 320 MB with a million
/// users; a million tokens in families of four, 150 MB. Slots are allocated in chunks, so
/// growing never doubles or copies the records.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), opkit::store::StoreError> {
/// use opkit::store::{GrantStore, MemoryStore};
///
/// let store = MemoryStore::new();
/// let expires = time::OffsetDateTime::now_utc() + time::Duration::minutes(5);
/// store.revoke_access_token("jti-1", expires).await?;
/// assert!(store.is_access_token_revoked("jti-1").await?);
///
/// // The host purges periodically with the provider's clock (or uses `with_clock`).
/// store.purge_expired(expires);
/// assert!(!store.is_access_token_revoked("jti-1").await?);
/// assert_eq!(store.stats().revoked_access_tokens, 0);
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
    grants: Mutex<GrantState>,
    /// subject → client_id → consent.
    consents: RwLock<HashMap<String, HashMap<String, Consent>>>,
    /// jti → when the access token expires.
    revoked: RwLock<HashMap<Box<str>, OffsetDateTime>>,
    auto_purge: Option<AutoPurge>,
}

/// Purging on insert, with the host's clock.
struct AutoPurge {
    clock: Arc<dyn Clock>,
    inserts: AtomicUsize,
    threshold: AtomicUsize,
    running: AtomicBool,
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
    /// An empty store. Expired entries stay until [`MemoryStore::purge_expired`].
    pub fn new() -> Self {
        MemoryStore::default()
    }

    /// An empty store that purges expired entries by itself, reading the time from `clock`
    /// (the provider's clock). The insert that triggers a purge runs it; purges are at least
    /// 1024 inserts apart, and as many as half the entries left by the last one, so their cost
    /// per insert stays constant.
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        MemoryStore {
            inner: Arc::new(Inner {
                auto_purge: Some(AutoPurge {
                    clock,
                    inserts: AtomicUsize::new(0),
                    threshold: AtomicUsize::new(MIN_PURGE_INTERVAL),
                    running: AtomicBool::new(false),
                }),
                ..Inner::default()
            }),
        }
    }

    /// Remove what expired at `now` (`expires_at <= now`): authorization codes (redeemed or
    /// not), refresh tokens (rotated or not), grants, and revoked access tokens; also the codes
    /// and refresh tokens of revoked grants. Takes time proportional to the store's size, with
    /// each lock held for its own part only.
    pub fn purge_expired(&self, now: OffsetDateTime) {
        lock(&self.inner.grants).purge(now);
        let mut revoked = write(&self.inner.revoked);
        revoked.retain(|_, expires_at| *expires_at > now);
        shrink_map(&mut revoked);
    }

    /// How much the store holds.
    pub fn stats(&self) -> MemoryStats {
        let clients = read(&self.inner.clients).len();
        let g = lock(&self.inner.grants).counts();
        let consents = read(&self.inner.consents).values().map(HashMap::len).sum();
        let revoked_access_tokens = read(&self.inner.revoked).len();
        MemoryStats {
            clients,
            grants: g.grants,
            codes: g.codes,
            refresh_tokens: g.refresh_tokens,
            consents,
            revoked_access_tokens,
        }
    }

    /// Count an insert; purge if the store has grown enough since the last purge.
    fn inserted(&self) {
        let Some(ap) = &self.inner.auto_purge else {
            return;
        };
        let n = ap.inserts.fetch_add(1, Ordering::Relaxed) + 1;
        if n < ap.threshold.load(Ordering::Relaxed) {
            return;
        }
        if ap
            .running
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        ap.inserts.store(0, Ordering::Relaxed);
        self.purge_expired(ap.clock.now());
        let s = self.stats();
        let live = s.grants + s.codes + s.refresh_tokens + s.revoked_access_tokens;
        ap.threshold
            .store((live / 2).max(MIN_PURGE_INTERVAL), Ordering::Relaxed);
        ap.running.store(false, Ordering::Release);
    }

    /// Run `f` on the grant state and count an insert if it succeeded.
    fn insert_with<T>(&self, f: impl FnOnce(&mut GrantState) -> StoreResult<T>) -> StoreResult<T> {
        let out = f(&mut lock(&self.inner.grants));
        if out.is_ok() {
            self.inserted();
        }
        out
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("stats", &self.stats())
            .field("auto_purge", &self.inner.auto_purge.is_some())
            .finish()
    }
}

impl ClientStore for MemoryStore {
    async fn client(&self, client_id: &str) -> StoreResult<Option<Arc<Client>>> {
        Ok(read(&self.inner.clients).client(client_id))
    }

    async fn client_by_id(&self, id: &str) -> StoreResult<Option<Arc<Client>>> {
        Ok(read(&self.inner.clients).client_by_id(id))
    }

    async fn insert_client(&self, client: Client) -> StoreResult<()> {
        write(&self.inner.clients).insert(client)
    }

    /// Replace the client with the same `id`. A changed `client_id` is re-indexed, unless
    /// another client holds it: then a conflict, and nothing changes.
    async fn update_client(&self, client: Client) -> StoreResult<bool> {
        write(&self.inner.clients).update(client)
    }

    async fn delete_client(&self, id: &str) -> StoreResult<Option<Arc<Client>>> {
        Ok(write(&self.inner.clients).delete(id))
    }

    async fn list_clients(
        &self,
        after: Option<&str>,
        limit: usize,
        order: SortOrder,
    ) -> StoreResult<Vec<Arc<Client>>> {
        Ok(read(&self.inner.clients).list(after, limit, order))
    }

    async fn origin_allowed(&self, origin: &str) -> StoreResult<bool> {
        Ok(read(&self.inner.clients).origin_allowed(origin))
    }
}

impl GrantStore for MemoryStore {
    /// Record a new grant; a conflict if its id is in use.
    async fn create_grant(&self, grant: Grant) -> StoreResult<()> {
        self.insert_with(|g| g.create_grant(&grant))
    }

    async fn grant(&self, id: &GrantId) -> StoreResult<Option<Grant>> {
        Ok(lock(&self.inner.grants).grant(id))
    }

    async fn revoke_grant(&self, id: &GrantId) -> StoreResult<()> {
        lock(&self.inner.grants).revoke_grant(id);
        Ok(())
    }

    /// Scans every grant (compared by interned pointer, so quickly).
    async fn revoke_grants(&self, client_id: &str, subject: Option<&str>) -> StoreResult<u64> {
        Ok(lock(&self.inner.grants).revoke_grants(client_id, subject))
    }

    /// Store a new code; a conflict if its hash is in use.
    async fn put_code(&self, code: CodeRecord) -> StoreResult<()> {
        self.insert_with(|g| g.put_code(code))
    }

    async fn redeem_code(&self, hash: &SecretHash) -> StoreResult<CodeRedemption> {
        lock(&self.inner.grants).redeem_code(hash)
    }

    /// Store a new refresh token; a conflict if its hash is in use.
    async fn put_refresh_token(&self, token: RefreshRecord) -> StoreResult<()> {
        self.insert_with(|g| g.put_refresh_token(&token))
    }

    async fn refresh_token(&self, hash: &SecretHash) -> StoreResult<Option<RefreshLookup>> {
        lock(&self.inner.grants).refresh_token(hash)
    }

    /// A conflict (and nothing changes) if `next`'s hash is in use.
    async fn rotate_refresh_token(
        &self,
        presented: &SecretHash,
        next: RefreshRecord,
    ) -> StoreResult<RefreshRotation> {
        let out = lock(&self.inner.grants).rotate_refresh_token(presented, &next);
        if matches!(out, Ok(RefreshRotation::Rotated)) {
            self.inserted();
        }
        out
    }

    async fn consent(&self, subject: &str, client_id: &str) -> StoreResult<Option<Consent>> {
        let consents = read(&self.inner.consents);
        Ok(consents
            .get(subject)
            .and_then(|m| m.get(client_id))
            .cloned())
    }

    async fn put_consent(&self, consent: Consent) -> StoreResult<()> {
        let mut consents = write(&self.inner.consents);
        consents
            .entry(consent.subject.clone())
            .or_default()
            .insert(consent.client_id.clone(), consent);
        Ok(())
    }

    async fn delete_consent(&self, subject: &str, client_id: &str) -> StoreResult<bool> {
        let mut consents = write(&self.inner.consents);
        let Some(of_subject) = consents.get_mut(subject) else {
            return Ok(false);
        };
        let existed = of_subject.remove(client_id).is_some();
        if of_subject.is_empty() {
            consents.remove(subject);
        }
        Ok(existed)
    }

    /// Keeps the first expiry given for a `jti`.
    async fn revoke_access_token(&self, jti: &str, expires_at: OffsetDateTime) -> StoreResult<()> {
        let inserted = {
            let mut revoked = write(&self.inner.revoked);
            if revoked.contains_key(jti) {
                false
            } else {
                revoked.insert(Box::from(jti), expires_at);
                true
            }
        };
        if inserted {
            self.inserted();
        }
        Ok(())
    }

    async fn is_access_token_revoked(&self, jti: &str) -> StoreResult<bool> {
        Ok(read(&self.inner.revoked).contains_key(jti))
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::pin;
    use std::sync::atomic::AtomicI64;
    use std::sync::Barrier;
    use std::task::{Context, Poll, Wake, Waker};

    use time::Duration;

    use super::*;
    use crate::claims::UserClaims;
    use crate::client::{AuthMethod, ClientSettings};
    use crate::host::{Rng, RngError};
    use crate::jose::Algorithm;
    use crate::scope::Scopes;
    use crate::store::{StoreErrorKind, UserStore};

    struct Noop;
    impl Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }

    /// The memory store's futures finish on their first poll.
    pub(super) fn run<F: Future>(f: F) -> F::Output {
        let waker = Waker::from(Arc::new(Noop));
        match pin!(f).poll(&mut Context::from_waker(&waker)) {
            Poll::Ready(v) => v,
            Poll::Pending => panic!("a memory store future was pending"),
        }
    }

    fn t(secs: i64) -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH + Duration::seconds(1_700_000_000 + secs)
    }

    fn scopes(s: &str) -> Scopes {
        Scopes::parse(s).unwrap()
    }

    fn client(id: &str, client_id: &str) -> Client {
        Client {
            id: id.into(),
            client_id: client_id.into(),
            secrets: vec![],
            registration_access_token: None,
            settings: ClientSettings {
                name: id.into(),
                description: None,
                redirect_uris: vec!["https://rp.example/cb".into()],
                post_logout_redirect_uris: vec![],
                id_token_signed_response_alg: Algorithm::Es256,
                token_endpoint_auth_method: AuthMethod::None,
                grant_types: vec![],
                response_types: vec![],
                allowed_scopes: scopes("openid"),
                allowed_origins: vec![],
                logo_uri: None,
                logo_dark_mode_uri: None,
                require_pkce: true,
                metadata: Default::default(),
            },
            date_created: t(0),
            date_modified: t(0),
            revision: 0,
        }
    }

    fn grant(id: &str, client_id: &str, subject: &str, expires: i64) -> Grant {
        Grant {
            id: GrantId(id.into()),
            client_id: client_id.into(),
            subject: Some(subject.into()),
            scopes: scopes("openid offline_access"),
            auth_time: Some(t(-10)),
            created_at: t(0),
            expires_at: t(expires),
            revoked: false,
        }
    }

    fn code(secret: &str, g: &Grant, expires: i64) -> CodeRecord {
        CodeRecord {
            hash: SecretHash::of(secret),
            grant_id: g.id.clone(),
            client_id: g.client_id.clone(),
            subject: g.subject.clone().unwrap(),
            redirect_uri: Some("https://rp.example/cb".into()),
            scopes: g.scopes.clone(),
            nonce: None,
            challenge: None,
            auth_time: t(-10),
            expires_at: t(expires),
        }
    }

    fn refresh(secret: &str, g: &Grant, expires: i64) -> RefreshRecord {
        RefreshRecord {
            hash: SecretHash::of(secret),
            grant_id: g.id.clone(),
            client_id: g.client_id.clone(),
            subject: g.subject.clone().unwrap(),
            scopes: g.scopes.clone(),
            auth_time: t(-10),
            issued_at: t(0),
            expires_at: t(expires),
        }
    }

    fn lookup(s: &MemoryStore, secret: &str) -> Option<RefreshLookup> {
        run(s.refresh_token(&SecretHash::of(secret))).unwrap()
    }

    #[test]
    fn clients_crud_conflicts_and_index() {
        let s = MemoryStore::new();
        run(s.insert_client(client("id-a", "cid-a"))).unwrap();
        run(s.insert_client(client("id-b", "cid-b"))).unwrap();
        let dup_id = run(s.insert_client(client("id-a", "cid-x"))).unwrap_err();
        assert_eq!(dup_id.kind(), StoreErrorKind::Conflict);
        let dup_cid = run(s.insert_client(client("id-x", "cid-a"))).unwrap_err();
        assert_eq!(dup_cid.kind(), StoreErrorKind::Conflict);
        assert_eq!(s.stats().clients, 2);

        assert_eq!(run(s.client("cid-a")).unwrap().unwrap().id, "id-a");
        assert_eq!(
            run(s.client_by_id("id-b")).unwrap().unwrap().client_id,
            "cid-b"
        );
        assert!(run(s.client("id-a")).unwrap().is_none());

        // Changing client_id to another client's is a conflict and changes nothing.
        let err = run(s.update_client(client("id-a", "cid-b"))).unwrap_err();
        assert_eq!(err.kind(), StoreErrorKind::Conflict);
        assert_eq!(run(s.client("cid-b")).unwrap().unwrap().id, "id-b");
        assert_eq!(
            run(s.client_by_id("id-a")).unwrap().unwrap().client_id,
            "cid-a"
        );

        // Changing it to a free one re-indexes.
        assert!(run(s.update_client(client("id-a", "cid-a2"))).unwrap());
        assert!(run(s.client("cid-a")).unwrap().is_none());
        assert_eq!(run(s.client("cid-a2")).unwrap().unwrap().id, "id-a");
        assert!(!run(s.update_client(client("id-zz", "cid-zz"))).unwrap());

        let deleted = run(s.delete_client("id-a")).unwrap().unwrap();
        assert_eq!(deleted.client_id, "cid-a2");
        assert!(run(s.client("cid-a2")).unwrap().is_none());
        run(s.insert_client(client("id-c", "cid-a2"))).unwrap();
    }

    #[test]
    fn list_clients_pages() {
        let s = MemoryStore::new();
        for id in ["c3", "c1", "c5", "c2", "c4"] {
            run(s.insert_client(client(id, &format!("cid-{id}")))).unwrap();
        }
        let ids = |after, limit, order| -> Vec<String> {
            run(s.list_clients(after, limit, order))
                .unwrap()
                .iter()
                .map(|c| c.id.clone())
                .collect()
        };
        assert_eq!(ids(None, 2, SortOrder::Ascending), ["c1", "c2"]);
        assert_eq!(ids(Some("c2"), 2, SortOrder::Ascending), ["c3", "c4"]);
        assert_eq!(ids(Some("c4"), 2, SortOrder::Ascending), ["c5"]);
        assert_eq!(ids(None, 2, SortOrder::Descending), ["c5", "c4"]);
        assert_eq!(
            ids(Some("c4"), 9, SortOrder::Descending),
            ["c3", "c2", "c1"]
        );
        assert!(ids(Some("c1"), 9, SortOrder::Descending).is_empty());
    }

    #[test]
    fn codes_redeem_once_then_replay() {
        let s = MemoryStore::new();
        let g = grant("g1", "c", "alice", 3600);
        run(s.create_grant(g.clone())).unwrap();
        let c = code("code-1", &g, 60);
        run(s.put_code(c.clone())).unwrap();
        let dup = run(s.put_code(c.clone())).unwrap_err();
        assert_eq!(dup.kind(), StoreErrorKind::Conflict);
        assert_eq!(
            run(s.redeem_code(&c.hash)).unwrap(),
            CodeRedemption::Redeemed(Box::new(c.clone()))
        );
        assert_eq!(
            run(s.redeem_code(&c.hash)).unwrap(),
            CodeRedemption::Replayed {
                grant_id: g.id.clone()
            }
        );
        assert_eq!(
            run(s.redeem_code(&SecretHash::of("nope"))).unwrap(),
            CodeRedemption::Unknown
        );
    }

    #[test]
    fn refresh_rotation_and_reuse() {
        let s = MemoryStore::new();
        let g = grant("g1", "c", "alice", 3600);
        run(s.create_grant(g.clone())).unwrap();
        let r1 = refresh("r1", &g, 600);
        run(s.put_refresh_token(r1.clone())).unwrap();
        assert_eq!(
            run(s.put_refresh_token(r1.clone())).unwrap_err().kind(),
            StoreErrorKind::Conflict
        );
        assert_eq!(
            lookup(&s, "r1"),
            Some(RefreshLookup {
                record: r1.clone(),
                rotated: false
            })
        );

        let r2 = refresh("r2", &g, 700);
        assert_eq!(
            run(s.rotate_refresh_token(&r1.hash, r2.clone())).unwrap(),
            RefreshRotation::Rotated
        );
        assert!(lookup(&s, "r1").unwrap().rotated);
        assert_eq!(
            lookup(&s, "r2"),
            Some(RefreshLookup {
                record: r2.clone(),
                rotated: false
            })
        );

        // Rotating onto an existing hash is a conflict and changes nothing.
        let onto_r1 = refresh("r1", &g, 800);
        let err = run(s.rotate_refresh_token(&r2.hash, onto_r1)).unwrap_err();
        assert_eq!(err.kind(), StoreErrorKind::Conflict);
        assert!(!lookup(&s, "r2").unwrap().rotated);

        let r3 = refresh("r3", &g, 800);
        assert_eq!(
            run(s.rotate_refresh_token(&r1.hash, r3)).unwrap(),
            RefreshRotation::Reused {
                grant_id: g.id.clone()
            }
        );
        assert_eq!(lookup(&s, "r3"), None);
        assert_eq!(
            run(s.rotate_refresh_token(&SecretHash::of("x"), refresh("r4", &g, 1))).unwrap(),
            RefreshRotation::Unknown
        );
        assert_eq!(s.stats().refresh_tokens, 2);
    }

    #[test]
    fn tokens_with_their_own_fields_round_trip() {
        let s = MemoryStore::new();
        let g = grant("g1", "c", "alice", 3600);
        run(s.create_grant(g.clone())).unwrap();
        let mut odd = refresh("odd", &g, 600);
        odd.scopes = scopes("openid");
        odd.subject = "someone-else".into();
        run(s.put_refresh_token(odd.clone())).unwrap();
        assert_eq!(lookup(&s, "odd").unwrap().record, odd);
        let mut next = odd.clone();
        next.hash = SecretHash::of("odd-next");
        next.issued_at = t(5);
        run(s.rotate_refresh_token(&odd.hash, next.clone())).unwrap();
        assert_eq!(lookup(&s, "odd-next").unwrap().record, next);
        assert_eq!(run(s.grant(&g.id)).unwrap().unwrap(), g);
    }

    #[test]
    fn tokens_stored_before_their_grant_keep_their_fields() {
        let s = MemoryStore::new();
        let g = grant("g1", "c", "alice", 3600);
        let c = code("early-code", &g, 60);
        let r = refresh("early", &g, 600);
        run(s.put_code(c.clone())).unwrap();
        run(s.put_refresh_token(r.clone())).unwrap();
        assert_eq!(run(s.grant(&g.id)).unwrap(), None);
        // The grant then arrives with other scopes.
        let mut g2 = g.clone();
        g2.scopes = scopes("openid profile");
        run(s.create_grant(g2.clone())).unwrap();
        assert_eq!(run(s.grant(&g.id)).unwrap(), Some(g2.clone()));
        assert_eq!(lookup(&s, "early").unwrap().record, r);
        assert_eq!(
            run(s.redeem_code(&c.hash)).unwrap(),
            CodeRedemption::Redeemed(Box::new(c))
        );
        let dup = run(s.create_grant(g2)).unwrap_err();
        assert_eq!(dup.kind(), StoreErrorKind::Conflict);
    }

    #[test]
    fn revoked_grant_drops_codes_and_active_tokens() {
        let s = MemoryStore::new();
        let g = grant("g1", "c", "alice", 3600);
        let other = grant("g2", "c", "alice", 3600);
        run(s.create_grant(g.clone())).unwrap();
        run(s.create_grant(other.clone())).unwrap();
        let used = code("used", &g, 60);
        let fresh = code("fresh", &g, 60);
        run(s.put_code(used.clone())).unwrap();
        run(s.put_code(fresh.clone())).unwrap();
        run(s.redeem_code(&used.hash)).unwrap();
        run(s.put_refresh_token(refresh("r1", &g, 600))).unwrap();
        run(s.rotate_refresh_token(&SecretHash::of("r1"), refresh("r2", &g, 600))).unwrap();
        run(s.put_refresh_token(refresh("o1", &other, 600))).unwrap();

        run(s.revoke_grant(&g.id)).unwrap();
        run(s.revoke_grant(&g.id)).unwrap();
        assert!(run(s.grant(&g.id)).unwrap().unwrap().revoked);
        assert_eq!(lookup(&s, "r2"), None, "the active token is gone");
        assert_eq!(
            run(s.rotate_refresh_token(&SecretHash::of("r2"), refresh("r3", &g, 600))).unwrap(),
            RefreshRotation::Unknown
        );
        assert_eq!(lookup(&s, "r3"), None);
        assert!(lookup(&s, "r1").unwrap().rotated, "reuse is still detected");
        assert_eq!(
            run(s.redeem_code(&fresh.hash)).unwrap(),
            CodeRedemption::Unknown
        );
        assert_eq!(
            run(s.redeem_code(&used.hash)).unwrap(),
            CodeRedemption::Replayed {
                grant_id: g.id.clone()
            }
        );
        // A revoked grant cannot be created again.
        let mut again = g.clone();
        again.revoked = false;
        assert_eq!(
            run(s.create_grant(again)).unwrap_err().kind(),
            StoreErrorKind::Conflict
        );
        assert!(run(s.grant(&g.id)).unwrap().unwrap().revoked);
        // The other grant is untouched.
        assert!(!lookup(&s, "o1").unwrap().rotated);

        // Purging drops what is left of the revoked grant's codes and tokens.
        s.purge_expired(t(1));
        let st = s.stats();
        assert_eq!((st.grants, st.codes, st.refresh_tokens), (2, 0, 1));
        assert_eq!(lookup(&s, "r1"), None);
    }

    #[test]
    fn revoke_grants_by_client_and_subject() {
        let s = MemoryStore::new();
        for (id, client, subject) in [
            ("g1", "c1", "alice"),
            ("g2", "c1", "bob"),
            ("g3", "c2", "alice"),
        ] {
            run(s.create_grant(grant(id, client, subject, 3600))).unwrap();
        }
        let mut cc = grant("g4", "c1", "x", 3600);
        cc.subject = None;
        run(s.create_grant(cc)).unwrap();
        run(s.put_refresh_token(refresh("r2", &grant("g2", "c1", "bob", 3600), 600))).unwrap();
        assert_eq!(run(s.revoke_grants("c1", Some("alice"))).unwrap(), 1);
        assert_eq!(run(s.revoke_grants("c1", Some("nobody"))).unwrap(), 0);
        assert_eq!(run(s.revoke_grants("nobody", None)).unwrap(), 0);
        assert_eq!(run(s.revoke_grants("c1", None)).unwrap(), 2);
        assert_eq!(run(s.revoke_grants("c1", None)).unwrap(), 0);
        let revoked = |id: &str| run(s.grant(&GrantId(id.into()))).unwrap().unwrap().revoked;
        assert!(revoked("g1") && revoked("g2") && !revoked("g3") && revoked("g4"));
        assert_eq!(lookup(&s, "r2"), None);
    }

    #[test]
    fn consents_and_revoked_access_tokens() {
        let s = MemoryStore::new();
        let c = Consent {
            subject: "alice".into(),
            client_id: "c1".into(),
            scopes: scopes("openid"),
            granted_at: t(0),
        };
        run(s.put_consent(c.clone())).unwrap();
        assert_eq!(run(s.consent("alice", "c1")).unwrap(), Some(c.clone()));
        assert_eq!(run(s.consent("alice", "c2")).unwrap(), None);
        let c2 = Consent {
            scopes: scopes("openid email"),
            ..c
        };
        run(s.put_consent(c2.clone())).unwrap();
        assert_eq!(run(s.consent("alice", "c1")).unwrap(), Some(c2));
        assert_eq!(s.stats().consents, 1);
        assert!(run(s.delete_consent("alice", "c1")).unwrap());
        assert!(!run(s.delete_consent("alice", "c1")).unwrap());
        assert_eq!(s.stats().consents, 0);

        assert!(!run(s.is_access_token_revoked("j1")).unwrap());
        run(s.revoke_access_token("j1", t(60))).unwrap();
        run(s.revoke_access_token("j1", t(6000))).unwrap();
        assert!(run(s.is_access_token_revoked("j1")).unwrap());
        s.purge_expired(t(59));
        assert!(run(s.is_access_token_revoked("j1")).unwrap());
        s.purge_expired(t(60));
        assert!(!run(s.is_access_token_revoked("j1")).unwrap());
    }

    #[test]
    fn purge_expired_removes_what_expired() {
        let s = MemoryStore::new();
        let g = grant("g1", "c", "alice", 1000);
        run(s.create_grant(g.clone())).unwrap();
        run(s.put_code(code("c-short", &g, 60))).unwrap();
        run(s.put_code(code("c-long", &g, 600))).unwrap();
        run(s.put_refresh_token(refresh("r-short", &g, 100))).unwrap();
        run(s.put_refresh_token(refresh("r-long", &g, 900))).unwrap();
        s.purge_expired(t(100));
        let st = s.stats();
        assert_eq!((st.grants, st.codes, st.refresh_tokens), (1, 1, 1));
        assert_eq!(lookup(&s, "r-short"), None);
        assert!(lookup(&s, "r-long").is_some());
        s.purge_expired(t(1000));
        let st = s.stats();
        assert_eq!((st.grants, st.codes, st.refresh_tokens), (0, 0, 0));
        assert_eq!(run(s.grant(&g.id)).unwrap(), None);
        // Everything is released: the same ids can be used again.
        run(s.create_grant(g)).unwrap();
    }

    struct TestClock(AtomicI64);
    impl Clock for TestClock {
        fn now(&self) -> OffsetDateTime {
            t(self.0.load(Ordering::Relaxed))
        }
    }

    #[test]
    fn auto_purge_with_a_clock() {
        let clock = Arc::new(TestClock(AtomicI64::new(0)));
        let s = MemoryStore::with_clock(clock.clone());
        let g = grant("g1", "c", "alice", 100_000);
        run(s.create_grant(g.clone())).unwrap();
        for i in 0..1000 {
            run(s.put_refresh_token(refresh(&format!("old-{i}"), &g, 10))).unwrap();
        }
        assert_eq!(s.stats().refresh_tokens, 1000);
        clock.0.store(20, Ordering::Relaxed);
        for i in 0..100 {
            run(s.put_refresh_token(refresh(&format!("new-{i}"), &g, 1000))).unwrap();
        }
        // The 1024th insert (the grant, 1000 old tokens, 23 new ones) purged the 1000 expired.
        assert_eq!(s.stats().refresh_tokens, 100);
        assert!(lookup(&s, "new-0").is_some());
        assert!(lookup(&s, "old-0").is_none());
    }

    #[test]
    fn concurrent_redeem_and_rotate_have_one_winner() {
        let s = MemoryStore::new();
        let g = grant("g1", "c", "alice", 3600);
        run(s.create_grant(g.clone())).unwrap();
        for round in 0..20 {
            let c = code(&format!("code-{round}"), &g, 60);
            run(s.put_code(c.clone())).unwrap();
            let r = refresh(&format!("r-{round}"), &g, 600);
            run(s.put_refresh_token(r.clone())).unwrap();
            let barrier = Barrier::new(16);
            let (redeemed, rotated) = std::thread::scope(|scope| {
                let handles: Vec<_> = (0..16)
                    .map(|i| {
                        let (s, c, r, g, barrier) = (s.clone(), &c, &r, &g, &barrier);
                        scope.spawn(move || {
                            barrier.wait();
                            let redeemed = run(s.redeem_code(&c.hash)).unwrap();
                            let next = refresh(&format!("r-{round}-{i}"), g, 600);
                            let rotated = run(s.rotate_refresh_token(&r.hash, next)).unwrap();
                            (redeemed, rotated)
                        })
                    })
                    .collect();
                let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
                let redeemed = results
                    .iter()
                    .filter(|(c, _)| matches!(c, CodeRedemption::Redeemed(_)))
                    .count();
                let rotated = results
                    .iter()
                    .filter(|(_, r)| *r == RefreshRotation::Rotated)
                    .count();
                for (c, r) in &results {
                    assert!(!matches!(c, CodeRedemption::Unknown));
                    assert_ne!(*r, RefreshRotation::Unknown);
                }
                (redeemed, rotated)
            });
            assert_eq!(redeemed, 1, "exactly one redemption wins");
            assert_eq!(rotated, 1, "exactly one rotation wins");
            let active = (0..16)
                .filter(|i| lookup(&s, &format!("r-{round}-{i}")).is_some())
                .count();
            assert_eq!(active, 1, "exactly one next token was stored");
        }
    }

    #[test]
    fn a_poisoned_lock_is_recovered() {
        let s = MemoryStore::new();
        let s2 = s.clone();
        let _ = std::thread::spawn(move || {
            let _guard = lock(&s2.inner.grants);
            panic!("poison the lock");
        })
        .join();
        assert!(s.inner.grants.is_poisoned());
        let g = grant("g1", "c", "alice", 3600);
        run(s.create_grant(g.clone())).unwrap();
        assert_eq!(run(s.grant(&g.id)).unwrap(), Some(g));
    }

    #[test]
    fn debug_shows_counts() {
        let s = MemoryStore::new();
        let dbg = format!("{s:?}");
        assert!(dbg.contains("refresh_tokens: 0"), "{dbg}");
    }

    /// A random source that counts how often it was asked.
    struct CountingRng(AtomicI64);
    impl Rng for CountingRng {
        fn fill(&self, dest: &mut [u8]) -> Result<(), RngError> {
            let n = self.0.fetch_add(1, Ordering::Relaxed);
            dest.fill(n as u8);
            Ok(())
        }
    }

    struct FailingRng;
    impl Rng for FailingRng {
        fn fill(&self, _: &mut [u8]) -> Result<(), RngError> {
            Err(RngError)
        }
    }

    #[test]
    fn users_authenticate() {
        let rng = Arc::new(CountingRng(AtomicI64::new(1)));
        let users = MemoryUsers::with_rng(rng.clone()).with_iterations(1000);
        let claims = UserClaims {
            email: Some("ada@example.com".into()),
            ..Default::default()
        };
        users
            .add_user("ada", "correct horse", "sub-ada", claims.clone())
            .unwrap();
        users
            .add_user("bob", "correct horse", "sub-bob", UserClaims::default())
            .unwrap();
        assert_eq!(
            rng.0.load(Ordering::Relaxed),
            3,
            "one salt per user, from the host's rng"
        );

        assert_eq!(
            run(users.authenticate("ada", "correct horse")).unwrap(),
            Some("sub-ada".into())
        );
        assert_eq!(
            run(users.authenticate("bob", "correct horse")).unwrap(),
            Some("sub-bob".into())
        );
        assert_eq!(
            run(users.authenticate("ada", "correct horse ")).unwrap(),
            None
        );
        assert_eq!(run(users.authenticate("ada", "")).unwrap(), None);
        assert_eq!(
            run(users.authenticate("nobody", "correct horse")).unwrap(),
            None
        );
        assert_eq!(
            run(users.claims("sub-ada")).unwrap(),
            Some(Arc::new(claims))
        );
        assert_eq!(run(users.claims("ada")).unwrap(), None);

        let dup = users
            .add_user("ada", "x", "sub-other", UserClaims::default())
            .unwrap_err();
        assert_eq!(dup.kind(), StoreErrorKind::Conflict);
        let dup = users
            .add_user("other", "x", "sub-ada", UserClaims::default())
            .unwrap_err();
        assert_eq!(dup.kind(), StoreErrorKind::Conflict);

        let new_claims = UserClaims {
            name: Some("Ada".into()),
            ..Default::default()
        };
        assert!(users.set_claims("sub-ada", new_claims.clone()));
        assert!(!users.set_claims("sub-nobody", new_claims.clone()));
        assert_eq!(
            run(users.claims("sub-ada")).unwrap(),
            Some(Arc::new(new_claims))
        );

        assert!(users.remove_user("bob"));
        assert!(!users.remove_user("bob"));
        assert_eq!(
            run(users.authenticate("bob", "correct horse")).unwrap(),
            None
        );
        assert_eq!(run(users.claims("sub-bob")).unwrap(), None);
        assert_eq!(users.len(), 1);

        let dbg = format!("{users:?}");
        assert_eq!(dbg, "MemoryUsers { users: 1, iterations: 1000, .. }");
    }

    #[test]
    fn users_need_a_working_rng() {
        let users = MemoryUsers::with_rng(Arc::new(FailingRng)).with_iterations(1);
        let err = users
            .add_user("ada", "pw", "sub", UserClaims::default())
            .unwrap_err();
        assert_eq!(err.kind(), StoreErrorKind::Backend);
        assert!(users.is_empty());
    }
}

/// The memory store against a plain reference model, over random sequences of operations.
#[cfg(test)]
mod model {
    use std::collections::{HashMap, HashSet};

    use proptest::prelude::*;
    use time::Duration;

    use super::tests::run;
    use super::*;
    use crate::scope::Scopes;
    use crate::store::{StoreError, StoreErrorKind};

    fn t(secs: u8) -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH + Duration::seconds(1_700_000_000 + i64::from(secs))
    }

    fn gid(i: u8) -> GrantId {
        // One id longer than 22 bytes, stored on the heap.
        if i == 3 {
            GrantId("grant-with-a-rather-long-identifier".into())
        } else {
            GrantId(format!("g{i}"))
        }
    }

    fn scopes(i: u8) -> Scopes {
        Scopes::parse(if i % 2 == 0 {
            "openid"
        } else {
            "openid offline_access"
        })
        .unwrap()
    }

    #[derive(Debug, Clone)]
    enum Op {
        CreateGrant {
            id: u8,
            client: u8,
            subject: Option<u8>,
            exp: u8,
            revoked: bool,
        },
        PutCode {
            secret: u8,
            id: u8,
            client: u8,
            subject: u8,
            exp: u8,
        },
        Redeem {
            secret: u8,
        },
        PutToken {
            secret: u8,
            id: u8,
            client: u8,
            subject: u8,
            scopes: u8,
            exp: u8,
        },
        Lookup {
            secret: u8,
        },
        Rotate {
            presented: u8,
            next: u8,
            id: u8,
            client: u8,
            subject: u8,
            scopes: u8,
            exp: u8,
        },
        Revoke {
            id: u8,
        },
        RevokeGrants {
            client: u8,
            subject: Option<u8>,
        },
        Grant {
            id: u8,
        },
        Purge {
            now: u8,
        },
    }

    fn op() -> impl Strategy<Value = Op> {
        let id = 0u8..4;
        let client = 0u8..2;
        let subject = 0u8..2;
        let secret = 0u8..8;
        let time = 0u8..12;
        prop_oneof![
            (
                id.clone(),
                client.clone(),
                proptest::option::of(subject.clone()),
                time.clone(),
                proptest::bool::weighted(0.1)
            )
                .prop_map(|(id, client, subject, exp, revoked)| Op::CreateGrant {
                    id,
                    client,
                    subject,
                    exp,
                    revoked
                }),
            (
                secret.clone(),
                id.clone(),
                client.clone(),
                subject.clone(),
                time.clone()
            )
                .prop_map(|(secret, id, client, subject, exp)| Op::PutCode {
                    secret,
                    id,
                    client,
                    subject,
                    exp
                }),
            secret.clone().prop_map(|secret| Op::Redeem { secret }),
            (
                secret.clone(),
                id.clone(),
                client.clone(),
                subject.clone(),
                0u8..2,
                time.clone()
            )
                .prop_map(|(secret, id, client, subject, scopes, exp)| Op::PutToken {
                    secret,
                    id,
                    client,
                    subject,
                    scopes,
                    exp
                }),
            secret.clone().prop_map(|secret| Op::Lookup { secret }),
            (
                secret.clone(),
                secret.clone(),
                id.clone(),
                client.clone(),
                subject.clone(),
                0u8..2,
                time.clone()
            )
                .prop_map(|(presented, next, id, client, subject, scopes, exp)| {
                    Op::Rotate {
                        presented,
                        next,
                        id,
                        client,
                        subject,
                        scopes,
                        exp,
                    }
                }),
            id.clone().prop_map(|id| Op::Revoke { id }),
            (client, proptest::option::of(subject))
                .prop_map(|(client, subject)| Op::RevokeGrants { client, subject }),
            id.prop_map(|id| Op::Grant { id }),
            time.prop_map(|now| Op::Purge { now }),
        ]
    }

    /// The reference: plain maps, every rule spelled out.
    #[derive(Default)]
    struct Reference {
        grants: HashMap<GrantId, Grant>,
        codes: HashMap<SecretHash, (CodeRecord, bool)>,
        tokens: HashMap<SecretHash, (RefreshRecord, bool)>,
        /// Per live family: client, subject, revoked.
        families: HashMap<GrantId, (String, Option<String>, bool)>,
    }

    fn kind<T>(r: &Result<T, StoreError>) -> Result<(), StoreErrorKind> {
        r.as_ref().map(|_| ()).map_err(StoreError::kind)
    }

    impl Reference {
        fn revoked(&self, id: &GrantId) -> bool {
            self.families.get(id).is_some_and(|f| f.2)
        }

        fn touch(&mut self, id: &GrantId, client: &str, subject: Option<&str>) {
            self.families
                .entry(id.clone())
                .or_insert_with(|| (client.to_owned(), subject.map(str::to_owned), false));
        }

        /// Families die when nothing refers to them.
        fn settle(&mut self) {
            let live: HashSet<GrantId> = self
                .grants
                .keys()
                .cloned()
                .chain(self.codes.values().map(|c| c.0.grant_id.clone()))
                .chain(self.tokens.values().map(|t| t.0.grant_id.clone()))
                .collect();
            self.families.retain(|id, _| live.contains(id));
        }

        fn create_grant(&mut self, g: Grant) -> Result<(), StoreErrorKind> {
            if self.grants.contains_key(&g.id) || self.revoked(&g.id) {
                return Err(StoreErrorKind::Conflict);
            }
            self.families.insert(
                g.id.clone(),
                (g.client_id.clone(), g.subject.clone(), g.revoked),
            );
            self.grants.insert(g.id.clone(), g);
            Ok(())
        }

        fn grant(&self, id: &GrantId) -> Option<Grant> {
            let mut g = self.grants.get(id)?.clone();
            g.revoked = self.revoked(id);
            Some(g)
        }

        fn put_code(&mut self, c: CodeRecord) -> Result<(), StoreErrorKind> {
            if self.codes.contains_key(&c.hash) {
                return Err(StoreErrorKind::Conflict);
            }
            self.touch(&c.grant_id, &c.client_id, Some(&c.subject));
            self.codes.insert(c.hash, (c, false));
            Ok(())
        }

        fn redeem(&mut self, h: &SecretHash) -> CodeRedemption {
            let Some((c, redeemed)) = self.codes.get(h).cloned() else {
                return CodeRedemption::Unknown;
            };
            if redeemed {
                return CodeRedemption::Replayed {
                    grant_id: c.grant_id,
                };
            }
            if self.revoked(&c.grant_id) {
                self.codes.remove(h);
                return CodeRedemption::Unknown;
            }
            self.codes.insert(*h, (c.clone(), true));
            CodeRedemption::Redeemed(Box::new(c))
        }

        fn put_token(&mut self, r: RefreshRecord) -> Result<(), StoreErrorKind> {
            if self.tokens.contains_key(&r.hash) {
                return Err(StoreErrorKind::Conflict);
            }
            self.touch(&r.grant_id, &r.client_id, Some(&r.subject));
            self.tokens.insert(r.hash, (r, false));
            Ok(())
        }

        fn lookup(&mut self, h: &SecretHash) -> Option<RefreshLookup> {
            let (r, rotated) = self.tokens.get(h).cloned()?;
            if self.revoked(&r.grant_id) && !rotated {
                self.tokens.remove(h);
                return None;
            }
            Some(RefreshLookup { record: r, rotated })
        }

        fn rotate(
            &mut self,
            h: &SecretHash,
            next: RefreshRecord,
        ) -> Result<RefreshRotation, StoreErrorKind> {
            let Some((r, rotated)) = self.tokens.get(h).cloned() else {
                return Ok(RefreshRotation::Unknown);
            };
            if rotated {
                return Ok(RefreshRotation::Reused {
                    grant_id: r.grant_id,
                });
            }
            if self.revoked(&r.grant_id) {
                self.tokens.remove(h);
                return Ok(RefreshRotation::Unknown);
            }
            if next.hash == *h || self.tokens.contains_key(&next.hash) {
                return Err(StoreErrorKind::Conflict);
            }
            self.put_token(next)?;
            self.tokens.insert(*h, (r, true));
            Ok(RefreshRotation::Rotated)
        }

        fn revoke(&mut self, id: &GrantId) {
            if let Some(f) = self.families.get_mut(id) {
                f.2 = true;
            }
        }

        fn revoke_grants(&mut self, client: &str, subject: Option<&str>) -> u64 {
            let mut n = 0;
            for (id, f) in self.families.iter_mut() {
                if f.2 || f.0 != client || subject.is_some_and(|s| f.1.as_deref() != Some(s)) {
                    continue;
                }
                f.2 = true;
                if self.grants.contains_key(id) {
                    n += 1;
                }
            }
            n
        }

        fn purge(&mut self, now: OffsetDateTime) {
            let revoked: HashSet<GrantId> = self
                .families
                .iter()
                .filter(|f| f.1 .2)
                .map(|f| f.0.clone())
                .collect();
            self.codes
                .retain(|_, c| c.0.expires_at > now && !revoked.contains(&c.0.grant_id));
            self.tokens
                .retain(|_, r| r.0.expires_at > now && !revoked.contains(&r.0.grant_id));
            self.grants.retain(|_, g| g.expires_at > now);
        }
    }

    fn check(ops: Vec<Op>) {
        let s = MemoryStore::new();
        let mut m = Reference::default();
        for (step, op) in ops.into_iter().enumerate() {
            let ctx = format!("step {step}: {op:?}");
            match op {
                Op::CreateGrant {
                    id,
                    client,
                    subject,
                    exp,
                    revoked,
                } => {
                    let g = Grant {
                        id: gid(id),
                        client_id: format!("c{client}"),
                        subject: subject.map(|s| format!("s{s}")),
                        scopes: scopes(client),
                        auth_time: subject.map(|_| t(0)),
                        created_at: t(0),
                        expires_at: t(exp),
                        revoked,
                    };
                    assert_eq!(
                        kind(&run(s.create_grant(g.clone()))),
                        m.create_grant(g),
                        "{ctx}"
                    );
                }
                Op::PutCode {
                    secret,
                    id,
                    client,
                    subject,
                    exp,
                } => {
                    let c = CodeRecord {
                        hash: SecretHash::of(&format!("code{secret}")),
                        grant_id: gid(id),
                        client_id: format!("c{client}"),
                        subject: format!("s{subject}"),
                        redirect_uri: None,
                        scopes: scopes(client),
                        nonce: Some("n".into()),
                        challenge: None,
                        auth_time: t(0),
                        expires_at: t(exp),
                    };
                    assert_eq!(kind(&run(s.put_code(c.clone()))), m.put_code(c), "{ctx}");
                }
                Op::Redeem { secret } => {
                    let h = SecretHash::of(&format!("code{secret}"));
                    assert_eq!(run(s.redeem_code(&h)).unwrap(), m.redeem(&h), "{ctx}");
                }
                Op::PutToken {
                    secret,
                    id,
                    client,
                    subject,
                    scopes: sc,
                    exp,
                } => {
                    let r = token(secret, id, client, subject, sc, exp);
                    assert_eq!(
                        kind(&run(s.put_refresh_token(r.clone()))),
                        m.put_token(r),
                        "{ctx}"
                    );
                }
                Op::Lookup { secret } => {
                    let h = SecretHash::of(&format!("token{secret}"));
                    assert_eq!(run(s.refresh_token(&h)).unwrap(), m.lookup(&h), "{ctx}");
                }
                Op::Rotate {
                    presented,
                    next,
                    id,
                    client,
                    subject,
                    scopes: sc,
                    exp,
                } => {
                    let h = SecretHash::of(&format!("token{presented}"));
                    let next = token(next, id, client, subject, sc, exp);
                    let got = run(s.rotate_refresh_token(&h, next.clone()));
                    let want = m.rotate(&h, next);
                    assert_eq!(got.map_err(|e| e.kind()), want, "{ctx}");
                }
                Op::Revoke { id } => {
                    run(s.revoke_grant(&gid(id))).unwrap();
                    m.revoke(&gid(id));
                }
                Op::RevokeGrants { client, subject } => {
                    let subject = subject.map(|s| format!("s{s}"));
                    let got =
                        run(s.revoke_grants(&format!("c{client}"), subject.as_deref())).unwrap();
                    assert_eq!(
                        got,
                        m.revoke_grants(&format!("c{client}"), subject.as_deref()),
                        "{ctx}"
                    );
                }
                Op::Grant { id } => {
                    assert_eq!(run(s.grant(&gid(id))).unwrap(), m.grant(&gid(id)), "{ctx}");
                }
                Op::Purge { now } => {
                    s.purge_expired(t(now));
                    m.purge(t(now));
                }
            }
            m.settle();
            let st = s.stats();
            assert_eq!(
                (st.grants, st.codes, st.refresh_tokens),
                (m.grants.len(), m.codes.len(), m.tokens.len()),
                "{ctx}"
            );
            let g = s.inner.grants.lock().unwrap();
            assert_eq!(g.family_count(), m.families.len(), "{ctx}: families");
        }
    }

    fn token(secret: u8, id: u8, client: u8, subject: u8, sc: u8, exp: u8) -> RefreshRecord {
        RefreshRecord {
            hash: SecretHash::of(&format!("token{secret}")),
            grant_id: gid(id),
            client_id: format!("c{client}"),
            subject: format!("s{subject}"),
            scopes: scopes(sc),
            auth_time: t(0),
            issued_at: t(0),
            expires_at: t(exp),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn memory_store_matches_the_reference(ops in proptest::collection::vec(op(), 1..60)) {
            check(ops);
        }
    }
}
