//! Clients: the stored model, redirect URI rules, metadata validation and management.

mod model;
pub mod redirect;

pub use model::{AuthMethod, Client, ClientSecret, ClientSettings, GrantType, ResponseType};
pub use redirect::{validate_redirect_uri, validate_web_uri, RedirectUriError};
