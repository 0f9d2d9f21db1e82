//! Signing keys kept in the host's [`KeyStore`], shared by every instance on one database.

use std::fmt;
use std::sync::Arc;

use opkit::host::Rng;
use opkit::jose::{Algorithm, KeyError, KeySet, SigningKey};
use opkit::store::{KeyStore, SigningKeyRecord, StoreError};
use time::{Duration, OffsetDateTime};

use super::kek::{KeyEncryptionKey, FINGERPRINT_LEN};

/// The first byte of a stored private key: how the rest is written.
const PLAIN: u8 = 0;
const SEALED: u8 = 1;

/// Loading, creating or rotating stored keys failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum StoredKeyError {
    /// The store failed.
    Store(StoreError),
    /// A stored key is encrypted and no key-encryption key was given.
    NeedsKek {
        /// The key.
        kid: String,
    },
    /// A stored key was encrypted with another key-encryption key than the one given.
    WrongKek {
        /// The key.
        kid: String,
    },
    /// A stored key is not readable: damaged, or written by something else.
    Corrupt {
        /// The key.
        kid: String,
    },
    /// A stored key (or a new one) is not a usable key.
    Key(KeyError),
}

impl fmt::Display for StoredKeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoredKeyError::Store(e) => write!(f, "signing keys: {e}"),
            StoredKeyError::NeedsKek { kid } => write!(
                f,
                "signing key {kid} is encrypted: give the key-encryption key it was stored with"
            ),
            StoredKeyError::WrongKek { kid } => write!(
                f,
                "signing key {kid} was encrypted with a different key-encryption key"
            ),
            StoredKeyError::Corrupt { kid } => {
                write!(f, "signing key {kid} is damaged and does not open")
            }
            StoredKeyError::Key(e) => write!(f, "signing keys: {e}"),
        }
    }
}

impl std::error::Error for StoredKeyError {}

impl From<StoreError> for StoredKeyError {
    fn from(e: StoreError) -> Self {
        StoredKeyError::Store(e)
    }
}

impl From<KeyError> for StoredKeyError {
    fn from(e: KeyError) -> Self {
        StoredKeyError::Key(e)
    }
}

/// The provider's signing keys in a [`KeyStore`], so every instance on one database signs with
/// the same keys and publishes the same JWKS, and a restart changes nothing.
///
/// * [`load_or_create`](Self::load_or_create) at start: creates generation 0 of ES256 and
///   RS256 if the store has none (instances starting together agree on one key: the store
///   keeps one record per generation).
/// * [`rotate`](Self::rotate) adds the next generation of an algorithm, published at once and
///   signing from `now + publish_ahead`, so relying parties and other instances see it first.
/// * [`OpenIdApp::spawn_key_refresh`](crate::OpenIdApp::spawn_key_refresh) reloads the set
///   periodically, so a rotation made by one instance reaches all, and deletes keys no
///   unexpired token can need.
///
/// With a [`KeyEncryptionKey`], private keys are encrypted before they reach the store;
/// without one they are stored as PKCS#8 PEM.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use opkit::host::SystemRng;
/// use opkit::jose::Algorithm;
/// use opkit::store::MemoryStore;
/// use opkit_axum::{KeyEncryptionKey, StoredKeys};
/// use time::{Duration, OffsetDateTime};
///
/// let store = MemoryStore::new();
/// let kek = KeyEncryptionKey::parse(&"2a".repeat(32))?;
/// let keys = StoredKeys::new(store.clone(), Some(kek), Arc::new(SystemRng::new()));
/// let now = OffsetDateTime::now_utc();
/// let first = keys.load_or_create(now, Duration::hours(1)).await?;
/// let again = keys.load_or_create(now, Duration::hours(1)).await?;
/// assert_eq!(first.jwks(), again.jwks());
/// assert!(first.active(Algorithm::Es256).is_some());
/// # Ok(()) }
/// ```
pub struct StoredKeys<K> {
    store: K,
    kek: Option<Arc<KeyEncryptionKey>>,
    rng: Arc<dyn Rng>,
}

impl<K: Clone> Clone for StoredKeys<K> {
    fn clone(&self) -> Self {
        StoredKeys {
            store: self.store.clone(),
            kek: self.kek.clone(),
            rng: self.rng.clone(),
        }
    }
}

impl<K> fmt::Debug for StoredKeys<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredKeys")
            .field("encrypted", &self.kek.is_some())
            .finish_non_exhaustive()
    }
}

impl<K: KeyStore> StoredKeys<K> {
    /// Keys in `store`, encrypted with `kek` if given; new keys and nonces come from `rng`.
    pub fn new(store: K, kek: Option<KeyEncryptionKey>, rng: Arc<dyn Rng>) -> Self {
        StoredKeys {
            store,
            kek: kek.map(Arc::new),
            rng,
        }
    }

