//! JSON Web Keys (RFC 7517): the public keys opkit publishes, strict JWK Set parsing, and
//! [`VerifyingKey`], a public key checked once and ready for ring to verify with.

use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;

use ring::signature::{
    RsaPublicKeyComponents, UnparsedPublicKey, ECDSA_P256_SHA256_FIXED, RSA_PKCS1_2048_8192_SHA256,
};
use serde::de::{self, DeserializeOwned, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use super::b64;
use super::jws::{JwsError, ParsedJws};
use super::Algorithm;

/// Largest JWK Set [`parse_jwks`] reads, in bytes (1 MiB).
pub const MAX_JWKS_LEN: usize = 1024 * 1024;

/// Most keys [`parse_jwks`] accepts in one set.
pub const MAX_JWKS_KEYS: usize = 100;

/// Smallest RSA modulus accepted for verification, in bits.
const RSA_MIN_BITS: usize = 2048;
/// Largest RSA modulus ring verifies with, in bits.
const RSA_MAX_BITS: usize = 8192;

/// A public JSON Web Key (RFC 7517 section 4, RFC 7518 section 6).
///
/// Only the members opkit uses are kept; any other member of a parsed key is ignored.
/// The keys opkit publishes carry `use: "sig"`, a `kid` and an `alg`.
///
/// ```
/// use opkit::jose::PublicJwk;
/// let jwk: PublicJwk = serde_json::from_str(
///     r#"{"kty":"EC","crv":"P-256","kid":"k1",
///         "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
///         "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#,
/// ).unwrap();
/// assert_eq!(jwk.kid.as_deref(), Some("k1"));
/// assert!(!serde_json::to_string(&jwk).unwrap().contains("\"n\""));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicJwk {
    /// Key type: `EC` or `RSA` for the keys opkit can use.
    pub kty: String,
    /// Intended use (`sig` or `enc`).
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
    /// Key id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// Algorithm the key is meant for (`ES256`, `RS256`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// EC curve (`P-256`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// EC x coordinate, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// EC y coordinate, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// RSA modulus, base64url big-endian.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// RSA public exponent, base64url big-endian.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
}

/// A JWK Set (RFC 7517 section 5): what the provider serves at its `jwks_uri`.
///
/// ```
/// let set = opkit::jose::parse_jwks(br#"{"keys":[]}"#).unwrap();
/// assert!(set.keys.is_empty());
/// assert_eq!(serde_json::to_string(&set).unwrap(), r#"{"keys":[]}"#);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwks {
    /// The keys, in publication order.
    pub keys: Vec<PublicJwk>,
}

impl Jwks {
    /// The first key whose `kid` is `kid`.
    #[must_use]
    pub fn find(&self, kid: &str) -> Option<&PublicJwk> {
        self.keys.iter().find(|k| k.kid.as_deref() == Some(kid))
    }
}

/// Why a JWK or JWK Set was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JwkError {
    /// The input is larger than [`MAX_JWKS_LEN`].
    TooLarge,
    /// The set has more than [`MAX_JWKS_KEYS`] keys.
    TooManyKeys,
    /// Not a JSON object of the expected shape; the message is `serde_json`'s and may quote the
    /// (public) input.
    Malformed(String),
    /// `kty` (or the EC curve) is not one opkit verifies with: EC P-256 and RSA only.
    UnsupportedKeyType,
    /// `alg` is present and is not the algorithm of this key type (`ES256` for EC P-256,
    /// `RS256` for RSA).
    UnsupportedAlgorithm,
    /// `use` is present and is not `sig`.
    NotForSigning,
    /// A required member is absent.
    MissingMember(&'static str),
    /// A member is not valid base64url or has the wrong length or value.
    InvalidMember(&'static str),
    /// The EC point is not on the P-256 curve.
    NotOnCurve,
    /// The RSA modulus is shorter than 2048 bits.
    RsaModulusTooSmall {
        /// The modulus length found.
        bits: usize,
    },
    /// The RSA modulus is longer than 8192 bits.
    RsaModulusTooLarge {
        /// The modulus length found.
        bits: usize,
    },
}

impl fmt::Display for JwkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JwkError::TooLarge => write!(f, "JWK set larger than {MAX_JWKS_LEN} bytes"),
            JwkError::TooManyKeys => write!(f, "JWK set has more than {MAX_JWKS_KEYS} keys"),
            JwkError::Malformed(msg) => write!(f, "malformed JWK: {msg}"),
            JwkError::UnsupportedKeyType => {
                f.write_str("unsupported key type: only EC P-256 and RSA keys are supported")
            }
            JwkError::UnsupportedAlgorithm => {
                f.write_str("JWK alg is not ES256 (EC P-256) or RS256 (RSA) for its key type")
            }
            JwkError::NotForSigning => f.write_str("JWK use is not \"sig\""),
            JwkError::MissingMember(m) => write!(f, "JWK member \"{m}\" is missing"),
            JwkError::InvalidMember(m) => write!(f, "JWK member \"{m}\" is invalid"),
            JwkError::NotOnCurve => f.write_str("EC public key is not a point on P-256"),
            JwkError::RsaModulusTooSmall { bits } => {
                write!(
                    f,
                    "RSA modulus of {bits} bits is below the 2048-bit minimum"
                )
            }
            JwkError::RsaModulusTooLarge { bits } => {
                write!(
                    f,
                    "RSA modulus of {bits} bits is above the 8192-bit maximum"
                )
            }
        }
    }
}

