//! JSON serialisation into pre-sized buffers (claims and responses are a few hundred bytes;
//! starting there avoids regrowing the buffer two or three times per token).

use serde::Serialize;

use crate::error::{Error, ErrorKind};

/// Serialise `value` into a buffer of `capacity` bytes to start with.
pub(crate) fn to_json<T: Serialize + ?Sized>(value: &T, capacity: usize) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(capacity);
    serde_json::to_writer(&mut out, value)
        .map_err(|e| Error::new(ErrorKind::Serialization).with_cause(e))?;
    Ok(out)
}

/// Whether `s` can stand inside a JSON string as it is (no quote, backslash or control
/// character): true of JWTs, base64url tokens and RFC 6749 scope strings.
///
/// Checked 32 bytes at a time without an early exit inside a block, which the compiler turns
/// into vector compares: a code flow's token response is ~1.3 KB, and the byte-at-a-time loop
/// cost more than writing the response.
pub(crate) fn needs_no_escaping(s: &str) -> bool {
    s.as_bytes().chunks(32).all(|block| {
        block.iter().fold(true, |plain, &b| {
            plain & (b >= 0x20) & (b != b'"') & (b != b'\\')
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_check() {
        assert!(needs_no_escaping("eyJhbGciOi.eyJzdWIi.sig-_"));
        assert!(needs_no_escaping("openid profile é"));
        for bad in ["a\"b", "a\\b", "a\nb", "\u{1}"] {
            assert!(!needs_no_escaping(bad), "{bad:?}");
        }
        // In every position of a block and across block boundaries.
        let long = "x".repeat(100);
        assert!(needs_no_escaping(&long));
        for at in 0..long.len() {
            for bad in ['"', '\\', '\u{1f}'] {
                let mut s = long.clone();
                s.replace_range(at..=at, bad.encode_utf8(&mut [0; 4]));
                assert!(!needs_no_escaping(&s), "{bad:?} at {at}");
            }
        }
    }
}
