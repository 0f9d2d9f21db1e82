//! Signing keys: generation, import (PEM, private JWK), export (PKCS#8 PEM) and signing with ring.

use std::borrow::Cow;
use std::fmt;

use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::elliptic_curve::zeroize::Zeroizing;
use p256::pkcs8::der::pem as pem_rfc7468;
use p256::pkcs8::{AssociatedOid, DecodePrivateKey, EncodePrivateKey, SecretDocument};
use ring::rand::SystemRandom;
use ring::signature::{
    EcdsaKeyPair, KeyPair as _, RsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING, RSA_PKCS1_SHA256,
};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use rsa::BigUint;
use serde::Deserialize;

use super::b64;
use super::jwk::{ObjectOnly, PublicJwk, VerifyingKey};
use super::Algorithm;
use crate::host::Rng;

/// Largest signature any [`SigningKey`] produces, in bytes (RSA 4096).
pub(crate) const MAX_SIGNATURE_LEN: usize = 512;

/// Longest key id accepted, in bytes.
pub const MAX_KID_LEN: usize = 256;

const RSA_MIN_BITS: usize = 2048;
const RSA_MAX_BITS: usize = 4096;
/// Largest PEM or JWK text accepted for a private key.
const MAX_KEY_TEXT_LEN: usize = 64 * 1024;

/// Why a key could not be built, imported or used. Never carries key material.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// The PEM text is not a well-formed PEM block; the text says what was wrong.
    InvalidPem(&'static str),
    /// The key is of a type opkit does not sign with; the text names it.
    UnsupportedKeyType(&'static str),
    /// The RSA modulus is shorter than 2048 bits.
    RsaTooSmall {
        /// The modulus length found or requested.
        bits: usize,
    },
    /// The RSA modulus is longer than 4096 bits (ring's limit for private keys).
    RsaTooLarge {
        /// The modulus length found or requested.
        bits: usize,
    },
    /// The key material is inconsistent or invalid; the text says how.
    InvalidKey(&'static str),
    /// A private JWK member is missing or invalid.
    InvalidJwk {
        /// The member (`kid`, `d`, `x`, ...), or `(document)` for the JSON as a whole.
        field: &'static str,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// The public members of a private JWK do not belong to its private key.
    PublicKeyMismatch,
    /// The key id is empty or longer than [`MAX_KID_LEN`] bytes.
    InvalidKid,
    /// A key with this key id is already in the set.
    DuplicateKid(String),
    /// No key in the set has this key id.
    UnknownKid(String),
    /// The key is its algorithm's active signing key; activate another one first.
    KeyIsActive(String),
    /// The host random source failed.
    Rng,
    /// Signing failed.
    Signing,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::InvalidPem(what) => write!(f, "invalid PEM: {what}"),
            KeyError::UnsupportedKeyType(what) => write!(f, "unsupported key type: {what}"),
            KeyError::RsaTooSmall { bits } => {
                write!(
                    f,
                    "RSA key of {bits} bits is below the {RSA_MIN_BITS}-bit minimum"
                )
            }
            KeyError::RsaTooLarge { bits } => {
                write!(
                    f,
                    "RSA key of {bits} bits is above the {RSA_MAX_BITS}-bit maximum"
                )
            }
            KeyError::InvalidKey(what) => write!(f, "invalid key: {what}"),
            KeyError::InvalidJwk { field, problem } => {
                write!(f, "invalid private JWK: member \"{field}\" {problem}")
            }
            KeyError::PublicKeyMismatch => {
                f.write_str("the public key members do not match the private key")
            }
            KeyError::InvalidKid => write!(
                f,
                "key id must be non-empty and at most {MAX_KID_LEN} bytes"
            ),
            KeyError::DuplicateKid(kid) => write!(f, "a key with kid {kid:?} already exists"),
            KeyError::UnknownKid(kid) => write!(f, "no key with kid {kid:?}"),
            KeyError::KeyIsActive(kid) => write!(
                f,
                "key {kid:?} is the active signing key for its algorithm; activate another first"
            ),
            KeyError::Rng => f.write_str("the random source failed"),
            KeyError::Signing => f.write_str("signing failed"),
        }
    }
}

impl std::error::Error for KeyError {}

impl From<crate::host::RngError> for KeyError {
    fn from(_: crate::host::RngError) -> Self {
        KeyError::Rng
    }
}

enum Pair {
    Ec(EcdsaKeyPair),
    Rsa(RsaKeyPair),
}

/// A private signing key with its key id and algorithm, loaded into ring.
///
/// Build one with [`SigningKey::generate`], [`SigningKey::from_pem`] or
/// [`SigningKey::from_jwk`]; keys are parsed and checked once, there. `Debug` shows only the
/// key id and algorithm.
///
/// ```
/// use opkit::host::SystemRng;
/// use opkit::jose::{Algorithm, SigningKey};
/// let key = SigningKey::generate(Algorithm::Es256, "2024-01", &SystemRng::default()).unwrap();
/// assert_eq!(key.kid(), "2024-01");
/// assert_eq!(key.sign(b"hello").unwrap().len(), 64);
/// // Persist it, load it back.
/// let pem = key.to_pkcs8_pem();
/// let again = SigningKey::from_pem("2024-01", &pem).unwrap();
/// assert_eq!(again.public_jwk(), key.public_jwk());
/// ```
pub struct SigningKey {
    kid: String,
    alg: Algorithm,
    pair: Pair,
    public_jwk: PublicJwk,
    verifying_key: VerifyingKey,
    pkcs8: SecretDocument,
    /// `BASE64URL({"alg":..,"typ":"JWT","kid":..})`.
    header_jwt: String,
    /// `BASE64URL({"alg":..,"typ":"at+jwt","kid":..})`.
    header_at_jwt: String,
    signature_len: usize,
    rng: SystemRandom,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

fn check_kid(kid: &str) -> Result<(), KeyError> {
    if kid.is_empty() || kid.len() > MAX_KID_LEN {
        return Err(KeyError::InvalidKid);
    }
    Ok(())
}

fn rejected(e: ring::error::KeyRejected) -> KeyError {
    KeyError::InvalidKey(match e.to_string().as_str() {
        "InconsistentComponents" => "key components are inconsistent",
        "InvalidComponent" => "a key component is invalid",
        "InvalidEncoding" => "invalid key encoding",
        "PublicKeyIsMissing" => "the public key is missing",
        "TooSmall" => "key too small",
        "TooLarge" => "key too large",
        "PrivateModulusLenNotMultipleOf512Bits" => "RSA primes must be a multiple of 512 bits",
        "RNG failed" => "the system random source failed",
        _ => "key rejected by ring",
    })
}

/// `BASE64URL({"alg":"<alg>","typ":<typ>,"kid":<kid>})` with JSON-escaped strings.
fn encode_header(alg: Algorithm, typ: &str, kid: &str) -> Result<String, KeyError> {
    let mut json = Vec::with_capacity(32 + typ.len() + kid.len());
    json.extend_from_slice(b"{\"alg\":\"");
    json.extend_from_slice(alg.as_str().as_bytes());
    json.extend_from_slice(b"\",\"typ\":");
    serde_json::to_writer(&mut json, typ).map_err(|_| KeyError::Signing)?;
    json.extend_from_slice(b",\"kid\":");
    serde_json::to_writer(&mut json, kid).map_err(|_| KeyError::Signing)?;
    json.push(b'}');
    Ok(b64::encode(&json))
}

/// A `rand_core` generator over the host [`Rng`], for the rsa crate's key generation.
///
/// `fill_bytes` cannot fail, so a host failure is recorded and the request is filled from a
/// non-secret SHA-256 counter stream just so generation terminates; the caller then discards
/// the key and reports [`KeyError::Rng`].
struct RandCoreAdapter<'a> {
    rng: &'a dyn Rng,
    failed: bool,
    counter: u64,
}

impl RandCoreAdapter<'_> {
    fn fallback(&mut self, dest: &mut [u8]) {
        use sha2::Digest as _;
        for chunk in dest.chunks_mut(32) {
            self.counter = self.counter.wrapping_add(1);
            let block = sha2::Sha256::digest(self.counter.to_le_bytes());
            chunk.copy_from_slice(&block[..chunk.len()]);
        }
    }
}