    /// The stored keys as a [`KeySet`] at `now`, after creating generation 0 of each of ES256
    /// and RS256 that has none. `keep_for` is how long a replaced key still verifies
    /// ([`Config::longest_token_lifetime`](opkit::Config::longest_token_lifetime)).
    ///
    /// Generating the RSA key takes CPU (under a second in a release build): it runs once per
    /// database, at the first start.
    pub async fn load_or_create(
        &self,
        now: OffsetDateTime,
        keep_for: Duration,
    ) -> Result<KeySet, StoredKeyError> {
        let records = self.store.signing_keys().await?;
        for alg in [Algorithm::Es256, Algorithm::Rs256] {
            if !records.iter().any(|r| r.alg == alg) {
                // `false`: another instance created it meanwhile; the reload below finds theirs.
                self.insert(alg, 0, now, now).await?;
            }
        }
        self.load(now, keep_for).await
    }

    /// The stored keys as a [`KeySet`] at `now` (see [`StoredKeys`] for which key signs).
    pub async fn load(
        &self,
        now: OffsetDateTime,
        keep_for: Duration,
    ) -> Result<KeySet, StoredKeyError> {
        let records = self.store.signing_keys().await?;
        let mut set = KeySet::new();
        for record in live(&records, now, keep_for) {
            set.insert(self.open(record)?)?;
        }
        for alg in [Algorithm::Es256, Algorithm::Rs256] {
            if let Some(active) = active(&records, alg, now) {
                set.set_active(&active.kid)?;
            }
        }
        Ok(set)
    }

    /// Add the next generation of `alg`: published from the next load on, signing from
    /// `now + publish_ahead` (give at least the refresh interval of every instance, and the
    /// time relying parties cache the JWKS). Returns its `kid`, or `None` when another instance
    /// rotated the same generation at the same moment (theirs is used).
    pub async fn rotate(
        &self,
        alg: Algorithm,
        now: OffsetDateTime,
        publish_ahead: Duration,
    ) -> Result<Option<String>, StoredKeyError> {
        let records = self.store.signing_keys().await?;
        let next = records
            .iter()
            .filter(|r| r.alg == alg)
            .map(|r| r.generation + 1)
            .max()
            .unwrap_or(0);
        self.insert(alg, next, now, now + publish_ahead).await
    }

    /// Delete the keys no token can need at `now` any more: those replaced more than
    /// `keep_for` ago. Returns their `kid`s.
    pub async fn delete_retired(
        &self,
        now: OffsetDateTime,
        keep_for: Duration,
    ) -> Result<Vec<String>, StoredKeyError> {
        let records = self.store.signing_keys().await?;
        let keep: Vec<&str> = live(&records, now, keep_for)
            .map(|r| r.kid.as_str())
            .collect();
        let mut deleted = Vec::new();
        for record in &records {
            if !keep.contains(&record.kid.as_str())
                && self.store.delete_signing_key(&record.kid).await?
            {
                deleted.push(record.kid.clone());
            }
        }
        Ok(deleted)
    }

    async fn insert(
        &self,
        alg: Algorithm,
        generation: u32,
        now: OffsetDateTime,
        activates_at: OffsetDateTime,
    ) -> Result<Option<String>, StoredKeyError> {
        let kid = new_kid(alg, now, &*self.rng)?;
        let key = SigningKey::generate(alg, kid.clone(), &*self.rng)?;
        let record = SigningKeyRecord {
            private_key: self.seal(&kid, alg, key.to_pkcs8_pem().as_bytes())?,
            kid: kid.clone(),
            alg,
            generation,
            created_at: now,
            activates_at,
        };
        Ok(self.store.insert_signing_key(record).await?.then_some(kid))
    }

    fn seal(&self, kid: &str, alg: Algorithm, pem: &[u8]) -> Result<Vec<u8>, StoredKeyError> {
        let Some(kek) = &self.kek else {
            let mut out = vec![PLAIN];
            out.extend_from_slice(pem);
            return Ok(out);
        };
        let sealed = kek
            .seal(pem, &aad(kid, alg), &*self.rng)
            .ok_or(StoredKeyError::Key(KeyError::Rng))?;
        let mut out = vec![SEALED];
        out.extend_from_slice(&kek.fingerprint());
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    fn open(&self, record: &SigningKeyRecord) -> Result<SigningKey, StoredKeyError> {
        let corrupt = || StoredKeyError::Corrupt {
            kid: record.kid.clone(),
        };
        let pem = match record.private_key.split_first() {
            Some((&PLAIN, pem)) => pem.to_vec(),
            Some((&SEALED, rest)) if rest.len() > FINGERPRINT_LEN => {
                let kek = self.kek.as_ref().ok_or_else(|| StoredKeyError::NeedsKek {
                    kid: record.kid.clone(),
                })?;
                let (fingerprint, sealed) = rest.split_at(FINGERPRINT_LEN);
                if fingerprint != kek.fingerprint() {
                    return Err(StoredKeyError::WrongKek {
                        kid: record.kid.clone(),
                    });
                }
                kek.open(sealed, &aad(&record.kid, record.alg))
                    .ok_or_else(corrupt)?
            }
            _ => return Err(corrupt()),
        };
        let pem = String::from_utf8(pem).map_err(|_| corrupt())?;
        let key = SigningKey::from_pem(record.kid.clone(), &pem)?;
        if key.alg() != record.alg {
            return Err(corrupt());
        }
        Ok(key)
    }
}

fn aad(kid: &str, alg: Algorithm) -> Vec<u8> {
    format!("opkit signing key\0{}\0{kid}", alg.as_str()).into_bytes()
}

/// The key of `alg` that signs at `now`: the highest generation already activated.
fn active(
    records: &[SigningKeyRecord],
    alg: Algorithm,
    now: OffsetDateTime,
) -> Option<&SigningKeyRecord> {
    records
        .iter()
        .filter(|r| r.alg == alg && r.activates_at <= now)
        .max_by_key(|r| r.generation)
}

/// The keys to publish at `now`: every generation from the one that signs on, and each older
/// one until `keep_for` after the generation that replaced it activated.
fn live<'a>(
    records: &'a [SigningKeyRecord],
    now: OffsetDateTime,
    keep_for: Duration,
) -> impl Iterator<Item = &'a SigningKeyRecord> + 'a {
    records.iter().filter(move |r| {
        let replaced_at = records
            .iter()
            .filter(|n| n.alg == r.alg && n.generation > r.generation && n.activates_at <= now)
            .map(|n| n.activates_at)
            .min();
        replaced_at.is_none_or(|at| now < at + keep_for)
    })
}

