//! The store contract kit (`opkit::test_kit`) run against the in-memory store.
#![cfg(feature = "test-kit")]

use opkit::store::MemoryStore;
use opkit::test_kit;

#[tokio::test]
async fn memory_store_keeps_the_client_store_contract() {
    test_kit::check_client_store(MemoryStore::new).await;
}

#[tokio::test]
async fn memory_store_keeps_the_grant_store_contract() {
    test_kit::check_grant_store(MemoryStore::new).await;
}

#[tokio::test]
async fn memory_store_is_atomic_under_threads() {
    test_kit::check_grant_store_concurrency(MemoryStore::new).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_is_atomic_under_interleaved_futures() {
    test_kit::check_grant_store_interleaved(MemoryStore::new).await;
}

#[tokio::test]
async fn memory_store_with_a_clock_keeps_the_contracts() {
    let clock = std::sync::Arc::new(opkit::host::SystemClock);
    test_kit::check_grant_store(|| MemoryStore::with_clock(clock.clone())).await;
    test_kit::check_grant_store_concurrency(|| MemoryStore::with_clock(clock.clone())).await;
}

/// The kit must catch broken stores too: a store whose code redemption is a read followed by a
/// separate write (correct one call at a time, not under races), and one that stores the next
/// refresh token even when it reports reuse.
mod broken_stores {
    use std::collections::HashMap;
    use std::future::Future;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use opkit::secret::SecretHash;
    use opkit::store::{
        CodeRecord, CodeRedemption, Consent, Grant, GrantId, GrantStore, MemoryStore,
        RefreshLookup, RefreshRecord, RefreshRotation, StoreResult,
    };
    use opkit::test_kit;
    use time::OffsetDateTime;

    #[derive(Clone, Copy, Default)]
    enum Flaw {
        #[default]
        RacyRedeem,
        ReuseStoresNext,
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
        async fn put_code(&self, code: CodeRecord) -> StoreResult<()> {
            if let Flaw::RacyRedeem = self.flaw {
                self.codes.lock().unwrap().insert(code.hash, (code, false));
                Ok(())
            } else {
                self.inner.put_code(code).await
            }
        }
        async fn redeem_code(&self, hash: &SecretHash) -> StoreResult<CodeRedemption> {
            if let Flaw::ReuseStoresNext = self.flaw {
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
    }

    #[tokio::test]
    async fn a_racy_redeem_passes_one_call_at_a_time() {
        test_kit::check_grant_store(|| Broken::with(Flaw::RacyRedeem)).await;
    }

    #[tokio::test]
    #[should_panic(expected = "redeem_code is atomic")]
    async fn the_kit_catches_a_racy_redeem() {
        test_kit::check_grant_store_concurrency(|| Broken::with(Flaw::RacyRedeem)).await;
    }

    #[tokio::test]
    #[should_panic(expected = "a reuse stores no next token")]
    async fn the_kit_catches_a_reuse_that_stores_the_next_token() {
        test_kit::check_grant_store(|| Broken::with(Flaw::ReuseStoresNext)).await;
    }
}