impl rsa::rand_core::RngCore for RandCoreAdapter<'_> {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        if self.failed || self.rng.fill(dest).is_err() {
            self.failed = true;
            self.fallback(dest);
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rsa::rand_core::Error> {
        self.fill_bytes(dest);
        if self.failed {
            return Err(rsa::rand_core::Error::from(std::num::NonZeroU32::MIN));
        }
        Ok(())
    }
}

impl rsa::rand_core::CryptoRng for RandCoreAdapter<'_> {}

/// A private JWK member, wiped from memory on drop.
#[derive(Deserialize)]
#[serde(transparent)]
struct Secret(String);

fn secret(v: Option<&Secret>) -> Option<&str> {
    v.map(|s| s.0.as_str())
}

impl Drop for Secret {
    fn drop(&mut self) {
        use p256::elliptic_curve::zeroize::Zeroize as _;
        self.0.zeroize();
    }
}

/// The members a private JWK may have. Not `Debug`: it holds private key material.
#[derive(Deserialize)]
struct PrivateJwk {
    kty: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    alg: Option<String>,
    #[serde(rename = "use", default)]
    use_: Option<String>,
    #[serde(default)]
    crv: Option<String>,
    #[serde(default)]
    x: Option<String>,
    #[serde(default)]
    y: Option<String>,
    #[serde(default)]
    d: Option<Secret>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
    #[serde(default)]
    p: Option<Secret>,
    #[serde(default)]
    q: Option<Secret>,
    #[serde(default)]
    dp: Option<Secret>,
    #[serde(default)]
    dq: Option<Secret>,
    #[serde(default)]
    qi: Option<Secret>,
    #[serde(default)]
    oth: Option<serde::de::IgnoredAny>,
}

fn jwk_bytes(value: Option<&str>, field: &'static str) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let value = value.ok_or(KeyError::InvalidJwk {
        field,
        problem: "is missing",
    })?;
    b64::decode(value)
        .map(Zeroizing::new)
        .map_err(|_| KeyError::InvalidJwk {
            field,
            problem: "is not base64url",
        })
}

fn jwk_uint(value: Option<&str>, field: &'static str) -> Result<BigUint, KeyError> {
    let bytes = jwk_bytes(value, field)?;
    // Bound the arithmetic that follows: nothing in a 4096-bit key exceeds 512 bytes.
    if bytes.len() > MAX_SIGNATURE_LEN + 1 {
        return Err(KeyError::InvalidJwk {
            field,
            problem: "is too long",
        });
    }
    Ok(BigUint::from_bytes_be(&bytes))
}

/// Finds the first PEM block in `text` (ignoring any text around it).
fn pem_block(text: &str) -> Result<&str, KeyError> {
    let start = text
        .find("-----BEGIN ")
        .ok_or(KeyError::InvalidPem("no BEGIN line"))?;
    let rest = &text[start..];
    let end_line = rest
        .find("-----END ")
        .ok_or(KeyError::InvalidPem("no END line"))?;
    let after = &rest[end_line + "-----END ".len()..];
    let close = after
        .find("-----")
        .ok_or(KeyError::InvalidPem("unterminated END line"))?;
    let len = end_line + "-----END ".len() + close + "-----".len();
    Ok(&rest[..len])
}

impl SigningKey {
    /// Generates a new key with the host random source: ES256 (P-256) or RS256 (2048-bit RSA).
    ///
    /// RSA generation takes tens to hundreds of milliseconds; do it at start or offline and
    /// persist the key with [`SigningKey::to_pkcs8_pem`].
    ///
    /// # Errors
    ///
    /// [`KeyError::InvalidKid`], [`KeyError::Rng`] if the random source fails.
    pub fn generate(
        alg: Algorithm,
        kid: impl Into<String>,
        rng: &dyn Rng,
    ) -> Result<SigningKey, KeyError> {
        match alg {
            Algorithm::Rs256 => Self::generate_rsa(kid, RSA_MIN_BITS, rng),
            Algorithm::Es256 => {
                let kid = kid.into();
                check_kid(&kid)?;
                // A uniformly random 32-byte string is not a valid scalar with probability
                // about 2^-32; give up only after many failures (a broken source).
                for _ in 0..16 {
                    let mut bytes = Zeroizing::new([0u8; 32]);
                    rng.fill(&mut bytes[..])?;
                    if let Ok(secret) = p256::SecretKey::from_slice(&bytes[..]) {
                        return Self::from_p256(kid, &secret);
                    }
                }
                Err(KeyError::Rng)
            }
        }
    }

