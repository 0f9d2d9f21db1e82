//! [`CodeStore`], [`RefreshTokenStore`] and [`RevokedTokenStore`]: the records that are
//! redeemed, rotated or revoked exactly once, each decided by one statement in the database.

use opkit::secret::SecretHash;
use opkit::store::{
    CodeRecord, CodeRedemption, CodeStore, GrantId, RefreshLookup, RefreshRecord, RefreshReuse,
    RefreshRotation, RefreshTokenStore, RevokedTokenStore, StoreResult,
};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use time::OffsetDateTime;

use crate::codec::{count, from_json, limit, micros, to_json};
use crate::error::Result;
use crate::{sql, SqliteStore};

/// `DELETE … WHERE key IN (SELECT key … WHERE expires_at <= ?1 LIMIT ?2)` on `table`.
fn purge(c: &Connection, sql: &str, now: OffsetDateTime, n: usize) -> Result<u64> {
    let removed = c.prepare_cached(sql)?.execute([micros(now), limit(n)])?;
    Ok(count(removed))
}

impl CodeStore for SqliteStore {
    async fn put_code(&self, code: CodeRecord) -> StoreResult<()> {
        let doc = to_json(&code)?;
        self.write(move |c| {
            c.prepare_cached(
                "INSERT INTO codes (hash, grant_id, doc, expires_at) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![
                &code.hash.0[..],
                code.grant_id.0,
                doc,
                micros(code.expires_at)
            ])?;
            Ok(())
        })
        .await
        .map_err(Into::into)
    }

    /// One `UPDATE … WHERE NOT redeemed RETURNING doc` decides the winner; when it finds no
    /// row, a `SELECT` tells a replay from an unknown code.
    async fn redeem_code(&self, hash: &SecretHash) -> StoreResult<CodeRedemption> {
        let hash = hash.0;
        self.write(move |c| {
            let doc: Option<String> = c
                .prepare_cached(sql::REDEEM_CODE)?
                .query_row([&hash[..]], |row| row.get(0))
                .optional()?;
            if let Some(doc) = doc {
                return Ok(CodeRedemption::Redeemed(Box::new(from_json(&doc)?)));
            }
            let grant: Option<String> = c
                .prepare_cached(sql::CODE_GRANT)?
                .query_row([&hash[..]], |row| row.get(0))
                .optional()?;
            Ok(match grant {
                Some(id) => CodeRedemption::Replayed {
                    grant_id: GrantId(id),
                },
                None => CodeRedemption::Unknown,
            })
        })
        .await
        .map_err(Into::into)
    }

    async fn purge_expired_codes(&self, now: OffsetDateTime, n: usize) -> StoreResult<u64> {
        self.write(move |c| purge(c, sql::PURGE_CODES, now, n))
            .await
            .map_err(Into::into)
    }
}

fn insert_refresh(c: &Connection, token: &RefreshRecord, doc: &str) -> Result<()> {
    c.prepare_cached(
        "INSERT INTO refresh_tokens (hash, grant_id, doc, expires_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![
        &token.hash.0[..],
        token.grant_id.0,
        doc,
        micros(token.expires_at)
    ])?;
    Ok(())
}

impl RefreshTokenStore for SqliteStore {
    async fn put_refresh_token(&self, token: RefreshRecord) -> StoreResult<()> {
        let doc = to_json(&token)?;
        self.write(move |c| insert_refresh(c, &token, &doc))
            .await
            .map_err(Into::into)
    }

