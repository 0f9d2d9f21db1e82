//! Password hashes: PBKDF2-HMAC-SHA256 with a per-user random salt, in a self-describing text
//! form a database column can hold.

use std::fmt;
use std::num::NonZeroU32;

use ring::pbkdf2;

use crate::host::{Rng, RngError};
use crate::jose::b64;

const ALGORITHM: pbkdf2::Algorithm = pbkdf2::PBKDF2_HMAC_SHA256;
const SALT_LEN: usize = 16;
const HASH_LEN: usize = 32;
const PREFIX: &str = "$pbkdf2-sha256$i=";
/// More than this is refused when parsing: a stored hash must not make one check cost minutes.
const MAX_ITERATIONS: u32 = 10_000_000;

/// The salt an absent user's password is "checked" with; the hash it is compared to is all
/// zeros, which no password derives to in practice.
const DUMMY_SALT: [u8; SALT_LEN] = *b"opkit-no-user!!!";

/// A password hash: PBKDF2-HMAC-SHA256, a 16-byte random salt, a 32-byte derived key and the
/// iteration count, written as `$pbkdf2-sha256$i=<iterations>$<salt>$<hash>` (base64url
/// without padding) by [`encode`](PasswordHash::encode) for storage. Checking takes as long as
/// hashing: about a hundred milliseconds of CPU at [`PasswordHash::DEFAULT_ITERATIONS`] in an
/// optimised build, so an async host runs it on a blocking pool. `Debug` shows neither the
/// salt nor the hash.
///
/// ```
/// use opkit::host::SystemRng;
/// use opkit::secret::PasswordHash;
///
/// let hash = PasswordHash::new("correct horse", 1_000, &SystemRng::new())?;
/// let stored = hash.encode();
/// let parsed: PasswordHash = stored.parse()?;
/// assert!(parsed.verify("correct horse"));
/// assert!(!parsed.verify("correct horse "));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash {
    iterations: NonZeroU32,
    salt: [u8; SALT_LEN],
    hash: [u8; HASH_LEN],
}

/// A stored password hash could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordHashError;

impl fmt::Display for PasswordHashError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a password hash of the form $pbkdf2-sha256$i=N$salt$hash")
    }
}

impl std::error::Error for PasswordHashError {}

impl PasswordHash {
    /// The iteration count hosts use unless they have measured their own (OWASP's 2023 advice
    /// for PBKDF2-HMAC-SHA256 is 600 000; this default favours a start-up and a test suite
    /// that stay quick, and a host raises it with [`PasswordHash::new`]).
    pub const DEFAULT_ITERATIONS: u32 = 100_000;

    /// Hash `password` with a fresh salt from `rng` and `iterations` rounds (at least 1, at
    /// most 10 000 000).
    pub fn new(password: &str, iterations: u32, rng: &dyn Rng) -> Result<PasswordHash, RngError> {
        let iterations = clamp(iterations);
        let mut salt = [0u8; SALT_LEN];
        rng.fill(&mut salt)?;
        let mut hash = [0u8; HASH_LEN];
        pbkdf2::derive(ALGORITHM, iterations, &salt, password.as_bytes(), &mut hash);
        Ok(PasswordHash {
            iterations,
            salt,
            hash,
        })
    }

    /// Whether `password` is the one hashed (constant time in the comparison).
    pub fn verify(&self, password: &str) -> bool {
        pbkdf2::verify(
            ALGORITHM,
            self.iterations,
            &self.salt,
            password.as_bytes(),
            &self.hash,
        )
        .is_ok()
    }

    /// The work of one [`verify`](PasswordHash::verify) at `iterations`, for a username that
    /// does not exist, so the time a check takes does not tell whether the user exists.
    /// Always `false`.
    pub fn verify_absent(password: &str, iterations: u32) -> bool {
        let dummy = pbkdf2::verify(
            ALGORITHM,
            clamp(iterations),
            &DUMMY_SALT,
            password.as_bytes(),
            &[0u8; HASH_LEN],
        );
        std::hint::black_box(dummy.is_ok());
        false
    }

    /// The iteration count.
    pub fn iterations(&self) -> u32 {
        self.iterations.get()
    }

    /// The text form for storage.
    pub fn encode(&self) -> String {
        format!(
            "{PREFIX}{}${}${}",
            self.iterations,
            b64::encode(&self.salt),
            b64::encode(&self.hash)
        )
    }
}

fn clamp(iterations: u32) -> NonZeroU32 {
    NonZeroU32::new(iterations.clamp(1, MAX_ITERATIONS)).unwrap_or(NonZeroU32::MIN)
}

impl std::str::FromStr for PasswordHash {
    type Err = PasswordHashError;

    fn from_str(s: &str) -> Result<PasswordHash, PasswordHashError> {
        let rest = s.strip_prefix(PREFIX).ok_or(PasswordHashError)?;
        let mut parts = rest.split('$');
        let (Some(iterations), Some(salt), Some(hash), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(PasswordHashError);
        };
        let iterations: u32 = iterations.parse().map_err(|_| PasswordHashError)?;
        if !(1..=MAX_ITERATIONS).contains(&iterations) {
            return Err(PasswordHashError);
        }
        let salt = b64::decode(salt).map_err(|_| PasswordHashError)?;
        let hash = b64::decode(hash).map_err(|_| PasswordHashError)?;
        Ok(PasswordHash {
            iterations: clamp(iterations),
            salt: salt.try_into().map_err(|_| PasswordHashError)?,
            hash: hash.try_into().map_err(|_| PasswordHashError)?,
        })
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordHash")
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::SystemRng;

    #[test]
    fn round_trips_and_salts_differ() {
        let rng = SystemRng::new();
        let a = PasswordHash::new("pw", 1000, &rng).unwrap();
        let b = PasswordHash::new("pw", 1000, &rng).unwrap();
        assert_ne!(a.encode(), b.encode());
        let parsed: PasswordHash = a.encode().parse().unwrap();
        assert_eq!(parsed, a);
        assert!(parsed.verify("pw"));
        assert!(!parsed.verify("pW"));
        assert!(!format!("{a:?}").contains(&b64::encode(&a.hash)));
    }

    #[test]
    fn rfc_7914_pbkdf2_sha256_vector() {
        // PBKDF2-HMAC-SHA256, P = "passwd", S = "salt", c = 1 (RFC 7914 section 11).
        let mut out = [0u8; 64];
        pbkdf2::derive(ALGORITHM, NonZeroU32::MIN, b"salt", b"passwd", &mut out);
        assert_eq!(out[..8], [0x55, 0xac, 0x04, 0x6e, 0x56, 0xe3, 0x08, 0x9f]);
    }

    #[test]
    fn refuses_malformed_text() {
        for bad in [
            "",
            "$pbkdf2-sha256$i=0$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "$pbkdf2-sha256$i=99999999999$AAAAAAAAAAAAAAAAAAAAAA$AAAA",
            "$pbkdf2-sha256$i=10$AAAA$AAAA",
            "$pbkdf2-sha256$i=10$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA$x",
            "$argon2id$v=19$m=65536",
        ] {
            assert_eq!(bad.parse::<PasswordHash>(), Err(PasswordHashError), "{bad}");
        }
        assert!(!PasswordHash::verify_absent("pw", 10));
    }
}
