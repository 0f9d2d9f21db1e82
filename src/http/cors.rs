//! CORS for the endpoints a browser application calls directly: token, UserInfo, JWKS and
//! discovery. An origin is allowed when some client lists it in `allowed_origins`; the answer
//! names that origin exactly (never `*`) and never allows credentials (cookies), which these
//! endpoints do not use.

use super::{HttpRequest, HttpResponse, Method};
use crate::error::Error;
use crate::store::{Store, UserStore};
use crate::Provider;

/// Longest `Origin` header considered.
const MAX_ORIGIN: usize = 512;

impl<S: Store, U: UserStore> Provider<S, U> {
    /// The request's `Origin`, if some client allows it.
    pub async fn allowed_origin<'a>(
        &self,
        req: &HttpRequest<'a>,
    ) -> Result<Option<&'a str>, Error> {
        if req.header_count("origin") != 1 {
            return Ok(None);
        }
        let Some(origin) = req
            .header_value("origin")
            .and_then(|o| std::str::from_utf8(o).ok())
        else {
            return Ok(None);
        };
        if origin.len() > MAX_ORIGIN || origin == "null" {
            return Ok(None);
        }
        Ok(self.store.origin_allowed(origin).await?.then_some(origin))
    }

    /// Answer a CORS preflight (`OPTIONS`): `204` with the allow headers for an allowed origin,
    /// `403` without them otherwise.
    pub async fn cors_preflight(&self, req: &HttpRequest<'_>) -> HttpResponse {
        let origin = match self.allowed_origin(req).await {
            Ok(Some(origin)) if req.method == Method::Options => origin,
            Ok(_) => return HttpResponse::empty(403).with_header("vary", "Origin"),
            Err(err) => return HttpResponse::oauth_error(&err),
        };
        HttpResponse::empty(204)
            .with_header("access-control-allow-origin", origin.to_owned())
            .with_header("access-control-allow-methods", "GET, POST")
            .with_header(
                "access-control-allow-headers",
                "Authorization, Content-Type",
            )
            .with_header("access-control-max-age", "600")
            .with_header("vary", "Origin")
    }

    /// Add `Access-Control-Allow-Origin` to a response when the request's origin is allowed.
    pub async fn with_cors(&self, req: &HttpRequest<'_>, mut resp: HttpResponse) -> HttpResponse {
        if let Ok(Some(origin)) = self.allowed_origin(req).await {
            resp.headers
                .push(("access-control-allow-origin", origin.to_owned().into()));
            resp.headers
                .push(("access-control-expose-headers", "WWW-Authenticate".into()));
        }
        resp.headers.push(("vary", "Origin".into()));
        resp
    }
}
