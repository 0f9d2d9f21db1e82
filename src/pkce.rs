//! PKCE (RFC 7636): code challenge validation and verifier checking.

use sha2::{Digest, Sha256};

use crate::jose::b64;
use crate::secret::constant_time_eq;

/// The `code_challenge_method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum ChallengeMethod {
    /// `S256`: the challenge is BASE64URL(SHA256(verifier)).
    #[serde(rename = "S256")]
    S256,
    /// `plain`: the challenge is the verifier.
    #[serde(rename = "plain")]
    Plain,
}

impl ChallengeMethod {
    /// Parse the parameter value (case-sensitive, as RFC 7636 §4.3 defines it).
    pub fn parse(s: &str) -> Option<ChallengeMethod> {
        match s {
            "S256" => Some(ChallengeMethod::S256),
            "plain" => Some(ChallengeMethod::Plain),
            _ => None,
        }
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ChallengeMethod::S256 => "S256",
            ChallengeMethod::Plain => "plain",
        }
    }
}

/// A code challenge recorded with an authorization code.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CodeChallenge {
    /// The challenge as sent.
    pub challenge: String,
    /// How the verifier maps to it.
    pub method: ChallengeMethod,
}

/// Whether `s` is 43 to 128 characters of `[A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~"`
/// (RFC 7636 §4.1, the same syntax for challenges and verifiers).
pub(crate) fn is_valid_verifier_syntax(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

impl CodeChallenge {
    /// Validate a challenge from an authorization request. An `S256` challenge is exactly the
    /// 43-character base64url encoding of a SHA-256 hash.
    pub fn new(challenge: &str, method: ChallengeMethod) -> Option<CodeChallenge> {
        let ok = match method {
            ChallengeMethod::S256 => challenge.len() == 43 && b64::decode(challenge).is_ok(),
            ChallengeMethod::Plain => is_valid_verifier_syntax(challenge),
        };
        ok.then(|| CodeChallenge {
            challenge: challenge.to_owned(),
            method,
        })
    }

    /// Whether `verifier` answers this challenge (RFC 7636 §4.6), compared in constant time.
    ///
    /// ```
    /// use opkit::pkce::{ChallengeMethod, CodeChallenge};
    /// // RFC 7636 Appendix B
    /// let c = CodeChallenge::new("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", ChallengeMethod::S256).unwrap();
    /// assert!(c.verify("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"));
    /// ```
    pub fn verify(&self, verifier: &str) -> bool {
        if !is_valid_verifier_syntax(verifier) {
            return false;
        }
        match self.method {
            ChallengeMethod::S256 => {
                let digest = Sha256::digest(verifier.as_bytes());
                let mut encoded = [0u8; 43];
                if b64_into(&digest, &mut encoded).is_none() {
                    return false;
                }
                constant_time_eq(&encoded, self.challenge.as_bytes())
            }
            ChallengeMethod::Plain => {
                verifier.len() == self.challenge.len()
                    && constant_time_eq(verifier.as_bytes(), self.challenge.as_bytes())
            }
        }
    }
}

/// base64url-encode 32 bytes into a 43-byte buffer without allocating.
fn b64_into(digest: &[u8], out: &mut [u8; 43]) -> Option<()> {
    use base64::Engine as _;
    let n = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode_slice(digest, out)
        .ok()?;
    (n == 43).then_some(())
}

/// The S256 challenge for a verifier (for clients and tests).
pub fn s256_challenge(verifier: &str) -> String {
    b64::encode(&Sha256::digest(verifier.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn rfc7636_appendix_b() {
        assert_eq!(s256_challenge(VERIFIER), CHALLENGE);
        let c = CodeChallenge::new(CHALLENGE, ChallengeMethod::S256).unwrap();
        assert!(c.verify(VERIFIER));
        assert!(!c.verify(&VERIFIER.replace('d', "e")));
    }

    #[test]
    fn plain_compares_exactly() {
        let c = CodeChallenge::new(VERIFIER, ChallengeMethod::Plain).unwrap();
        assert!(c.verify(VERIFIER));
        assert!(!c.verify(CHALLENGE));
    }

    #[test]
    fn bad_syntax_refused() {
        assert!(CodeChallenge::new("short", ChallengeMethod::S256).is_none());
        assert!(CodeChallenge::new(&"a".repeat(44), ChallengeMethod::S256).is_none());
        assert!(CodeChallenge::new(&"a".repeat(129), ChallengeMethod::Plain).is_none());
        assert!(CodeChallenge::new(&"a b".repeat(20), ChallengeMethod::Plain).is_none());
        let c = CodeChallenge::new(CHALLENGE, ChallengeMethod::S256).unwrap();
        assert!(!c.verify("short"));
        assert!(!c.verify(&"é".repeat(30)));
    }

    #[test]
    fn method_names_are_case_sensitive() {
        assert_eq!(ChallengeMethod::parse("S256"), Some(ChallengeMethod::S256));
        assert_eq!(ChallengeMethod::parse("s256"), None);
        assert_eq!(ChallengeMethod::parse("PLAIN"), None);
    }
}
