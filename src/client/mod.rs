//! Clients: the stored model, redirect URI rules, metadata validation and management.

mod api;
pub mod credentials;
mod manage;
pub mod metadata;
mod model;
pub mod redirect;

pub use api::{ManagementError, ManagementErrorKind};
pub use manage::{
    ClientWithSecrets, NewClient, DEFAULT_PAGE_SIZE, MAX_CLIENT_ID_LEN, MAX_PAGE_SIZE,
    MIN_FIXED_SECRET_LEN,
};
pub use model::{AuthMethod, Client, ClientSecret, ClientSettings, GrantType, ResponseType};
pub use redirect::{validate_redirect_uri, validate_web_uri, RedirectUriError};
