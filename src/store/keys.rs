//! Signing keys kept in the store, so every instance on one database signs with the same keys.

use std::fmt;
use std::future::Future;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::StoreResult;
use crate::jose::Algorithm;

/// A signing key as stored. The private key is opaque bytes to the store: a PKCS#8 PEM, or that
/// PEM encrypted by the host with a key-encryption key (`opkit-axum` does both). `Debug` leaves
/// it out.
///
/// Keys of one algorithm form a sequence of generations: generation 0 is the first key, each
/// rotation adds the next. At most one record exists per `(alg, generation)`, so instances
/// racing to create or rotate a key agree on one winner. The key that signs is the one of the
/// highest generation whose `activates_at` has passed; a later generation is published ahead
/// of it (so relying parties that cache the JWKS know it before it signs), earlier ones are
/// published for verification until tokens they signed have expired.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningKeyRecord {
    /// The key id (`kid`), unique.
    pub kid: String,
    /// The algorithm.
    pub alg: Algorithm,
    /// Its place in the sequence of keys of `alg`.
    pub generation: u32,
    /// The private key, as the host wrote it.
    pub private_key: Vec<u8>,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// From when it signs (until a later generation activates).
    #[serde(with = "time::serde::rfc3339")]
    pub activates_at: OffsetDateTime,
}

impl fmt::Debug for SigningKeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKeyRecord")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("generation", &self.generation)
            .field("created_at", &self.created_at)
            .field("activates_at", &self.activates_at)
            .finish_non_exhaustive()
    }
}

/// Signing keys shared by every instance on one store.
///
/// The provider itself never calls it: the host (or `opkit-axum`) loads the keys at start,
/// creates generation 0 of an algorithm that has none, and reloads periodically so a rotation
/// made by one instance reaches the others. It is not part of [`Store`](super::Store), so a host
/// that loads keys from files implements nothing for it.
///
/// SQL sketch: `signing_keys(kid PRIMARY KEY, alg, generation, private_key, created_at,
/// activates_at, UNIQUE (alg, generation))`.
pub trait KeyStore: Send + Sync {
    /// Every stored key, ordered by algorithm name then generation.
    ///
    /// SQL: `SELECT … FROM signing_keys ORDER BY alg, generation`.
    fn signing_keys(&self) -> impl Future<Output = StoreResult<Vec<SigningKeyRecord>>> + Send;

    /// Insert a key unless one of the same `(alg, generation)` or the same `kid` exists.
    /// Returns whether it was inserted: `false` means another instance created that generation
    /// first (the caller reloads and uses theirs). Atomic: of concurrent inserts for one
    /// generation exactly one returns `true`.
    ///
    /// SQL: `INSERT INTO signing_keys … ON CONFLICT DO NOTHING` (one row inserted or none).
    fn insert_signing_key(
        &self,
        key: SigningKeyRecord,
    ) -> impl Future<Output = StoreResult<bool>> + Send;

    /// Delete the key with this `kid` (a retired key no token can need any more). Returns
    /// whether one existed.
    ///
    /// SQL: `DELETE FROM signing_keys WHERE kid = $1`.
    fn delete_signing_key(&self, kid: &str) -> impl Future<Output = StoreResult<bool>> + Send;
}
