//! Grants, codes, refresh tokens, consents and revoked access tokens of the memory store: one
//! `impl` block per concern.

use std::sync::Arc;

use time::OffsetDateTime;

use super::{
    lock, purge_some, read, write, CodeEntry, GrantEntry, Instant, MemoryStore, RefreshEntry,
    Rotation,
};
use crate::secret::SecretHash;
use crate::store::{
    CodeRecord, CodeRedemption, CodeStore, Consent, ConsentStore, Grant, GrantId, GrantStore,
    RefreshLookup, RefreshRecord, RefreshReuse, RefreshRotation, RefreshTokenStore,
    RevokedTokenStore, StoreError, StoreResult,
};

impl MemoryStore {
    fn grant_entry(&self, grant: Grant) -> (Arc<str>, Box<GrantEntry>) {
        let entry = GrantEntry {
            client_id: self.name(&grant.client_id),
            subject: grant.subject.as_deref().map(|s| self.name(s)),
            scopes: self.scopes(&grant.scopes),
            auth_time: grant.auth_time,
            created_at: grant.created_at,
            expires_at: grant.expires_at.into(),
            revoked: grant.revoked,
            resource: grant.resource.as_deref().map(|r| self.name(r)),
        };
        (Arc::from(grant.id.0), Box::new(entry))
    }

    fn refresh_entry(&self, token: RefreshRecord) -> (SecretHash, Box<RefreshEntry>) {
        let entry = RefreshEntry {
            grant_id: self.grant_key(&token.grant_id.0),
            client_id: self.name(&token.client_id),
            subject: self.name(&token.subject),
            scopes: self.scopes(&token.scopes),
            auth_time: token.auth_time,
            issued_at: token.issued_at,
            expires_at: token.expires_at.into(),
            rotation: None,
        };
        (token.hash, Box::new(entry))
    }
}

fn grant_of(id: &str, g: &GrantEntry) -> Grant {
    Grant {
        id: GrantId(id.to_owned()),
        client_id: g.client_id.to_string(),
        subject: g.subject.as_deref().map(str::to_owned),
        scopes: g.scopes.clone(),
        auth_time: g.auth_time,
        created_at: g.created_at,
        expires_at: g.expires_at.to_datetime(),
        revoked: g.revoked,
        resource: g.resource.as_deref().map(str::to_owned),
    }
}

fn refresh_of(hash: SecretHash, t: &RefreshEntry) -> RefreshRecord {
    RefreshRecord {
        hash,
        grant_id: GrantId(t.grant_id.to_string()),
        client_id: t.client_id.to_string(),
        subject: t.subject.to_string(),
        scopes: t.scopes.clone(),
        auth_time: t.auth_time,
        issued_at: t.issued_at,
        expires_at: t.expires_at.to_datetime(),
    }
}

impl GrantStore for MemoryStore {
    async fn create_grant(&self, grant: Grant) -> StoreResult<()> {
        let (id, entry) = self.grant_entry(grant);
        let mut grants = write(&self.inner.grants);
        if grants.contains_key(&id) {
            return Err(StoreError::conflict("a grant with this id exists"));
        }
        grants.insert(id, entry);
        Ok(())
    }

    async fn grant(&self, id: &GrantId) -> StoreResult<Option<Grant>> {
        Ok(read(&self.inner.grants)
            .get(id.0.as_str())
            .map(|g| grant_of(&id.0, g)))
    }

    async fn revoke_grant(&self, id: &GrantId) -> StoreResult<()> {
        if let Some(grant) = write(&self.inner.grants).get_mut(id.0.as_str()) {
            grant.revoked = true;
        }
        Ok(())
    }

    /// Visits every grant.
    async fn revoke_grants(&self, client_id: &str, subject: Option<&str>) -> StoreResult<u64> {
        let mut revoked = 0;
        for grant in write(&self.inner.grants).values_mut() {
            let matches = &*grant.client_id == client_id
                && subject.is_none_or(|s| grant.subject.as_deref() == Some(s));
            if matches && !grant.revoked {
                grant.revoked = true;
                revoked += 1;
            }
        }
        Ok(revoked)
    }

