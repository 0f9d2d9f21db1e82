#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]
#![doc = include_str!("../README.md")]

pub mod claims;
pub mod client;
pub mod config;
mod discovery;
pub mod error;
pub mod flow;
pub mod host;
pub mod http;
pub mod ids;
pub mod jose;
mod json;
pub mod pkce;
mod provider;
pub mod scope;
pub mod secret;
pub mod store;
#[cfg(feature = "test-kit")]
pub mod test_kit;
pub mod token;

pub use error::{Error, ErrorCode, ErrorKind};

pub use config::Config;
pub use flow::authorize::{
    AuthorizeOutcome, ConsentDecision, ConsentStep, LoginStep, PendingAuthorization, Session,
};
pub use provider::Provider;
pub use store::{Store, UserStore};
