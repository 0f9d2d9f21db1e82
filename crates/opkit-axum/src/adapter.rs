//! The axum ↔ opkit adapter: [`Incoming`] keeps a request's method, URI, headers and body so
//! they can be lent to [`opkit::http::HttpRequest`] without copying, and [`into_axum`] turns an
//! [`opkit::http::HttpResponse`] back into an axum response without copying the body.

use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, FromRequest, Request};
use axum::http::header::{HeaderName, HeaderValue};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use opkit::http::{parse_form, FormParams, HttpRequest, HttpResponse};

/// An owned request; [`Incoming::request`] lends it to opkit without copying.
///
/// As an axum extractor it honours [`axum::extract::DefaultBodyLimit`] (answering `413` beyond
/// it), so it can be used in a host's own handlers too:
///
/// ```
/// use axum::response::Response;
/// use opkit_axum::{into_axum, Incoming};
///
/// async fn echo_method(incoming: Incoming) -> Response {
///     let method = format!("{:?}", incoming.request().method);
///     into_axum(opkit::http::HttpResponse::json(200, method.into_bytes()))
/// }
/// let _router: axum::Router = axum::Router::new().route("/", axum::routing::any(echo_method));
/// ```
pub struct Incoming {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
    remote_addr: Option<IpAddr>,
}

/// Method, path and header names only: a request's query, cookies, `Authorization` header and
/// body can carry secrets.
impl std::fmt::Debug for Incoming {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.headers.keys().map(|n| n.as_str()).collect();
        f.debug_struct("Incoming")
            .field("method", &self.method)
            .field("path", &self.uri.path())
            .field("headers", &names)
            .field("body_len", &self.body.len())
            .finish()
    }
}

impl<S: Send + Sync> FromRequest<S> for Incoming {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        // The head's parts are moved out, not cloned; the rest goes to the `Bytes` extractor,
        // which applies `DefaultBodyLimit`. A body that arrived in one piece is not copied.
        let (mut parts, body) = req.into_parts();
        let method = std::mem::take(&mut parts.method);
        let uri = std::mem::take(&mut parts.uri);
        let headers = std::mem::take(&mut parts.headers);
        // The TCP peer, when the server provides it (`into_make_service_with_connect_info`).
        let remote_addr = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        let body = Bytes::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(|rejection| {
                let response = rejection.into_response();
                if response.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    // The OAuth JSON error (RFC 6749 §5.2 shape), not axum's plain text.
                    let err = opkit::Error::new(opkit::ErrorKind::TooLarge("the request body"));
                    return into_axum(HttpResponse::oauth_error(&err));
                }
                response
            })?;
        Ok(Incoming {
            method,
            uri,
            headers,
            body,
            remote_addr,
        })
    }
}

impl Incoming {
    /// The request as opkit sees it, borrowing everything.
    pub fn request(&self) -> HttpRequest<'_> {
        HttpRequest {
            method: opkit::http::Method::parse(self.method.as_str()),
            query: self.uri.query().unwrap_or(""),
            headers: self
                .headers
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_bytes()))
                .collect(),
            body: &self.body,
            remote_addr: self.remote_addr,
        }
    }

    /// The client's address: the TCP peer from axum's [`ConnectInfo`] if the server provides
    /// it, else `None`. The rate limiter throttles password guesses per source with it.
    pub fn remote_addr(&self) -> Option<IpAddr> {
        self.remote_addr
    }

    /// Replace the client's address, e.g. with the one a trusted reverse proxy reported.
    pub fn set_remote_addr(&mut self, addr: Option<IpAddr>) {
        self.remote_addr = addr;
    }

    /// The request's URI.
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// The request's headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The parameters of a posted HTML form (`application/x-www-form-urlencoded`, UTF-8, no
    /// repeated names), or `None`.
    pub fn form(&self) -> Option<FormParams<'_>> {
        if !self.request().is_form() {
            return None;
        }
        parse_form(std::str::from_utf8(&self.body).ok()?).ok()
    }

    /// The value of the named cookie, from any `Cookie` header; empty values count as absent.
    pub fn cookie(&self, name: &str) -> Option<&str> {
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
/// an earlier one.
const MULTI_VALUED: [&str; 4] = ["set-cookie", "www-authenticate", "vary", "link"];

/// Convert an opkit response to an axum one without copying: the body moves, static header
/// values are used in place and owned ones move. A header HTTP cannot carry (never expected) is
/// dropped rather than failing the response.
///
/// ```
/// let resp = opkit_axum::into_axum(opkit::http::HttpResponse::redirect("https://rp.example/cb".into()));
/// assert_eq!(resp.status(), 303);
/// assert_eq!(resp.headers()["location"], "https://rp.example/cb");
/// ```
pub fn into_axum(resp: HttpResponse) -> Response {
    let status = StatusCode::from_u16(resp.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut out = Response::new(Body::from(resp.body));
    *out.status_mut() = status;
    let headers = out.headers_mut();
    headers.reserve(resp.headers.len());
    for (name, value) in resp.headers {
        let (Some(name), Some(value)) = (header_name(name), header_value(value)) else {
            crate::log::line(&format!("dropped an invalid response header: {name}"));
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

/// A header name; the ones opkit sends on every response without parsing.
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

/// A header value: a static string is used in place, an owned one moves.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_convert_and_bad_ones_are_dropped() {
        let resp = HttpResponse::empty(204)
            .with_header("set-cookie", "a=1")
            .with_header("set-cookie", "b=2")
            .with_header("x-bad", String::from("line\nbreak"))
            .with_header("content-type", "text/plain");
        let out = into_axum(resp);
        assert_eq!(out.status(), 204);
        assert_eq!(out.headers().get_all("set-cookie").iter().count(), 2);
        assert!(out.headers().get("x-bad").is_none());
        assert_eq!(out.headers()["content-type"], "text/plain");
    }

    #[tokio::test]
    async fn cookies_and_forms_are_read() {
        let req = Request::builder()
            .method("POST")
            .uri("/x?a=b")
            .header("cookie", "one=1; two=\"2\"")
            .header("cookie", "empty=")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from("csrf=abc&x=%20y"))
            .unwrap();
        let incoming = Incoming::from_request(req, &()).await.unwrap();
        assert_eq!(incoming.cookie("two"), Some("2"));
        assert_eq!(incoming.cookie("empty"), None);
        assert_eq!(incoming.request().query, "a=b");
        let form = incoming.form().unwrap();
        assert_eq!(form.get("x"), Some(" y"));
        let debug = format!("{incoming:?}");
        assert!(!debug.contains("csrf=abc") && !debug.contains("one=1") && !debug.contains("a=b"));
    }
}