    /// Generates an RS256 key of `bits` bits (2048 to 4096) with the host random source.
    ///
    /// # Errors
    ///
    /// [`KeyError::RsaTooSmall`] / [`KeyError::RsaTooLarge`] for `bits` out of range,
    /// [`KeyError::InvalidKid`], [`KeyError::Rng`] if the random source fails.
    pub fn generate_rsa(
        kid: impl Into<String>,
        bits: usize,
        rng: &dyn Rng,
    ) -> Result<SigningKey, KeyError> {
        let kid = kid.into();
        check_kid(&kid)?;
        check_rsa_bits(bits)?;
        // Fail fast on a broken source instead of after a full (slow) generation.
        rng.fill(&mut [0u8; 16])?;
        let mut adapter = RandCoreAdapter {
            rng,
            failed: false,
            counter: 0,
        };
        let generated = rsa::RsaPrivateKey::new(&mut adapter, bits);
        if adapter.failed {
            return Err(KeyError::Rng);
        }
        let key = generated.map_err(|_| KeyError::InvalidKey("RSA key generation failed"))?;
        Self::from_rsa(kid, &key)
    }

    /// Imports a private key from PEM.
    ///
    /// Accepts an unencrypted PKCS#8 `PRIVATE KEY` (EC P-256 or RSA), a SEC1 `EC PRIVATE KEY`
    /// (P-256) or a PKCS#1 `RSA PRIVATE KEY`. The algorithm follows from the key: ES256 for
    /// P-256, RS256 for RSA. RSA keys must be 2048 to 4096 bits. Text around the first PEM
    /// block is ignored.
    ///
    /// # Errors
    ///
    /// [`KeyError::InvalidPem`], [`KeyError::UnsupportedKeyType`] (other curves, Ed25519,
    /// encrypted keys, public keys, certificates), [`KeyError::RsaTooSmall`],
    /// [`KeyError::RsaTooLarge`], [`KeyError::InvalidKey`] or [`KeyError::InvalidKid`].
    pub fn from_pem(kid: impl Into<String>, pem: &str) -> Result<SigningKey, KeyError> {
        let kid = kid.into();
        check_kid(&kid)?;
        if pem.len() > MAX_KEY_TEXT_LEN {
            return Err(KeyError::InvalidPem("too large"));
        }
        let block = pem_block(pem)?;
        let (label, der) = pem_rfc7468::decode_vec(block.as_bytes())
            .map_err(|_| KeyError::InvalidPem("malformed PEM block"))?;
        let der = Zeroizing::new(der);
        match label {
            "PRIVATE KEY" => Self::from_pkcs8_der(kid, &der),
            "EC PRIVATE KEY" => {
                let secret = p256::SecretKey::from_sec1_der(&der).map_err(|_| {
                    KeyError::UnsupportedKeyType("not a valid P-256 SEC1 EC private key")
                })?;
                Self::from_p256(kid, &secret)
            }
            "RSA PRIVATE KEY" => {
                let key = rsa::RsaPrivateKey::from_pkcs1_der(&der)
                    .map_err(|_| KeyError::InvalidKey("not a valid PKCS#1 RSA private key"))?;
                Self::from_rsa(kid, &key)
            }
            "ENCRYPTED PRIVATE KEY" => Err(KeyError::UnsupportedKeyType(
                "encrypted private keys (decrypt the key first)",
            )),
            "PUBLIC KEY" | "RSA PUBLIC KEY" | "EC PUBLIC KEY" | "CERTIFICATE" => {
                Err(KeyError::UnsupportedKeyType("not a private key"))
            }
            _ => Err(KeyError::InvalidPem("unexpected PEM label")),
        }
    }

    fn from_pkcs8_der(kid: String, der: &[u8]) -> Result<SigningKey, KeyError> {
        let info = p256::pkcs8::PrivateKeyInfo::try_from(der)
            .map_err(|_| KeyError::InvalidKey("not a valid PKCS#8 private key"))?;
        if info.algorithm.oid == p256::elliptic_curve::ALGORITHM_OID {
            if info.algorithm.parameters_oid().ok() != Some(p256::NistP256::OID) {
                return Err(KeyError::UnsupportedKeyType("EC curve other than P-256"));
            }
            let secret = p256::SecretKey::from_pkcs8_der(der)
                .map_err(|_| KeyError::InvalidKey("not a valid P-256 private key"))?;
            Self::from_p256(kid, &secret)
        } else if info.algorithm.oid == rsa::pkcs1::ALGORITHM_OID {
            let key = rsa::RsaPrivateKey::from_pkcs8_der(der)
                .map_err(|_| KeyError::InvalidKey("not a valid RSA private key"))?;
            Self::from_rsa(kid, &key)
        } else {
            Err(KeyError::UnsupportedKeyType(
                "only EC P-256 and RSA keys are supported",
            ))
        }
    }

