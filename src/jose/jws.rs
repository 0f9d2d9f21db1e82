//! JWS compact serialization (RFC 7515 section 7.1): signing and strict parsing.

use std::fmt;

use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::b64;
use super::key::{KeyError, SigningKey, MAX_SIGNATURE_LEN};
use super::Algorithm;

/// Longest compact JWS [`parse_compact`] accepts, in bytes (16 KiB).
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// Signs `payload_json` with `key` and returns the compact JWS
/// `BASE64URL(header).BASE64URL(payload).BASE64URL(signature)`.
///
/// The protected header is exactly `{"alg":"<alg>","typ":"<typ>","kid":"<kid>"}`, with `typ`
/// and `kid` JSON-escaped. The payload is signed as given; the caller serializes it. The result
/// is built in one allocation of the exact size.
///
/// ```
/// use opkit::host::SystemRng;
/// use opkit::jose::{sign_compact, Algorithm, SigningKey};
/// let key = SigningKey::generate(Algorithm::Es256, "k1", &SystemRng::default()).unwrap();
/// let jwt = sign_compact(&key, "JWT", br#"{"sub":"alice"}"#).unwrap();
/// assert_eq!(jwt.split('.').count(), 3);
/// ```
///
/// # Errors
///
/// [`KeyError::Signing`] if ring fails to sign (its random source failed).
pub fn sign_compact(key: &SigningKey, typ: &str, payload_json: &[u8]) -> Result<String, KeyError> {
    let header = key.encoded_header(typ)?;
    let len = header.len()
        + 1
        + b64::encoded_len(payload_json.len())
        + 1
        + b64::encoded_len(key.signature_len());
    let mut out = String::with_capacity(len);
    out.push_str(&header);
    out.push('.');
    b64::encode_into(payload_json, &mut out);
    let mut buf = [0u8; MAX_SIGNATURE_LEN];
    let signature = key.sign_into(out.as_bytes(), &mut buf)?;
    out.push('.');
    b64::encode_into(signature, &mut out);
    debug_assert_eq!(out.len(), len);
    Ok(out)
}

/// The part of a compact JWS that failed to decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JwsPart {
    /// The protected header.
    Header,
    /// The payload.
    Payload,
    /// The signature.
    Signature,
}

impl fmt::Display for JwsPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JwsPart::Header => "header",
            JwsPart::Payload => "payload",
            JwsPart::Signature => "signature",
        })
    }
}

/// Why a JWS was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum JwsError {
    /// Not a compact JWS of three parts with a JSON-object header carrying a string `alg`;
    /// the text says what was wrong.
    Malformed(&'static str),
    /// Longer than [`MAX_TOKEN_LEN`].
    TooLarge,
    /// A part is not strict unpadded base64url.
    BadBase64(JwsPart),
    /// The header has a `crit` member; opkit understands no extensions.
    CriticalHeader,
    /// The header `alg` is not ES256 or RS256 (`none` included).
    UnsupportedAlgorithm,
    /// The header has no `kid`, which the provider's key set requires.
    MissingKid,
    /// No key has the header's `kid`.
    UnknownKid,
    /// The header `alg` is not the algorithm of the key its `kid` names.
    AlgorithmMismatch,
    /// The signature does not verify.
    BadSignature,
}

impl fmt::Display for JwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JwsError::Malformed(what) => write!(f, "malformed JWS: {what}"),
            JwsError::TooLarge => write!(f, "JWS longer than {MAX_TOKEN_LEN} bytes"),
            JwsError::BadBase64(part) => write!(f, "JWS {part} is not valid base64url"),
            JwsError::CriticalHeader => {
                f.write_str("JWS header has unsupported critical extensions")
            }
            JwsError::UnsupportedAlgorithm => {
                f.write_str("JWS algorithm is not supported (ES256 and RS256 only)")
            }
            JwsError::MissingKid => f.write_str("JWS header has no kid"),
            JwsError::UnknownKid => f.write_str("JWS kid does not name a known key"),
            JwsError::AlgorithmMismatch => f.write_str("JWS algorithm does not match the key"),
            JwsError::BadSignature => f.write_str("JWS signature is invalid"),
        }
    }
}

impl std::error::Error for JwsError {}

/// The JWS protected header members opkit reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JwsHeader {
    /// The `alg` member, as written (it may be unsupported; see [`JwsHeader::algorithm`]).
    pub alg: String,
    /// The `kid` member.
    pub kid: Option<String>,
    /// The `typ` member.
    pub typ: Option<String>,
}

impl JwsHeader {
    /// The header's algorithm, if opkit supports it.
    ///
    /// # Errors
    ///
    /// [`JwsError::UnsupportedAlgorithm`] for any other `alg`, including `none`.
    pub fn algorithm(&self) -> Result<Algorithm, JwsError> {
        self.alg.parse().map_err(|_| JwsError::UnsupportedAlgorithm)
    }
}

