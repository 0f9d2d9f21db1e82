//! The parsers the fuzz targets and parser benchmarks drive directly (feature `fuzzing`). Not
//! part of the stable API: a host reaches each of them through the endpoint that uses it.

use crate::http::BasicCredentials;

/// Strict unpadded base64url, as JOSE uses it.
pub fn b64_encode(bytes: &[u8]) -> String {
    crate::jose::b64::encode(bytes)
}

/// Strict unpadded base64url decoding (`None` for padding, other alphabets or stray bits).
pub fn b64_decode(s: &str) -> Option<Vec<u8>> {
    crate::jose::b64::decode(s).ok()
}

/// Whether a PKCE `code_verifier` has the RFC 7636 syntax.
pub fn is_valid_verifier_syntax(s: &str) -> bool {
    crate::pkce::is_valid_verifier_syntax(s)
}

/// The client credentials of an `Authorization: Basic` header value (RFC 6749 §2.3.1).
pub fn parse_basic_authorization(value: &[u8]) -> Option<BasicCredentials> {
    crate::http::parse_basic_authorization(value)
}

/// An `application/x-www-form-urlencoded` string keeping the first of repeated names, and the
/// first repeated name (the authorization endpoint's reader).
pub fn parse_form_keep_first(
    input: &str,
) -> Result<(crate::http::FormParams<'_>, Option<String>), crate::Error> {
    crate::http::parse_form_keep_first(input)
}