    /// Imports a private JWK (RFC 7518 section 6).
    ///
    /// EC keys need `crv: "P-256"`, `d`, `x`, `y`; RSA keys need `n`, `e`, `d`, `p`, `q`
    /// (`dp`, `dq`, `qi` are checked when present; multi-prime keys with `oth` are refused).
    /// `kid` is required; `alg`, when present, must match the key type (`ES256` / `RS256`);
    /// `use`, when present, must be `sig`. The public members must belong to the private key.
    ///
    /// ```
    /// use opkit::jose::{Algorithm, SigningKey};
    /// // RFC 7515 Appendix A.3's key, with a kid.
    /// let key = SigningKey::from_jwk(r#"{"kty":"EC","crv":"P-256","kid":"a3",
    ///     "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
    ///     "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
    ///     "d":"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"}"#).unwrap();
    /// assert_eq!(key.alg(), Algorithm::Es256);
    /// ```
    ///
    /// # Errors
    ///
    /// [`KeyError::InvalidJwk`] naming the member, [`KeyError::PublicKeyMismatch`],
    /// [`KeyError::UnsupportedKeyType`], [`KeyError::RsaTooSmall`], [`KeyError::RsaTooLarge`],
    /// [`KeyError::InvalidKey`] or [`KeyError::InvalidKid`].
    pub fn from_jwk(json: &str) -> Result<SigningKey, KeyError> {
        if json.len() > MAX_KEY_TEXT_LEN {
            return Err(KeyError::InvalidJwk {
                field: "(document)",
                problem: "is too large",
            });
        }
        let ObjectOnly(jwk) =
            serde_json::from_str::<ObjectOnly<PrivateJwk>>(json).map_err(|_| {
                KeyError::InvalidJwk {
                    field: "(document)",
                    problem: "is not a JSON object with string members",
                }
            })?;
        let kid = jwk.kid.clone().ok_or(KeyError::InvalidJwk {
            field: "kid",
            problem: "is missing",
        })?;
        check_kid(&kid)?;
        if jwk.use_.as_deref().is_some_and(|u| u != "sig") {
            return Err(KeyError::InvalidJwk {
                field: "use",
                problem: "is not \"sig\"",
            });
        }
        let expected_alg = match jwk.kty.as_str() {
            "EC" => Algorithm::Es256,
            "RSA" => Algorithm::Rs256,
            _ => {
                return Err(KeyError::UnsupportedKeyType(
                    "only EC P-256 and RSA keys are supported",
                ))
            }
        };
        if jwk
            .alg
            .as_deref()
            .is_some_and(|a| a != expected_alg.as_str())
        {
            return Err(KeyError::InvalidJwk {
                field: "alg",
                problem: "does not match the key type",
            });
        }
        match expected_alg {
            Algorithm::Es256 => Self::from_ec_jwk(kid, &jwk),
            Algorithm::Rs256 => Self::from_rsa_jwk(kid, &jwk),
        }
    }

    fn from_ec_jwk(kid: String, jwk: &PrivateJwk) -> Result<SigningKey, KeyError> {
        match jwk.crv.as_deref() {
            Some("P-256") => {}
            Some(_) => return Err(KeyError::UnsupportedKeyType("EC curve other than P-256")),
            None => {
                return Err(KeyError::InvalidJwk {
                    field: "crv",
                    problem: "is missing",
                })
            }
        }
        let d = jwk_bytes(secret(jwk.d.as_ref()), "d")?;
        let x = jwk_bytes(jwk.x.as_deref(), "x")?;
        let y = jwk_bytes(jwk.y.as_deref(), "y")?;
        for (value, field) in [(&d, "d"), (&x, "x"), (&y, "y")] {
            if value.len() != 32 {
                return Err(KeyError::InvalidJwk {
                    field,
                    problem: "is not 32 bytes",
                });
            }
        }
        let secret = p256::SecretKey::from_slice(&d).map_err(|_| KeyError::InvalidJwk {
            field: "d",
            problem: "is not a valid P-256 private scalar",
        })?;
        let point = secret.public_key().to_encoded_point(false);
        if point.x().map(|v| &v[..]) != Some(&x[..]) || point.y().map(|v| &v[..]) != Some(&y[..]) {
            return Err(KeyError::PublicKeyMismatch);
        }
        Self::from_p256(kid, &secret)
    }

    fn from_rsa_jwk(kid: String, jwk: &PrivateJwk) -> Result<SigningKey, KeyError> {
        if jwk.oth.is_some() {
            return Err(KeyError::UnsupportedKeyType("multi-prime RSA keys"));
        }
        let n = jwk_uint(jwk.n.as_deref(), "n")?;
        let bits = n.bits();
        check_rsa_bits(bits)?;
        let e = jwk_uint(jwk.e.as_deref(), "e")?;
        let d = jwk_uint(secret(jwk.d.as_ref()), "d")?;
        let p = jwk_uint(secret(jwk.p.as_ref()), "p")?;
        let q = jwk_uint(secret(jwk.q.as_ref()), "q")?;
        let one = BigUint::from(1u8);
        if p <= one || q <= one {
            return Err(KeyError::InvalidKey("RSA prime is too small"));
        }
        // Optional CRT members must agree with the key.
        if let Some(dp) = secret(jwk.dp.as_ref()) {
            let dp = jwk_uint(Some(dp), "dp")?;
            if dp != &d % &(&p - &one) {
                return Err(KeyError::InvalidJwk {
                    field: "dp",
                    problem: "does not match d and p",
                });
            }
        }
        if let Some(dq) = secret(jwk.dq.as_ref()) {
            let dq = jwk_uint(Some(dq), "dq")?;
            if dq != &d % &(&q - &one) {
                return Err(KeyError::InvalidJwk {
                    field: "dq",
                    problem: "does not match d and q",
                });
            }
        }
        if let Some(qi) = secret(jwk.qi.as_ref()) {
            let qi = jwk_uint(Some(qi), "qi")?;
            if qi >= p || (&qi * &q) % &p != one {
                return Err(KeyError::InvalidJwk {
                    field: "qi",
                    problem: "is not the inverse of q modulo p",
                });
            }
        }
        let key =
            rsa::RsaPrivateKey::from_components(n, e, d, vec![p, q]).map_err(|err| match err {
                rsa::Error::InvalidModulus => KeyError::PublicKeyMismatch,
                rsa::Error::InvalidExponent => {
                    KeyError::InvalidKey("RSA private exponent does not match")
                }
                _ => KeyError::InvalidKey("RSA key components are inconsistent"),
            })?;
        Self::from_rsa(kid, &key)
    }

