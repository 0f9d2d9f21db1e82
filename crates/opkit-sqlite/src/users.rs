//! [`UserStore`], and the inherent methods that add and remove users.

use std::sync::Arc;

use opkit::claims::UserClaims;
use opkit::secret::PasswordHash;
use opkit::store::{StoreError, StoreResult, UserStore};
use rusqlite::OptionalExtension;

use crate::codec::{from_json, to_json};
use crate::error::{Error, Result};
use crate::{sql, SqliteStore};

impl SqliteStore {
    /// Add the user `username`, or replace its password, subject and claims: running it again
    /// with the same arguments leaves the same user (the password is hashed anew, with a fresh
    /// salt). The password is hashed with [`PasswordHash`] at
    /// [`SqliteOptions::password_iterations`](crate::SqliteOptions::password_iterations), on
    /// tokio's blocking pool. A `subject` that another username holds is a conflict.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use opkit::claims::UserClaims;
    /// use opkit::store::UserStore;
    /// use opkit_sqlite::{SqliteOptions, SqliteStore};
    ///
    /// let dir = std::env::temp_dir().join(format!("opkit-users-doc-{}", std::process::id()));
    /// let options = SqliteOptions::default().password_iterations(1_000);
    /// let store = SqliteStore::open(dir.join("op.db"), options).await?;
    /// let claims = UserClaims { name: Some("Ada".into()), ..Default::default() };
    /// store.put_user("ada", "correct horse", "user-1", claims).await?;
    /// assert_eq!(store.authenticate("ada", "correct horse").await?, Some("user-1".into()));
    /// assert!(store.remove_user("ada").await?);
    /// assert_eq!(store.authenticate("ada", "correct horse").await?, None);
    /// # drop(store);
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn put_user(
        &self,
        username: &str,
        password: &str,
        subject: &str,
        claims: UserClaims,
    ) -> StoreResult<()> {
        let options = self.options();
        let (iterations, rng) = (options.password_iterations, Arc::clone(&options.rng));
        let password = password.to_owned();
        let hash = self
            .blocking(move || PasswordHash::new(&password, iterations, &*rng))
            .await?
            .map_err(|e| StoreError::new(format!("hashing a password failed: {e}")))?
            .encode();
        let claims = to_json(&claims)?;
        let (username, subject) = (username.to_owned(), subject.to_owned());
        self.write(move |c| {
            c.prepare_cached(
                "INSERT INTO users (username, subject, password_hash, claims) \
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT (username) DO UPDATE SET \
                 subject = excluded.subject, password_hash = excluded.password_hash, \
                 claims = excluded.claims",
            )?
            .execute([&username, &subject, &hash, &claims])?;
            Ok(())
        })
        .await
        .map_err(Into::into)
    }

    /// Remove the user `username`; `false` if there was none. Its claims go with it, so
    /// [`UserStore::claims`] of its subject then answers `None`.
    pub async fn remove_user(&self, username: &str) -> StoreResult<bool> {
        let username = username.to_owned();
        self.write(move |c| {
            Ok(c.prepare_cached("DELETE FROM users WHERE username = ?1")?
                .execute([&username])?
                > 0)
        })
        .await
        .map_err(Into::into)
    }
}

impl UserStore for SqliteStore {
    async fn claims(&self, subject: &str) -> StoreResult<Option<Arc<UserClaims>>> {
        let subject = subject.to_owned();
        self.run(move |c| {
            c.prepare_cached(sql::CLAIMS_BY_SUBJECT)?
                .query_row([&subject], |row| row.get::<_, String>(0))
                .optional()?
                .map(|doc| from_json(&doc).map(Arc::new))
                .transpose()
        })
        .await
        .map_err(Into::into)
    }

    /// The check runs on tokio's blocking pool; an unknown username costs the same derivation
    /// ([`PasswordHash::verify_absent`]). A stored hash that does not parse is a backend error.
    async fn authenticate(&self, username: &str, password: &str) -> StoreResult<Option<String>> {
        let name = username.to_owned();
        let found: Option<(String, String)> = self
            .run(move |c| {
                Ok(c.prepare_cached(sql::USER_BY_USERNAME)?
                    .query_row([&name], |row| Ok((row.get(0)?, row.get(1)?)))
                    .optional()?)
            })
            .await?;
        let password = password.to_owned();
        let iterations = self.options().password_iterations;
        let checked: Result<Option<String>> = self
            .blocking(move || match found {
                None => {
                    PasswordHash::verify_absent(&password, iterations);
                    Ok(None)
                }
                Some((subject, stored)) => {
                    let hash: PasswordHash = stored.parse().map_err(|_| {
                        Error::Corrupt("a stored password hash does not parse".into())
                    })?;
                    Ok(hash.verify(&password).then_some(subject))
                }
            })
            .await?;
        checked.map_err(Into::into)
    }
}

impl opkit::store::UserDirectory for SqliteStore {
    fn put_user(
        &self,
        username: &str,
        password: &str,
        subject: &str,
        claims: UserClaims,
    ) -> impl std::future::Future<Output = StoreResult<()>> + Send {
        SqliteStore::put_user(self, username, password, subject, claims)
    }
}
