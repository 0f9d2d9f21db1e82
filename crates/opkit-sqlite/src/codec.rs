//! Conversions between opkit's values and SQLite columns: times as unix microseconds,
//! documents as JSON text, limits as integers.

use serde::de::DeserializeOwned;
use serde::Serialize;
use time::OffsetDateTime;

use crate::error::{Error, Result};

/// A time as unix microseconds, rounded down (a record compared by this column expires a hair
/// early, never late).
pub(crate) fn micros(t: OffsetDateTime) -> i64 {
    let micros = t.unix_timestamp_nanos().div_euclid(1_000);
    i64::try_from(micros).unwrap_or(if micros < 0 { i64::MIN } else { i64::MAX })
}

/// Unix microseconds back to a time (UTC).
pub(crate) fn from_micros(micros: i64) -> Result<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000)
        .map_err(|e| Error::Corrupt(format!("a stored time is out of range: {e}")))
}

/// A document as JSON text.
pub(crate) fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<String> {
    serde_json::to_string(value)
        .map_err(|e| Error::Corrupt(format!("a document does not encode: {e}")))
}

/// A stored JSON document.
pub(crate) fn from_json<T: DeserializeOwned>(text: &str) -> Result<T> {
    Ok(serde_json::from_str(text)?)
}

/// A `LIMIT` from a `usize`.
pub(crate) fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A row count from SQLite.
pub(crate) fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micros_round_down_and_back() {
        let t = OffsetDateTime::UNIX_EPOCH + time::Duration::nanoseconds(1_500_999);
        assert_eq!(micros(t), 1_500);
        let before = OffsetDateTime::UNIX_EPOCH - time::Duration::nanoseconds(1);
        assert_eq!(micros(before), -1);
        let whole = OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(4_102_444_800);
        assert_eq!(from_micros(micros(whole)).unwrap(), whole);
    }
}
