use std::fmt;

/// A cryptographically secure random source.
///
/// Every authorization code, token, client secret, client id and generated key is drawn from it.
/// [`SystemRng`] (the OS CSPRNG through ring, drawn in blocks) is the default.
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

/// The operating system's CSPRNG (ring's `SystemRandom`, i.e. `getrandom(2)` on Linux), drawn
/// in blocks.
///
/// A code flow draws three small values (grant id, code, `jti`) and a system call costs about
/// as much as the rest of drawing them, so draws of up to [`SystemRng::POOLED_MAX`] bytes are
/// served from a per-thread pool of [`SystemRng::POOL`] bytes of OS randomness, refilled by one
/// call when it runs short. Every byte is handed out once and wiped from the pool as it is; a
/// pool is also discarded when the process id changes, so a child of `fork(2)` never repeats
/// its parent's values. Larger draws (key generation) go to the OS directly.
pub struct SystemRng(ring::rand::SystemRandom);

impl SystemRng {
    /// Bytes of OS randomness fetched per refill of a thread's pool.
    pub const POOL: usize = 256;
    /// Largest draw served from the pool.
    pub const POOLED_MAX: usize = 64;

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
        if dest.len() > Self::POOLED_MAX {
            return os_fill(&self.0, dest);
        }
        // While the thread is being torn down its pool is gone: go to the OS.
        POOL.try_with(|pool| pool.borrow_mut().draw(&self.0, dest))
            .unwrap_or_else(|_| os_fill(&self.0, dest))
    }
}

fn os_fill(os: &ring::rand::SystemRandom, dest: &mut [u8]) -> Result<(), RngError> {
    ring::rand::SecureRandom::fill(os, dest).map_err(|_| RngError)
}

std::thread_local! {
    static POOL: std::cell::RefCell<Pool> = const {
        std::cell::RefCell::new(Pool { bytes: [0; SystemRng::POOL], next: SystemRng::POOL, pid: 0 })
    };
}

/// One thread's unused OS randomness: `bytes[next..]`; everything before `next` is zero.
struct Pool {
    bytes: [u8; SystemRng::POOL],
    next: usize,
    /// The process the bytes were drawn in.
    pid: u32,
}

impl Pool {
    fn draw(&mut self, os: &ring::rand::SystemRandom, dest: &mut [u8]) -> Result<(), RngError> {
        let pid = std::process::id();
        if pid != self.pid || self.bytes.len() - self.next < dest.len() {
            // Wipe before the refill so a failed refill leaves nothing behind either.
            self.bytes.fill(0);
            self.next = self.bytes.len();
            os_fill(os, &mut self.bytes)?;
            self.next = 0;
            self.pid = pid;
        }
        let end = self.next + dest.len();
        let taken = self.bytes.get_mut(self.next..end).ok_or(RngError)?;
        dest.copy_from_slice(taken);
        taken.fill(0);
        self.next = end;
        Ok(())
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.bytes.fill(0);
        // Keeps the wipe from being optimised away as a store to memory about to be freed.
        std::hint::black_box(&self.bytes);
    }
}

impl<R: Rng + ?Sized> Rng for std::sync::Arc<R> {
    fn fill(&self, dest: &mut [u8]) -> Result<(), RngError> {
        (**self).fill(dest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool() -> Pool {
        Pool {
            bytes: [0; SystemRng::POOL],
            next: SystemRng::POOL,
            pid: 0,
        }
    }

    #[test]
    fn every_pooled_byte_is_handed_out_once_and_wiped() {
        let os = ring::rand::SystemRandom::new();
        let mut pool = pool();
        let mut seen = Vec::new();
        for _ in 0..3 * SystemRng::POOL / 32 {
            let mut value = [0u8; 32];
            pool.draw(&os, &mut value).unwrap();
            assert!(!seen.contains(&value), "a value came out twice");
            seen.push(value);
            assert!(pool.bytes[..pool.next].iter().all(|&b| b == 0));
            assert_eq!(pool.pid, std::process::id());
        }
    }

    #[test]
    fn a_short_pool_or_another_process_means_a_refill() {
        let os = ring::rand::SystemRandom::new();
        let mut pool = pool();
        pool.draw(&os, &mut [0; 16]).unwrap();
        assert_eq!(pool.next, 16);
        // What a child of fork(2) sees: the parent's pool, under another process id.
        pool.pid = pool.pid.wrapping_add(1);
        pool.draw(&os, &mut [0; 16]).unwrap();
        assert_eq!((pool.next, pool.pid), (16, std::process::id()));
        // Not enough left for the draw: refilled, the rest is dropped.
        pool.next = SystemRng::POOL - 8;
        pool.draw(&os, &mut [0; 16]).unwrap();
        assert_eq!(pool.next, 16);
    }

    #[test]
    fn small_and_large_draws_are_random() {
        let rng = SystemRng::new();
        for len in [
            1,
            16,
            SystemRng::POOLED_MAX,
            SystemRng::POOLED_MAX + 1,
            4096,
        ] {
            let (mut a, mut b) = (vec![0u8; len], vec![0u8; len]);
            rng.fill(&mut a).unwrap();
            rng.fill(&mut b).unwrap();
            if len >= 16 {
                assert_ne!(a, b, "{len}");
                assert!(a.iter().any(|&x| x != 0), "{len}");
            }
        }
    }

    #[test]
    fn threads_draw_from_their_own_pools() {
        let rng = std::sync::Arc::new(SystemRng::new());
        let values: Vec<[u8; 32]> = (0..4)
            .map(|_| {
                let rng = rng.clone();
                std::thread::spawn(move || {
                    let mut v = [0u8; 32];
                    rng.fill(&mut v).unwrap();
                    v
                })
            })
            .map(|t| t.join().unwrap())
            .collect();
        for (i, a) in values.iter().enumerate() {
            assert!(values[i + 1..].iter().all(|b| a != b));
        }
    }
}