    fn from_p256(kid: String, secret: &p256::SecretKey) -> Result<SigningKey, KeyError> {
        let pkcs8 = secret
            .to_pkcs8_der()
            .map_err(|_| KeyError::InvalidKey("PKCS#8 encoding failed"))?;
        let rng = SystemRandom::new();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_bytes(), &rng)
                .map_err(rejected)?;
        let point = pair.public_key().as_ref();
        if point.len() != 65 || point[0] != 0x04 {
            return Err(KeyError::InvalidKey("unexpected P-256 public key encoding"));
        }
        let public_jwk = PublicJwk {
            kty: "EC".to_owned(),
            use_: Some("sig".to_owned()),
            kid: Some(kid.clone()),
            alg: Some(Algorithm::Es256.as_str().to_owned()),
            crv: Some("P-256".to_owned()),
            x: Some(b64::encode(&point[1..33])),
            y: Some(b64::encode(&point[33..65])),
            n: None,
            e: None,
        };
        Self::assemble(
            kid,
            Algorithm::Es256,
            Pair::Ec(pair),
            public_jwk,
            pkcs8,
            64,
            rng,
        )
    }

    fn from_rsa(kid: String, key: &rsa::RsaPrivateKey) -> Result<SigningKey, KeyError> {
        check_rsa_bits(key.n().bits())?;
        let pkcs8 = rsa::pkcs8::EncodePrivateKey::to_pkcs8_der(key)
            .map_err(|_| KeyError::InvalidKey("PKCS#8 encoding failed"))?;
        let pair = RsaKeyPair::from_pkcs8(pkcs8.as_bytes()).map_err(rejected)?;
        let signature_len = pair.public().modulus_len();
        if signature_len > MAX_SIGNATURE_LEN {
            return Err(KeyError::RsaTooLarge {
                bits: signature_len * 8,
            });
        }
        let public_jwk = PublicJwk {
            kty: "RSA".to_owned(),
            use_: Some("sig".to_owned()),
            kid: Some(kid.clone()),
            alg: Some(Algorithm::Rs256.as_str().to_owned()),
            crv: None,
            x: None,
            y: None,
            n: Some(b64::encode(&key.n().to_bytes_be())),
            e: Some(b64::encode(&key.e().to_bytes_be())),
        };
        Self::assemble(
            kid,
            Algorithm::Rs256,
            Pair::Rsa(pair),
            public_jwk,
            pkcs8,
            signature_len,
            SystemRandom::new(),
        )
    }

    fn assemble(
        kid: String,
        alg: Algorithm,
        pair: Pair,
        public_jwk: PublicJwk,
        pkcs8: SecretDocument,
        signature_len: usize,
        rng: SystemRandom,
    ) -> Result<SigningKey, KeyError> {
        // opkit signs low-S only, so a high-S signature under its own key is a malleated twin.
        let verifying_key = VerifyingKey::from_jwk(&public_jwk)
            .map_err(|_| KeyError::InvalidKey("public key rejected for verification"))?
            .low_s_only();
        Ok(SigningKey {
            header_jwt: encode_header(alg, "JWT", &kid)?,
            header_at_jwt: encode_header(alg, "at+jwt", &kid)?,
            kid,
            alg,
            pair,
            public_jwk,
            verifying_key,
            pkcs8,
            signature_len,
            rng,
        })
    }

    /// The key id (`kid`).
    #[must_use]
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The algorithm this key signs with.
    #[must_use]
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The public key as a JWK with `use: "sig"`, `kid` and `alg`, ready to publish.
    #[must_use]
    pub fn public_jwk(&self) -> &PublicJwk {
        &self.public_jwk
    }

    /// The public key prepared for verification.
    #[must_use]
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.verifying_key
    }

    /// The private key as unencrypted PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), for the host
    /// to persist (securely) and load again with [`SigningKey::from_pem`].
    #[must_use]
    pub fn to_pkcs8_pem(&self) -> String {
        use base64::Engine as _;
        let body =
            Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(self.pkcs8.as_bytes()));
        let mut pem = String::with_capacity(body.len() + body.len() / 64 + 64);
        pem.push_str("-----BEGIN PRIVATE KEY-----\n");
        for line in body.as_bytes().chunks(64) {
            // `body` is ASCII, so every chunk is valid UTF-8.
            pem.push_str(std::str::from_utf8(line).unwrap_or_default());
            pem.push('\n');
        }
        pem.push_str("-----END PRIVATE KEY-----\n");
        pem
    }

    /// Signs `message`: ES256 gives the 64-byte `R || S` form (RFC 7518 section 3.4), RS256
    /// gives an RSASSA-PKCS1-v1_5 SHA-256 signature as long as the modulus.
    ///
    /// # Errors
    ///
    /// [`KeyError::Signing`] if ring fails (its random source failed).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let mut buf = [0u8; MAX_SIGNATURE_LEN];
        self.sign_into(message, &mut buf).map(<[u8]>::to_vec)
    }

    /// Signs into `buf`, returning the signature slice; no allocation.
    pub(crate) fn sign_into<'b>(
        &self,
        message: &[u8],
        buf: &'b mut [u8; MAX_SIGNATURE_LEN],
    ) -> Result<&'b [u8], KeyError> {
        let out = buf.get_mut(..self.signature_len).ok_or(KeyError::Signing)?;
        match &self.pair {
            Pair::Ec(pair) => {
                let sig = pair
                    .sign(&self.rng, message)
                    .map_err(|_| KeyError::Signing)?;
                let sig = sig.as_ref();
                if sig.len() != out.len() {
                    return Err(KeyError::Signing);
                }
                out.copy_from_slice(sig);
                super::low_s::normalize(out);
            }
            Pair::Rsa(pair) => pair
                .sign(&RSA_PKCS1_SHA256, &self.rng, message, out)
                .map_err(|_| KeyError::Signing)?,
        }
        Ok(out)
    }

    /// The signature length in bytes: 64 for ES256, the modulus length for RS256.
    pub(crate) fn signature_len(&self) -> usize {
        self.signature_len
    }

    /// The base64url-encoded protected header `{"alg":..,"typ":<typ>,"kid":..}`; cached for
    /// `JWT` and `at+jwt`.
    pub(crate) fn encoded_header(&self, typ: &str) -> Result<Cow<'_, str>, KeyError> {
        Ok(match typ {
            "JWT" => Cow::Borrowed(&self.header_jwt),
            "at+jwt" => Cow::Borrowed(&self.header_at_jwt),
            _ => Cow::Owned(encode_header(self.alg, typ, &self.kid)?),
        })
    }
}

