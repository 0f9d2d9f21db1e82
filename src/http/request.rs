/// The HTTP methods the endpoints distinguish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET
    Get,
    /// POST
    Post,
    /// PUT
    Put,
    /// DELETE
    Delete,
    /// OPTIONS
    Options,
    /// Any other method.
    Other,
}

impl Method {
    /// Map a method name (case-sensitive, as HTTP defines it).
    pub fn parse(name: &str) -> Method {
        match name {
            "GET" => Method::Get,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "OPTIONS" => Method::Options,
            _ => Method::Other,
        }
    }
}

/// An HTTP request as the core sees it: method, raw query string, headers and body, all borrowed
/// from the host's framework.
///
/// ```
/// use opkit::http::{HttpRequest, Method};
/// let req = HttpRequest::new(Method::Post)
///     .header("Content-Type", b"application/x-www-form-urlencoded")
///     .body(b"grant_type=client_credentials");
/// assert_eq!(req.header_value("content-type"), Some(&b"application/x-www-form-urlencoded"[..]));
/// ```
#[derive(Debug, Clone)]
pub struct HttpRequest<'a> {
    /// The method.
    pub method: Method,
    /// The raw query string, without the leading `?` (may be empty).
    pub query: &'a str,
    /// Header names and raw values, in the order received.
    pub headers: Vec<(&'a str, &'a [u8])>,
    /// The body bytes.
    pub body: &'a [u8],
    /// The client's address as the host knows it (the TCP peer, or what a trusted proxy
    /// reported), if any: the rate limiter throttles password guesses per source with it.
    pub remote_addr: Option<std::net::IpAddr>,
}

impl<'a> HttpRequest<'a> {
    /// A request with this method and nothing else.
    pub fn new(method: Method) -> Self {
        HttpRequest {
            method,
            query: "",
            headers: Vec::new(),
            body: b"",
            remote_addr: None,
        }
    }

    /// Set the client's address (see [`HttpRequest::remote_addr`](Self#structfield.remote_addr)).
    ///
    /// ```
    /// use opkit::http::{HttpRequest, Method};
    /// let req = HttpRequest::new(Method::Post).remote_addr("192.0.2.7".parse().ok());
    /// assert!(req.remote_addr.is_some());
    /// ```
    pub fn remote_addr(mut self, addr: Option<std::net::IpAddr>) -> Self {
        self.remote_addr = addr;
        self
    }

    /// Set the raw query string (without `?`).
    pub fn query(mut self, query: &'a str) -> Self {
        self.query = query;
        self
    }

    /// Add a header.
    pub fn header(mut self, name: &'a str, value: &'a [u8]) -> Self {
        self.headers.push((name, value));
        self
    }

    /// Set the body.
    pub fn body(mut self, body: &'a [u8]) -> Self {
        self.body = body;
        self
    }

    /// The first value of a header, by case-insensitive name.
    pub fn header_value(&self, name: &str) -> Option<&'a [u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }

    /// How many times a header appears.
    pub fn header_count(&self, name: &str) -> usize {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .count()
    }

    /// Whether the `Content-Type` is `application/x-www-form-urlencoded` (parameters allowed).
    pub fn is_form(&self) -> bool {
        self.header_value("content-type")
            .map(|v| media_type(v).eq_ignore_ascii_case(b"application/x-www-form-urlencoded"))
            .unwrap_or(false)
    }

    /// Whether the `Content-Type` is `application/json` (parameters allowed).
    pub fn is_json(&self) -> bool {
        self.header_value("content-type")
            .map(|v| media_type(v).eq_ignore_ascii_case(b"application/json"))
            .unwrap_or(false)
    }
}

/// Which HTTP methods an endpoint takes its parameters from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ParamsFrom {
    /// A POST form body only (token, revocation, introspection).
    Post,
    /// A GET query or a POST form body (authorization, end-session).
    GetOrPost,
}

