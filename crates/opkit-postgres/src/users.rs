//! [`UserStore`], and the inherent methods that add and remove users.

use std::sync::Arc;

use opkit::claims::UserClaims;
use opkit::secret::PasswordHash;
use opkit::store::{StoreError, StoreResult, UserStore};

use crate::db::{from_doc, to_doc};
use crate::error::corrupt;
use crate::PostgresStore;

const CLAIMS: &str = "SELECT claims FROM users WHERE subject = $1";
const CREDENTIAL: &str = "SELECT subject, password_hash FROM users WHERE username = $1";
const PUT: &str = "INSERT INTO users (username, subject, password_hash, claims) \
     VALUES ($1, $2, $3, $4) ON CONFLICT (username) DO UPDATE \
     SET subject = EXCLUDED.subject, password_hash = EXCLUDED.password_hash, \
         claims = EXCLUDED.claims";
const REMOVE: &str = "DELETE FROM users WHERE username = $1";

impl PostgresStore {
    /// Add the user `username`, or replace its password, subject and claims: running it again
    /// with the same arguments changes nothing a caller can see (the hash gets a new salt). A
    /// `subject` that another username holds is a conflict
    /// ([`StoreErrorKind::Conflict`](opkit::store::StoreErrorKind::Conflict)).
    ///
    /// The password is hashed here with [`PasswordHash`] at the options'
    /// [`password_iterations`](crate::PostgresOptions::password_iterations), on the calling
    /// task: milliseconds of CPU (an async host calls it from a blocking pool, or at start-up).
    ///
    /// ```no_run
    /// # async fn run(store: opkit_postgres::PostgresStore) -> Result<(), opkit::store::StoreError> {
    /// use opkit::claims::UserClaims;
    /// use opkit::store::UserStore;
    ///
    /// let claims = UserClaims { name: Some("Ada".into()), ..Default::default() };
    /// store.put_user("ada", "correct horse", "user-1", claims).await?;
    /// assert_eq!(store.authenticate("ada", "correct horse").await?.as_deref(), Some("user-1"));
    /// assert!(store.remove_user("ada").await?);
    /// # Ok(()) }
    /// ```
    pub async fn put_user(
        &self,
        username: &str,
        password: &str,
        subject: &str,
        claims: UserClaims,
    ) -> StoreResult<()> {
        let hash = PasswordHash::new(
            password,
            self.inner.options.password_iterations,
            &self.inner.rng,
        )
        .map_err(|e| StoreError::new(format!("hashing a password: {e}")))?
        .encode();
        let (hash, claims) = (&hash, &claims);
        self.call(|c| async move {
            let claims = to_doc("user's claims", claims)?;
            let st = c.prepare_cached(PUT).await?;
            c.execute(&st, &[&username, &subject, hash, &claims])
                .await?;
            Ok(())
        })
        .await
    }

    /// Remove the user `username`; `false` if there was none. Its subject has no claims from
    /// then on.
    pub async fn remove_user(&self, username: &str) -> StoreResult<bool> {
        self.call(|c| async move {
            let st = c.prepare_cached(REMOVE).await?;
            Ok(c.execute(&st, &[&username]).await? > 0)
        })
        .await
    }
}

impl UserStore for PostgresStore {
    async fn claims(&self, subject: &str) -> StoreResult<Option<Arc<UserClaims>>> {
        self.call(|c| async move {
            let st = c.prepare_cached(CLAIMS).await?;
            let row = c.query_opt(&st, &[&subject]).await?;
            row.map(|r| from_doc("user's claims", r.try_get(0)?).map(Arc::new))
                .transpose()
        })
        .await
    }

    /// The password check runs on the calling task (milliseconds of CPU): `opkit-axum` wraps
    /// user stores in [`BlockingUsers`](opkit_axum::BlockingUsers), which moves it to the
    /// blocking pool. An unknown username costs the same work
    /// ([`PasswordHash::verify_absent`]).
    async fn authenticate(&self, username: &str, password: &str) -> StoreResult<Option<String>> {
        let found = self
            .call(|c| async move {
                let st = c.prepare_cached(CREDENTIAL).await?;
                let Some(row) = c.query_opt(&st, &[&username]).await? else {
                    return Ok(None);
                };
                let subject: String = row.try_get(0)?;
                let encoded: &str = row.try_get(1)?;
                let hash: PasswordHash =
                    encoded.parse().map_err(|e| corrupt("password hash", e))?;
                Ok(Some((subject, hash)))
            })
            .await?;
        Ok(match found {
            Some((subject, hash)) => hash.verify(password).then_some(subject),
            None => {
                PasswordHash::verify_absent(password, self.inner.options.password_iterations);
                None
            }
        })
    }
}

impl opkit::store::UserDirectory for PostgresStore {
    fn put_user(
        &self,
        username: &str,
        password: &str,
        subject: &str,
        claims: UserClaims,
    ) -> impl std::future::Future<Output = StoreResult<()>> + Send {
        PostgresStore::put_user(self, username, password, subject, claims)
    }
}