    async fn refresh_token(&self, hash: &SecretHash) -> StoreResult<Option<RefreshLookup>> {
        let hash = hash.0;
        self.run(move |c| {
            let row: Option<(String, bool)> = c
                .prepare_cached(sql::REFRESH_LOOKUP)?
                .query_row([&hash[..]], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()?;
            row.map(|(doc, rotated)| {
                Ok(RefreshLookup {
                    record: from_json(&doc)?,
                    rotated,
                })
            })
            .transpose()
        })
        .await
        .map_err(Into::into)
    }

    /// In one `BEGIN IMMEDIATE` transaction: `UPDATE … SET rotated = 1, rotated_at = ?2 WHERE
    /// hash = ?1 AND NOT rotated RETURNING grant_id`, then the `INSERT` of `next`. A next hash
    /// already in use is a conflict and rolls the whole rotation back; reuse stores nothing.
    async fn rotate_refresh_token(
        &self,
        presented: &SecretHash,
        next: RefreshRecord,
    ) -> StoreResult<RefreshRotation> {
        let presented = presented.0;
        let doc = to_json(&next)?;
        self.write(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let rotated: Option<String> = tx
                .prepare_cached(sql::ROTATE_REFRESH)?
                .query_row(params![&presented[..], micros(next.issued_at)], |row| {
                    row.get(0)
                })
                .optional()?;
            if rotated.is_some() {
                insert_refresh(&tx, &next, &doc)?;
                tx.commit()?;
                return Ok(RefreshRotation::Rotated);
            }
            let grant: Option<String> = tx
                .prepare_cached(sql::REFRESH_GRANT)?
                .query_row([&presented[..]], |row| row.get(0))
                .optional()?;
            Ok(match grant {
                Some(id) => RefreshRotation::Reused {
                    grant_id: GrantId(id),
                },
                None => RefreshRotation::Unknown,
            })
        })
        .await
        .map_err(Into::into)
    }

    /// In one `BEGIN IMMEDIATE` transaction: `UPDATE … SET reuses = reuses + 1 WHERE hash = ?1
    /// AND rotated AND rotated_at >= ?2 AND reuses < ?3 RETURNING grant_id`, then the `INSERT`
    /// of `next`. A next hash already in use is a conflict and rolls the count back too.
    async fn reuse_rotated_refresh_token(
        &self,
        presented: &SecretHash,
        window_start: OffsetDateTime,
        max_reuses: u32,
        next: RefreshRecord,
    ) -> StoreResult<RefreshReuse> {
        let presented = presented.0;
        let doc = to_json(&next)?;
        self.write(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let granted: Option<String> = tx
                .prepare_cached(sql::REUSE_REFRESH)?
                .query_row(
                    params![&presented[..], micros(window_start), i64::from(max_reuses)],
                    |row| row.get(0),
                )
                .optional()?;
            if granted.is_some() {
                insert_refresh(&tx, &next, &doc)?;
                tx.commit()?;
                return Ok(RefreshReuse::Granted);
            }
            let grant: Option<String> = tx
                .prepare_cached(sql::REFRESH_GRANT)?
                .query_row([&presented[..]], |row| row.get(0))
                .optional()?;
            Ok(match grant {
                Some(id) => RefreshReuse::Refused {
                    grant_id: GrantId(id),
                },
                None => RefreshReuse::Unknown,
            })
        })
        .await
        .map_err(Into::into)
    }

    async fn purge_expired_refresh_tokens(
        &self,
        now: OffsetDateTime,
        n: usize,
    ) -> StoreResult<u64> {
        self.write(move |c| purge(c, sql::PURGE_REFRESH, now, n))
            .await
            .map_err(Into::into)
    }
}

impl RevokedTokenStore for SqliteStore {
    /// Keeps the first expiry given for a `jti`.
    async fn revoke_access_token(&self, jti: &str, expires_at: OffsetDateTime) -> StoreResult<()> {
        let jti = jti.to_owned();
        self.write(move |c| {
            c.prepare_cached(
                "INSERT INTO revoked_access_tokens (jti, expires_at) VALUES (?1, ?2) \
                 ON CONFLICT DO NOTHING",
            )?
            .execute(params![jti, micros(expires_at)])?;
            Ok(())
        })
        .await
        .map_err(Into::into)
    }

    async fn is_access_token_revoked(&self, jti: &str) -> StoreResult<bool> {
        let jti = jti.to_owned();
        self.run(move |c| {
            Ok(c.prepare_cached(sql::ACCESS_TOKEN_REVOKED)?
                .exists([&jti])?)
        })
        .await
        .map_err(Into::into)
    }

    async fn purge_revoked_access_tokens(&self, now: OffsetDateTime, n: usize) -> StoreResult<u64> {
        self.write(move |c| purge(c, sql::PURGE_REVOKED, now, n))
            .await
            .map_err(Into::into)
    }
}
