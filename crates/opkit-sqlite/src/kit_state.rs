//! The axum kit's [`SessionStore`] and [`PendingStore`]: login sessions and pending steps by
//! the SHA-256 of their ids, so a login started on one instance completes on another.

use opkit::secret::SecretHash;
use opkit_axum::{
    BoxFuture, PendingRecord, PendingStore, SessionRecord, SessionStore, StateResult,
};
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::codec::{count, from_json, micros, to_json};
use crate::error::Result;
use crate::{sql, SqliteStore};

/// How many expired rows one purge statement removes; `purge_expired` repeats until done.
const PURGE_BATCH: i64 = 1000;

/// A pending step as stored: the record and its exact expiry (the `expires_at` column is
/// rounded down to the microsecond, and `take` returns the expiry as given).
#[derive(Serialize)]
struct PendingDoc<'a> {
    record: &'a PendingRecord,
    expires_at: OffsetDateTime,
}

#[derive(Deserialize)]
struct StoredPending {
    record: PendingRecord,
    expires_at: OffsetDateTime,
}

/// Run one bounded purge statement until it removes less than a batch.
fn purge_all(c: &Connection, sql: &str, now: OffsetDateTime) -> Result<u64> {
    let mut stmt = c.prepare_cached(sql)?;
    let mut total = 0;
    loop {
        let n = stmt.execute([micros(now), PURGE_BATCH])?;
        total += count(n);
        if (n as i64) < PURGE_BATCH {
            return Ok(total);
        }
    }
}

impl SessionStore for SqliteStore {
    fn insert(
        &self,
        id: SecretHash,
        record: SessionRecord,
        expires_at: OffsetDateTime,
        _now: OffsetDateTime,
    ) -> BoxFuture<'_, StateResult<()>> {
        Box::pin(async move {
            let doc = to_json(&record)?;
            self.write(move |c| {
                c.prepare_cached(
                    "INSERT INTO kit_sessions (id, doc, expires_at) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (id) DO UPDATE SET doc = excluded.doc, \
                     expires_at = excluded.expires_at",
                )?
                .execute(params![&id.0[..], doc, micros(expires_at)])?;
                Ok(())
            })
            .await
            .map_err(Into::into)
        })
    }

    fn get(
        &self,
        id: SecretHash,
        now: OffsetDateTime,
    ) -> BoxFuture<'_, StateResult<Option<SessionRecord>>> {
        Box::pin(async move {
            self.run(move |c| {
                c.prepare_cached(sql::SESSION_GET)?
                    .query_row(params![&id.0[..], micros(now)], |row| {
                        row.get::<_, String>(0)
                    })
                    .optional()?
                    .map(|doc| from_json(&doc))
                    .transpose()
            })
            .await
            .map_err(Into::into)
        })
    }

    fn remove(&self, id: SecretHash) -> BoxFuture<'_, StateResult<()>> {
        Box::pin(async move {
            self.write(move |c| {
                c.prepare_cached("DELETE FROM kit_sessions WHERE id = ?1")?
                    .execute([&id.0[..]])?;
                Ok(())
            })
            .await
            .map_err(Into::into)
        })
    }

    fn purge_expired(&self, now: OffsetDateTime) -> BoxFuture<'_, StateResult<u64>> {
        Box::pin(async move {
            self.write(move |c| purge_all(c, sql::PURGE_SESSIONS, now))
                .await
                .map_err(Into::into)
        })
    }
}

impl PendingStore for SqliteStore {
    fn put(
        &self,
        id: SecretHash,
        record: PendingRecord,
        expires_at: OffsetDateTime,
        _now: OffsetDateTime,
    ) -> BoxFuture<'_, StateResult<()>> {
        Box::pin(async move {
            let doc = to_json(&PendingDoc {
                record: &record,
                expires_at,
            })?;
            self.write(move |c| {
                c.prepare_cached(
                    "INSERT INTO kit_pending (id, doc, expires_at) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (id) DO UPDATE SET doc = excluded.doc, \
                     expires_at = excluded.expires_at",
                )?
                .execute(params![&id.0[..], doc, micros(expires_at)])?;
                Ok(())
            })
            .await
            .map_err(Into::into)
        })
    }

    /// One `DELETE … WHERE id = ?1 AND expires_at > ?2 RETURNING doc`: of concurrent takes,
    /// one gets the row.
    fn take(
        &self,
        id: SecretHash,
        now: OffsetDateTime,
    ) -> BoxFuture<'_, StateResult<Option<(PendingRecord, OffsetDateTime)>>> {
        Box::pin(async move {
            self.write(move |c| {
                c.prepare_cached(sql::PENDING_TAKE)?
                    .query_row(params![&id.0[..], micros(now)], |row| {
                        row.get::<_, String>(0)
                    })
                    .optional()?
                    .map(|doc| {
                        let stored: StoredPending = from_json(&doc)?;
                        Ok((stored.record, stored.expires_at))
                    })
                    .transpose()
            })
            .await
            .map_err(Into::into)
        })
    }

    fn purge_expired(&self, now: OffsetDateTime) -> BoxFuture<'_, StateResult<u64>> {
        Box::pin(async move {
            self.write(move |c| purge_all(c, sql::PURGE_PENDING, now))
                .await
                .map_err(Into::into)
        })
    }
}
