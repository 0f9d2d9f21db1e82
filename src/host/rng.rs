use std::fmt;

/// A cryptographically secure random source.
///
/// Every authorization code, token, client secret, client id and generated key is drawn from it.
/// [`SystemRng`] (ring's `SystemRandom`) is the default.
///
/// Note: ring draws the per-signature ECDSA nonce and the RSA blinding factor from its own
/// `SystemRandom`; ring does not accept another source for those.
///
/// ```
/// use opkit::host::{Rng, SystemRng};
/// let mut buf = [0u8; 32];
/// SystemRng::default().fill(&mut buf).unwrap();
/// ```
pub trait Rng: Send + Sync {
    /// Fill `dest` with random bytes.
    fn fill(&self, dest: &mut [u8]) -> Result<(), RngError>;
}

/// The random source failed; no value was produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RngError;

impl fmt::Display for RngError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the random source failed")
    }
}

impl std::error::Error for RngError {}

/// ring's `SystemRandom`: the operating system's CSPRNG.
pub struct SystemRng(ring::rand::SystemRandom);

impl SystemRng {
    /// The operating system's random source.
    pub fn new() -> Self {
        SystemRng(ring::rand::SystemRandom::new())
    }
}

impl Default for SystemRng {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for SystemRng {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SystemRng")
    }
}

impl Rng for SystemRng {
    fn fill(&self, dest: &mut [u8]) -> Result<(), RngError> {
        ring::rand::SecureRandom::fill(&self.0, dest).map_err(|_| RngError)
    }
}

impl<R: Rng + ?Sized> Rng for std::sync::Arc<R> {
    fn fill(&self, dest: &mut [u8]) -> Result<(), RngError> {
        (**self).fill(dest)
    }
}
