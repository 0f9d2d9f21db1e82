//! [`BlockingUsers`]: any [`UserStore`] with its password check moved off the async workers.

use std::future::Future;
use std::sync::Arc;

use opkit::claims::UserClaims;
use opkit::store::{StoreError, StoreResult, UserStore};

/// Wraps the host's [`UserStore`] so that [`UserStore::authenticate`] (a password hash, which
/// takes milliseconds of CPU) runs on tokio's blocking pool instead of an async worker. The
/// kit's [`crate::OpenIdProvider`] always wraps the users it is given, so the login page and
/// the password grant both check passwords here. The wrapped check may do async I/O too: it
/// runs with [`tokio::runtime::Handle::block_on`] on the blocking pool (on a current-thread
/// runtime that needs the runtime to be driven by its own thread meanwhile, as
/// [`crate::serve`]'s workers are).
///
/// ```
/// use opkit::store::{MemoryUsers, UserStore};
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let users = MemoryUsers::new().with_iterations(1000);
/// users.add_user("alice", "pw", "sub-1", Default::default()).unwrap();
/// let users = opkit_axum::BlockingUsers::new(users);
/// assert_eq!(users.authenticate("alice", "pw").await.unwrap().as_deref(), Some("sub-1"));
/// # }
/// ```
#[derive(Debug)]
pub struct BlockingUsers<U>(Arc<U>);

impl<U> Clone for BlockingUsers<U> {
    fn clone(&self) -> Self {
        BlockingUsers(self.0.clone())
    }
}

impl<U> BlockingUsers<U> {
    /// Wrap `users`.
    pub fn new(users: U) -> Self {
        BlockingUsers(Arc::new(users))
    }

    /// The wrapped store (to add users, say).
    pub fn inner(&self) -> &U {
        &self.0
    }
}

impl<U: UserStore + 'static> UserStore for BlockingUsers<U> {
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
