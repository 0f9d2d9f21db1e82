//! JOSE: JWS compact signing and verification, JWKs and the provider's key set.
//!
//! Signing and verification use ring only; p256 and rsa serve key generation and
//! import/export. Keys are parsed and checked once, when built, never per token.
//!
//! - [`SigningKey`]: a private key (generate, PEM, private JWK) that signs ES256 or RS256.
//! - [`KeySet`]: the provider's keys by `kid`, one active per algorithm, all published.
//! - [`sign_compact`] / [`parse_compact`]: JWS compact serialization.
//! - [`PublicJwk`], [`Jwks`], [`parse_jwks`], [`VerifyingKey`]: public keys (for example a
//!   client's JWK Set).
//! - [`half_hash`]: the `at_hash` / `c_hash` of a token (OpenID Connect Core §3.3.2.11).

mod alg;
pub(crate) mod b64;
mod jwk;
mod jws;
mod key;
mod keyset;
mod low_s;

pub use alg::{Algorithm, UnsupportedAlgorithm};
pub use jwk::{parse_jwks, JwkError, Jwks, PublicJwk, VerifyingKey, MAX_JWKS_KEYS, MAX_JWKS_LEN};
pub use jws::{
    parse_compact, sign_compact, JwsError, JwsHeader, JwsPart, ParsedJws, MAX_TOKEN_LEN,
};
pub use key::{KeyError, SigningKey, MAX_KID_LEN};
pub use keyset::KeySet;

pub use crate::token::half_hash;
