//! Base64url without padding (RFC 7515 section 2), the encoding of every JWS part, JWK member,
//! code and token opkit produces.
//!
//! Decoding is strict: padding (`=`), characters outside the URL-safe alphabet (including `+`,
//! `/` and whitespace), impossible lengths and non-canonical trailing bits are all refused, so a
//! value has exactly one accepted encoding.
//!
//! ```
//! // Reached from outside through the `fuzzing` feature only.
//! use opkit::fuzzing::{b64_decode, b64_encode};
//! assert_eq!(b64_encode(b"hi?"), "aGk_");
//! assert_eq!(b64_decode("aGk_").unwrap(), b"hi?");
//! assert!(b64_decode("aGk/").is_none());
//! assert!(b64_decode("aGk=").is_none());
//! ```

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

/// The input is not canonical unpadded base64url.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DecodeError;

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid base64url (unpadded, URL-safe alphabet expected)")
    }
}

impl std::error::Error for DecodeError {}

/// Encodes `bytes` as base64url without padding.
///
/// `[0xfb, 0xff]` is `-_8`.
#[must_use]
pub(crate) fn encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Appends the base64url (unpadded) encoding of `bytes` to `out`.
///
/// Reserve [`encoded_len`] bytes in `out` first to avoid reallocation.
pub(crate) fn encode_into(bytes: &[u8], out: &mut String) {
    URL_SAFE_NO_PAD.encode_string(bytes, out);
}

/// The length of the unpadded base64url encoding of `len` bytes.
///
/// 32 bytes take 43 characters, 64 take 86.
#[must_use]
pub(crate) fn encoded_len(len: usize) -> usize {
    (len / 3).saturating_mul(4).saturating_add(match len % 3 {
        0 => 0,
        1 => 2,
        _ => 3,
    })
}

/// Decodes strict unpadded base64url.
///
/// # Errors
///
/// [`DecodeError`] on padding, characters outside `A-Z a-z 0-9 - _`, a length that no byte
/// string encodes to, or non-zero trailing bits.
pub(crate) fn decode(s: &str) -> Result<Vec<u8>, DecodeError> {
    URL_SAFE_NO_PAD.decode(s).map_err(|_| DecodeError)
}

#[cfg(test)]
mod tests {
    #[test]
    fn documented_values() {
        assert_eq!(super::encode(&[0xfb, 0xff]), "-_8");
        let mut s = String::from("x.");
        super::encode_into(b"hi", &mut s);
        assert_eq!(s, "x.aGk");
        assert_eq!(super::encoded_len(32), 43);
        assert_eq!(super::encoded_len(64), 86);
    }

    use super::*;

    #[test]
    fn round_trip_all_lengths() {
        let data: Vec<u8> = (0..=255u8).collect();
        for n in 0..data.len() {
            let e = encode(&data[..n]);
            assert_eq!(e.len(), encoded_len(n));
            assert!(!e.contains('='));
            assert_eq!(decode(&e).unwrap(), &data[..n]);
        }
    }

    #[test]
    fn encode_into_appends() {
        let mut s = String::from("a.");
        encode_into(&[0xff, 0xee], &mut s);
        assert_eq!(s, "a._-4");
    }

    #[test]
    fn rejects_non_canonical_input() {
        for bad in [
            "aGk=", "aGk/", "aGk+", "aG k", "a", "aGk\n", "aGl", // trailing bits set
            "====", "aGk_=",
        ] {
            assert_eq!(decode(bad), Err(DecodeError), "{bad:?}");
        }
        assert_eq!(decode("").unwrap(), b"");
        assert_eq!(decode("aGk").unwrap(), b"hi");
    }
}
