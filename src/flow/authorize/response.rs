//! Encoding an authorization response (success or error) for the client: in the query, in the
//! fragment, or as an auto-submitting form (OAuth 2.0 Form Post Response Mode).

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::client::ResponseType;
use crate::http::HttpResponse;

/// How the authorization response reaches the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseMode {
    /// Parameters in the redirect URI's query (code only).
    Query,
    /// Parameters in the redirect URI's fragment.
    Fragment,
    /// An HTML form POSTed to the redirect URI.
    FormPost,
}

impl ResponseMode {
    /// Every mode, as discovery lists them.
    pub const ALL: [ResponseMode; 3] = [
        ResponseMode::Query,
        ResponseMode::Fragment,
        ResponseMode::FormPost,
    ];

    /// Parse the `response_mode` parameter.
    pub fn parse(s: &str) -> Option<ResponseMode> {
        match s {
            "query" => Some(ResponseMode::Query),
            "fragment" => Some(ResponseMode::Fragment),
            "form_post" => Some(ResponseMode::FormPost),
            _ => None,
        }
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ResponseMode::Query => "query",
            ResponseMode::Fragment => "fragment",
            ResponseMode::FormPost => "form_post",
        }
    }

    /// The default for a response type: `query` for `code`, `fragment` otherwise.
    pub fn default_for(rt: ResponseType) -> ResponseMode {
        if rt.has_front_channel_tokens() {
            ResponseMode::Fragment
        } else {
            ResponseMode::Query
        }
    }
}

/// A response for the user agent that ends an authorization request at the client.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthorizationResponse {
    redirect_uri: String,
    mode: ResponseMode,
    params: Vec<(&'static str, String)>,
}

impl std::fmt::Debug for AuthorizationResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.params.iter().map(|(n, _)| *n).collect();
        f.debug_struct("AuthorizationResponse")
            .field("redirect_uri", &self.redirect_uri)
            .field("mode", &self.mode)
            .field("params", &names)
            .finish()
    }
}

impl AuthorizationResponse {
    pub(crate) fn new(redirect_uri: String, mode: ResponseMode) -> Self {
        AuthorizationResponse {
            redirect_uri,
            mode,
            params: Vec::with_capacity(8),
        }
    }

    /// The error response for a request whose client and redirect URI are trusted: `error`,
    /// `error_description`, `state` (cut to the length a valid one may have) and `iss`. Every
    /// error redirect of the authorization endpoint is built here.
    pub(crate) fn error(
        redirect_uri: String,
        mode: ResponseMode,
        state: Option<&str>,
        issuer: &str,
        err: &crate::error::Error,
    ) -> Self {
        let mut resp = AuthorizationResponse::new(redirect_uri, mode);
        resp.push("error", err.code().as_str());
        resp.push("error_description", err.description());
        if let Some(state) = state {
            let end = state
                .char_indices()
                .nth(super::params::MAX_STATE_LEN)
                .map_or(state.len(), |(end, _)| end);
            resp.push("state", &state[..end]);
        }
        resp.push("iss", issuer);
        resp
    }

    pub(crate) fn push(&mut self, name: &'static str, value: impl Into<String>) {
        self.params.push((name, value.into()));
    }

    /// The redirect URI the response goes to.
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// The response mode.
    pub fn mode(&self) -> ResponseMode {
        self.mode
    }

    /// A parameter of the response (`code`, `state`, `iss`, `error`, …).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// For `query` and `fragment` modes, the URL to redirect the user agent to.
    pub fn location(&self) -> Option<String> {
        let sep = match self.mode {
            ResponseMode::FormPost => return None,
            ResponseMode::Fragment => '#',
            ResponseMode::Query if self.redirect_uri.contains('?') => '&',
            ResponseMode::Query => '?',
        };
        // Encoded in place after the redirect URI, in a buffer sized for the usual case
        // (codes, tokens and `iss` need little escaping).
        let params: usize = self.params.iter().map(|(n, v)| n.len() + v.len() + 2).sum();
        let mut url = String::with_capacity(self.redirect_uri.len() + 1 + params + params / 8);
        url.push_str(&self.redirect_uri);
        if !(sep == '&' && url.ends_with(['?', '&'])) {
            url.push(sep);
        }
        let start = url.len();
        let mut encoded = url::form_urlencoded::Serializer::for_suffix(url, start);
        for (name, value) in &self.params {
            encoded.append_pair(name, value);
        }
        Some(encoded.finish())
    }

    /// The HTTP response: a `303` redirect, or for `form_post` an HTML page that submits itself
    /// (no caching, a CSP allowing only its own script).
    pub fn into_http(self) -> HttpResponse {
        match self.location() {
            Some(location) => HttpResponse::redirect(location),
            None => {
                let csp = format!(
                    "default-src 'none'; script-src '{}'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
                    form_post_script_hash()
                );
                HttpResponse::html(200, self.form_post_html(), &csp)
            }
        }
    }

    /// The auto-submitting HTML form of `form_post` mode.
    pub fn form_post_html(&self) -> String {
        let mut html =
            String::with_capacity(512 + self.params.iter().map(|(_, v)| v.len()).sum::<usize>());
        html.push_str(
            "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Submit</title></head><body>",
        );
        let _ = write!(
            html,
            "<form method=\"post\" action=\"{}\">",
            escape_html(&self.redirect_uri)
        );
        for (name, value) in &self.params {
            let _ = write!(
                html,
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                name,
                escape_html(value)
            );
        }
        html.push_str(
            "<noscript><button type=\"submit\">Continue</button></noscript></form><script>",
        );
        html.push_str(FORM_POST_SCRIPT);
        html.push_str("</script></body></html>");
        html
    }
}

const FORM_POST_SCRIPT: &str = "document.forms[0].submit();";

fn form_post_script_hash() -> String {
    let digest = Sha256::digest(FORM_POST_SCRIPT.as_bytes());
    use base64::Engine as _;
    format!(
        "sha256-{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// Escape text for an HTML attribute or element body.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_appends_to_existing_query() {
        let mut r =
            AuthorizationResponse::new("https://rp.example/cb?a=1".into(), ResponseMode::Query);
        r.push("code", "x y");
        r.push("state", "s&t");
        assert_eq!(
            r.location().unwrap(),
            "https://rp.example/cb?a=1&code=x+y&state=s%26t"
        );
    }

    #[test]
    fn fragment() {
        let mut r =
            AuthorizationResponse::new("https://rp.example/cb".into(), ResponseMode::Fragment);
        r.push("id_token", "abc");
        assert_eq!(r.location().unwrap(), "https://rp.example/cb#id_token=abc");
    }

    #[test]
    fn form_post_escapes_and_sets_csp() {
        let mut r =
            AuthorizationResponse::new("https://rp.example/cb".into(), ResponseMode::FormPost);
        r.push("state", "\"><script>alert(1)</script>");
        let resp = r.into_http();
        let body = String::from_utf8(resp.body.clone()).unwrap();
        assert!(!body.contains("<script>alert"));
        assert!(body.contains("&quot;&gt;&lt;script&gt;"));
        let csp = resp.header("content-security-policy").unwrap();
        assert!(csp.contains("script-src 'sha256-"));
        assert_eq!(resp.header("cache-control"), Some("no-store"));
    }
}
