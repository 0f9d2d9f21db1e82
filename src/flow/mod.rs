//! The flows: one module per endpoint or grant type, each a small state machine sharing client
//! authentication, scope handling and token minting.

pub(crate) mod authorize;
pub(crate) mod client_auth;
mod consent;
mod introspection;
pub mod logout;
mod revocation;
pub(crate) mod token;
mod userinfo;