impl std::error::Error for JwkError {}

/// Parses a JWK Set strictly and within bounds.
///
/// The document must be a JSON object with a `keys` array of at most [`MAX_JWKS_KEYS`] objects,
/// no larger than [`MAX_JWKS_LEN`] bytes. Members opkit knows must have the right type
/// (strings); unknown members are allowed and ignored, and so are keys of types opkit cannot
/// use (they fail later, in [`VerifyingKey::from_jwk`]). Duplicate members are refused.
///
/// ```
/// use opkit::jose::{parse_jwks, JwkError};
/// let set = parse_jwks(br#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"abc"}],"extra":1}"#).unwrap();
/// assert_eq!(set.keys[0].kty, "OKP");
/// assert!(matches!(parse_jwks(b"[]"), Err(JwkError::Malformed(_))));
/// assert!(matches!(parse_jwks(br#"{"keys":[{"kty":1}]}"#), Err(JwkError::Malformed(_))));
/// ```
///
/// # Errors
///
/// [`JwkError::TooLarge`], [`JwkError::TooManyKeys`] or [`JwkError::Malformed`].
pub fn parse_jwks(bytes: &[u8]) -> Result<Jwks, JwkError> {
    if bytes.len() > MAX_JWKS_LEN {
        return Err(JwkError::TooLarge);
    }
    let too_many = Cell::new(false);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed = de::DeserializeSeed::deserialize(
        JwksSeed {
            too_many: &too_many,
        },
        &mut de,
    )
    .and_then(|jwks| de.end().map(|()| jwks));
    match parsed {
        Ok(jwks) => Ok(jwks),
        Err(_) if too_many.get() => Err(JwkError::TooManyKeys),
        Err(e) => Err(JwkError::Malformed(e.to_string())),
    }
}

/// Deserializes a `T` only from a JSON object (serde's derive also accepts arrays).
pub(crate) struct ObjectOnly<T>(pub(crate) T);

impl<'de, T: DeserializeOwned> Deserialize<'de> for ObjectOnly<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: DeserializeOwned> Visitor<'de> for V<T> {
            type Value = ObjectOnly<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map)).map(ObjectOnly)
            }
        }
        deserializer.deserialize_map(V(PhantomData))
    }
}

/// The member names of a JWK Set that matter.
enum SetMember {
    Keys,
    Other,
}

impl<'de> Deserialize<'de> for SetMember {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = SetMember;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<SetMember, E> {
                Ok(if v == "keys" {
                    SetMember::Keys
                } else {
                    SetMember::Other
                })
            }
        }
        deserializer.deserialize_identifier(V)
    }
}

struct JwksSeed<'c> {
    too_many: &'c Cell<bool>,
}

