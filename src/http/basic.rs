use std::fmt;

use base64::Engine as _;

/// The client credentials of an HTTP Basic `Authorization` header (RFC 6749 §2.3.1, RFC 7617).
#[derive(Clone, PartialEq, Eq)]
pub struct BasicCredentials {
    /// The client id, form-urlencoded-decoded.
    pub client_id: String,
    /// The client secret, form-urlencoded-decoded.
    pub client_secret: String,
}

impl fmt::Debug for BasicCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BasicCredentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .finish()
    }
}

/// Longest `Authorization` header value accepted.
const MAX_HEADER: usize = 4096;

/// Parse `Basic base64(urlencode(client_id) ":" urlencode(client_secret))`.
///
/// Returns `None` when the value is not a well-formed Basic credential. The scheme name is
/// case-insensitive; the id and secret are form-urlencoded as RFC 6749 §2.3.1 requires.
///
/// ```
/// use opkit::fuzzing::parse_basic_authorization; // the token endpoint's parser
/// // "s6BhdRkqt3:gX1fBat3bV" from RFC 6749 §2.3.1
/// let c = parse_basic_authorization(b"Basic czZCaGRSa3F0MzpnWDFmQmF0M2JW").unwrap();
/// assert_eq!((c.client_id.as_str(), c.client_secret.as_str()), ("s6BhdRkqt3", "gX1fBat3bV"));
/// ```
pub(crate) fn parse_basic_authorization(value: &[u8]) -> Option<BasicCredentials> {
    if value.len() > MAX_HEADER || value.len() < 6 {
        return None;
    }
    let (scheme, rest) = value.split_at(6);
    if !scheme.eq_ignore_ascii_case(b"basic ") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest.trim_ascii())
        .ok()?;
    let decoded = std::str::from_utf8(&decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let client_id = super::form::decode_strict(id)?.into_owned();
    let client_secret = super::form::decode_strict(secret)?.into_owned();
    if client_id.is_empty() {
        return None;
    }
    Some(BasicCredentials {
        client_id,
        client_secret,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(s: &str) -> Vec<u8> {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(s)
        )
        .into_bytes()
    }

    #[test]
    fn urlencoded_parts_are_decoded() {
        let c = parse_basic_authorization(&enc("my%3Aclient:p%40ss+word")).unwrap();
        assert_eq!(c.client_id, "my:client");
        assert_eq!(c.client_secret, "p@ss word");
    }

    #[test]
    fn ampersand_and_stray_percent_survive() {
        let c = parse_basic_authorization(&enc("id:a&b=c%zz")).unwrap();
        assert_eq!(c.client_secret, "a&b=c%zz");
    }

    #[test]
    fn refuses_malformed() {
        for v in [
            &b"Bearer abc"[..],
            b"Basic",
            b"Basic !!!!",
            &enc("no-colon"),
            &enc(":secret"),
            b"Basic /w==",
            &enc("id:%FF"),
        ] {
            assert!(parse_basic_authorization(v).is_none(), "{v:?}");
        }
    }

    #[test]
    fn debug_hides_secret() {
        let c = parse_basic_authorization(&enc("id:topsecret")).unwrap();
        assert!(!format!("{c:?}").contains("topsecret"));
    }
}