    async fn purge_expired_grants(&self, now: OffsetDateTime, limit: usize) -> StoreResult<u64> {
        let purged = {
            let mut grants = write(&self.inner.grants);
            let now = Instant::from(now);
            purge_some(&mut grants, limit, |g| g.expires_at <= now)
        };
        // Grants are purged last (Store::purge_expired): forget what nothing names any more.
        self.forget_unused();
        Ok(purged)
    }
}

impl CodeStore for MemoryStore {
    async fn put_code(&self, code: CodeRecord) -> StoreResult<()> {
        let mut codes = lock(&self.inner.codes);
        if codes.contains_key(&code.hash) {
            return Err(StoreError::conflict("a code with this hash exists"));
        }
        codes.insert(code.hash, CodeEntry::Issued(code));
        Ok(())
    }

    /// The record moves out to the caller; the code stays as a tombstone (grant and expiry)
    /// that recognises a replay until it expires.
    async fn redeem_code(&self, hash: &SecretHash) -> StoreResult<CodeRedemption> {
        let mut codes = lock(&self.inner.codes);
        let Some(entry) = codes.get_mut(hash) else {
            return Ok(CodeRedemption::Unknown);
        };
        let (grant_id, expires_at) = match &*entry {
            CodeEntry::Redeemed { grant_id, .. } => {
                return Ok(CodeRedemption::Replayed {
                    grant_id: grant_id.clone(),
                })
            }
            CodeEntry::Issued(record) => (record.grant_id.clone(), record.expires_at),
        };
        match std::mem::replace(
            entry,
            CodeEntry::Redeemed {
                grant_id,
                expires_at,
            },
        ) {
            CodeEntry::Issued(record) => Ok(CodeRedemption::Redeemed(Box::new(record))),
            CodeEntry::Redeemed { grant_id, .. } => Ok(CodeRedemption::Replayed { grant_id }),
        }
    }

    async fn purge_expired_codes(&self, now: OffsetDateTime, limit: usize) -> StoreResult<u64> {
        let mut codes = lock(&self.inner.codes);
        Ok(purge_some(&mut codes, limit, |c| c.expires_at() <= now))
    }
}

impl RefreshTokenStore for MemoryStore {
    async fn put_refresh_token(&self, token: RefreshRecord) -> StoreResult<()> {
        let (hash, entry) = self.refresh_entry(token);
        let mut tokens = lock(&self.inner.refresh_tokens);
        if tokens.contains_key(&hash) {
            return Err(StoreError::conflict(
                "a refresh token with this hash exists",
            ));
        }
        tokens.insert(hash, entry);
        Ok(())
    }

    async fn refresh_token(&self, hash: &SecretHash) -> StoreResult<Option<RefreshLookup>> {
        Ok(lock(&self.inner.refresh_tokens)
            .get(hash)
            .map(|entry| RefreshLookup {
                record: refresh_of(*hash, entry),
                rotated: entry.rotation.is_some(),
            }))
    }

    /// A conflict (and nothing changes) if `next`'s hash is in use.
    async fn rotate_refresh_token(
        &self,
        presented: &SecretHash,
        next: RefreshRecord,
    ) -> StoreResult<RefreshRotation> {
        let at = Instant::from(next.issued_at);
        let (next_hash, next) = self.refresh_entry(next);
        let mut tokens = lock(&self.inner.refresh_tokens);
        let taken = tokens.contains_key(&next_hash);
        let Some(entry) = tokens.get_mut(presented) else {
            return Ok(RefreshRotation::Unknown);
        };
        if entry.rotation.is_some() {
            return Ok(RefreshRotation::Reused {
                grant_id: GrantId(entry.grant_id.to_string()),
            });
        }
        if taken {
            return Err(StoreError::conflict(
                "a refresh token with this hash exists",
            ));
        }
        entry.rotation = Some(Box::new(Rotation { at, reuses: 0 }));
        tokens.insert(next_hash, next);
        Ok(RefreshRotation::Rotated)
    }

