//! [`GrantStore`] and [`ConsentStore`]: grants with their revocation flag in a column, consents
//! by `(subject, client_id)`.

use opkit::store::{Consent, ConsentStore, Grant, GrantId, GrantStore, StoreResult};
use time::OffsetDateTime;

use crate::db::{from_doc, limit, pg_time, to_doc};
use crate::PostgresStore;

const INSERT: &str = "INSERT INTO grants (id, client_id, subject, doc, expires_at, revoked) \
     VALUES ($1, $2, $3, $4, $5, $6)";
pub(crate) const BY_ID: &str = "SELECT doc, revoked FROM grants WHERE id = $1";
const REVOKE: &str = "UPDATE grants SET revoked = true WHERE id = $1 AND NOT revoked";
pub(crate) const REVOKE_CLIENT: &str =
    "UPDATE grants SET revoked = true WHERE client_id = $1 AND NOT revoked";
pub(crate) const REVOKE_SUBJECT: &str =
    "UPDATE grants SET revoked = true WHERE client_id = $1 AND subject = $2 AND NOT revoked";
pub(crate) const PURGE: &str = "DELETE FROM grants WHERE id = ANY(ARRAY(\
     SELECT id FROM grants WHERE expires_at <= $1 LIMIT $2))";

pub(crate) const CONSENT: &str = "SELECT doc FROM consents WHERE subject = $1 AND client_id = $2";
const PUT_CONSENT: &str = "INSERT INTO consents (subject, client_id, doc) VALUES ($1, $2, $3) \
     ON CONFLICT (subject, client_id) DO UPDATE SET doc = EXCLUDED.doc";
const DELETE_CONSENT: &str = "DELETE FROM consents WHERE subject = $1 AND client_id = $2";

impl GrantStore for PostgresStore {
    async fn create_grant(&self, grant: Grant) -> StoreResult<()> {
        let grant = &grant;
        self.call(|c| async move {
            let doc = to_doc("grant", grant)?;
            let st = c.prepare_cached(INSERT).await?;
            c.execute(
                &st,
                &[
                    &grant.id.0,
                    &grant.client_id,
                    &grant.subject,
                    &doc,
                    &pg_time(grant.expires_at),
                    &grant.revoked,
                ],
            )
            .await?;
            Ok(())
        })
        .await
    }

    async fn grant(&self, id: &GrantId) -> StoreResult<Option<Grant>> {
        self.call(|c| async move {
            let st = c.prepare_cached(BY_ID).await?;
            let Some(row) = c.query_opt(&st, &[&id.0]).await? else {
                return Ok(None);
            };
            let mut grant: Grant = from_doc("grant", row.try_get(0)?)?;
            // The column is the truth: revocation never rewrites the document.
            grant.revoked = row.try_get(1)?;
            Ok(Some(grant))
        })
        .await
    }

    async fn revoke_grant(&self, id: &GrantId) -> StoreResult<()> {
        self.call(|c| async move {
            let st = c.prepare_cached(REVOKE).await?;
            c.execute(&st, &[&id.0]).await?;
            Ok(())
        })
        .await
    }

    async fn revoke_grants(&self, client_id: &str, subject: Option<&str>) -> StoreResult<u64> {
        self.call(|c| async move {
            Ok(match subject {
                None => {
                    let st = c.prepare_cached(REVOKE_CLIENT).await?;
                    c.execute(&st, &[&client_id]).await?
                }
                Some(subject) => {
                    let st = c.prepare_cached(REVOKE_SUBJECT).await?;
                    c.execute(&st, &[&client_id, &subject]).await?
                }
            })
        })
        .await
    }

    async fn purge_expired_grants(&self, now: OffsetDateTime, n: usize) -> StoreResult<u64> {
        let (now, n) = (pg_time(now), limit(n));
        self.call(|c| async move {
            let st = c.prepare_cached(PURGE).await?;
            Ok(c.execute(&st, &[&now, &n]).await?)
        })
        .await
    }
}

impl ConsentStore for PostgresStore {
    async fn consent(&self, subject: &str, client_id: &str) -> StoreResult<Option<Consent>> {
        self.call(|c| async move {
            let st = c.prepare_cached(CONSENT).await?;
            let row = c.query_opt(&st, &[&subject, &client_id]).await?;
            row.map(|r| from_doc("consent", r.try_get(0)?)).transpose()
        })
        .await
    }

    async fn put_consent(&self, consent: Consent) -> StoreResult<()> {
        let consent = &consent;
        self.call(|c| async move {
            let doc = to_doc("consent", consent)?;
            let st = c.prepare_cached(PUT_CONSENT).await?;
            c.execute(&st, &[&consent.subject, &consent.client_id, &doc])
                .await?;
            Ok(())
        })
        .await
    }

    async fn delete_consent(&self, subject: &str, client_id: &str) -> StoreResult<bool> {
        self.call(|c| async move {
            let st = c.prepare_cached(DELETE_CONSENT).await?;
            Ok(c.execute(&st, &[&subject, &client_id]).await? > 0)
        })
        .await
    }
}
