//! The example's users: opkit's [`MemoryUsers`] (PBKDF2 password hashes), wrapped so that the
//! slow password check runs on tokio's blocking pool instead of an async worker, for the login
//! page and the password grant alike.

use std::future::Future;
use std::sync::Arc;

use opkit::claims::UserClaims;
use opkit::host::Rng;
use opkit::secret::{random_token, SecretHash};
use opkit::store::{MemoryUsers, StoreError, StoreResult, UserStore};

use super::UserSpec;

/// In-memory users whose password checks do not block the async runtime.
#[derive(Clone, Debug)]
pub struct Users(MemoryUsers);

impl Users {
    /// No users yet.
    pub(crate) fn new() -> Self {
        Users(MemoryUsers::new())
    }

    /// Add the configured users, or a user `demo` with a random password when there are none.
    /// Returns the usernames and, for the generated demo user, its name and password.
    pub(crate) async fn add(
        &self,
        specs: &[UserSpec],
        rng: &dyn Rng,
    ) -> Result<(Vec<String>, Option<(String, String)>), String> {
        let (specs, generated) = if specs.is_empty() {
            let password = random_token(rng, 12).map_err(|e| e.to_string())?;
            let demo = UserSpec {
                username: "demo".to_owned(),
                password: password.clone(),
            };
            (vec![demo], Some(("demo".to_owned(), password)))
        } else {
            (specs.to_vec(), None)
        };
        let usernames = specs.iter().map(|u| u.username.clone()).collect();
        let users = self.0.clone();
        // Hashing each password takes a while.
        tokio::task::spawn_blocking(move || {
            for spec in &specs {
                users
                    .add_user(
                        &spec.username,
                        &spec.password,
                        &subject_for(&spec.username),
                        claims_for(&spec.username),
                    )
                    .map_err(|e| format!("cannot add user {}: {e}", spec.username))?;
            }
            Ok::<(), String>(())
        })
        .await
        .map_err(|e| format!("adding users failed: {e}"))??;
        Ok((usernames, generated))
    }
}

impl UserStore for Users {
    fn claims(
        &self,
        subject: &str,
    ) -> impl Future<Output = StoreResult<Option<Arc<UserClaims>>>> + Send {
        self.0.claims(subject)
    }

    fn authenticate(
        &self,
        username: &str,
        password: &str,
    ) -> impl Future<Output = StoreResult<Option<String>>> + Send {
        let users = self.0.clone();
        let (username, password) = (username.to_owned(), password.to_owned());
        async move {
            let handle = tokio::runtime::Handle::current();
            tokio::task::spawn_blocking(move || {
                handle.block_on(users.authenticate(&username, &password))
            })
            .await
            .map_err(|e| StoreError::new(format!("the password check failed: {e}")))?
        }
    }
}

/// A stable subject for a username (the same at every start, so relying parties keep
/// recognising the user): 32 hex digits of SHA-256 over a fixed prefix and the name.
fn subject_for(username: &str) -> String {
    let mut hex = SecretHash::of(&format!("opkit-example-user:{username}")).to_hex();
    hex.truncate(32);
    hex
}

/// Plausible claims for a username.
fn claims_for(username: &str) -> UserClaims {
    let mut chars = username.chars();
    let name: String = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    };
    UserClaims {
        name: Some(name.clone()),
        given_name: Some(name),
        preferred_username: Some(username.to_owned()),
        email: Some(format!("{username}@example.com")),
        email_verified: Some(true),
        locale: Some("en".to_owned()),
        ..UserClaims::default()
    }
}