    /// A conflict (and nothing changes) if `next`'s hash is in use.
    async fn reuse_rotated_refresh_token(
        &self,
        presented: &SecretHash,
        window_start: OffsetDateTime,
        max_reuses: u32,
        next: RefreshRecord,
    ) -> StoreResult<RefreshReuse> {
        let window_start = Instant::from(window_start);
        let (next_hash, next) = self.refresh_entry(next);
        let mut tokens = lock(&self.inner.refresh_tokens);
        let taken = tokens.contains_key(&next_hash);
        let Some(entry) = tokens.get_mut(presented) else {
            return Ok(RefreshReuse::Unknown);
        };
        let rotation = match entry.rotation.as_deref_mut() {
            Some(r) if r.at >= window_start && r.reuses < max_reuses => r,
            _ => {
                return Ok(RefreshReuse::Refused {
                    grant_id: GrantId(entry.grant_id.to_string()),
                })
            }
        };
        if taken {
            return Err(StoreError::conflict(
                "a refresh token with this hash exists",
            ));
        }
        rotation.reuses += 1;
        tokens.insert(next_hash, next);
        Ok(RefreshReuse::Granted)
    }

    async fn purge_expired_refresh_tokens(
        &self,
        now: OffsetDateTime,
        limit: usize,
    ) -> StoreResult<u64> {
        let mut tokens = lock(&self.inner.refresh_tokens);
        let now = Instant::from(now);
        Ok(purge_some(&mut tokens, limit, |t| t.expires_at <= now))
    }
}

impl ConsentStore for MemoryStore {
    async fn consent(&self, subject: &str, client_id: &str) -> StoreResult<Option<Consent>> {
        let consents = read(&self.inner.consents);
        Ok(consents
            .get(subject)
            .and_then(|of_subject| of_subject.get(client_id))
            .cloned())
    }

    async fn put_consent(&self, consent: Consent) -> StoreResult<()> {
        write(&self.inner.consents)
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
}

impl RevokedTokenStore for MemoryStore {
    /// Keeps the first expiry given for a `jti`.
    async fn revoke_access_token(&self, jti: &str, expires_at: OffsetDateTime) -> StoreResult<()> {
        write(&self.inner.revoked)
            .entry(jti.to_owned())
            .or_insert(expires_at.into());
        Ok(())
    }

    async fn is_access_token_revoked(&self, jti: &str) -> StoreResult<bool> {
        Ok(read(&self.inner.revoked).contains_key(jti))
    }