impl<'a> HttpRequest<'a> {
    /// The form-encoded parameter text of the request: a GET query or a POST
    /// `application/x-www-form-urlencoded` body, as `from` allows. This is the one reader of
    /// parameters and its one limit policy: the parameters of an endpoint that takes GET or
    /// POST (authorization, end-session) are at most `config.max_query` bytes however they are
    /// sent, so either way of sending them is accepted alike; a POST-only endpoint's form body
    /// (token, revocation, introspection) is at most `config.max_form_body`. The body must be
    /// UTF-8. Other methods are `405` with the allowed ones named.
    pub(crate) fn params_text(
        &self,
        from: ParamsFrom,
        config: &crate::Config,
    ) -> Result<&'a str, crate::error::Error> {
        use crate::error::ErrorKind;
        match (self.method, from) {
            (Method::Get, ParamsFrom::GetOrPost) => {
                if self.query.len() > config.max_query {
                    return Err(ErrorKind::TooLarge("the query string").into());
                }
                Ok(self.query)
            }
            (Method::Post, _) => {
                let max = match from {
                    ParamsFrom::Post => config.max_form_body,
                    ParamsFrom::GetOrPost => config.max_query,
                };
                if self.body.len() > max {
                    return Err(ErrorKind::TooLarge("the request body").into());
                }
                if !self.is_form() {
                    return Err(ErrorKind::UnsupportedMediaType(
                        "application/x-www-form-urlencoded",
                    )
                    .into());
                }
                std::str::from_utf8(self.body)
                    .map_err(|_| ErrorKind::MalformedRequest("the body is not UTF-8".into()).into())
            }
            (_, ParamsFrom::Post) => Err(ErrorKind::MethodNotAllowed("POST").into()),
            (_, ParamsFrom::GetOrPost) => Err(ErrorKind::MethodNotAllowed("GET, POST").into()),
        }
    }
}

/// The media type of a Content-Type value, without parameters or surrounding blanks.
fn media_type(value: &[u8]) -> &[u8] {
    let end = value.iter().position(|&b| b == b';').unwrap_or(value.len());
    value[..end].trim_ascii()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_type_with_charset_is_form() {
        let req = HttpRequest::new(Method::Post).header(
            "CONTENT-TYPE",
            b" application/x-www-form-urlencoded ; charset=UTF-8",
        );
        assert!(req.is_form());
        assert!(!req.is_json());
    }

    #[test]
    fn missing_content_type_is_neither() {
        let req = HttpRequest::new(Method::Post);
        assert!(!req.is_form() && !req.is_json());
    }
}

impl<'a> HttpRequest<'a> {
    /// The token of an `Authorization: Bearer <token>` header (RFC 6750 §2.1), if that is the
    /// only Authorization header.
    pub fn bearer_token(&self) -> Option<&'a str> {
        if self.header_count("authorization") != 1 {
            return None;
        }
        let value = self.header_value("authorization")?;
        if value.len() < 8 || !value[..7].eq_ignore_ascii_case(b"bearer ") {
            return None;
        }
        let token = std::str::from_utf8(&value[7..]).ok()?.trim();
        let valid = !token.is_empty()
            && token.bytes().all(|b| {
                b.is_ascii_alphanumeric()
                    || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/' | b'=')
            });
        valid.then_some(token)
    }
}

impl<'a> HttpRequest<'a> {
    /// The bearer token of the `Authorization` header, or the RFC 6750 §3.1 error: no token (or
    /// another scheme) is [`ErrorKind::MissingToken`](crate::ErrorKind::MissingToken), a second `Authorization` header is
    /// `invalid_request`, a malformed token is `invalid_token`.
    pub fn require_bearer(&self) -> Result<&'a str, crate::error::Error> {
        use crate::error::ErrorKind;
        match self.header_count("authorization") {
            0 => return Err(ErrorKind::MissingToken.into()),
            1 => {}
            _ => {
                return Err(ErrorKind::MalformedRequest(
                    "more than one Authorization header".into(),
                )
                .into())
            }
        }
        let value = self.header_value("authorization").unwrap_or_default();
        if value.len() < 7 || !value[..7].eq_ignore_ascii_case(b"bearer ") {
            return Err(ErrorKind::MissingToken.into());
        }
        self.bearer_token()
            .ok_or_else(|| ErrorKind::InvalidToken("malformed bearer token").into())
    }
}

#[cfg(test)]
mod bearer_tests {
    use super::*;

    #[test]
    fn bearer() {
        let ok = HttpRequest::new(Method::Get).header("Authorization", b"Bearer abc.def-ghi");
        assert_eq!(ok.bearer_token(), Some("abc.def-ghi"));
        let lower = HttpRequest::new(Method::Get).header("authorization", b"bearer abc");
        assert_eq!(lower.bearer_token(), Some("abc"));
        for bad in [&b"Basic abc"[..], b"Bearer ", b"Bearer a b", b"Bearer \xff"] {
            let req = HttpRequest::new(Method::Get).header("authorization", bad);
            assert_eq!(req.bearer_token(), None);
        }
    }
}
