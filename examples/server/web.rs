//! The axum ↔ opkit adapter: an extractor that keeps a request's method, URI, headers and body
//! so they can be lent to [`opkit::http::HttpRequest`], the conversion of an
//! [`opkit::http::HttpResponse`] back, cookies, and the request log.

use std::borrow::Cow;
use std::io::Write as _;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request};
use axum::http::header::{HeaderName, HeaderValue};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use opkit::http::{parse_form, FormParams, HttpRequest, HttpResponse};

/// An owned request; [`Incoming::request`] lends it to opkit without copying.
pub(crate) struct Incoming {
    pub(crate) method: Method,
    pub(crate) uri: Uri,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl<S: Send + Sync> FromRequest<S> for Incoming {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        // The head's parts are moved out, not cloned (axum's `HeaderMap` extractor clones the
        // map); what is left goes to the `Bytes` extractor, which honours `DefaultBodyLimit`
        // (an extension of the request) and answers 413 beyond it. A body that arrived in one
        // piece is not copied.
        let (mut parts, body) = req.into_parts();
        let method = std::mem::take(&mut parts.method);
        let uri = std::mem::take(&mut parts.uri);
        let headers = std::mem::take(&mut parts.headers);
        let body = Bytes::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Incoming {
            method,
            uri,
            headers,
            body,
        })
    }
}

impl Incoming {
    /// The request as opkit sees it, borrowing everything.
    pub(crate) fn request(&self) -> HttpRequest<'_> {
        HttpRequest {
            method: opkit::http::Method::parse(self.method.as_str()),
            query: self.uri.query().unwrap_or(""),
            headers: self
                .headers
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_bytes()))
                .collect(),
            body: &self.body,
        }
    }

    /// The parameters of a posted HTML form (`application/x-www-form-urlencoded`, UTF-8, no
    /// repeated names).
    pub(crate) fn form(&self) -> Option<FormParams<'_>> {
        if !self.request().is_form() {
            return None;
        }
        parse_form(std::str::from_utf8(&self.body).ok()?).ok()
    }

    /// The value of the named cookie, from any `Cookie` header.
    pub(crate) fn cookie(&self, name: &str) -> Option<&str> {
        self.headers
            .get_all(axum::http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.trim_matches('"'))
            .filter(|v| !v.is_empty())
    }
}

/// Headers that may legitimately appear more than once; for any other, a later value replaces
/// an earlier one (so a core response that sets `content-type` twice sends one).
const MULTI_VALUED: [&str; 4] = ["set-cookie", "www-authenticate", "vary", "link"];

/// Convert an opkit response to an axum one, without copying: the body moves into the
/// response, static header values (most of them) are used in place and owned ones move. A header
/// opkit produced that HTTP cannot carry (never expected) is dropped and reported on stderr
/// rather than failing the response.
pub(crate) fn into_axum(resp: HttpResponse) -> Response {
    let status = StatusCode::from_u16(resp.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut out = Response::new(Body::from(resp.body));
    *out.status_mut() = status;
    let headers = out.headers_mut();
    headers.reserve(resp.headers.len());
    for (name, value) in resp.headers {
        let (Some(name), Some(value)) = (header_name(name), header_value(value)) else {
            eprintln!("dropped an invalid response header: {name}");
            continue;
        };
        if MULTI_VALUED.contains(&name.as_str()) {
            headers.append(name, value);
        } else {
            headers.insert(name, value);
        }
    }
    out
}

/// A header name; the ones opkit sends on every response without parsing or allocating.
fn header_name(name: &'static str) -> Option<HeaderName> {
    use axum::http::header;
    Some(match name {
        "content-type" => header::CONTENT_TYPE,
        "cache-control" => header::CACHE_CONTROL,
        "pragma" => header::PRAGMA,
        "vary" => header::VARY,
        _ => return HeaderName::from_bytes(name.as_bytes()).ok(),
    })
}

/// A header value: a static string is used in place, an owned one moves (no copy).
fn header_value(value: Cow<'static, str>) -> Option<HeaderValue> {
    match value {
        // `from_static` panics on what `HeaderValue` cannot hold; check first.
        Cow::Borrowed(s) if s.bytes().all(|b| b == b'\t' || (b' '..0x7f).contains(&b)) => {
            Some(HeaderValue::from_static(s))
        }
        Cow::Borrowed(_) => None,
        Cow::Owned(s) => HeaderValue::from_maybe_shared(Bytes::from(s)).ok(),
    }
}

/// How a cookie is scoped.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CookiePolicy {
    /// `Secure` and the `__Host-` name prefix (https issuers).
    pub(crate) secure: bool,
}

impl CookiePolicy {
    /// The cookie's name on the wire: `__Host-` prefixed when secure, which pins it to this
    /// host, path `/`, and https.
    pub(crate) fn name(&self, base: &str) -> String {
        if self.secure {
            format!("__Host-{base}")
        } else {
            base.to_owned()
        }
    }

    /// A `Set-Cookie` value for a browser-session cookie: `HttpOnly; SameSite=Lax; Path=/`.
    pub(crate) fn set(&self, base: &str, value: &str) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!(
            "{}={value}; Path=/; HttpOnly; SameSite=Lax{secure}",
            self.name(base)
        )
    }

    /// A `Set-Cookie` value that deletes the cookie.
    pub(crate) fn clear(&self, base: &str) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!(
            "{}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax{secure}",
            self.name(base)
        )
    }
}

/// One line per request on stderr: method, path (never the query, which can carry codes and
/// tokens; interaction and logout ids are masked), status and time taken. The line is formatted
/// first and written with one `write(2)` (`eprintln!` on the unbuffered stderr makes one per
/// formatted piece, about six). `--quiet` leaves this layer out.
pub(crate) async fn log_request(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let path = loggable_path(req.uri().path());
    let resp = next.run(req).await;
    let line = format!(
        "{method} {path} {} {:.1}ms\n",
        resp.status().as_u16(),
        started.elapsed().as_secs_f64() * 1000.0
    );
    // Like `eprintln!`, but a log line that cannot be written is not worth a panic.
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
    resp
}

/// The path with interaction and logout ids masked and overlong paths cut.
fn loggable_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len().min(200));
    let mut segments = path.split('/').peekable();
    let mut previous = "";
    while let Some(segment) = segments.next() {
        if matches!(previous, "interaction" | "logout") && !segment.is_empty() {
            out.push('…');
        } else {
            out.push_str(segment);
        }
        if segments.peek().is_some() {
            out.push('/');
        }
        previous = segment;
    }
    if out.len() > 200 {
        let cut = (0..=200)
            .rev()
            .find(|i| out.is_char_boundary(*i))
            .unwrap_or(0);
        out.truncate(cut);
        out.push('…');
    }
    out
}
