//! In-memory users with PBKDF2 password hashes.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::claims::UserClaims;
use crate::host::{Rng, SystemRng};
use crate::secret::PasswordHash;
use crate::store::{StoreError, StoreResult, UserDirectory, UserStore};

/// Users held in memory: a username, a password hash and a subject with its claims.
///
/// Passwords are hashed as a [`PasswordHash`] (PBKDF2-HMAC-SHA256) with a 16-byte random salt per user, drawn from
/// the [`Rng`] given to [`MemoryUsers::with_rng`] (the system random source for
/// [`MemoryUsers::new`]). [`UserStore::authenticate`] compares in constant time, and for an
/// unknown username still runs one derivation, so its timing does not tell whether a user
/// exists.
///
/// The derivation runs on the calling task: about a hundred milliseconds of CPU at the default
/// 100 000 iterations in an optimised build, so an async host should call it from a blocking
/// pool (`tokio::task::spawn_blocking`), as the example provider does. Cloning is cheap and
/// clones share the users.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), opkit::store::StoreError> {
/// use opkit::claims::UserClaims;
/// use opkit::store::{MemoryUsers, UserStore};
///
/// let users = MemoryUsers::new().with_iterations(1_000);
/// let claims = UserClaims { name: Some("Ada".into()), ..Default::default() };
/// users.add_user("ada", "correct horse", "user-1", claims)?;
/// assert_eq!(users.authenticate("ada", "correct horse").await?, Some("user-1".to_owned()));
/// assert_eq!(users.authenticate("ada", "wrong").await?, None);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct MemoryUsers {
    inner: Arc<Inner>,
}

struct Inner {
    rng: Arc<dyn Rng>,
    iterations: AtomicU32,
    state: RwLock<Users>,
}

#[derive(Default)]
struct Users {
    /// By username.
    credentials: HashMap<String, Credential>,
    /// By subject.
    claims: HashMap<String, Arc<UserClaims>>,
}

/// A user's subject and password hash.
#[derive(Clone)]
struct Credential {
    subject: String,
    password: PasswordHash,
}

impl MemoryUsers {
    /// No users; salts come from the system random source.
    pub fn new() -> Self {
        MemoryUsers::with_rng(Arc::new(SystemRng::new()))
    }

    /// No users; salts come from `rng`.
    pub fn with_rng(rng: Arc<dyn Rng>) -> Self {
        MemoryUsers {
            inner: Arc::new(Inner {
                rng,
                iterations: AtomicU32::new(PasswordHash::DEFAULT_ITERATIONS),
                state: RwLock::new(Users::default()),
            }),
        }
    }

    /// Hash passwords of users added from now on with `iterations` PBKDF2 iterations (default
    /// 100 000; at least 1). Users added before keep their count. Clones share the setting.
    pub fn with_iterations(self, iterations: u32) -> Self {
        self.inner
            .iterations
            .store(iterations.max(1), Ordering::Relaxed);
        self
    }

    fn iterations(&self) -> u32 {
        self.inner.iterations.load(Ordering::Relaxed)
    }

    fn read(&self) -> RwLockReadGuard<'_, Users> {
        self.inner.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Users> {
        self.inner.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Add a user. Fails with a conflict if the username or the subject is taken, and with a
    /// backend error if the random source fails.
    pub fn add_user(
        &self,
        username: &str,
        password: &str,
        subject: &str,
        claims: UserClaims,
    ) -> Result<(), StoreError> {
        if self.taken(username, subject) {
            return Err(StoreError::conflict("the username or subject is taken"));
        }
        let password = PasswordHash::new(password, self.iterations(), &*self.inner.rng)
            .map_err(|e| StoreError::new(e.to_string()))?;
        let mut users = self.write();
        // Checked again: another thread may have added it while we hashed.
        if users.credentials.contains_key(username) || users.claims.contains_key(subject) {
            return Err(StoreError::conflict("the username or subject is taken"));
        }
        users.credentials.insert(
            username.to_owned(),
            Credential {
                subject: subject.to_owned(),
                password,
            },
        );
        users.claims.insert(subject.to_owned(), Arc::new(claims));
        Ok(())
    }

    fn taken(&self, username: &str, subject: &str) -> bool {
        let users = self.read();
        users.credentials.contains_key(username) || users.claims.contains_key(subject)
    }

    /// Replace the claims of `subject`; `false` if there is no such user.
    pub fn set_claims(&self, subject: &str, claims: UserClaims) -> bool {
        match self.write().claims.get_mut(subject) {
            Some(c) => {
                *c = Arc::new(claims);
                true
            }
            None => false,
        }
    }

    /// Remove the user with this username; `false` if there is none. Its subject's claims go
    /// too, so [`UserStore::claims`] then answers `None`.
    pub fn remove_user(&self, username: &str) -> bool {
        let mut users = self.write();
        match users.credentials.remove(username) {
            Some(c) => {
                users.claims.remove(&c.subject);
                true
            }
            None => false,
        }
    }

    /// How many users there are.
    pub fn len(&self) -> usize {
        self.read().credentials.len()
    }

    /// Whether there are no users.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn check(&self, username: &str, password: &str) -> Option<String> {
        // Copy what the check needs and let the lock go before the slow part.
        let credential = self.read().credentials.get(username).cloned();
        match credential {
            Some(c) => c.password.verify(password).then_some(c.subject),
            None => {
                // Same work as for a real user, so the timing does not reveal that none exists.
                PasswordHash::verify_absent(password, self.iterations());
                None
            }
        }
    }
}

