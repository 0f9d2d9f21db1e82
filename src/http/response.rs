use std::borrow::Cow;
use std::fmt::Write as _;

use crate::error::Error;

/// An HTTP response for the host to send as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// Header names and values.
    pub headers: Vec<(&'static str, Cow<'static, str>)>,
    /// The body.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// A response with no body and no headers (`204`, a bare `403`, …).
    pub fn empty(status: u16) -> Self {
        HttpResponse {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A JSON response with the given status and body (with `X-Content-Type-Options:
    /// nosniff`, so no browser reads it as anything but JSON).
    pub fn json(status: u16, body: Vec<u8>) -> Self {
        HttpResponse {
            status,
            headers: vec![
                ("content-type", "application/json".into()),
                ("x-content-type-options", "nosniff".into()),
            ],
            body,
        }
    }

    /// A JSON response that must not be cached (token responses, RFC 6749 §5.1).
    pub fn json_no_store(status: u16, body: Vec<u8>) -> Self {
        Self::json(status, body).no_store()
    }

    /// Add `Cache-Control: no-store` and `Pragma: no-cache`.
    pub fn no_store(mut self) -> Self {
        self.headers.push(("cache-control", "no-store".into()));
        self.headers.push(("pragma", "no-cache".into()));
        self
    }

    /// Add a header.
    pub fn with_header(mut self, name: &'static str, value: impl Into<Cow<'static, str>>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Set a single-valued header, replacing any value it had.
    pub fn set_header(mut self, name: &'static str, value: impl Into<Cow<'static, str>>) -> Self {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name, value.into()));
        self
    }

    /// A `303 See Other` redirect.
    pub fn redirect(location: String) -> Self {
        HttpResponse {
            status: 303,
            headers: vec![
                ("location", location.into()),
                ("cache-control", "no-store".into()),
            ],
            body: Vec::new(),
        }
    }

    /// An HTML page that must not be cached or framed.
    pub fn html(status: u16, body: String, csp: &str) -> Self {
        HttpResponse {
            status,
            headers: vec![
                ("content-type", "text/html; charset=utf-8".into()),
                ("x-content-type-options", "nosniff".into()),
                ("content-security-policy", csp.to_owned().into()),
                ("x-frame-options", "DENY".into()),
                ("referrer-policy", "no-referrer".into()),
            ],
            body: body.into_bytes(),
        }
        .no_store()
    }

    /// The RFC 6749 §5.2 JSON error response for `err`, with `WWW-Authenticate` where the
    /// status is 401.
    pub fn oauth_error(err: &Error) -> Self {
        if let crate::error::ErrorKind::MissingToken = err.kind() {
            // RFC 6750 §3.1: no error information when no credentials were sent.
            return HttpResponse {
                status: 401,
                headers: vec![("www-authenticate", "Bearer realm=\"opkit\"".into())],
                body: Vec::new(),
            }
            .no_store();
        }
        let mut resp = Self::json_no_store(err.status(), error_json(err));
        if err.status() == 401 {
            let challenge = match err.code() {
                crate::error::ErrorCode::InvalidToken => {
                    format!(
                        "Bearer error=\"invalid_token\", error_description=\"{}\"",
                        quoted(&err.description())
                    )
                }
                _ => "Basic realm=\"opkit\", charset=\"UTF-8\"".to_owned(),
            };
            resp.headers.push(("www-authenticate", challenge.into()));
        }
        if let crate::error::ErrorKind::MethodNotAllowed(allow) = err.kind() {
            resp.headers.push(("allow", Cow::Borrowed(*allow)));
        }
        if let crate::error::ErrorKind::RateLimited(throttled) = err.kind() {
            let secs = throttled.retry_after_secs().to_string();
            resp.headers.push(("retry-after", secs.into()));
        }
        resp
    }

    /// The value of the first header with this (lower-case) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
    }
}

/// `{"error": ..., "error_description": ...}`.
pub(crate) fn error_json(err: &Error) -> Vec<u8> {
    #[derive(serde::Serialize)]
    struct Body<'a> {
        error: &'a str,
        error_description: &'a str,
    }
    let description = err.description();
    serde_json::to_vec(&Body {
        error: err.code().as_str(),
        error_description: &description,
    })
    .unwrap_or_default()
}

/// Make a string safe inside a quoted-string of an HTTP header (RFC 6750 §3 allows %x20-21 /
/// %x23-5B / %x5D-7E).
fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' | '\\' => out.push('\''),
            ' '..='~' => out.push(c),
            _ => {
                let _ = write!(out, "?");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn basic_auth_failure_has_challenge() {
        let resp =
            HttpResponse::oauth_error(&Error::new(ErrorKind::ClientAuthenticationFailed("x")));
        assert_eq!(resp.status, 401);
        assert!(resp
            .header("www-authenticate")
            .unwrap()
            .starts_with("Basic"));
        assert_eq!(resp.header("cache-control"), Some("no-store"));
        let v: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
        assert_eq!(v["error"], "invalid_client");
    }

    #[test]
    fn bearer_challenge_is_well_formed() {
        let resp = HttpResponse::oauth_error(&Error::new(ErrorKind::InvalidToken("bad \"token\"")));
        let h = resp.header("www-authenticate").unwrap();
        assert!(h.starts_with("Bearer error=\"invalid_token\""));
        assert_eq!(h.matches('"').count(), 4);
    }
}
