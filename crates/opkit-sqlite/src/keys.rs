//! [`KeyStore`]: signing keys shared by every instance on one database.

use opkit::jose::Algorithm;
use opkit::store::{KeyStore, SigningKeyRecord, StoreResult};
use rusqlite::params;

use crate::codec::{from_micros, micros};
use crate::error::{Error, Result};
use crate::SqliteStore;

type KeyRow = (String, String, i64, Vec<u8>, i64, i64);

fn decode(
    (kid, alg, generation, private_key, created_at, activates_at): KeyRow,
) -> Result<SigningKeyRecord> {
    Ok(SigningKeyRecord {
        alg: alg
            .parse::<Algorithm>()
            .map_err(|_| Error::Corrupt(format!("signing key {kid} has an unknown algorithm")))?,
        generation: u32::try_from(generation)
            .map_err(|_| Error::Corrupt(format!("signing key {kid} has a bad generation")))?,
        private_key,
        created_at: from_micros(created_at)?,
        activates_at: from_micros(activates_at)?,
        kid,
    })
}

impl KeyStore for SqliteStore {
    /// In `(alg, generation)` order, read straight off the unique index.
    async fn signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        self.run(|c| {
            let rows = c
                .prepare_cached(
                    "SELECT kid, alg, generation, private_key, created_at, activates_at \
                     FROM signing_keys ORDER BY alg, generation",
                )?
                .query_map([], |row| {
                    Ok((
                        row.get(0)?,
                        row.get(1)?,
                        row.get(2)?,
                        row.get(3)?,
                        row.get(4)?,
                        row.get(5)?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<KeyRow>>>()?;
            rows.into_iter().map(decode).collect()
        })
        .await
        .map_err(Into::into)
    }

    /// `INSERT … ON CONFLICT DO NOTHING`: the row count says who won. Times are kept to the
    /// microsecond.
    async fn insert_signing_key(&self, key: SigningKeyRecord) -> StoreResult<bool> {
        self.write(move |c| {
            let inserted = c
                .prepare_cached(
                    "INSERT INTO signing_keys \
                     (kid, alg, generation, private_key, created_at, activates_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
                )?
                .execute(params![
                    key.kid,
                    key.alg.as_str(),
                    i64::from(key.generation),
                    key.private_key,
                    micros(key.created_at),
                    micros(key.activates_at)
                ])?;
            Ok(inserted == 1)
        })
        .await
        .map_err(Into::into)
    }

    async fn delete_signing_key(&self, kid: &str) -> StoreResult<bool> {
        let kid = kid.to_owned();
        self.write(move |c| {
            Ok(c.prepare_cached("DELETE FROM signing_keys WHERE kid = ?1")?
                .execute([&kid])?
                > 0)
        })
        .await
        .map_err(Into::into)
    }
}
