//! Framework-agnostic HTTP: the core takes an [`HttpRequest`] and returns an [`HttpResponse`].
//!
//! A host converts its framework's request into an `HttpRequest` (borrowing, no copies) and the
//! `HttpResponse` back; `examples/server/` shows it for axum in a few lines per endpoint.

mod basic;
mod cors;
mod form;
mod request;
mod response;

pub use basic::{parse_basic_authorization, BasicCredentials};
pub use form::{parse_form, parse_form_keep_first, FormParams};
pub(crate) use request::ParamsFrom;
pub use request::{HttpRequest, Method};
pub use response::HttpResponse;
