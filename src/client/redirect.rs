//! Redirect URI rules (RFC 6749 §3.1.2, RFC 8252 §7, RFC 9700 §4.1).
//!
//! A registered redirect URI is absolute, has no fragment, uses `https`, or `http` on a
//! loopback host (`localhost`, `127.0.0.0/8`, `[::1]`), or a private-use scheme containing a
//! dot for native apps (`com.example.app:/cb`, RFC 8252 §7.1). Matching at the authorization
//! endpoint is exact string comparison against the registered values.

use std::fmt;

use url::{Host, Url};

/// Longest redirect URI accepted.
pub const MAX_REDIRECT_URI_LEN: usize = 2048;

/// Why a redirect URI cannot be registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedirectUriError {
    /// Not an absolute URI.
    NotAbsolute,
    /// Carries a `#fragment`.
    HasFragment,
    /// `http` on a host other than a loopback one.
    InsecureHttp,
    /// A scheme that is never acceptable (`javascript`, `data`, `file`, …) or not a private-use
    /// scheme.
    ForbiddenScheme,
    /// Carries user info (`user:pass@`).
    HasUserInfo,
    /// Longer than [`MAX_REDIRECT_URI_LEN`].
    TooLong,
}

impl fmt::Display for RedirectUriError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RedirectUriError::NotAbsolute => "redirect URI must be an absolute URI",
            RedirectUriError::HasFragment => "redirect URI must not contain a fragment",
            RedirectUriError::InsecureHttp => {
                "http redirect URIs are allowed only for loopback hosts"
            }
            RedirectUriError::ForbiddenScheme => "redirect URI scheme is not allowed",
            RedirectUriError::HasUserInfo => "redirect URI must not contain user info",
            RedirectUriError::TooLong => "redirect URI is too long",
        })
    }
}

impl std::error::Error for RedirectUriError {}

/// Check that `uri` may be registered as a redirect URI.
///
/// ```
/// use opkit::client::validate_redirect_uri;
/// assert!(validate_redirect_uri("https://rp.example/cb?x=1").is_ok());
/// assert!(validate_redirect_uri("http://127.0.0.1:8080/cb").is_ok());
/// assert!(validate_redirect_uri("http://rp.example/cb").is_err());
/// assert!(validate_redirect_uri("https://rp.example/cb#frag").is_err());
/// ```
pub fn validate_redirect_uri(uri: &str) -> Result<(), RedirectUriError> {
    validate_uri(uri, true)
}

/// Check a URL that must be `https` or `http` on a loopback host (logos, post-logout URIs
/// keep the same rules as redirect URIs; logos allow no private-use scheme).
pub fn validate_web_uri(uri: &str) -> Result<(), RedirectUriError> {
    validate_uri(uri, false)
}

fn validate_uri(uri: &str, allow_private_scheme: bool) -> Result<(), RedirectUriError> {
    if uri.len() > MAX_REDIRECT_URI_LEN {
        return Err(RedirectUriError::TooLong);
    }
    if uri.contains('#') {
        return Err(RedirectUriError::HasFragment);
    }
    if uri
        .bytes()
        .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    {
        return Err(RedirectUriError::NotAbsolute);
    }
    let url = Url::parse(uri).map_err(|_| RedirectUriError::NotAbsolute)?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(RedirectUriError::HasUserInfo);
    }
    match url.scheme() {
        "https" => {
            if url.host().is_none() {
                return Err(RedirectUriError::NotAbsolute);
            }
            Ok(())
        }
        "http" => match url.host() {
            Some(host) if is_loopback(&host) => Ok(()),
            Some(_) => Err(RedirectUriError::InsecureHttp),
            None => Err(RedirectUriError::NotAbsolute),
        },
        scheme if allow_private_scheme && scheme.contains('.') => Ok(()),
        _ => Err(RedirectUriError::ForbiddenScheme),
    }
}