impl<'de> de::DeserializeSeed<'de> for JwksSeed<'_> {
    type Value = Jwks;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Jwks, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for JwksSeed<'_> {
    type Value = Jwks;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JWK Set object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Jwks, A::Error> {
        let mut keys = None;
        while let Some(member) = map.next_key::<SetMember>()? {
            match member {
                SetMember::Keys => {
                    if keys.is_some() {
                        return Err(de::Error::duplicate_field("keys"));
                    }
                    keys = Some(map.next_value_seed(KeysSeed {
                        too_many: self.too_many,
                    })?);
                }
                SetMember::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let keys = keys.ok_or_else(|| de::Error::missing_field("keys"))?;
        Ok(Jwks { keys })
    }
}

struct KeysSeed<'c> {
    too_many: &'c Cell<bool>,
}

impl<'de> de::DeserializeSeed<'de> for KeysSeed<'_> {
    type Value = Vec<PublicJwk>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for KeysSeed<'_> {
    type Value = Vec<PublicJwk>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of JWK objects")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut keys = Vec::new();
        while let Some(ObjectOnly(key)) = seq.next_element::<ObjectOnly<PublicJwk>>()? {
            if keys.len() == MAX_JWKS_KEYS {
                self.too_many.set(true);
                return Err(de::Error::custom("too many keys"));
            }
            keys.push(key);
        }
        Ok(keys)
    }
}

/// A public key validated once and ready to verify JWS signatures with ring.
///
/// Built from a [`PublicJwk`] with [`VerifyingKey::from_jwk`]; all decoding and validation
/// happens there, so [`VerifyingKey::verify`] does no base64 or JSON work.
///
/// ```
/// use opkit::jose::{parse_compact, PublicJwk, VerifyingKey};
/// // RFC 7515 Appendix A.3.
/// let jwk: PublicJwk = serde_json::from_str(
///     r#"{"kty":"EC","crv":"P-256",
///         "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
///         "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#,
/// ).unwrap();
/// let key = VerifyingKey::from_jwk(&jwk).unwrap();
/// let jws = parse_compact(concat!(
///     "eyJhbGciOiJFUzI1NiJ9.",
///     "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.",
///     "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q",
/// )).unwrap();
/// key.verify_jws(&jws).unwrap();
/// ```
#[derive(Clone)]
pub struct VerifyingKey {
    alg: Algorithm,
    kid: Option<String>,
    inner: Inner,
    /// Refuse high-S ES256 signatures (the key is one of ours, which signs low-S only).
    low_s_only: bool,
}