/// `YYYYMMDDTHHMMSSZ-<8 hex digits>-es256`, as the key folder names them.
fn new_kid(alg: Algorithm, now: OffsetDateTime, rng: &dyn Rng) -> Result<String, KeyError> {
    let mut id = [0u8; 4];
    rng.fill(&mut id)?;
    let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z-{hex}-{}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        alg.as_str().to_ascii_lowercase()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use opkit::host::SystemRng;
    use opkit::store::MemoryStore;

    fn keys(store: &MemoryStore, kek: Option<[u8; 32]>) -> StoredKeys<MemoryStore> {
        StoredKeys::new(
            store.clone(),
            kek.map(KeyEncryptionKey::from_bytes),
            Arc::new(SystemRng::new()),
        )
    }

    fn t0() -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH + Duration::days(20_000)
    }

    #[tokio::test]
    async fn created_once_and_encrypted_at_rest() {
        let store = MemoryStore::new();
        let a = keys(&store, Some([1; 32]));
        let first = a.load_or_create(t0(), Duration::hours(1)).await.unwrap();
        let second = keys(&store, Some([1; 32]))
            .load_or_create(t0(), Duration::hours(1))
            .await
            .unwrap();
        assert_eq!(first.jwks(), second.jwks());
        assert_eq!(first.len(), 2);
        let records = store.signing_keys().await.unwrap();
        assert_eq!(records.len(), 2);
        for r in &records {
            assert_eq!(r.private_key[0], SEALED);
            assert!(!String::from_utf8_lossy(&r.private_key).contains("PRIVATE KEY"));
        }
        let err = keys(&store, None).load(t0(), Duration::hours(1)).await;
        assert!(matches!(err, Err(StoredKeyError::NeedsKek { .. })));
        let err = keys(&store, Some([2; 32]))
            .load(t0(), Duration::hours(1))
            .await;
        assert!(matches!(err, Err(StoredKeyError::WrongKek { .. })));
    }

    #[tokio::test]
    async fn a_rotated_key_is_published_first_then_signs_then_the_old_one_goes() {
        let store = MemoryStore::new();
        let k = keys(&store, None);
        let keep = Duration::hours(1);
        let old = k.load_or_create(t0(), keep).await.unwrap();
        let old_kid = old.active(Algorithm::Es256).unwrap().kid().to_owned();
        let ahead = Duration::minutes(10);
        let new_kid = k
            .rotate(Algorithm::Es256, t0(), ahead)
            .await
            .unwrap()
            .unwrap();

        let before = k.load(t0() + Duration::minutes(5), keep).await.unwrap();
        assert_eq!(before.active(Algorithm::Es256).unwrap().kid(), old_kid);
        assert!(before.get(&new_kid).is_some(), "published before it signs");

        let after = k.load(t0() + ahead, keep).await.unwrap();
        assert_eq!(after.active(Algorithm::Es256).unwrap().kid(), new_kid);
        assert!(after.get(&old_kid).is_some(), "still verifies");

        let later = t0() + ahead + keep;
        assert!(k.load(later, keep).await.unwrap().get(&old_kid).is_none());
        assert_eq!(k.delete_retired(later, keep).await.unwrap(), vec![old_kid]);
        assert_eq!(store.signing_keys().await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn a_damaged_record_is_a_clear_error() {
        let store = MemoryStore::new();
        store
            .insert_signing_key(SigningKeyRecord {
                kid: "junk".into(),
                alg: Algorithm::Es256,
                generation: 0,
                private_key: vec![9, 9, 9],
                created_at: t0(),
                activates_at: t0(),
            })
            .await
            .unwrap();
        let err = keys(&store, None)
            .load(t0(), Duration::hours(1))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("junk"), "{err}");
    }
}
