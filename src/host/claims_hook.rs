//! The host's claims hook: extra claims for the ID token and the access token of every
//! issuance (authorization code, implicit and hybrid, refresh, client credentials, password),
//! asked again at each refresh so they stay current.
//!
//! ```
//! use std::future::Future;
//! use std::pin::Pin;
//! use opkit::host::{ClaimsHook, ExtraClaims, TokenContext};
//! use opkit::store::StoreError;
//! use serde_json::json;
//!
//! /// Adds the user's roles to the access token and a tenant to both tokens.
//! struct Roles;
//!
//! impl ClaimsHook for Roles {
//!     fn claims<'a>(
//!         &'a self,
//!         token: &'a TokenContext<'a>,
//!     ) -> Pin<Box<dyn Future<Output = Result<ExtraClaims, StoreError>> + Send + 'a>> {
//!         Box::pin(async move {
//!             let mut extra = ExtraClaims::default();
//!             extra.both("tenant", json!("acme"));
//!             if let Some(subject) = token.subject {
//!                 // A real hook looks the roles up in the host's database.
//!                 let roles = if subject == "admin" { json!(["admin"]) } else { json!([]) };
//!                 extra.access_token.insert("roles".into(), roles);
//!             }
//!             Ok(extra)
//!         })
//!     }
//! }
//! // provider.with_claims_hook(std::sync::Arc::new(Roles))
//! ```

use std::future::Future;
use std::pin::Pin;

use serde_json::{Map, Value};

use crate::client::{Client, GrantType};
use crate::scope::Scopes;
use crate::store::{GrantId, StoreError};

/// What is being issued, for the hook to decide on.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct TokenContext<'a> {
    /// The grant type (`implicit` for tokens from the authorization endpoint, `refresh_token`
    /// at each refresh).
    pub grant_type: GrantType,
    /// The client the tokens are for.
    pub client: &'a Client,
    /// The user (`None` for client credentials).
    pub subject: Option<&'a str>,
    /// The scopes of the access token.
    pub scopes: &'a Scopes,
    /// The grant the tokens belong to (`None` for client credentials).
    pub grant_id: Option<&'a GrantId>,
    /// Whether an ID token is issued (the hook's `id_token` claims are dropped otherwise).
    pub id_token: bool,
}

/// Extra claims for the two tokens. A claim the provider sets itself (for the ID token: `iss`,
/// `sub`, `aud`, `exp`, `iat`, `auth_time`, `nonce`, `at_hash`, `c_hash`, `azp`, `acr`, `amr`,
/// `sid`, `jti`, `nbf`, `cnf`, and the user's claims released by scope; for the access token:
/// `iss`, `sub`, `aud`, `exp`, `iat`, `jti`, `client_id`, `scope`, `auth_time`, `grant`, `nbf`,
/// `cnf`, `act`, `may_act`) is refused: the issuance fails with
/// [`ErrorKind::ReservedClaim`](crate::ErrorKind::ReservedClaim).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExtraClaims {
    /// For the ID token.
    pub id_token: Map<String, Value>,
    /// For the access token.
    pub access_token: Map<String, Value>,
}

impl ExtraClaims {
    /// Put `name` in both tokens.
    pub fn both(&mut self, name: &str, value: Value) {
        self.id_token.insert(name.to_owned(), value.clone());
        self.access_token.insert(name.to_owned(), value);
    }
}

/// The future a [`ClaimsHook`] returns.
pub type ClaimsFuture<'a> =
    Pin<Box<dyn Future<Output = Result<ExtraClaims, StoreError>> + Send + 'a>>;

/// The host's source of extra claims, called once per issuance. A failure (the host's
/// database is away, say) fails the issuance like a store failure: `503` for
/// [`StoreErrorKind::Unavailable`](crate::store::StoreErrorKind::Unavailable), `500` otherwise.
pub trait ClaimsHook: Send + Sync {
    /// The extra claims for what `token` describes.
    fn claims<'a>(&'a self, token: &'a TokenContext<'a>) -> ClaimsFuture<'a>;
}

/// Claims the provider sets in every ID token, or may.
pub(crate) const RESERVED_ID_TOKEN: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "at_hash",
    "c_hash",
    "azp",
    "acr",
    "amr",
    "sid",
    "jti",
    "nbf",
    "cnf",
];

/// Claims the provider sets in every access token, or may.
pub(crate) const RESERVED_ACCESS_TOKEN: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "jti",
    "client_id",
    "scope",
    "auth_time",
    "grant",
    "nbf",
    "cnf",
    "act",
    "may_act",
];
