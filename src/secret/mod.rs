//! Secrets: generation from the host's random source, SHA-256 hashing for storage, and
//! constant-time comparison.
//!
//! Stores only ever see [`SecretHash`]es of codes, refresh tokens, client secrets and
//! registration access tokens, so a leaked database holds no usable credential.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::host::{Rng, RngError};
use crate::jose::b64;

/// The SHA-256 hash of a secret (code, token, client secret).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SecretHash(pub [u8; 32]);

impl SecretHash {
    /// Hash a presented secret.
    ///
    /// ```
    /// use opkit::secret::SecretHash;
    /// let h = SecretHash::of("s3cret");
    /// assert!(h.matches("s3cret"));
    /// assert!(!h.matches("s3cret "));
    /// ```
    pub fn of(secret: &str) -> SecretHash {
        SecretHash(Sha256::digest(secret.as_bytes()).into())
    }

    /// Whether `presented` hashes to this value, compared in constant time.
    pub fn matches(&self, presented: &str) -> bool {
        bool::from(SecretHash::of(presented).0.ct_eq(&self.0))
    }

    /// The hash as lower-case hex (for a text column).
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Enough to tell two apart in a log, not enough to matter.
        write!(f, "SecretHash({:02x}{:02x}…)", self.0[0], self.0[1])
    }
}

/// Compare two byte strings in constant time (for equal lengths).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    bool::from(a.ct_eq(b))
}

/// A fresh random secret: `bytes` random bytes, base64url-encoded without padding.
///
/// Codes, refresh tokens and client secrets use 32 bytes (256 bits).
pub fn random_token(rng: &dyn Rng, bytes: usize) -> Result<String, RngError> {
    let mut buf = [0u8; 64];
    let n = bytes.min(buf.len());
    rng.fill(&mut buf[..n])?;
    Ok(b64::encode(&buf[..n]))
}

/// A plaintext secret handed out once (to the client or user) with its hash for storage.
#[derive(Clone)]
pub struct IssuedSecret {
    /// The plaintext, to send once and never store.
    pub plaintext: String,
    /// What the store keeps.
    pub hash: SecretHash,
}

impl IssuedSecret {
    /// Generate a 256-bit secret.
    pub fn generate(rng: &dyn Rng) -> Result<IssuedSecret, RngError> {
        let plaintext = random_token(rng, 32)?;
        let hash = SecretHash::of(&plaintext);
        Ok(IssuedSecret { plaintext, hash })
    }
}

impl fmt::Debug for IssuedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedSecret")
            .field("plaintext", &"<redacted>")
            .field("hash", &self.hash)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::SystemRng;

    #[test]
    fn tokens_are_43_chars_and_distinct() {
        let rng = SystemRng::new();
        let a = random_token(&rng, 32).unwrap();
        let b = random_token(&rng, 32).unwrap();
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
    }

    #[test]
    fn debug_never_shows_secret() {
        let s = IssuedSecret::generate(&SystemRng::new()).unwrap();
        let dbg = format!("{s:?}");
        assert!(!dbg.contains(&s.plaintext));
        assert!(dbg.len() < 80);
    }

    #[test]
    fn sha256_known_value() {
        // SHA-256("abc"), FIPS 180-2 appendix B.1
        assert_eq!(
            SecretHash::of("abc").to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}

mod password;

pub use password::{PasswordHash, PasswordHashError};
