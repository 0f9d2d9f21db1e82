//! Identifier generation: UUIDs from the host's random source.

use std::fmt::Write as _;

use time::OffsetDateTime;

use crate::host::{Rng, RngError};

/// A random (version 4) UUID, e.g. for `client_id`.
pub(crate) fn uuid_v4(rng: &dyn Rng) -> Result<String, RngError> {
    let mut b = [0u8; 16];
    rng.fill(&mut b)?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    Ok(format_uuid(&b))
}

/// A time-ordered (version 7) UUID: sorts by creation time, so listing by id is listing by age.
pub(crate) fn uuid_v7(rng: &dyn Rng, now: OffsetDateTime) -> Result<String, RngError> {
    let mut b = [0u8; 16];
    rng.fill(&mut b[6..])?;
    let millis = (now.unix_timestamp_nanos() / 1_000_000).clamp(0, (1 << 48) - 1) as u64;
    b[..6].copy_from_slice(&millis.to_be_bytes()[2..]);
    b[6] = (b[6] & 0x0f) | 0x70;
    b[8] = (b[8] & 0x3f) | 0x80;
    Ok(format_uuid(&b))
}

fn format_uuid(b: &[u8; 16]) -> String {
    let mut s = String::with_capacity(36);
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        let _ = write!(s, "{byte:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::SystemRng;

    #[test]
    fn v4_shape() {
        let id = uuid_v4(&SystemRng::new()).unwrap();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"));
    }

    #[test]
    fn v7_sorts_by_time() {
        let rng = SystemRng::new();
        let t = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let a = uuid_v7(&rng, t).unwrap();
        let b = uuid_v7(&rng, t + time::Duration::milliseconds(1)).unwrap();
        assert!(a < b);
        assert_eq!(&a[14..15], "7");
    }
}