/// A compact JWS split and decoded, its signature not yet verified.
///
/// Obtain one from [`parse_compact`], or verified from
/// [`KeySet::verify`](super::KeySet::verify).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedJws<'a> {
    header: JwsHeader,
    payload: Vec<u8>,
    signature: Vec<u8>,
    signing_input: &'a str,
}

impl<'a> ParsedJws<'a> {
    /// The decoded protected header.
    #[must_use]
    pub fn header(&self) -> &JwsHeader {
        &self.header
    }

    /// The decoded payload bytes.
    #[must_use]
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// Takes the decoded payload bytes.
    #[must_use]
    pub fn into_payload(self) -> Vec<u8> {
        self.payload
    }

    /// The signing input: the token up to, not including, the second `.`.
    #[must_use]
    pub fn signing_input(&self) -> &'a str {
        self.signing_input
    }

    /// The decoded signature bytes.
    #[must_use]
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }
}

/// Splits and decodes a compact JWS without verifying it.
///
/// The token must be at most [`MAX_TOKEN_LEN`] bytes, have exactly three `.`-separated parts of
/// strict unpadded base64url, and a header that is a JSON object with a string `alg`, optional
/// string `kid` and `typ`, no `crit` member and no duplicate members. Other header members are
/// ignored. The algorithm is not checked here: verification does that.
///
/// ```
/// use opkit::jose::{parse_compact, JwsError};
/// let jws = parse_compact("eyJhbGciOiJub25lIn0.e30.").unwrap();
/// assert_eq!(jws.header().alg, "none");
/// assert_eq!(jws.payload(), b"{}");
/// assert_eq!(jws.header().algorithm(), Err(JwsError::UnsupportedAlgorithm));
/// assert!(parse_compact("a.b").is_err());
/// ```
///
/// # Errors
///
/// [`JwsError::TooLarge`], [`JwsError::Malformed`], [`JwsError::BadBase64`] or
/// [`JwsError::CriticalHeader`].
pub fn parse_compact(token: &str) -> Result<ParsedJws<'_>, JwsError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(JwsError::TooLarge);
    }
    let (header_b64, rest) = token
        .split_once('.')
        .ok_or(JwsError::Malformed("expected three dot-separated parts"))?;
    let (payload_b64, signature_b64) = rest
        .split_once('.')
        .ok_or(JwsError::Malformed("expected three dot-separated parts"))?;
    if signature_b64.contains('.') {
        return Err(JwsError::Malformed("expected three dot-separated parts"));
    }
    let signing_input = &token[..header_b64.len() + 1 + payload_b64.len()];

    let header_json = b64::decode(header_b64).map_err(|_| JwsError::BadBase64(JwsPart::Header))?;
    let payload = b64::decode(payload_b64).map_err(|_| JwsError::BadBase64(JwsPart::Payload))?;
    let signature =
        b64::decode(signature_b64).map_err(|_| JwsError::BadBase64(JwsPart::Signature))?;

    let raw: RawHeader = serde_json::from_slice(&header_json)
        .map_err(|_| JwsError::Malformed("header is not a JSON object of string members"))?;
    if raw.crit {
        return Err(JwsError::CriticalHeader);
    }
    let alg = raw.alg.ok_or(JwsError::Malformed("header has no alg"))?;
    Ok(ParsedJws {
        header: JwsHeader {
            alg,
            kid: raw.kid,
            typ: raw.typ,
        },
        payload,
        signature,
        signing_input,
    })
}

/// The header as read: duplicates and wrong types are errors, `crit` is noted.
struct RawHeader {
    alg: Option<String>,
    kid: Option<String>,
    typ: Option<String>,
    crit: bool,
}

enum HeaderMember {
    Alg,
    Kid,
    Typ,
    Crit,
    Other,
}

impl<'de> Deserialize<'de> for HeaderMember {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = HeaderMember;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a header member name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<HeaderMember, E> {
                Ok(match v {
                    "alg" => HeaderMember::Alg,
                    "kid" => HeaderMember::Kid,
                    "typ" => HeaderMember::Typ,
                    "crit" => HeaderMember::Crit,
                    _ => HeaderMember::Other,
                })
            }
        }
        deserializer.deserialize_identifier(V)
    }
}

