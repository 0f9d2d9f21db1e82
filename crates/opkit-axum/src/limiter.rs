//! The kit's default [`RateLimit`], in-process: after [`MAX_FAILURES`] failed checks of one
//! username (login page and password grant) within [`WINDOW`], further checks of it are refused
//! until the window has passed.
//!
//! Client secrets are not throttled. The provider's secrets are 256-bit random and a fixed one
//! has at least 32 bytes, so guessing them is hopeless, while a lock keyed by the `client_id`,
//! which is public (it is in every authorization URL), would let anyone shut a client out of
//! the token, revocation and introspection endpoints with a few wrong secrets.
//!
//! Successful checks are the common case (every token request of a confidential client makes
//! one) and cost nothing here while no failure is being counted: [`Limiter::allow`] and
//! [`Limiter::succeeded`] read one atomic counter of tracked keys and return. Only when some key
//! has failures do they hash the identifier and lock one of 16 maps, looked up by the
//! borrowed identifier (no key is allocated except to record a failure).

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use opkit::host::{Attempt, RateLimit};

/// Failed checks allowed per key and window.
pub const MAX_FAILURES: u32 = 10;
/// The counting window, from the first failure.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Keys tracked at most; beyond it (after dropping stale ones) new keys are not counted.
const MAX_KEYS: usize = 100_000;
/// Longest identifier kept in a key.
const MAX_ID: usize = 256;
/// Independent maps, so that checks of different keys rarely wait for each other while some
/// key is being counted (a guessing attack on one client must not serialize all others).
const SHARDS: usize = 16;
/// Keys tracked at most per shard.
const MAX_KEYS_PER_SHARD: usize = MAX_KEYS / SHARDS;

/// Failure counts per credential (the kit installs one unless the host gives its own).
///
/// ```
/// use opkit::host::{Attempt, RateLimit};
/// let limiter = opkit_axum::Limiter::default();
/// let alice = Attempt::Password { username: "alice" };
/// for _ in 0..opkit_axum::limiter::MAX_FAILURES { limiter.failed(&alice); }
/// assert!(!limiter.allow(&alice));
/// ```
pub struct Limiter {
    /// Keys tracked across all shards; while it is 0 nothing needs to be looked up.
    tracked: AtomicUsize,
    /// Picks a key's shard (keyed per process, so identifiers cannot be chosen to collide).
    hasher: RandomState,
    shards: [Mutex<Shard>; SHARDS],
}

/// The windows of one shard, one map per kind of credential, keyed by the (cut) identifier.
#[derive(Default)]
struct Shard {
    users: HashMap<Box<str>, Window>,
}

impl Shard {
    fn map(&mut self, kind: Kind) -> &mut HashMap<Box<str>, Window> {
        match kind {
            Kind::User => &mut self.users,
        }
    }

    fn len(&self) -> usize {
        self.users.len()
    }

    /// Drop windows that have passed; returns how many were dropped.
    fn purge(&mut self) -> usize {
        let before = self.len();
        self.users.retain(|_, w| w.started.elapsed() < WINDOW);
        if self.users.capacity() > 4 * self.users.len().max(64) {
            self.users.shrink_to_fit();
        }
        before - self.len()
    }
}

/// The kinds of credential counted (client secrets are not: see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    User,
}

