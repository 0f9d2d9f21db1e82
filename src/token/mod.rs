//! Token minting: JWT access tokens (RFC 9068), ID tokens (OpenID Connect Core §2) and the
//! opaque secrets (codes, refresh tokens) handed out by the flows.

mod access;
mod extra;
mod id_token;

pub(crate) use access::AccessTokenInput;
pub use access::{AccessTokenClaims, VerifiedAccessToken};
pub use id_token::half_hash;
pub(crate) use id_token::IdTokenInput;
