//! [`CodeStore`], [`RefreshTokenStore`] and [`RevokedTokenStore`]: codes and refresh tokens by
//! the SHA-256 of the secret, each state change one statement (one round trip).

use opkit::secret::SecretHash;
use opkit::store::{
    CodeRecord, CodeRedemption, CodeStore, GrantId, RefreshLookup, RefreshRecord, RefreshReuse,
    RefreshRotation, RefreshTokenStore, RevokedTokenStore, StoreResult,
};
use time::OffsetDateTime;

use crate::db::{from_doc, limit, pg_time, to_doc};
use crate::PostgresStore;

const PUT_CODE: &str =
    "INSERT INTO codes (hash, grant_id, doc, expires_at) VALUES ($1, $2, $3, $4)";
/// Mark the code redeemed if it was not, and in the same statement (whose snapshot predates
/// the update) read its grant: a document back means Redeemed, only a grant id means Replayed,
/// neither means Unknown. Of concurrent calls, one updates the row; the others wait for its
/// row lock, then find it redeemed.
pub(crate) const REDEEM_CODE: &str = "WITH redeemed AS (\
         UPDATE codes SET redeemed = true WHERE hash = $1 AND NOT redeemed RETURNING doc) \
     SELECT (SELECT doc FROM redeemed), (SELECT grant_id FROM codes WHERE hash = $1)";
pub(crate) const PURGE_CODES: &str = "DELETE FROM codes WHERE hash = ANY(ARRAY(\
     SELECT hash FROM codes WHERE expires_at <= $1 LIMIT $2))";

const PUT_REFRESH: &str =
    "INSERT INTO refresh_tokens (hash, grant_id, doc, expires_at) VALUES ($1, $2, $3, $4)";
pub(crate) const REFRESH_LOOKUP: &str = "SELECT doc, rotated FROM refresh_tokens WHERE hash = $1";
/// Rotate and insert the next token in one statement: the insert draws its row from the
/// update, so it happens exactly when the update did, and a failed insert (a duplicate hash)
/// undoes the update. `grant_id` is read from the statement's snapshot for the Reused/Unknown
/// answer; reuse writes nothing. The rotation time ($6) is the next token's `issued_at`.
pub(crate) const ROTATE_REFRESH: &str = "WITH rotated AS (\
         UPDATE refresh_tokens SET rotated = true, rotated_at = $6 WHERE hash = $1 AND NOT rotated \
         RETURNING grant_id), \
     inserted AS (\
         INSERT INTO refresh_tokens (hash, grant_id, doc, expires_at) \
         SELECT $2::bytea, $3::text, $4::text, $5::timestamptz FROM rotated RETURNING 1) \
     SELECT EXISTS (SELECT 1 FROM inserted), \
         (SELECT grant_id FROM refresh_tokens WHERE hash = $1)";
/// A grace reuse, shaped like [`ROTATE_REFRESH`]: count the reuse if the token is rotated, was
/// rotated at or after $6 and has fewer than $7 reuses, and insert the next token from the
/// update's row. Concurrent calls queue on the row lock and each re-checks the count on the
/// row the previous one left (READ COMMITTED re-evaluates the `WHERE`), so at most $7 succeed.
pub(crate) const REUSE_REFRESH: &str = "WITH reused AS (\
         UPDATE refresh_tokens SET reuses = reuses + 1 \
         WHERE hash = $1 AND rotated AND rotated_at >= $6 AND reuses < $7 \
         RETURNING grant_id), \
     inserted AS (\
         INSERT INTO refresh_tokens (hash, grant_id, doc, expires_at) \
         SELECT $2::bytea, $3::text, $4::text, $5::timestamptz FROM reused RETURNING 1) \
     SELECT EXISTS (SELECT 1 FROM inserted), \
         (SELECT grant_id FROM refresh_tokens WHERE hash = $1)";
pub(crate) const PURGE_REFRESH: &str = "DELETE FROM refresh_tokens WHERE hash = ANY(ARRAY(\
     SELECT hash FROM refresh_tokens WHERE expires_at <= $1 LIMIT $2))";

const REVOKE_JTI: &str = "INSERT INTO revoked_access_tokens (jti, expires_at) VALUES ($1, $2) \
     ON CONFLICT (jti) DO NOTHING";
pub(crate) const JTI_REVOKED: &str =
    "SELECT EXISTS (SELECT 1 FROM revoked_access_tokens WHERE jti = $1)";
pub(crate) const PURGE_JTI: &str = "DELETE FROM revoked_access_tokens WHERE jti = ANY(ARRAY(\
     SELECT jti FROM revoked_access_tokens WHERE expires_at <= $1 LIMIT $2))";

fn key(hash: &SecretHash) -> &[u8] {
    &hash.0
}

impl CodeStore for PostgresStore {
    async fn put_code(&self, code: CodeRecord) -> StoreResult<()> {
        let code = &code;
        self.call(|c| async move {
            let doc = to_doc("code", code)?;
            let st = c.prepare_cached(PUT_CODE).await?;
            c.execute(
                &st,
                &[
                    &key(&code.hash),
                    &code.grant_id.0,
                    &doc,
                    &pg_time(code.expires_at),
                ],
            )
            .await?;
            Ok(())
        })
        .await
    }