#[derive(Clone)]
enum Inner {
    /// Uncompressed SEC1 point `0x04 || x || y`, already checked to be on the curve.
    Ec(UnparsedPublicKey<[u8; 65]>),
    /// Minimal big-endian `n` and `e`, already range-checked.
    Rsa(RsaPublicKeyComponents<Vec<u8>>),
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

fn decode_member(value: Option<&String>, name: &'static str) -> Result<Vec<u8>, JwkError> {
    let value = value.ok_or(JwkError::MissingMember(name))?;
    b64::decode(value).map_err(|_| JwkError::InvalidMember(name))
}

/// Strips leading zero bytes of a big-endian unsigned integer.
fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

/// Bit length of a big-endian unsigned integer without leading zero bytes.
fn bit_len(minimal: &[u8]) -> usize {
    match minimal.first() {
        None => 0,
        Some(&top) => (minimal.len() - 1) * 8 + (8 - top.leading_zeros() as usize),
    }
}

impl VerifyingKey {
    /// Checks a public JWK and prepares it for verification.
    ///
    /// EC keys must be on P-256 (`crv: "P-256"`) with `x` and `y` of exactly 32 bytes forming a
    /// point on the curve. RSA keys need a modulus of 2048 to 8192 bits and an odd public
    /// exponent of at least 3 and at most 32 bits. `alg`, when present, must be `ES256` for EC
    /// and `RS256` for RSA; without it the algorithm follows from the key type. `use`, when
    /// present, must be `sig`.
    ///
    /// # Errors
    ///
    /// A [`JwkError`] naming what is wrong.
    pub fn from_jwk(jwk: &PublicJwk) -> Result<VerifyingKey, JwkError> {
        if let Some(use_) = &jwk.use_ {
            if use_ != "sig" {
                return Err(JwkError::NotForSigning);
            }
        }
        let (alg, inner) = match jwk.kty.as_str() {
            "EC" => {
                match jwk.crv.as_deref() {
                    Some("P-256") => {}
                    Some(_) => return Err(JwkError::UnsupportedKeyType),
                    None => return Err(JwkError::MissingMember("crv")),
                }
                check_alg(jwk, Algorithm::Es256)?;
                let x = decode_member(jwk.x.as_ref(), "x")?;
                let y = decode_member(jwk.y.as_ref(), "y")?;
                if x.len() != 32 {
                    return Err(JwkError::InvalidMember("x"));
                }
                if y.len() != 32 {
                    return Err(JwkError::InvalidMember("y"));
                }
                let mut point = [0u8; 65];
                point[0] = 0x04;
                point[1..33].copy_from_slice(&x);
                point[33..].copy_from_slice(&y);
                p256::PublicKey::from_sec1_bytes(&point).map_err(|_| JwkError::NotOnCurve)?;
                (
                    Algorithm::Es256,
                    Inner::Ec(UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)),
                )
            }
            "RSA" => {
                check_alg(jwk, Algorithm::Rs256)?;
                let n = decode_member(jwk.n.as_ref(), "n")?;
                let e = decode_member(jwk.e.as_ref(), "e")?;
                let n = strip_leading_zeros(&n);
                let bits = bit_len(n);
                if bits < RSA_MIN_BITS {
                    return Err(JwkError::RsaModulusTooSmall { bits });
                }
                if bits > RSA_MAX_BITS {
                    return Err(JwkError::RsaModulusTooLarge { bits });
                }
                if n.last().is_some_and(|b| b & 1 == 0) {
                    return Err(JwkError::InvalidMember("n"));
                }
                let e = strip_leading_zeros(&e);
                let e_ok = e.len() <= 4
                    && e.last().is_some_and(|b| b & 1 == 1)
                    && (e.len() > 1 || e.first().is_some_and(|&b| b >= 3));
                if !e_ok {
                    return Err(JwkError::InvalidMember("e"));
                }
                (
                    Algorithm::Rs256,
                    Inner::Rsa(RsaPublicKeyComponents {
                        n: n.to_vec(),
                        e: e.to_vec(),
                    }),
                )
            }
            _ => return Err(JwkError::UnsupportedKeyType),
        };
        Ok(VerifyingKey {
            alg,
            kid: jwk.kid.clone(),
            inner,
            low_s_only: false,
        })
    }

    /// This key refuses high-S ES256 signatures (for the keys opkit signs with).
    pub(crate) fn low_s_only(mut self) -> VerifyingKey {
        self.low_s_only = true;
        self
    }

    /// The algorithm this key verifies: ES256 for EC P-256 keys, RS256 for RSA keys.
    #[must_use]
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The key id from the JWK, if it had one.
    #[must_use]
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// Verifies `signature` over `message` (for a JWS, the signing input
    /// `BASE64URL(header) || '.' || BASE64URL(payload)`).
    ///
    /// ES256 signatures must be the 64-byte `R || S` form of RFC 7518 section 3.4; RS256 is
    /// RSASSA-PKCS1-v1_5 with SHA-256. The verifying key of one of opkit's own
    /// [`SigningKey`](crate::jose::SigningKey)s also refuses an ES256 signature whose `S` is in
    /// the upper half of the group order: opkit signs only in the lower half, so the upper one
    /// is a malleated twin. Keys from a JWK accept both halves, as RFC 7518 does (other
    /// signers, RFC 7515's own example among them, produce either).
    ///
    /// # Errors
    ///
    /// [`JwsError::BadSignature`] when the signature does not verify.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), JwsError> {
        let ok = match &self.inner {
            Inner::Ec(_) if self.low_s_only && super::low_s::is_high_s(signature) => {
                return Err(JwsError::BadSignature)
            }
            Inner::Ec(key) => key.verify(message, signature),
            Inner::Rsa(key) => key.verify(&RSA_PKCS1_2048_8192_SHA256, message, signature),
        };
        ok.map_err(|_| JwsError::BadSignature)
    }

    /// Verifies a parsed JWS: its header `alg` must be this key's algorithm, and the signature
    /// must verify over its signing input. The `kid` is not compared (select the key first).
    ///
    /// # Errors
    ///
    /// [`JwsError::UnsupportedAlgorithm`] for an unknown `alg` (including `none`),
    /// [`JwsError::AlgorithmMismatch`] when it names the other algorithm,
    /// [`JwsError::BadSignature`] when the signature does not verify.
    pub fn verify_jws(&self, jws: &ParsedJws<'_>) -> Result<(), JwsError> {
        if jws.header().algorithm()? != self.alg {
            return Err(JwsError::AlgorithmMismatch);
        }
        self.verify(jws.signing_input().as_bytes(), jws.signature())
    }
}

