//! [`KeyStore`]: signing keys shared by every instance on the database.

use opkit::jose::Algorithm;
use opkit::store::{KeyStore, SigningKeyRecord, StoreResult};

use crate::db::pg_time;
use crate::error::corrupt;
use crate::PostgresStore;

const LIST: &str = "SELECT kid, alg, generation, private_key, created_at, activates_at \
     FROM signing_keys ORDER BY alg, generation";
/// No conflict target: a clash on `kid` or on `(alg, generation)` both insert nothing.
const INSERT: &str = "INSERT INTO signing_keys \
     (kid, alg, generation, private_key, created_at, activates_at) \
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING";
const DELETE: &str = "DELETE FROM signing_keys WHERE kid = $1";

impl KeyStore for PostgresStore {
    async fn signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        self.call(|c| async move {
            let st = c.prepare_cached(LIST).await?;
            let rows = c.query(&st, &[]).await?;
            rows.iter()
                .map(|r| {
                    let alg: &str = r.try_get(1)?;
                    let generation: i64 = r.try_get(2)?;
                    Ok(SigningKeyRecord {
                        kid: r.try_get(0)?,
                        alg: alg
                            .parse::<Algorithm>()
                            .map_err(|_| corrupt("signing key", format_args!("alg {alg:?}")))?,
                        generation: u32::try_from(generation).map_err(|_| {
                            corrupt("signing key", format_args!("generation {generation}"))
                        })?,
                        private_key: r.try_get(3)?,
                        created_at: r.try_get(4)?,
                        activates_at: r.try_get(5)?,
                    })
                })
                .collect()
        })
        .await
    }

    async fn insert_signing_key(&self, key: SigningKeyRecord) -> StoreResult<bool> {
        let key = &key;
        self.call(|c| async move {
            let st = c.prepare_cached(INSERT).await?;
            let inserted = c
                .execute(
                    &st,
                    &[
                        &key.kid,
                        &key.alg.as_str(),
                        &i64::from(key.generation),
                        &key.private_key,
                        &pg_time(key.created_at),
                        &pg_time(key.activates_at),
                    ],
                )
                .await?;
            Ok(inserted == 1)
        })
        .await
    }

    async fn delete_signing_key(&self, kid: &str) -> StoreResult<bool> {
        self.call(|c| async move {
            let st = c.prepare_cached(DELETE).await?;
            Ok(c.execute(&st, &[&kid]).await? > 0)
        })
        .await
    }
}