struct Window {
    started: Instant,
    failures: u32,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter")
            .field("tracked", &self.tracked.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Default for Limiter {
    fn default() -> Self {
        Limiter {
            tracked: AtomicUsize::new(0),
            hasher: RandomState::new(),
            shards: std::array::from_fn(|_| Mutex::default()),
        }
    }
}

impl Limiter {
    /// The kind and (cut) identifier of an attempt; `None` for kinds this limiter does not know.
    fn key<'a>(attempt: &Attempt<'a>) -> Option<(Kind, &'a str)> {
        let (kind, id) = match attempt {
            Attempt::Password { username } => (Kind::User, *username),
            // Not throttled: see the module docs.
            _ => return None,
        };
        let end = (0..=id.len().min(MAX_ID))
            .rev()
            .find(|i| id.is_char_boundary(*i))
            .unwrap_or(0);
        Some((kind, &id[..end]))
    }

    /// Whether no key is tracked at all (the fast path of every successful check).
    fn idle(&self) -> bool {
        self.tracked.load(Ordering::Acquire) == 0
    }

    fn shard(&self, kind: Kind, id: &str) -> MutexGuard<'_, Shard> {
        let index = (self.hasher.hash_one((kind, id)) % SHARDS as u64) as usize;
        self.shards[index].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Drop windows that have passed.
    pub fn purge(&self) {
        if self.idle() {
            return;
        }
        for shard in &self.shards {
            let mut shard = shard.lock().unwrap_or_else(|e| e.into_inner());
            let dropped = shard.purge();
            self.tracked.fetch_sub(dropped, Ordering::AcqRel);
        }
    }
}

impl RateLimit for Limiter {
    fn allow(&self, attempt: &Attempt<'_>) -> bool {
        if self.idle() {
            return true;
        }
        let Some((kind, id)) = Self::key(attempt) else {
            return true;
        };
        match self.shard(kind, id).map(kind).get(id) {
            Some(w) => w.started.elapsed() >= WINDOW || w.failures < MAX_FAILURES,
            None => true,
        }
    }

    fn failed(&self, attempt: &Attempt<'_>) {
        let Some((kind, id)) = Self::key(attempt) else {
            return;
        };
        let mut shard = self.shard(kind, id);
        let known = shard.map(kind).contains_key(id);
        if !known && shard.len() >= MAX_KEYS_PER_SHARD {
            let dropped = shard.purge();
            self.tracked.fetch_sub(dropped, Ordering::AcqRel);
            if shard.len() >= MAX_KEYS_PER_SHARD {
                return;
            }
        }
        let map = shard.map(kind);
        let window = match map.get_mut(id) {
            Some(window) => window,
            None => {
                // Counted before the window exists, so no check can see it and miss the count.
                self.tracked.fetch_add(1, Ordering::AcqRel);
                map.entry(id.into()).or_insert(Window {
                    started: Instant::now(),
                    failures: 0,
                })
            }
        };
        if window.started.elapsed() >= WINDOW {
            *window = Window {
                started: Instant::now(),
                failures: 0,
            };
        }
        window.failures = window.failures.saturating_add(1);
    }

    fn succeeded(&self, attempt: &Attempt<'_>) {
        if self.idle() {
            return;
        }
        let Some((kind, id)) = Self::key(attempt) else {
            return;
        };
        if self.shard(kind, id).map(kind).remove(id).is_some() {
            self.tracked.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_key_and_forgets_on_success() {
        let limiter = Limiter::default();
        let alice = Attempt::Password { username: "alice" };
        let client = Attempt::ClientSecret { client_id: "alice" };
        assert!(limiter.allow(&alice));
        limiter.succeeded(&alice);
        for _ in 0..MAX_FAILURES {
            assert!(limiter.allow(&alice));
            limiter.failed(&alice);
        }
        assert!(!limiter.allow(&alice));
        // A client secret is never refused, however many wrong ones came before.
        for _ in 0..10 * MAX_FAILURES {
            limiter.failed(&client);
        }
        assert!(limiter.allow(&client));
        assert_eq!(limiter.tracked.load(Ordering::Relaxed), 1);
        limiter.succeeded(&alice);
        assert!(limiter.allow(&alice));
        assert!(limiter.idle());
    }

    #[test]
    fn long_identifiers_share_a_cut_key() {
        let limiter = Limiter::default();
        let long = "é".repeat(MAX_ID);
        let longer = format!("{long}x");
        for _ in 0..MAX_FAILURES {
            limiter.failed(&Attempt::Password { username: &long });
        }
        assert!(!limiter.allow(&Attempt::Password { username: &longer }));
        assert_eq!(limiter.tracked.load(Ordering::Relaxed), 1);
    }
}
