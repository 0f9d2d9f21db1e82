//! [`GrantStore`] and [`ConsentStore`].

use opkit::store::{Consent, ConsentStore, Grant, GrantId, GrantStore, StoreResult};
use rusqlite::{params, OptionalExtension};
use time::OffsetDateTime;

use crate::codec::{count, from_json, limit, micros, to_json};
use crate::{sql, SqliteStore};

impl GrantStore for SqliteStore {
    async fn create_grant(&self, grant: Grant) -> StoreResult<()> {
        let doc = to_json(&grant)?;
        self.write(move |c| {
            c.prepare_cached(
                "INSERT INTO grants (id, client_id, subject, doc, expires_at, revoked) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                grant.id.0,
                grant.client_id,
                grant.subject,
                doc,
                micros(grant.expires_at),
                grant.revoked
            ])?;
            Ok(())
        })
        .await
        .map_err(Into::into)
    }

    /// The `revoked` column is the truth; the document keeps the rest.
    async fn grant(&self, id: &GrantId) -> StoreResult<Option<Grant>> {
        let id = id.0.clone();
        self.run(move |c| {
            let row: Option<(String, bool)> = c
                .prepare_cached(sql::GRANT_BY_ID)?
                .query_row([&id], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()?;
            row.map(|(doc, revoked)| {
                let mut grant: Grant = from_json(&doc)?;
                grant.revoked = revoked;
                Ok(grant)
            })
            .transpose()
        })
        .await
        .map_err(Into::into)
    }

    async fn revoke_grant(&self, id: &GrantId) -> StoreResult<()> {
        let id = id.0.clone();
        self.write(move |c| {
            c.prepare_cached(sql::REVOKE_GRANT)?.execute([&id])?;
            Ok(())
        })
        .await
        .map_err(Into::into)
    }

    async fn revoke_grants(&self, client_id: &str, subject: Option<&str>) -> StoreResult<u64> {
        let client_id = client_id.to_owned();
        let subject = subject.map(str::to_owned);
        self.write(move |c| {
            let n = match &subject {
                Some(subject) => c
                    .prepare_cached(sql::REVOKE_SUBJECT_GRANTS)?
                    .execute([&client_id, subject])?,
                None => c
                    .prepare_cached(sql::REVOKE_CLIENT_GRANTS)?
                    .execute([&client_id])?,
            };
            Ok(count(n))
        })
        .await
        .map_err(Into::into)
    }

    async fn purge_expired_grants(&self, now: OffsetDateTime, n: usize) -> StoreResult<u64> {
        let (now, n) = (micros(now), limit(n));
        self.write(move |c| {
            let removed = c.prepare_cached(sql::PURGE_GRANTS)?.execute([now, n])?;
            Ok(count(removed))
        })
        .await
        .map_err(Into::into)
    }
}

impl ConsentStore for SqliteStore {
    async fn consent(&self, subject: &str, client_id: &str) -> StoreResult<Option<Consent>> {
        let key = (subject.to_owned(), client_id.to_owned());
        self.run(move |c| {
            c.prepare_cached(sql::CONSENT)?
                .query_row([&key.0, &key.1], |row| row.get::<_, String>(0))
                .optional()?
                .map(|doc| from_json(&doc))
                .transpose()
        })
        .await
        .map_err(Into::into)
    }

    async fn put_consent(&self, consent: Consent) -> StoreResult<()> {
        let doc = to_json(&consent)?;
        self.write(move |c| {
            c.prepare_cached(
                "INSERT INTO consents (subject, client_id, doc) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (subject, client_id) DO UPDATE SET doc = excluded.doc",
            )?
            .execute([&consent.subject, &consent.client_id, &doc])?;
            Ok(())
        })
        .await
        .map_err(Into::into)
    }

    async fn delete_consent(&self, subject: &str, client_id: &str) -> StoreResult<bool> {
        let key = (subject.to_owned(), client_id.to_owned());
        self.write(move |c| {
            let n = c
                .prepare_cached("DELETE FROM consents WHERE subject = ?1 AND client_id = ?2")?
                .execute([&key.0, &key.1])?;
            Ok(n > 0)
        })
        .await
        .map_err(Into::into)
    }
}
