#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]
#![doc = include_str!("../README.md")]

// Public modules, each a concern a host deals with; everything else is private and re-exported
// deliberately below.
pub mod claims;
pub mod client;
pub mod config;
pub mod host;
pub mod http;
pub mod jose;
pub mod pkce;
pub mod scope;
pub mod secret;
pub mod store;
#[cfg(feature = "test-kit")]
pub mod test_kit;

mod discovery;
mod error;
mod flow;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod ids;
mod json;
mod provider;
mod token;

/// RP-initiated logout: the request, the host's part, the outcome.
pub use flow::logout;

pub use config::Config;
pub use error::{Error, ErrorCode, ErrorKind};
/// The authorization endpoint: its state machine (see [`AuthorizeOutcome`]), the steps the host
/// drives and the response.
pub use flow::authorize::{
    AuthorizationParams, AuthorizationResponse, AuthorizeOutcome, ConsentDecision, ConsentStep,
    LoginStep, PendingAuthorization, Prompt, ResponseMode, Session,
};
pub use flow::token::TokenResponse;
pub use provider::Provider;
pub use store::{Store, UserStore};
pub use token::{AccessTokenClaims, VerifiedAccessToken};
