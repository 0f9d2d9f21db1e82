//! The kit's [`SessionStore`] and [`PendingStore`]: records by the SHA-256 of their id, until
//! their expiry.

use opkit::secret::SecretHash;
use opkit::store::StoreResult;
use opkit_axum::{
    BoxFuture, PendingRecord, PendingStore, SessionRecord, SessionStore, StateResult,
};
use time::OffsetDateTime;

use crate::db::{from_doc, pg_time, to_doc};
use crate::error::to_state;
use crate::PostgresStore;

/// Rows removed per purge statement; `purge_expired` repeats until a batch comes back short.
const PURGE_BATCH: i64 = 1000;

const PUT_SESSION: &str = "INSERT INTO kit_sessions (id, doc, expires_at) VALUES ($1, $2, $3) \
     ON CONFLICT (id) DO UPDATE SET doc = EXCLUDED.doc, expires_at = EXCLUDED.expires_at";
pub(crate) const GET_SESSION: &str =
    "SELECT doc FROM kit_sessions WHERE id = $1 AND expires_at > $2";
const REMOVE_SESSION: &str = "DELETE FROM kit_sessions WHERE id = $1";
pub(crate) const PURGE_SESSIONS: &str = "DELETE FROM kit_sessions WHERE id = ANY(ARRAY(\
     SELECT id FROM kit_sessions WHERE expires_at <= $1 LIMIT $2))";

const PUT_PENDING: &str = "INSERT INTO kit_pending (id, doc, expires_at) VALUES ($1, $2, $3) \
     ON CONFLICT (id) DO UPDATE SET doc = EXCLUDED.doc, expires_at = EXCLUDED.expires_at";
/// Single use: the row goes in the statement that returns it, so of concurrent takes one gets
/// it. An expired row stays for the purge.
pub(crate) const TAKE_PENDING: &str =
    "DELETE FROM kit_pending WHERE id = $1 AND expires_at > $2 RETURNING doc, expires_at";
pub(crate) const PURGE_PENDING: &str = "DELETE FROM kit_pending WHERE id = ANY(ARRAY(\
     SELECT id FROM kit_pending WHERE expires_at <= $1 LIMIT $2))";

impl PostgresStore {
    async fn put_state(
        &self,
        sql: &'static str,
        id: &SecretHash,
        doc: &str,
        expires_at: OffsetDateTime,
    ) -> StoreResult<()> {
        let expires_at = pg_time(expires_at);
        self.call(|c| async move {
            let st = c.prepare_cached(sql).await?;
            c.execute(&st, &[&&id.0[..], &doc, &expires_at]).await?;
            Ok(())
        })
        .await
    }

    async fn purge_state(&self, sql: &'static str, now: OffsetDateTime) -> StoreResult<u64> {
        let now = pg_time(now);
        let mut total = 0;
        loop {
            let n = self
                .call(|c| async move {
                    let st = c.prepare_cached(sql).await?;
                    Ok(c.execute(&st, &[&now, &PURGE_BATCH]).await?)
                })
                .await?;
            total += n;
            if n < PURGE_BATCH as u64 {
                return Ok(total);
            }
        }
    }
}

impl SessionStore for PostgresStore {
    fn insert(
        &self,
        id: SecretHash,
        record: SessionRecord,
        expires_at: OffsetDateTime,
        _now: OffsetDateTime,
    ) -> BoxFuture<'_, StateResult<()>> {
        Box::pin(async move {
            let doc = to_doc("session", &record).map_err(|e| to_state(e.into_store()))?;
            self.put_state(PUT_SESSION, &id, &doc, expires_at)
                .await
                .map_err(to_state)
        })
    }

    fn get(
        &self,
        id: SecretHash,
        now: OffsetDateTime,
    ) -> BoxFuture<'_, StateResult<Option<SessionRecord>>> {
        Box::pin(async move {
            let now = pg_time(now);
            let id = &id;
            self.call(|c| async move {
                let st = c.prepare_cached(GET_SESSION).await?;
                let row = c.query_opt(&st, &[&&id.0[..], &now]).await?;
                row.map(|r| from_doc("session", r.try_get(0)?)).transpose()
            })
            .await
            .map_err(to_state)
        })
    }

    fn remove(&self, id: SecretHash) -> BoxFuture<'_, StateResult<()>> {
        Box::pin(async move {
            let id = &id;
            self.call(|c| async move {
                let st = c.prepare_cached(REMOVE_SESSION).await?;
                c.execute(&st, &[&&id.0[..]]).await?;
                Ok(())
            })
            .await
            .map_err(to_state)
        })
    }

    fn purge_expired(&self, now: OffsetDateTime) -> BoxFuture<'_, StateResult<u64>> {
        Box::pin(async move {
            self.purge_state(PURGE_SESSIONS, now)
                .await
                .map_err(to_state)
        })
    }
}

impl PendingStore for PostgresStore {
    fn put(
        &self,
        id: SecretHash,
        record: PendingRecord,
        expires_at: OffsetDateTime,
        _now: OffsetDateTime,
    ) -> BoxFuture<'_, StateResult<()>> {
        Box::pin(async move {
            let doc = to_doc("pending step", &record).map_err(|e| to_state(e.into_store()))?;
            self.put_state(PUT_PENDING, &id, &doc, expires_at)
                .await
                .map_err(to_state)
        })
    }

    fn take(
        &self,
        id: SecretHash,
        now: OffsetDateTime,
    ) -> BoxFuture<'_, StateResult<Option<(PendingRecord, OffsetDateTime)>>> {
        Box::pin(async move {
            let now = pg_time(now);
            let id = &id;
            self.call(|c| async move {
                let st = c.prepare_cached(TAKE_PENDING).await?;
                let Some(row) = c.query_opt(&st, &[&&id.0[..], &now]).await? else {
                    return Ok(None);
                };
                let record: PendingRecord = from_doc("pending step", row.try_get(0)?)?;
                Ok(Some((record, row.try_get(1)?)))
            })
            .await
            .map_err(to_state)
        })
    }

    fn purge_expired(&self, now: OffsetDateTime) -> BoxFuture<'_, StateResult<u64>> {
        Box::pin(async move { self.purge_state(PURGE_PENDING, now).await.map_err(to_state) })
    }
}
