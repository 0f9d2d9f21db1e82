//! Who may exchange what (RFC 8693 token exchange): the host's policy.
//!
//! Without a policy, a client the administrator gave the token-exchange grant may exchange any
//! access token or ID token this provider issued for an access token with at most the subject
//! token's scopes (and the client's allowed scopes), for the subject token's audience or the
//! provider's own. A policy can refuse more, or allow a wider audience or scope.
//!
//! ```
//! use opkit::host::{ExchangeDecision, ExchangeRequest, TokenExchangePolicy};
//!
//! /// The API gateway may turn a user's token into one for the orders service.
//! struct Gateway;
//!
//! impl TokenExchangePolicy for Gateway {
//!     fn decide(&self, request: &ExchangeRequest<'_>) -> ExchangeDecision {
//!         match (request.client.client_id.as_str(), request.audience) {
//!             ("gateway", Some("https://orders.example.com")) => ExchangeDecision::AllowBeyondSubject,
//!             (_, None) => ExchangeDecision::Allow,
//!             _ => ExchangeDecision::Deny,
//!         }
//!     }
//! }
//! ```

use crate::client::Client;
use crate::scope::Scopes;

/// What a subject or actor token was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExchangedTokenType {
    /// An access token this provider issued.
    AccessToken,
    /// An ID token this provider issued.
    IdToken,
}

/// An exchange the provider is about to make, for the policy to judge.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct ExchangeRequest<'a> {
    /// The client asking (authenticated).
    pub client: &'a Client,
    /// The kind of the subject token.
    pub subject_token_type: ExchangedTokenType,
    /// The subject token's `sub`: the user (or client) the new token will speak for.
    pub subject: &'a str,
    /// The client the subject token was issued to.
    pub subject_client_id: &'a str,
    /// The subject token's scopes (empty for an ID token).
    pub subject_scopes: &'a Scopes,
    /// The subject token's audience.
    pub subject_audience: &'a str,
    /// The actor token's `sub` (delegation), when one was sent.
    pub actor: Option<&'a str>,
    /// The `audience` or `resource` asked for (`None`: the subject token's).
    pub audience: Option<&'a str>,
    /// The scopes asked for (the subject token's, within the client's, when none were).
    pub scopes: &'a Scopes,
}

/// The policy's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExchangeDecision {
    /// Issue, if the scopes are within the subject token's and the audience is the subject
    /// token's or the provider's (what the provider does without a policy).
    Allow,
    /// Issue what was asked for, even beyond the subject token's scopes and audience (still
    /// within the client's allowed scopes).
    AllowBeyondSubject,
    /// Refuse (`unauthorized_client`).
    Deny,
}

/// The host's token-exchange policy.
pub trait TokenExchangePolicy: Send + Sync {
    /// Judge one exchange.
    fn decide(&self, request: &ExchangeRequest<'_>) -> ExchangeDecision;
}