/// 2048, 3072 or 4096: ring signs with RSA keys whose primes are a multiple of 512 bits.
fn check_rsa_bits(bits: usize) -> Result<(), KeyError> {
    if bits < RSA_MIN_BITS {
        Err(KeyError::RsaTooSmall { bits })
    } else if bits > RSA_MAX_BITS {
        Err(KeyError::RsaTooLarge { bits })
    } else if bits % 1024 != 0 {
        Err(KeyError::UnsupportedKeyType(
            "RSA modulus length other than 2048, 3072 or 4096 bits",
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::host::{RngError, SystemRng};
    use std::sync::OnceLock;

    /// One 2048-bit RSA key for every test in the crate (generation is slow in debug builds).
    pub(crate) fn rsa_private() -> &'static rsa::RsaPrivateKey {
        static KEY: OnceLock<rsa::RsaPrivateKey> = OnceLock::new();
        KEY.get_or_init(|| {
            let mut adapter = RandCoreAdapter {
                rng: &SystemRng::default(),
                failed: false,
                counter: 0,
            };
            rsa::RsaPrivateKey::new(&mut adapter, 2048).unwrap()
        })
    }

    pub(crate) fn rsa_key(kid: &str) -> SigningKey {
        SigningKey::from_rsa(kid.to_owned(), rsa_private()).unwrap()
    }

    pub(crate) fn ec_key(kid: &str) -> SigningKey {
        SigningKey::generate(Algorithm::Es256, kid, &SystemRng::default()).unwrap()
    }

    struct FailingRng;
    impl Rng for FailingRng {
        fn fill(&self, _: &mut [u8]) -> Result<(), RngError> {
            Err(RngError)
        }
    }

    /// Always returns the same bytes: every P-256 attempt yields the same (valid) scalar.
    struct ConstRng(u8);
    impl Rng for ConstRng {
        fn fill(&self, dest: &mut [u8]) -> Result<(), RngError> {
            dest.fill(self.0);
            Ok(())
        }
    }

    #[test]
    fn generate_es256() {
        let key = ec_key("k1");
        assert_eq!(key.alg(), Algorithm::Es256);
        assert_eq!(key.kid(), "k1");
        let jwk = key.public_jwk();
        assert_eq!(jwk.kty, "EC");
        assert_eq!(jwk.use_.as_deref(), Some("sig"));
        assert_eq!(jwk.alg.as_deref(), Some("ES256"));
        assert_eq!(jwk.kid.as_deref(), Some("k1"));
        let sig = key.sign(b"msg").unwrap();
        assert_eq!(sig.len(), 64);
        key.verifying_key().verify(b"msg", &sig).unwrap();
        assert!(key.verifying_key().verify(b"msg2", &sig).is_err());

        // Deterministic scalar from a constant source.
        let a = SigningKey::generate(Algorithm::Es256, "c", &ConstRng(7)).unwrap();
        let b = SigningKey::generate(Algorithm::Es256, "c", &ConstRng(7)).unwrap();
        assert_eq!(a.public_jwk(), b.public_jwk());
        // 0xff.. is above the group order: never valid, so generation gives up.
        assert_eq!(
            SigningKey::generate(Algorithm::Es256, "c", &ConstRng(0xff)).unwrap_err(),
            KeyError::Rng
        );
    }

    #[test]
    fn rng_failure_is_reported() {
        assert_eq!(
            SigningKey::generate(Algorithm::Es256, "k", &FailingRng).unwrap_err(),
            KeyError::Rng
        );
        assert_eq!(
            SigningKey::generate_rsa("k", 2048, &FailingRng).unwrap_err(),
            KeyError::Rng
        );
    }

    #[test]
    fn rand_core_adapter_records_failure_and_keeps_producing() {
        use rsa::rand_core::RngCore as _;
        let mut ok = RandCoreAdapter {
            rng: &ConstRng(3),
            failed: false,
            counter: 0,
        };
        let mut buf = [0u8; 40];
        ok.try_fill_bytes(&mut buf).unwrap();
        assert_eq!(buf, [3u8; 40]);
        assert!(!ok.failed);

        // A failing source mid-generation: the adapter keeps producing varying bytes (so the
        // rsa crate's prime search terminates) and remembers the failure.
        let mut failing = RandCoreAdapter {
            rng: &FailingRng,
            failed: false,
            counter: 0,
        };
        let (a, b) = (failing.next_u64(), failing.next_u64());
        assert_ne!(a, b);
        assert!(failing.failed);
        assert!(failing.try_fill_bytes(&mut buf).is_err());
        let mut c = [0u8; 40];
        failing.fill_bytes(&mut c);
        assert_ne!(buf, c);
    }

    #[test]
    fn generate_rsa_checks_bits_and_kid_first() {
        let rng = SystemRng::default();
        assert_eq!(
            SigningKey::generate_rsa("k", 1024, &rng).unwrap_err(),
            KeyError::RsaTooSmall { bits: 1024 }
        );
        assert_eq!(
            SigningKey::generate_rsa("k", 8192, &rng).unwrap_err(),
            KeyError::RsaTooLarge { bits: 8192 }
        );
        assert_eq!(
            SigningKey::generate(Algorithm::Rs256, "", &rng).unwrap_err(),
            KeyError::InvalidKid
        );
        assert_eq!(
            SigningKey::generate(Algorithm::Es256, "x".repeat(MAX_KID_LEN + 1), &rng).unwrap_err(),
            KeyError::InvalidKid
        );
    }

    #[test]
    fn rsa_key_signs() {
        let key = rsa_key("r1");
        assert_eq!(key.alg(), Algorithm::Rs256);
        let jwk = key.public_jwk();
        assert_eq!(jwk.kty, "RSA");
        assert_eq!(jwk.e.as_deref(), Some("AQAB"));
        assert_eq!(b64::decode(jwk.n.as_deref().unwrap()).unwrap().len(), 256);
        let sig = key.sign(b"msg").unwrap();
        assert_eq!(sig.len(), 256);
        key.verifying_key().verify(b"msg", &sig).unwrap();
        assert!(key.verifying_key().verify(b"msG", &sig).is_err());
    }

    #[test]
    fn debug_hides_private_material() {
        for key in [ec_key("dbg"), rsa_key("dbg")] {
            let dbg = format!("{key:?}");
            assert!(dbg.contains("dbg") && dbg.contains("alg"), "{dbg}");
            let pem = key.to_pkcs8_pem();
            let body: String = pem.lines().nth(1).unwrap().chars().take(20).collect();
            assert!(!dbg.contains(&body));
            assert!(dbg.len() < 80, "{dbg}");
        }
    }

    #[test]
    fn pkcs8_pem_round_trip() {
        for key in [ec_key("p"), rsa_key("p")] {
            let pem = key.to_pkcs8_pem();
            assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
            assert!(pem.lines().all(|l| l.len() <= 64));
            let again = SigningKey::from_pem("p", &pem).unwrap();
            assert_eq!(again.alg(), key.alg());
            assert_eq!(again.public_jwk(), key.public_jwk());
            let sig = again.sign(b"x").unwrap();
            key.verifying_key().verify(b"x", &sig).unwrap();
            // Surrounding text (e.g. openssl "Bag Attributes") is ignored.
            let noisy = format!("Bag Attributes\n  friendlyName: x\n{pem}\ntrailer\n");
            assert_eq!(
                SigningKey::from_pem("p", &noisy).unwrap().public_jwk(),
                key.public_jwk()
            );
        }
    }

    #[test]
    fn sec1_and_pkcs1_pem_import() {
        let secret = p256::SecretKey::from_slice(&[0x42; 32]).unwrap();
        let sec1 = secret.to_sec1_pem(Default::default()).unwrap();
        assert!(sec1.starts_with("-----BEGIN EC PRIVATE KEY-----"));
        let key = SigningKey::from_pem("ec", &sec1).unwrap();
        assert_eq!(key.alg(), Algorithm::Es256);
        let point = secret.public_key().to_encoded_point(false);
        assert_eq!(
            key.public_jwk().x.as_deref(),
            Some(b64::encode(point.x().unwrap()).as_str())
        );

        use rsa::pkcs1::EncodeRsaPrivateKey;
        let pkcs1 = rsa_private().to_pkcs1_pem(Default::default()).unwrap();
        assert!(pkcs1.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
        let key = SigningKey::from_pem("rsa", &pkcs1).unwrap();
        assert_eq!(key.alg(), Algorithm::Rs256);
        assert_eq!(key.public_jwk().n, rsa_key("rsa").public_jwk().n);
    }

    #[test]
    fn pem_refusals() {
        let check = |pem: &str, expected: KeyError| {
            assert_eq!(
                SigningKey::from_pem("k", pem).unwrap_err(),
                expected,
                "{pem}"
            );
        };
        check("", KeyError::InvalidPem("no BEGIN line"));
        check(
            "-----BEGIN PRIVATE KEY-----\nAAAA\n",
            KeyError::InvalidPem("no END line"),
        );
        check(
            "-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n",
            KeyError::InvalidPem("malformed PEM block"),
        );
        check(
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
            KeyError::InvalidPem("malformed PEM block"),
        );
        check(
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            KeyError::InvalidKey("not a valid PKCS#8 private key"),
        );
        check(
            "-----BEGIN FOO-----\nAAAA\n-----END FOO-----\n",
            KeyError::InvalidPem("unexpected PEM label"),
        );
        check(
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
            KeyError::UnsupportedKeyType("encrypted private keys (decrypt the key first)"),
        );
        check(
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            KeyError::UnsupportedKeyType("not a private key"),
        );
        check(
            &"x".repeat(MAX_KEY_TEXT_LEN + 1),
            KeyError::InvalidPem("too large"),
        );

        // A 1024-bit RSA key: refused for its size. (Fixed-seed generation keeps this fast.)
        use rsa::pkcs1::EncodeRsaPrivateKey;
        use rsa::pkcs8::EncodePrivateKey;
        let mut adapter = RandCoreAdapter {
            rng: &ConstRng(1),
            failed: true, // use the deterministic stream
            counter: 0,
        };
        let small = rsa::RsaPrivateKey::new(&mut adapter, 1024).unwrap();
        check(
            &small.to_pkcs1_pem(Default::default()).unwrap(),
            KeyError::RsaTooSmall { bits: 1024 },
        );
        check(
            &small.to_pkcs8_pem(Default::default()).unwrap(),
            KeyError::RsaTooSmall { bits: 1024 },
        );

        // PKCS#8 keys of other types, built with the der encoder.
        let pkcs8_pem = |oid: &str, params: Option<&str>, key: &[u8]| {
            use p256::pkcs8::der::asn1::ObjectIdentifier;
            use p256::pkcs8::der::Encode as _;
            let params = params.map(ObjectIdentifier::new_unwrap);
            let info = p256::pkcs8::PrivateKeyInfo::new(
                p256::pkcs8::AlgorithmIdentifierRef {
                    oid: ObjectIdentifier::new_unwrap(oid),
                    parameters: params.as_ref().map(Into::into),
                },
                key,
            );
            pem_rfc7468::encode_string("PRIVATE KEY", Default::default(), &info.to_der().unwrap())
                .unwrap()
        };
        // Ed25519 (RFC 8410): CurvePrivateKey is an OCTET STRING of 32 bytes.
        let mut ed = vec![0x04, 0x20];
        ed.extend_from_slice(&[9u8; 32]);
        check(
            &pkcs8_pem("1.3.101.112", None, &ed),
            KeyError::UnsupportedKeyType("only EC P-256 and RSA keys are supported"),
        );
        // An EC key on P-384 (the SEC1 body does not matter: the curve is refused first).
        let sec1 = p256::SecretKey::from_slice(&[0x42; 32])
            .unwrap()
            .to_sec1_der()
            .unwrap();
        check(
            &pkcs8_pem("1.2.840.10045.2.1", Some("1.3.132.0.34"), &sec1),
            KeyError::UnsupportedKeyType("EC curve other than P-256"),
        );
        // And the same body with the P-256 OID imports.
        assert!(SigningKey::from_pem(
            "k",
            &pkcs8_pem("1.2.840.10045.2.1", Some("1.2.840.10045.3.1.7"), &sec1)
        )
        .is_ok());
        assert_eq!(
            SigningKey::from_pem("", "").unwrap_err(),
            KeyError::InvalidKid
        );
    }

    const A3_JWK: &str = r#"{"kty":"EC","crv":"P-256","kid":"a3",
        "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
        "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
        "d":"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"}"#;

    #[test]
    fn ec_jwk_import() {
        let key = SigningKey::from_jwk(A3_JWK).unwrap();
        assert_eq!(key.kid(), "a3");
        assert_eq!(
            key.public_jwk().x.as_deref(),
            Some("f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU")
        );
        let with = |from: &str, to: &str| SigningKey::from_jwk(&A3_JWK.replace(from, to));
        assert!(with(r#""kid":"a3","#, r#""kid":"a3","alg":"ES256","use":"sig","#).is_ok());
        assert_eq!(
            with(r#""kid":"a3","#, "").unwrap_err(),
            KeyError::InvalidJwk {
                field: "kid",
                problem: "is missing"
            }
        );
        assert!(matches!(
            with(r#""kid":"a3","#, r#""kid":"a3","alg":"RS256","#).unwrap_err(),
            KeyError::InvalidJwk { field: "alg", .. }
        ));
        assert!(matches!(
            with(r#""kid":"a3","#, r#""kid":"a3","use":"enc","#).unwrap_err(),
            KeyError::InvalidJwk { field: "use", .. }
        ));
        assert!(matches!(
            with("P-256", "P-384").unwrap_err(),
            KeyError::UnsupportedKeyType(_)
        ));
        // y of another key: mismatch.
        assert_eq!(
            with(
                "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
                &b64::encode(&[1u8; 32])
            )
            .unwrap_err(),
            KeyError::PublicKeyMismatch
        );
        assert!(matches!(
            with("jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI", "AAAA").unwrap_err(),
            KeyError::InvalidJwk { field: "d", .. }
        ));
        assert!(matches!(
            with(
                "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI",
                &b64::encode(&[0xff; 32])
            )
            .unwrap_err(),
            KeyError::InvalidJwk { field: "d", .. }
        ));
        assert!(matches!(
            with(r#""kid":"a3","#, r#""kid":5,"#).unwrap_err(),
            KeyError::InvalidJwk {
                field: "(document)",
                ..
            }
        ));
        assert!(matches!(
            SigningKey::from_jwk(r#"["EC"]"#).unwrap_err(),
            KeyError::InvalidJwk {
                field: "(document)",
                ..
            }
        ));
        assert!(matches!(
            SigningKey::from_jwk(r#"{"kty":"oct","kid":"k","k":"AAAA"}"#).unwrap_err(),
            KeyError::UnsupportedKeyType(_)
        ));
        // Errors never echo private material.
        let err = with(r#""kid":"a3","#, r#""kid":"a3","alg":"RS256","#).unwrap_err();
        assert!(!err.to_string().contains("jpsQ"));
    }

    fn rsa_private_jwk(include_crt: bool) -> serde_json::Value {
        use rsa::traits::PrivateKeyParts;
        let k = rsa_private();
        let enc = |v: &BigUint| b64::encode(&v.to_bytes_be());
        let mut jwk = serde_json::json!({
            "kty": "RSA", "kid": "r", "alg": "RS256",
            "n": enc(k.n()), "e": enc(k.e()), "d": enc(k.d()),
            "p": enc(&k.primes()[0]), "q": enc(&k.primes()[1]),
        });
        if include_crt {
            let (p, q, d) = (&k.primes()[0], &k.primes()[1], k.d());
            let one = BigUint::from(1u8);
            jwk["dp"] = enc(&(d % &(p - &one))).into();
            jwk["dq"] = enc(&(d % &(q - &one))).into();
            // q^-1 mod p = q^(p-2) mod p (p prime).
            jwk["qi"] = enc(&q.modpow(&(p - &BigUint::from(2u8)), p)).into();
        }
        jwk
    }

    #[test]
    fn rsa_jwk_import() {
        for crt in [false, true] {
            let key = SigningKey::from_jwk(&rsa_private_jwk(crt).to_string()).unwrap();
            assert_eq!(key.alg(), Algorithm::Rs256);
            assert_eq!(key.public_jwk().n, rsa_key("r").public_jwk().n);
        }
        let other_n = {
            let mut n = rsa_private().n().to_bytes_be();
            n[100] ^= 1;
            b64::encode(&n)
        };
        let mut j = rsa_private_jwk(false);
        j["n"] = other_n.into();
        assert_eq!(
            SigningKey::from_jwk(&j.to_string()).unwrap_err(),
            KeyError::PublicKeyMismatch
        );
        for member in ["dp", "dq", "qi"] {
            let mut j = rsa_private_jwk(true);
            j[member] = "AQAB".into();
            assert!(
                matches!(
                    SigningKey::from_jwk(&j.to_string()).unwrap_err(),
                    KeyError::InvalidJwk { field, .. } if field == member
                ),
                "{member}"
            );
        }
        for member in ["n", "e", "d", "p", "q"] {
            let mut j = rsa_private_jwk(false);
            j.as_object_mut().unwrap().remove(member);
            assert_eq!(
                SigningKey::from_jwk(&j.to_string()).unwrap_err(),
                KeyError::InvalidJwk {
                    field: member,
                    problem: "is missing"
                },
                "{member}"
            );
        }
        let mut j = rsa_private_jwk(false);
        j["oth"] = serde_json::json!([]);
        assert!(matches!(
            SigningKey::from_jwk(&j.to_string()).unwrap_err(),
            KeyError::UnsupportedKeyType(_)
        ));
        let mut j = rsa_private_jwk(false);
        j["alg"] = "ES256".into();
        assert!(matches!(
            SigningKey::from_jwk(&j.to_string()).unwrap_err(),
            KeyError::InvalidJwk { field: "alg", .. }
        ));
        let mut j = rsa_private_jwk(false);
        j["n"] = b64::encode(&[0xff; 128]).into();
        assert_eq!(
            SigningKey::from_jwk(&j.to_string()).unwrap_err(),
            KeyError::RsaTooSmall { bits: 1024 }
        );
    }

    #[test]
    fn headers_are_cached_and_escaped() {
        let key = SigningKey::generate(Algorithm::Es256, "a\"b\\c", &SystemRng::default()).unwrap();
        let h = key.encoded_header("JWT").unwrap();
        assert!(matches!(h, Cow::Borrowed(_)));
        assert_eq!(
            b64::decode(&h).unwrap(),
            br#"{"alg":"ES256","typ":"JWT","kid":"a\"b\\c"}"#
        );
        assert!(matches!(
            key.encoded_header("at+jwt").unwrap(),
            Cow::Borrowed(_)
        ));
        let other = key.encoded_header("logout+jwt").unwrap();
        assert_eq!(
            b64::decode(&other).unwrap(),
            br#"{"alg":"ES256","typ":"logout+jwt","kid":"a\"b\\c"}"#
        );
    }

    #[test]
    fn errors_display() {
        assert_eq!(
            KeyError::RsaTooSmall { bits: 1024 }.to_string(),
            "RSA key of 1024 bits is below the 2048-bit minimum"
        );
        assert!(KeyError::InvalidJwk {
            field: "d",
            problem: "is missing"
        }
        .to_string()
        .contains("\"d\""));
    }
}
