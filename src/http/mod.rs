//! Framework-agnostic HTTP: the core takes an [`HttpRequest`] and returns an [`HttpResponse`].
//!
//! A host converts its framework's request into an `HttpRequest` (borrowing, no copies) and the
//! `HttpResponse` back; `examples/server/` shows it for axum in a few lines per endpoint.

mod basic;
mod cors;
mod form;
mod request;
mod response;

pub use crate::flow::authorize::escape_html;
pub(crate) use basic::parse_basic_authorization;
pub use basic::BasicCredentials;
pub(crate) use form::parse_form_keep_first;
pub use form::{parse_form, FormParams};
pub(crate) use request::ParamsFrom;
pub use request::{HttpRequest, Method};
pub use response::HttpResponse;
