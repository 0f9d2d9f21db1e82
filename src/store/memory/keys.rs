//! Signing keys in memory (for tests and single-process hosts; keys kept in files or a
//! database survive a restart, these do not).

use super::{lock, MemoryStore};
use crate::store::{KeyStore, SigningKeyRecord, StoreResult};

impl KeyStore for MemoryStore {
    async fn signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        let mut keys = lock(&self.inner.signing_keys).clone();
        keys.sort_by(|a, b| (a.alg.as_str(), a.generation).cmp(&(b.alg.as_str(), b.generation)));
        Ok(keys)
    }

    async fn insert_signing_key(&self, key: SigningKeyRecord) -> StoreResult<bool> {
        let mut keys = lock(&self.inner.signing_keys);
        let taken = keys
            .iter()
            .any(|k| k.kid == key.kid || (k.alg == key.alg && k.generation == key.generation));
        if !taken {
            keys.push(key);
        }
        Ok(!taken)
    }

    async fn delete_signing_key(&self, kid: &str) -> StoreResult<bool> {
        let mut keys = lock(&self.inner.signing_keys);
        let before = keys.len();
        keys.retain(|k| k.kid != kid);
        Ok(keys.len() != before)
    }
}
