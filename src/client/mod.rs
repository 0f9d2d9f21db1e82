//! Clients: the stored model, redirect URI rules, metadata validation and management.

mod api;
mod credentials;
mod manage;
mod metadata;
mod model;
pub(crate) mod redirect;

pub use api::{ManagementError, ManagementErrorKind};
pub use credentials::{CredentialError, MAX_SECRETS};
pub use manage::{
    ClientWithSecrets, NewClient, DEFAULT_PAGE_SIZE, MAX_CLIENT_ID_LEN, MAX_PAGE_SIZE,
    MIN_FIXED_SECRET_LEN,
};
pub use metadata::{validate, MetadataError, MetadataErrorKind, MetadataSource};
pub use model::{AuthMethod, Client, ClientSecret, ClientSettings, GrantType, ResponseType};
pub use redirect::{
    validate_redirect_uri, validate_web_uri, RedirectUriError, MAX_REDIRECT_URI_LEN,
};