fn check_alg(jwk: &PublicJwk, expected: Algorithm) -> Result<(), JwkError> {
    match jwk.alg.as_deref() {
        None => Ok(()),
        Some(alg) if alg == expected.as_str() => Ok(()),
        Some(_) => Err(JwkError::UnsupportedAlgorithm),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A3_X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
    const A3_Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";

    fn ec_jwk() -> PublicJwk {
        PublicJwk {
            kty: "EC".into(),
            use_: None,
            kid: Some("a3".into()),
            alg: None,
            crv: Some("P-256".into()),
            x: Some(A3_X.into()),
            y: Some(A3_Y.into()),
            n: None,
            e: None,
        }
    }

    #[test]
    fn serializes_in_member_order_without_absent_members() {
        let mut jwk = ec_jwk();
        jwk.use_ = Some("sig".into());
        jwk.alg = Some("ES256".into());
        assert_eq!(
            serde_json::to_string(&jwk).unwrap(),
            format!(
                r#"{{"kty":"EC","use":"sig","kid":"a3","alg":"ES256","crv":"P-256","x":"{A3_X}","y":"{A3_Y}"}}"#
            )
        );
    }

    #[test]
    fn ec_key_checks() {
        let key = VerifyingKey::from_jwk(&ec_jwk()).unwrap();
        assert_eq!(key.alg(), Algorithm::Es256);
        assert_eq!(key.kid(), Some("a3"));
        assert!(!format!("{key:?}").contains(A3_X));

        let mut j = ec_jwk();
        j.crv = Some("P-384".into());
        assert_eq!(
            VerifyingKey::from_jwk(&j).unwrap_err(),
            JwkError::UnsupportedKeyType
        );
        let mut j = ec_jwk();
        j.crv = None;
        assert_eq!(
            VerifyingKey::from_jwk(&j).unwrap_err(),
            JwkError::MissingMember("crv")
        );
        let mut j = ec_jwk();
        j.alg = Some("RS256".into());
        assert_eq!(
            VerifyingKey::from_jwk(&j).unwrap_err(),
            JwkError::UnsupportedAlgorithm
        );
        let mut j = ec_jwk();
        j.use_ = Some("enc".into());
        assert_eq!(
            VerifyingKey::from_jwk(&j).unwrap_err(),
            JwkError::NotForSigning
        );
        let mut j = ec_jwk();
        j.x = Some(b64::encode(&[1u8; 31]));
        assert_eq!(
            VerifyingKey::from_jwk(&j).unwrap_err(),
            JwkError::InvalidMember("x")
        );
        let mut j = ec_jwk();
        j.y = Some(format!("{A3_Y}="));
        assert_eq!(
            VerifyingKey::from_jwk(&j).unwrap_err(),
            JwkError::InvalidMember("y")
        );
        let mut j = ec_jwk();
        j.y = Some(b64::encode(&[7u8; 32]));
        assert_eq!(
            VerifyingKey::from_jwk(&j).unwrap_err(),
            JwkError::NotOnCurve
        );
        let mut j = ec_jwk();
        j.kty = "oct".into();
        assert_eq!(
            VerifyingKey::from_jwk(&j).unwrap_err(),
            JwkError::UnsupportedKeyType
        );
    }

    fn rsa_jwk(n: &[u8], e: &[u8]) -> PublicJwk {
        PublicJwk {
            kty: "RSA".into(),
            use_: Some("sig".into()),
            kid: None,
            alg: Some("RS256".into()),
            crv: None,
            x: None,
            y: None,
            n: Some(b64::encode(n)),
            e: Some(b64::encode(e)),
        }
    }

    #[test]
    fn rsa_key_checks() {
        let mut n = vec![0xc5u8; 256];
        n[255] = 0x01;
        assert!(VerifyingKey::from_jwk(&rsa_jwk(&n, &[1, 0, 1])).is_ok());
        // A leading zero byte is tolerated.
        let mut padded = vec![0u8];
        padded.extend_from_slice(&n);
        assert!(VerifyingKey::from_jwk(&rsa_jwk(&padded, &[1, 0, 1])).is_ok());
        assert_eq!(
            VerifyingKey::from_jwk(&rsa_jwk(&n[1..], &[1, 0, 1])).unwrap_err(),
            JwkError::RsaModulusTooSmall { bits: 2040 }
        );
        assert!(matches!(
            VerifyingKey::from_jwk(&rsa_jwk(&[0xff; 1025], &[1, 0, 1])).unwrap_err(),
            JwkError::RsaModulusTooLarge { .. }
        ));
        for bad_e in [&[][..], &[1], &[2], &[1, 0, 0], &[1, 0, 0, 0, 1]] {
            assert_eq!(
                VerifyingKey::from_jwk(&rsa_jwk(&n, bad_e)).unwrap_err(),
                JwkError::InvalidMember("e"),
                "{bad_e:?}"
            );
        }
        assert!(VerifyingKey::from_jwk(&rsa_jwk(&n, &[3])).is_ok());
        let mut even = n.clone();
        even[255] = 2;
        assert_eq!(
            VerifyingKey::from_jwk(&rsa_jwk(&even, &[1, 0, 1])).unwrap_err(),
            JwkError::InvalidMember("n")
        );
        let mut j = rsa_jwk(&n, &[1, 0, 1]);
        j.alg = Some("PS256".into());
        assert_eq!(
            VerifyingKey::from_jwk(&j).unwrap_err(),
            JwkError::UnsupportedAlgorithm
        );
        j.alg = None;
        j.n = None;
        assert_eq!(
            VerifyingKey::from_jwk(&j).unwrap_err(),
            JwkError::MissingMember("n")
        );
    }

    #[test]
    fn parse_jwks_is_strict_and_bounded() {
        let one = format!(
            r#"{{"kty":"EC","crv":"P-256","x":"{A3_X}","y":"{A3_Y}","key_ops":["verify"],"x5c":["AA"]}}"#
        );
        let set =
            parse_jwks(format!(r#"{{"keys":[{one}],"other":{{"a":[1]}}}}"#).as_bytes()).unwrap();
        assert_eq!(set.keys.len(), 1);
        assert_eq!(set.keys[0].x.as_deref(), Some(A3_X));

        let hundred = vec![one.as_str(); 100].join(",");
        assert_eq!(
            parse_jwks(format!(r#"{{"keys":[{hundred}]}}"#).as_bytes())
                .unwrap()
                .keys
                .len(),
            100
        );
        assert_eq!(
            parse_jwks(format!(r#"{{"keys":[{hundred},{one}]}}"#).as_bytes()),
            Err(JwkError::TooManyKeys)
        );
        assert_eq!(
            parse_jwks(&vec![b' '; MAX_JWKS_LEN + 1]),
            Err(JwkError::TooLarge)
        );

        for bad in [
            &b"[]"[..],
            b"null",
            b"{}",
            br#"{"keys":{}}"#,
            br#"{"keys":[[]]}"#,
            br#"{"keys":[["EC"]]}"#,
            br#"{"keys":[1]}"#,
            br#"{"keys":[{}]}"#,
            br#"{"keys":[{"kty":1}]}"#,
            br#"{"keys":[{"kty":"EC","x":5}]}"#,
            br#"{"keys":[{"kty":"EC","kty":"RSA"}]}"#,
            br#"{"keys":[],"keys":[]}"#,
            br#"{"keys":[]} x"#,
            br#"{"keys":["#,
            b"",
        ] {
            assert!(
                matches!(parse_jwks(bad), Err(JwkError::Malformed(_))),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn jwks_find() {
        let set = Jwks {
            keys: vec![ec_jwk()],
        };
        assert!(set.find("a3").is_some());
        assert!(set.find("zz").is_none());
    }
}