impl Default for MemoryUsers {
    fn default() -> Self {
        MemoryUsers::new()
    }
}

impl fmt::Debug for MemoryUsers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryUsers")
            .field("users", &self.len())
            .field("iterations", &self.iterations())
            .finish_non_exhaustive()
    }
}

impl UserStore for MemoryUsers {
    async fn claims(&self, subject: &str) -> StoreResult<Option<Arc<UserClaims>>> {
        Ok(self.read().claims.get(subject).cloned())
    }

    async fn authenticate(&self, username: &str, password: &str) -> StoreResult<Option<String>> {
        Ok(self.check(username, password))
    }
}

impl UserDirectory for MemoryUsers {
    async fn put_user(
        &self,
        username: &str,
        password: &str,
        subject: &str,
        claims: UserClaims,
    ) -> StoreResult<()> {
        let password = PasswordHash::new(password, self.iterations(), &*self.inner.rng)
            .map_err(|e| StoreError::new(e.to_string()))?;
        let mut users = self.write();
        let subject_taken = users.claims.contains_key(subject)
            && users.credentials.get(username).map(|c| c.subject.as_str()) != Some(subject);
        if subject_taken {
            return Err(StoreError::conflict(
                "the subject belongs to another username",
            ));
        }
        let credential = Credential {
            subject: subject.to_owned(),
            password,
        };
        if let Some(old) = users.credentials.insert(username.to_owned(), credential) {
            users.claims.remove(&old.subject);
        }
        users.claims.insert(subject.to_owned(), Arc::new(claims));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_password_different_salt() {
        // Two users with one password: each has its own salt, so their hashes differ.
        let users = MemoryUsers::new().with_iterations(1000);
        users
            .add_user("a", "pw", "sa", UserClaims::default())
            .unwrap();
        users
            .add_user("b", "pw", "sb", UserClaims::default())
            .unwrap();
        let state = users.read();
        let (a, b) = (&state.credentials["a"], &state.credentials["b"]);
        assert_ne!(a.password.encode(), b.password.encode());
        assert_eq!(a.password.iterations(), 1000);
    }

    #[tokio::test]
    async fn put_user_is_an_idempotent_upsert() {
        let users = MemoryUsers::new().with_iterations(1000);
        for password in ["one", "one", "two"] {
            users
                .put_user("a", password, "sa", UserClaims::default())
                .await
                .unwrap();
        }
        assert_eq!(users.len(), 1);
        assert_eq!(users.check("a", "two"), Some("sa".to_owned()));
        assert_eq!(users.check("a", "one"), None);
        let taken = users.put_user("b", "pw", "sa", UserClaims::default()).await;
        assert_eq!(
            taken.unwrap_err().kind(),
            crate::store::StoreErrorKind::Conflict
        );
        users
            .put_user("a", "two", "sa2", UserClaims::default())
            .await
            .unwrap();
        assert!(
            !users.read().claims.contains_key("sa"),
            "the old subject is gone"
        );
    }

    #[test]
    fn iterations_are_kept_per_user() {
        let users = MemoryUsers::new().with_iterations(1000);
        users
            .add_user("a", "pw", "sa", UserClaims::default())
            .unwrap();
        let users = users.with_iterations(2000);
        users
            .add_user("b", "pw", "sb", UserClaims::default())
            .unwrap();
        assert_eq!(users.check("a", "pw"), Some("sa".to_owned()));
        assert_eq!(users.check("b", "pw"), Some("sb".to_owned()));
        assert_eq!(users.with_iterations(0).iterations(), 1);
    }
}