/// Whether `presented` is `registered` but for the port, both `http` on the same loopback IP
/// literal (RFC 8252 §7.3; `localhost` is not included, as the RFC advises against it).
/// Everything else must match exactly: path, query, no user info, no fragment.
pub(crate) fn same_loopback_uri(registered: &str, presented: &str) -> bool {
    let (Ok(r), Ok(p)) = (Url::parse(registered), Url::parse(presented)) else {
        return false;
    };
    let loopback_ip = match r.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        _ => false,
    };
    loopback_ip
        && r.scheme() == "http"
        && p.scheme() == "http"
        && r.host() == p.host()
        && r.path() == p.path()
        && r.query() == p.query()
        && p.fragment().is_none()
        && p.username().is_empty()
        && p.password().is_none()
        // The presented string must be what it parses to, so no alternative spelling
        // (`127.1`, `%2F` paths, default-port elision) slips past the exact comparison.
        && p.as_str() == presented
}

/// Whether a host is a loopback name or address.
pub(crate) fn is_loopback(host: &Host<&str>) -> bool {
    match host {
        Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        Host::Ipv4(ip) => ip.is_loopback(),
        Host::Ipv6(ip) => ip.is_loopback(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted() {
        for uri in [
            "https://rp.example/cb",
            "https://rp.example:8443/a/b?c=d",
            "http://localhost:3000/cb",
            "http://127.0.0.1/cb",
            "http://[::1]:9000/cb",
            "com.example.app:/oauth2redirect",
        ] {
            assert_eq!(validate_redirect_uri(uri), Ok(()), "{uri}");
        }
    }

    #[test]
    fn refused() {
        let cases = [
            ("/relative", RedirectUriError::NotAbsolute),
            ("https://rp.example/cb#x", RedirectUriError::HasFragment),
            ("https://rp.example/cb#", RedirectUriError::HasFragment),
            ("http://rp.example/cb", RedirectUriError::InsecureHttp),
            (
                "http://localhost.evil.example/cb",
                RedirectUriError::InsecureHttp,
            ),
            ("javascript:alert(1)", RedirectUriError::ForbiddenScheme),
            ("data:text/html,hi", RedirectUriError::ForbiddenScheme),
            ("file:///etc/passwd", RedirectUriError::ForbiddenScheme),
            (
                "https://user:pw@rp.example/cb",
                RedirectUriError::HasUserInfo,
            ),
            ("https://rp.example/c b", RedirectUriError::NotAbsolute),
        ];
        for (uri, want) in cases {
            assert_eq!(validate_redirect_uri(uri), Err(want), "{uri}");
        }
        let long = format!("https://rp.example/{}", "a".repeat(3000));
        assert_eq!(validate_redirect_uri(&long), Err(RedirectUriError::TooLong));
    }

    #[test]
    fn web_uri_refuses_private_scheme() {
        assert!(validate_web_uri("com.example.app:/x").is_err());
        assert!(validate_web_uri("https://cdn.example/logo.png").is_ok());
    }

    #[test]
    fn loopback_ip_redirects_match_any_port() {
        let ok = |r: &str, p: &str| same_loopback_uri(r, p);
        assert!(ok("http://127.0.0.1/cb", "http://127.0.0.1:51234/cb"));
        assert!(ok("http://127.0.0.1:8080/cb", "http://127.0.0.1:9/cb"));
        assert!(ok("http://[::1]/cb?x=1", "http://[::1]:4000/cb?x=1"));
        for (r, p) in [
            ("http://127.0.0.1/cb", "http://127.0.0.1:5/other"),
            ("http://127.0.0.1/cb", "http://127.0.0.2:5/cb"),
            ("http://127.0.0.1/cb", "https://127.0.0.1:5/cb"),
            ("http://127.0.0.1/cb", "http://127.0.0.1:5/cb#f"),
            ("http://127.0.0.1/cb", "http://u@127.0.0.1:5/cb"),
            ("http://127.0.0.1/cb", "http://127.1:5/cb"),
            ("http://localhost/cb", "http://localhost:5/cb"),
            ("https://app.example/cb", "https://app.example:444/cb"),
            ("http://127.0.0.1/cb?a=1", "http://127.0.0.1:5/cb?a=2"),
        ] {
            assert!(!ok(r, p), "{r} vs {p}");
        }
    }
}