impl<'de> Deserialize<'de> for RawHeader {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawHeader;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JWS header object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawHeader, A::Error> {
                fn set<'de, A: MapAccess<'de>>(
                    map: &mut A,
                    slot: &mut Option<String>,
                    name: &'static str,
                ) -> Result<(), A::Error> {
                    if slot.is_some() {
                        return Err(de::Error::duplicate_field(name));
                    }
                    *slot = Some(map.next_value()?);
                    Ok(())
                }
                let mut h = RawHeader {
                    alg: None,
                    kid: None,
                    typ: None,
                    crit: false,
                };
                while let Some(member) = map.next_key::<HeaderMember>()? {
                    match member {
                        HeaderMember::Alg => set(&mut map, &mut h.alg, "alg")?,
                        HeaderMember::Kid => set(&mut map, &mut h.kid, "kid")?,
                        HeaderMember::Typ => set(&mut map, &mut h.typ, "typ")?,
                        HeaderMember::Crit => {
                            if h.crit {
                                return Err(de::Error::duplicate_field("crit"));
                            }
                            h.crit = true;
                            map.next_value::<IgnoredAny>()?;
                        }
                        HeaderMember::Other => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(h)
            }
        }
        deserializer.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(header: &str, payload: &str, sig: &[u8]) -> String {
        format!(
            "{}.{}.{}",
            b64::encode(header.as_bytes()),
            b64::encode(payload.as_bytes()),
            b64::encode(sig)
        )
    }

    #[test]
    fn parses_parts() {
        let t = token(
            r#"{"alg":"ES256","typ":"JWT","kid":"k\"1","x5u":"ignored"}"#,
            r#"{"a":1}"#,
            &[1, 2, 3],
        );
        let jws = parse_compact(&t).unwrap();
        assert_eq!(jws.header().alg, "ES256");
        assert_eq!(jws.header().algorithm(), Ok(Algorithm::Es256));
        assert_eq!(jws.header().kid.as_deref(), Some("k\"1"));
        assert_eq!(jws.header().typ.as_deref(), Some("JWT"));
        assert_eq!(jws.payload(), br#"{"a":1}"#);
        assert_eq!(jws.signature(), &[1, 2, 3]);
        assert_eq!(jws.signing_input(), &t[..t.rfind('.').unwrap()]);
        assert_eq!(jws.into_payload(), br#"{"a":1}"#.to_vec());
    }

    #[test]
    fn refuses_malformed_tokens() {
        let good = token(r#"{"alg":"ES256"}"#, "{}", &[1]);
        assert!(parse_compact(&good).is_ok());
        let too_big = token(r#"{"alg":"ES256"}"#, &"a".repeat(MAX_TOKEN_LEN), &[1]);
        assert_eq!(parse_compact(&too_big), Err(JwsError::TooLarge));

        for bad in ["", ".", "..", "a.b", "a.b.c.d", "....", &format!("{good}.")] {
            let err = parse_compact(bad).unwrap_err();
            assert!(
                matches!(err, JwsError::Malformed(_) | JwsError::BadBase64(_)),
                "{bad:?}: {err:?}"
            );
        }
        let (h, rest) = good.split_once('.').unwrap();
        let (p, s) = rest.split_once('.').unwrap();
        assert_eq!(
            parse_compact(&format!("{h}=.{p}.{s}")),
            Err(JwsError::BadBase64(JwsPart::Header))
        );
        assert_eq!(
            parse_compact(&format!("{h}.{p}+.{s}")),
            Err(JwsError::BadBase64(JwsPart::Payload))
        );
        assert_eq!(
            parse_compact(&format!("{h}.{p}.{s}==")),
            Err(JwsError::BadBase64(JwsPart::Signature))
        );
    }

    #[test]
    fn refuses_bad_headers() {
        for header in [
            r#"["ES256"]"#,
            r#""ES256""#,
            "null",
            "",
            r#"{"alg":1}"#,
            r#"{"alg":"ES256","kid":null}"#,
            r#"{"alg":"ES256","kid":5}"#,
            r#"{"alg":"ES256","typ":{}}"#,
            r#"{"alg":"ES256","alg":"none"}"#,
            r#"{"alg":"ES256"}x"#,
            r#"{}"#,
        ] {
            let err = parse_compact(&token(header, "{}", &[1])).unwrap_err();
            assert!(matches!(err, JwsError::Malformed(_)), "{header:?}: {err:?}");
        }
        // Whitespace around the header object is fine.
        assert!(parse_compact(&token(r#"{"alg":"ES256"} "#, "{}", &[1])).is_ok());
        assert_eq!(
            parse_compact(&token(r#"{"alg":"ES256","crit":["exp"]}"#, "{}", &[1])),
            Err(JwsError::CriticalHeader)
        );
        assert_eq!(
            parse_compact(&token(r#"{"alg":"ES256","crit":null}"#, "{}", &[1])),
            Err(JwsError::CriticalHeader)
        );
    }

    #[test]
    fn errors_display() {
        assert_eq!(
            JwsError::BadBase64(JwsPart::Signature).to_string(),
            "JWS signature is not valid base64url"
        );
        assert!(JwsError::UnsupportedAlgorithm.to_string().contains("ES256"));
    }
}
