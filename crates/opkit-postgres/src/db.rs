//! The one way a store call reaches the database: a pooled connection, retries of
//! serialization failures, a deadline on the whole call; and the conversions every module uses.

use std::future::Future;
use std::time::Duration;

use deadpool_postgres::Object;
use opkit::store::{StoreError, StoreResult};
use serde::de::DeserializeOwned;
use serde::Serialize;
use time::OffsetDateTime;

use crate::error::{corrupt, map_pool, DbError};
use crate::PostgresStore;

/// How many times a call that hit a serialization failure or a deadlock runs in all.
const ATTEMPTS: u32 = 4;

impl PostgresStore {
    /// Run `op` on a pooled connection. A serialization failure or deadlock (40001, 40P01)
    /// runs it again, a few times, on a fresh pool checkout; the whole call, waits included,
    /// is bounded by the options' deadline (past it: `unavailable`).
    ///
    /// `op` must be safe to repeat: each attempt is one statement or one transaction, which
    /// the failure rolled back.
    pub(crate) async fn call<T, F, Fut>(&self, mut op: F) -> StoreResult<T>
    where
        F: FnMut(Object) -> Fut,
        Fut: Future<Output = Result<T, DbError>>,
    {
        let deadline = self.inner.options.call_deadline();
        let attempts = async {
            let mut attempt = 1;
            loop {
                let client = self.inner.pool.get().await.map_err(map_pool)?;
                match op(client).await {
                    Ok(v) => return Ok(v),
                    Err(e) if e.is_retryable() && attempt < ATTEMPTS => {
                        tokio::time::sleep(Duration::from_millis(5 * u64::from(attempt))).await;
                        attempt += 1;
                    }
                    Err(e) => return Err(e.into_store()),
                }
            }
        };
        match tokio::time::timeout(deadline, attempts).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::unavailable(format!(
                "PostgreSQL did not answer within {deadline:?}"
            ))),
        }
    }
}

/// A time as stored: rounded down to the microsecond (PostgreSQL's precision), so a stored
/// expiry is never later than the real one.
pub(crate) fn pg_time(t: OffsetDateTime) -> OffsetDateTime {
    let micros_ns = t.nanosecond() / 1_000 * 1_000;
    t.replace_nanosecond(micros_ns).unwrap_or(t)
}

/// A record's JSON document.
pub(crate) fn to_doc<T: Serialize>(what: &str, value: &T) -> Result<String, DbError> {
    serde_json::to_string(value)
        .map_err(|e| DbError::Store(StoreError::new(format!("encoding a {what}: {e}"))))
}

/// A stored JSON document.
pub(crate) fn from_doc<T: DeserializeOwned>(what: &str, doc: &str) -> Result<T, DbError> {
    serde_json::from_str(doc).map_err(|e| corrupt(what, e))
}

/// A `LIMIT` parameter.
pub(crate) fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_down_to_the_microsecond() {
        let t = OffsetDateTime::UNIX_EPOCH + time::Duration::nanoseconds(1_700_000_000_123_456_789);
        let stored = pg_time(t);
        assert!(stored <= t);
        assert_eq!(stored.nanosecond(), 123_456_000);
        assert_eq!(pg_time(stored), stored);
    }
}
