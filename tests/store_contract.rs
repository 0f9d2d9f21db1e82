//! The store contract kit (`opkit::test_kit`) run against the in-memory store, in plain
//! `cargo test` (the crate's dev-dependency on itself turns the `test-kit` feature on).

use opkit::store::{MemoryStore, MemoryUsers};
use opkit::test_kit;

#[tokio::test]
async fn memory_store_keeps_the_key_store_contract() {
    test_kit::check_key_store(MemoryStore::new).await;
}

#[tokio::test]
async fn memory_users_keep_the_user_store_contract() {
    let users = MemoryUsers::new().with_iterations(1_000);
    users
        .add_user(
            "kit-alice",
            "wonderland",
            "kit-alice-sub",
            Default::default(),
        )
        .unwrap();
    test_kit::check_user_store(&users, "kit-alice", "wonderland", "kit-alice-sub").await;
}

#[tokio::test]
async fn memory_store_keeps_the_client_store_contract() {
    test_kit::check_client_store(MemoryStore::new).await;
}

#[tokio::test]
async fn memory_store_keeps_the_store_contract() {
    test_kit::check_store(MemoryStore::new).await;
}

#[tokio::test]
async fn memory_store_is_atomic_under_threads() {
    test_kit::check_store_concurrency(MemoryStore::new).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_is_atomic_under_interleaved_futures() {
    test_kit::check_store_interleaved(MemoryStore::new).await;
}

#[tokio::test]
async fn memory_store_passes_every_check() {
    test_kit::check_all(MemoryStore::new).await;
}

/// The kit must catch broken stores too: a store whose code redemption is a read followed by a
/// separate write (correct one call at a time, not under races), and one that stores the next
/// refresh token even when it reports reuse. Each concern is its own `impl` block; the broken
/// store delegates every concern but the one with the flaw to a [`MemoryStore`].
mod broken_stores {
    use std::collections::HashMap;
    use std::future::Future;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use opkit::client::Client;
    use opkit::secret::SecretHash;
    use opkit::store::{
        ClientStore, CodeRecord, CodeRedemption, CodeStore, Consent, ConsentStore, Grant, GrantId,
        GrantStore, MemoryStore, RefreshLookup, RefreshRecord, RefreshReuse, RefreshRotation,
        RefreshTokenStore, RevokedTokenStore, SortOrder, StoreResult,
    };
    use opkit::test_kit;
    use time::OffsetDateTime;

    #[derive(Clone, Copy, Default)]
    enum Flaw {
        #[default]
        RacyRedeem,
        ReuseStoresNext,
        GraceIgnoresCount,
        GraceIgnoresWindow,
    }

    #[derive(Clone, Default)]
    struct Broken {
        inner: MemoryStore,
        flaw: Flaw,
        codes: Arc<Mutex<HashMap<SecretHash, (CodeRecord, bool)>>>,
    }

    impl Broken {
        fn with(flaw: Flaw) -> Self {
            Broken {
                flaw,
                ..Broken::default()
            }
        }
    }

    impl ClientStore for Broken {
        fn client(
            &self,
            client_id: &str,
        ) -> impl Future<Output = StoreResult<Option<Arc<Client>>>> + Send {
            self.inner.client(client_id)
        }
        fn client_by_id(
            &self,
            id: &str,
        ) -> impl Future<Output = StoreResult<Option<Arc<Client>>>> + Send {
            self.inner.client_by_id(id)
        }
        fn insert_client(&self, client: Client) -> impl Future<Output = StoreResult<()>> + Send {
            self.inner.insert_client(client)
        }
        fn update_client(&self, client: Client) -> impl Future<Output = StoreResult<bool>> + Send {
            self.inner.update_client(client)
        }
        fn delete_client(
            &self,
            id: &str,
        ) -> impl Future<Output = StoreResult<Option<Arc<Client>>>> + Send {
            self.inner.delete_client(id)
        }
        fn list_clients(
            &self,
            after: Option<&str>,
            limit: usize,
            order: SortOrder,
        ) -> impl Future<Output = StoreResult<Vec<Arc<Client>>>> + Send {
            self.inner.list_clients(after, limit, order)
        }
        fn origin_allowed(&self, origin: &str) -> impl Future<Output = StoreResult<bool>> + Send {
            self.inner.origin_allowed(origin)
        }
    }

    impl GrantStore for Broken {
        fn create_grant(&self, grant: Grant) -> impl Future<Output = StoreResult<()>> + Send {
            self.inner.create_grant(grant)
        }
        fn grant(&self, id: &GrantId) -> impl Future<Output = StoreResult<Option<Grant>>> + Send {
            self.inner.grant(id)
        }
        fn revoke_grant(&self, id: &GrantId) -> impl Future<Output = StoreResult<()>> + Send {
            self.inner.revoke_grant(id)
        }
        fn revoke_grants(
            &self,
            client_id: &str,
            subject: Option<&str>,
        ) -> impl Future<Output = StoreResult<u64>> + Send {
            self.inner.revoke_grants(client_id, subject)
        }
        fn purge_expired_grants(
            &self,
            now: OffsetDateTime,
            limit: usize,
        ) -> impl Future<Output = StoreResult<u64>> + Send {
            self.inner.purge_expired_grants(now, limit)
        }
    }

    impl CodeStore for Broken {
        async fn put_code(&self, code: CodeRecord) -> StoreResult<()> {
            if let Flaw::RacyRedeem = self.flaw {
                self.codes.lock().unwrap().insert(code.hash, (code, false));
                Ok(())
            } else {
                self.inner.put_code(code).await
            }
        }
        async fn redeem_code(&self, hash: &SecretHash) -> StoreResult<CodeRedemption> {
            if !matches!(self.flaw, Flaw::RacyRedeem) {
                return self.inner.redeem_code(hash).await;
            }
            let found = self.codes.lock().unwrap().get(hash).cloned();
            Ok(match found {
                None => CodeRedemption::Unknown,
                Some((record, true)) => CodeRedemption::Replayed {
                    grant_id: record.grant_id,
                },
                Some((record, false)) => {
                    std::thread::sleep(Duration::from_millis(2));
                    self.codes
                        .lock()
                        .unwrap()
                        .insert(*hash, (record.clone(), true));
                    CodeRedemption::Redeemed(Box::new(record))
                }
            })
        }
        async fn purge_expired_codes(&self, now: OffsetDateTime, limit: usize) -> StoreResult<u64> {
            if !matches!(self.flaw, Flaw::RacyRedeem) {
                return self.inner.purge_expired_codes(now, limit).await;
            }
            let mut codes = self.codes.lock().unwrap();
            let due: Vec<SecretHash> = codes
                .iter()
                .filter(|(_, (c, _))| c.expires_at <= now)
                .map(|(h, _)| *h)
                .take(limit)
                .collect();
            for hash in &due {
                codes.remove(hash);
            }
            Ok(due.len() as u64)
        }
    }

    impl RefreshTokenStore for Broken {
        fn put_refresh_token(
            &self,
            token: RefreshRecord,
        ) -> impl Future<Output = StoreResult<()>> + Send {
            self.inner.put_refresh_token(token)
        }
        fn refresh_token(
            &self,
            hash: &SecretHash,
        ) -> impl Future<Output = StoreResult<Option<RefreshLookup>>> + Send {
            self.inner.refresh_token(hash)
        }
        async fn rotate_refresh_token(
            &self,
            presented: &SecretHash,
            next: RefreshRecord,
        ) -> StoreResult<RefreshRotation> {
            let out = self
                .inner
                .rotate_refresh_token(presented, next.clone())
                .await;
            if let (Flaw::ReuseStoresNext, Ok(RefreshRotation::Reused { .. })) = (self.flaw, &out) {
                self.inner.put_refresh_token(next).await?;
            }
            out
        }
        fn reuse_rotated_refresh_token(
            &self,
            presented: &SecretHash,
            window_start: OffsetDateTime,
            max_reuses: u32,
            next: RefreshRecord,
        ) -> impl Future<Output = StoreResult<RefreshReuse>> + Send {
            let (window_start, max_reuses) = match self.flaw {
                Flaw::GraceIgnoresCount => (window_start, u32::MAX),
                Flaw::GraceIgnoresWindow => (OffsetDateTime::UNIX_EPOCH, max_reuses),
                _ => (window_start, max_reuses),
            };
            self.inner
                .reuse_rotated_refresh_token(presented, window_start, max_reuses, next)
        }
        fn purge_expired_refresh_tokens(
            &self,
            now: OffsetDateTime,
            limit: usize,
        ) -> impl Future<Output = StoreResult<u64>> + Send {
            self.inner.purge_expired_refresh_tokens(now, limit)
        }
    }

    impl ConsentStore for Broken {
        fn consent(
            &self,
            subject: &str,
            client_id: &str,
        ) -> impl Future<Output = StoreResult<Option<Consent>>> + Send {
            self.inner.consent(subject, client_id)
        }
        fn put_consent(&self, consent: Consent) -> impl Future<Output = StoreResult<()>> + Send {
            self.inner.put_consent(consent)
        }
        fn delete_consent(
            &self,
            subject: &str,
            client_id: &str,
        ) -> impl Future<Output = StoreResult<bool>> + Send {
            self.inner.delete_consent(subject, client_id)
        }
    }

    impl RevokedTokenStore for Broken {
        fn revoke_access_token(
            &self,
            jti: &str,
            expires_at: OffsetDateTime,
        ) -> impl Future<Output = StoreResult<()>> + Send {
            self.inner.revoke_access_token(jti, expires_at)
        }
        fn is_access_token_revoked(
            &self,
            jti: &str,
        ) -> impl Future<Output = StoreResult<bool>> + Send {
            self.inner.is_access_token_revoked(jti)
        }
        fn purge_revoked_access_tokens(
            &self,
            now: OffsetDateTime,
            limit: usize,
        ) -> impl Future<Output = StoreResult<u64>> + Send {
            self.inner.purge_revoked_access_tokens(now, limit)
        }
    }

    #[tokio::test]
    async fn a_racy_redeem_passes_one_call_at_a_time() {
        test_kit::check_store(|| Broken::with(Flaw::RacyRedeem)).await;
    }

    #[tokio::test]
    #[should_panic(expected = "redeem_code is atomic")]
    async fn the_kit_catches_a_racy_redeem() {
        test_kit::check_store_concurrency(|| Broken::with(Flaw::RacyRedeem)).await;
    }

    #[tokio::test]
    #[should_panic(expected = "a reuse stores no next token")]
    async fn the_kit_catches_a_reuse_that_stores_the_next_token() {
        test_kit::check_store(|| Broken::with(Flaw::ReuseStoresNext)).await;
    }

    #[tokio::test]
    #[should_panic(expected = "past the count is Refused")]
    async fn the_kit_catches_a_grace_reuse_past_the_count() {
        test_kit::check_store(|| Broken::with(Flaw::GraceIgnoresCount)).await;
    }

    #[tokio::test]
    #[should_panic(expected = "rotated before window_start is Refused")]
    async fn the_kit_catches_a_grace_reuse_after_the_window() {
        test_kit::check_store(|| Broken::with(Flaw::GraceIgnoresWindow)).await;
    }
}