    async fn purge_revoked_access_tokens(
        &self,
        now: OffsetDateTime,
        limit: usize,
    ) -> StoreResult<u64> {
        let mut revoked = write(&self.inner.revoked);
        let now = Instant::from(now);
        Ok(purge_some(&mut revoked, limit, |expires_at| {
            *expires_at <= now
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::pin;
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};

    use time::Duration;

    use super::*;
    use crate::scope::Scopes;
    use crate::store::Store;

    struct Noop;
    impl Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }

    /// The memory store's futures finish on their first poll.
    fn run<F: Future>(f: F) -> F::Output {
        let waker = Waker::from(Arc::new(Noop));
        match pin!(f).poll(&mut Context::from_waker(&waker)) {
            Poll::Ready(v) => v,
            Poll::Pending => panic!("a memory store future was pending"),
        }
    }

    fn t(secs: i64) -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH + Duration::seconds(1_700_000_000 + secs)
    }

    fn grant(id: &str, expires: i64) -> Grant {
        Grant {
            id: GrantId(id.into()),
            client_id: "c".into(),
            subject: Some("alice".into()),
            scopes: Scopes::parse("openid").unwrap(),
            auth_time: Some(t(0)),
            created_at: t(0),
            expires_at: t(expires),
            revoked: false,
            resource: None,
        }
    }

    fn refresh(token: &str, grant: &Grant, expires: i64) -> RefreshRecord {
        RefreshRecord {
            hash: SecretHash::of(token),
            grant_id: grant.id.clone(),
            client_id: grant.client_id.clone(),
            subject: "alice".into(),
            scopes: grant.scopes.clone(),
            auth_time: t(0),
            issued_at: t(0),
            expires_at: t(expires),
        }
    }

    #[test]
    fn purge_removes_exactly_what_expired_in_bounded_batches() {
        let store = MemoryStore::new();
        for i in 0..10 {
            let g = grant(&format!("g{i}"), if i < 7 { 10 } else { 100 });
            run(store.create_grant(g.clone())).unwrap();
            run(store.put_refresh_token(refresh(&format!("r{i}"), &g, 10 + i))).unwrap();
        }
        // A batch of 3 removes 3 of the 7 due grants.
        assert_eq!(run(store.purge_expired_grants(t(10), 3)).unwrap(), 3);
        assert_eq!(store.stats().grants, 7);
        // The whole purge drains the rest in batches.
        let counts = run(store.purge_expired(t(12), 2)).unwrap();
        assert_eq!(counts.grants, 4);
        assert_eq!(counts.refresh_tokens, 3); // expiring at 10, 11 and 12
        assert_eq!(store.stats().grants, 3);
        assert_eq!(store.stats().refresh_tokens, 7);
        assert!(run(store.grant(&GrantId("g9".into()))).unwrap().is_some());
        assert!(run(store.refresh_token(&SecretHash::of("r2")))
            .unwrap()
            .is_none());
        assert!(run(store.refresh_token(&SecretHash::of("r3")))
            .unwrap()
            .is_some());
    }

    #[test]
    fn names_and_scope_sets_are_shared_and_forgotten_with_their_records() {
        let store = MemoryStore::new();
        for i in 0..3 {
            let g = grant(&format!("g{i}"), 10);
            run(store.create_grant(g.clone())).unwrap();
            run(store.put_refresh_token(refresh(&format!("r{i}"), &g, 10))).unwrap();
        }
        // One client id, one subject, one scope set, whatever the number of records.
        assert_eq!(store.inner.names.len(), 2);
        assert_eq!(store.inner.scope_sets.len(), 1);
        let got = run(store.grant(&GrantId("g1".into()))).unwrap().unwrap();
        assert_eq!(got, grant("g1", 10));
        let token = run(store.refresh_token(&SecretHash::of("r2")))
            .unwrap()
            .unwrap();
        assert_eq!(token.record, refresh("r2", &grant("g2", 10), 10));
        // Once every record naming them is purged (and nothing else holds them), they are
        // forgotten.
        drop((got, token));
        run(store.purge_expired(t(10), 100)).unwrap();
        assert_eq!(store.stats().grants + store.stats().refresh_tokens, 0);
        assert_eq!(store.inner.names.len(), 0);
        assert_eq!(store.inner.scope_sets.len(), 0);
    }

    #[test]
    fn a_reused_rotation_stores_nothing() {
        let store = MemoryStore::new();
        let g = grant("g", 100);
        run(store.put_refresh_token(refresh("r1", &g, 100))).unwrap();
        let r2 = refresh("r2", &g, 100);
        assert_eq!(
            run(store.rotate_refresh_token(&SecretHash::of("r1"), r2.clone())).unwrap(),
            RefreshRotation::Rotated
        );
        let r3 = refresh("r3", &g, 100);
        assert_eq!(
            run(store.rotate_refresh_token(&SecretHash::of("r1"), r3)).unwrap(),
            RefreshRotation::Reused {
                grant_id: g.id.clone()
            }
        );
        assert!(run(store.refresh_token(&SecretHash::of("r3")))
            .unwrap()
            .is_none());
        // A next token whose hash is taken is a conflict, and the presented one stays active.
        let err = run(store.rotate_refresh_token(&SecretHash::of("r2"), r2)).unwrap_err();
        assert_eq!(err.kind(), crate::store::StoreErrorKind::Conflict);
        let lookup = run(store.refresh_token(&SecretHash::of("r2")))
            .unwrap()
            .unwrap();
        assert!(!lookup.rotated);
    }

    #[test]
    fn grace_bookkeeping_leaves_an_active_token_as_small_as_before() {
        // `rotation` is one pointer where a `bool` was: the padding of the entry absorbs it.
        assert!(
            std::mem::size_of::<RefreshEntry>() <= 112,
            "{}",
            std::mem::size_of::<RefreshEntry>()
        );
    }
}