    async fn redeem_code(&self, hash: &SecretHash) -> StoreResult<CodeRedemption> {
        self.call(|c| async move {
            let st = c.prepare_cached(REDEEM_CODE).await?;
            let row = c.query_one(&st, &[&key(hash)]).await?;
            let doc: Option<&str> = row.try_get(0)?;
            let grant: Option<String> = row.try_get(1)?;
            Ok(match (doc, grant) {
                (Some(doc), _) => CodeRedemption::Redeemed(Box::new(from_doc("code", doc)?)),
                (None, Some(grant_id)) => CodeRedemption::Replayed {
                    grant_id: GrantId(grant_id),
                },
                (None, None) => CodeRedemption::Unknown,
            })
        })
        .await
    }

    async fn purge_expired_codes(&self, now: OffsetDateTime, n: usize) -> StoreResult<u64> {
        let (now, n) = (pg_time(now), limit(n));
        self.call(|c| async move {
            let st = c.prepare_cached(PURGE_CODES).await?;
            Ok(c.execute(&st, &[&now, &n]).await?)
        })
        .await
    }
}

impl RefreshTokenStore for PostgresStore {
    async fn put_refresh_token(&self, token: RefreshRecord) -> StoreResult<()> {
        let token = &token;
        self.call(|c| async move {
            let doc = to_doc("refresh token", token)?;
            let st = c.prepare_cached(PUT_REFRESH).await?;
            c.execute(
                &st,
                &[
                    &key(&token.hash),
                    &token.grant_id.0,
                    &doc,
                    &pg_time(token.expires_at),
                ],
            )
            .await?;
            Ok(())
        })
        .await
    }

    async fn refresh_token(&self, hash: &SecretHash) -> StoreResult<Option<RefreshLookup>> {
        self.call(|c| async move {
            let st = c.prepare_cached(REFRESH_LOOKUP).await?;
            let Some(row) = c.query_opt(&st, &[&key(hash)]).await? else {
                return Ok(None);
            };
            Ok(Some(RefreshLookup {
                record: from_doc("refresh token", row.try_get(0)?)?,
                rotated: row.try_get(1)?,
            }))
        })
        .await
    }

    async fn rotate_refresh_token(
        &self,
        presented: &SecretHash,
        next: RefreshRecord,
    ) -> StoreResult<RefreshRotation> {
        let next = &next;
        self.call(|c| async move {
            let doc = to_doc("refresh token", next)?;
            let st = c.prepare_cached(ROTATE_REFRESH).await?;
            let row = c
                .query_one(
                    &st,
                    &[
                        &key(presented),
                        &key(&next.hash),
                        &next.grant_id.0,
                        &doc,
                        &pg_time(next.expires_at),
                        &pg_time(next.issued_at),
                    ],
                )
                .await?;
            let rotated: bool = row.try_get(0)?;
            let grant: Option<String> = row.try_get(1)?;
            Ok(match (rotated, grant) {
                (true, _) => RefreshRotation::Rotated,
                (false, Some(grant_id)) => RefreshRotation::Reused {
                    grant_id: GrantId(grant_id),
                },
                (false, None) => RefreshRotation::Unknown,
            })
        })
        .await
    }

    async fn reuse_rotated_refresh_token(
        &self,
        presented: &SecretHash,
        window_start: OffsetDateTime,
        max_reuses: u32,
        next: RefreshRecord,
    ) -> StoreResult<RefreshReuse> {
        let next = &next;
        let (window_start, max_reuses) = (
            pg_time(window_start),
            i32::try_from(max_reuses).unwrap_or(i32::MAX),
        );
        self.call(|c| async move {
            let doc = to_doc("refresh token", next)?;
            let st = c.prepare_cached(REUSE_REFRESH).await?;
            let row = c
                .query_one(
                    &st,
                    &[
                        &key(presented),
                        &key(&next.hash),
                        &next.grant_id.0,
                        &doc,
                        &pg_time(next.expires_at),
                        &window_start,
                        &max_reuses,
                    ],
                )
                .await?;
            let granted: bool = row.try_get(0)?;
            let grant: Option<String> = row.try_get(1)?;
            Ok(match (granted, grant) {
                (true, _) => RefreshReuse::Granted,
                (false, Some(grant_id)) => RefreshReuse::Refused {
                    grant_id: GrantId(grant_id),
                },
                (false, None) => RefreshReuse::Unknown,
            })
        })
        .await
    }

    async fn purge_expired_refresh_tokens(
        &self,
        now: OffsetDateTime,
        n: usize,
    ) -> StoreResult<u64> {
        let (now, n) = (pg_time(now), limit(n));
        self.call(|c| async move {
            let st = c.prepare_cached(PURGE_REFRESH).await?;
            Ok(c.execute(&st, &[&now, &n]).await?)
        })
        .await
    }
}

impl RevokedTokenStore for PostgresStore {
    async fn revoke_access_token(&self, jti: &str, expires_at: OffsetDateTime) -> StoreResult<()> {
        let expires_at = pg_time(expires_at);
        self.call(|c| async move {
            let st = c.prepare_cached(REVOKE_JTI).await?;
            c.execute(&st, &[&jti, &expires_at]).await?;
            Ok(())
        })
        .await
    }

    async fn is_access_token_revoked(&self, jti: &str) -> StoreResult<bool> {
        self.call(|c| async move {
            let st = c.prepare_cached(JTI_REVOKED).await?;
            Ok(c.query_one(&st, &[&jti]).await?.try_get(0)?)
        })
        .await
    }

    async fn purge_revoked_access_tokens(&self, now: OffsetDateTime, n: usize) -> StoreResult<u64> {
        let (now, n) = (pg_time(now), limit(n));
        self.call(|c| async move {
            let st = c.prepare_cached(PURGE_JTI).await?;
            Ok(c.execute(&st, &[&now, &n]).await?)
        })
        .await
    }
}
