//! A small in-process [`RateLimit`] for credential checks: after [`MAX_FAILURES`] failed checks
//! of one username (login page and password grant) or one `client_id` (client secrets) within
//! [`WINDOW`], further checks of it are refused until the window has passed.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use opkit::host::{Attempt, RateLimit};

/// Failed checks allowed per key and window.
pub(crate) const MAX_FAILURES: u32 = 10;
/// The counting window, from the first failure.
pub(crate) const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Keys tracked at most; beyond it (after dropping stale ones) new keys are not counted.
const MAX_KEYS: usize = 100_000;
/// Longest identifier kept in a key.
const MAX_ID: usize = 256;

/// Failure counts per credential.
#[derive(Default)]
pub(crate) struct Limiter {
    windows: Mutex<HashMap<String, Window>>,
}

struct Window {
    started: Instant,
    failures: u32,
}

impl Limiter {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Window>> {
        self.windows.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The key of an attempt; `None` for kinds this limiter does not know.
    fn key(attempt: &Attempt<'_>) -> Option<String> {
        let (kind, id) = match attempt {
            Attempt::Password { username } => ("user", *username),
            Attempt::ClientSecret { client_id } => ("client", *client_id),
            _ => return None,
        };
        let end = (0..=id.len().min(MAX_ID))
            .rev()
            .find(|i| id.is_char_boundary(*i))
            .unwrap_or(0);
        Some(format!("{kind}:{}", &id[..end]))
    }

    /// Drop windows that have passed.
    pub(crate) fn purge(&self) {
        let mut windows = self.lock();
        windows.retain(|_, w| w.started.elapsed() < WINDOW);
        if windows.capacity() > 4 * windows.len().max(64) {
            windows.shrink_to_fit();
        }
    }
}

impl RateLimit for Limiter {
    fn allow(&self, attempt: &Attempt<'_>) -> bool {
        let Some(key) = Self::key(attempt) else {
            return true;
        };
        match self.lock().get(&key) {
            Some(w) => w.started.elapsed() >= WINDOW || w.failures < MAX_FAILURES,
            None => true,
        }
    }

    fn failed(&self, attempt: &Attempt<'_>) {
        let Some(key) = Self::key(attempt) else {
            return;
        };
        let mut windows = self.lock();
        if windows.len() >= MAX_KEYS && !windows.contains_key(&key) {
            windows.retain(|_, w| w.started.elapsed() < WINDOW);
            if windows.len() >= MAX_KEYS {
                return;
            }
        }
        let window = windows.entry(key).or_insert(Window {
            started: Instant::now(),
            failures: 0,
        });
        if window.started.elapsed() >= WINDOW {
            *window = Window {
                started: Instant::now(),
                failures: 0,
            };
        }
        window.failures = window.failures.saturating_add(1);
    }

    fn succeeded(&self, attempt: &Attempt<'_>) {
        if let Some(key) = Self::key(attempt) {
            self.lock().remove(&key);
        }
    }
}
