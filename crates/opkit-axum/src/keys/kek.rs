//! The key-encryption key: AES-256-GCM over the private signing keys a store keeps.

use std::fmt;
use std::path::Path;

use base64::Engine as _;
use opkit::host::Rng;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::digest;

/// A 256-bit key that encrypts private signing keys before they reach the store (AES-256-GCM,
/// a random nonce per key, the key's `kid` and algorithm as associated data, so a sealed key
/// moved to another record does not open). Given as 64 hex digits or 43 base64url characters,
/// in a file or an environment variable; generate one with `openssl rand -hex 32`. `Debug`
/// shows only its fingerprint.
///
/// ```
/// use opkit_axum::KeyEncryptionKey;
///
/// let kek = KeyEncryptionKey::parse(&"ab".repeat(32))?;
/// assert!(KeyEncryptionKey::parse("too short").is_err());
/// assert!(!format!("{kek:?}").contains("abab"));
/// # Ok::<(), opkit_axum::KekError>(())
/// ```
pub struct KeyEncryptionKey {
    key: LessSafeKey,
    fingerprint: [u8; FINGERPRINT_LEN],
}

/// How many bytes of SHA-256 of the key identify it in a sealed record (so the wrong key is
/// told apart from a damaged record).
pub(crate) const FINGERPRINT_LEN: usize = 8;

/// A key-encryption key could not be read.
#[derive(Debug)]
#[non_exhaustive]
pub enum KekError {
    /// Not 64 hex digits or 43 base64url characters (32 bytes).
    Malformed,
    /// The file could not be read.
    Io(std::io::Error),
}

impl fmt::Display for KekError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KekError::Malformed => f.write_str(
                "a key-encryption key is 32 bytes written as 64 hex digits or 43 base64url characters",
            ),
            KekError::Io(e) => write!(f, "reading the key-encryption key: {e}"),
        }
    }
}

impl std::error::Error for KekError {}

impl KeyEncryptionKey {
    /// The key from its 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> KeyEncryptionKey {
        let digest = digest::digest(&digest::SHA256, &bytes);
        let mut fingerprint = [0u8; FINGERPRINT_LEN];
        fingerprint.copy_from_slice(&digest.as_ref()[..FINGERPRINT_LEN]);
        let key = match UnboundKey::new(&AES_256_GCM, &bytes) {
            Ok(key) => LessSafeKey::new(key),
            // AES-256 takes any 32 bytes; ring refuses only a wrong length.
            Err(_) => unreachable!("AES-256-GCM accepts every 32-byte key"),
        };
        KeyEncryptionKey { key, fingerprint }
    }

    /// The key from text: 64 hex digits or 43 base64url characters (surrounding whitespace,
    /// such as a file's final newline, is ignored).
    pub fn parse(text: &str) -> Result<KeyEncryptionKey, KekError> {
        let text = text.trim();
        let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            (0..32)
                .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16))
                .collect::<Result<Vec<u8>, _>>()
                .map_err(|_| KekError::Malformed)?
        } else {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(text)
                .map_err(|_| KekError::Malformed)?
        };
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| KekError::Malformed)?;
        Ok(KeyEncryptionKey::from_bytes(bytes))
    }

    /// The key in the file at `path`.
    pub fn from_file(path: &Path) -> Result<KeyEncryptionKey, KekError> {
        KeyEncryptionKey::parse(&std::fs::read_to_string(path).map_err(KekError::Io)?)
    }

    /// The key in the environment variable `name`, or `None` if it is not set.
    pub fn from_env(name: &str) -> Result<Option<KeyEncryptionKey>, KekError> {
        match std::env::var(name) {
            Ok(text) => KeyEncryptionKey::parse(&text).map(Some),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => Err(KekError::Malformed),
        }
    }

    pub(crate) fn fingerprint(&self) -> [u8; FINGERPRINT_LEN] {
        self.fingerprint
    }

    /// `nonce || ciphertext || tag`.
    pub(crate) fn seal(&self, plaintext: &[u8], aad: &[u8], rng: &dyn Rng) -> Option<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill(&mut nonce).ok()?;
        let mut out = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut out,
            )
            .ok()?;
        let mut sealed = nonce.to_vec();
        sealed.append(&mut out);
        Some(sealed)
    }

    /// The plaintext of what [`seal`](Self::seal) wrote, or `None` if it does not open.
    pub(crate) fn open(&self, sealed: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut buf = ciphertext.to_vec();
        let plaintext = self
            .key
            .open_in_place(nonce, Aad::from(aad), &mut buf)
            .ok()?;
        Some(plaintext.to_vec())
    }
}

impl fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex: String = self
            .fingerprint
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        f.debug_struct("KeyEncryptionKey")
            .field("fingerprint", &hex)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opkit::host::SystemRng;

    #[test]
    fn seals_and_opens_only_with_the_same_key_and_aad() {
        let rng = SystemRng::new();
        let kek = KeyEncryptionKey::from_bytes([7; 32]);
        let sealed = kek.seal(b"private", b"kid-1", &rng).unwrap();
        assert_eq!(kek.open(&sealed, b"kid-1").unwrap(), b"private");
        assert!(kek.open(&sealed, b"kid-2").is_none());
        assert!(KeyEncryptionKey::from_bytes([8; 32])
            .open(&sealed, b"kid-1")
            .is_none());
        let mut flipped = sealed.clone();
        flipped[20] ^= 1;
        assert!(kek.open(&flipped, b"kid-1").is_none());
        assert!(kek.open(&sealed[..5], b"kid-1").is_none());
    }

    #[test]
    fn parses_hex_and_base64url() {
        let hex = KeyEncryptionKey::parse(&format!("{}\n", "0f".repeat(32))).unwrap();
        let b64 = KeyEncryptionKey::parse(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([0x0f; 32]),
        )
        .unwrap();
        assert_eq!(hex.fingerprint(), b64.fingerprint());
        for bad in ["", "0f", &"0g".repeat(32), &"0f".repeat(33)] {
            assert!(matches!(
                KeyEncryptionKey::parse(bad),
                Err(KekError::Malformed)
            ));
        }
    }
}
