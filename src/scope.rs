//! Scopes (RFC 6749 §3.3) and the OpenID Connect scope values opkit understands.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// `openid`: the request is an OpenID Connect request; an ID token is issued.
pub const OPENID: &str = "openid";
/// `profile`: the default profile claims.
pub const PROFILE: &str = "profile";
/// `email`: `email` and `email_verified`.
pub const EMAIL: &str = "email";
/// `address`: the `address` claim.
pub const ADDRESS: &str = "address";
/// `phone`: `phone_number` and `phone_number_verified`.
pub const PHONE: &str = "phone";
/// `offline_access`: a refresh token, after explicit consent.
pub const OFFLINE_ACCESS: &str = "offline_access";

/// The scope values opkit knows, as discovery lists them.
pub const SUPPORTED: [&str; 6] = [OPENID, PROFILE, EMAIL, ADDRESS, PHONE, OFFLINE_ACCESS];

/// At most this many scope values in one request.
const MAX_SCOPES: usize = 32;
/// At most this many bytes in one scope value.
const MAX_SCOPE_LEN: usize = 128;

/// A set of scope values, kept in the order first given, without duplicates.
///
/// ```
/// use opkit::scope::Scopes;
/// let s = Scopes::parse("openid email openid").unwrap();
/// assert_eq!(s.to_string(), "openid email");
/// assert!(s.contains("email"));
/// assert!(Scopes::parse("bad\"scope").is_err());
/// ```
///
/// Cloning is a reference-count increment (scopes are copied into every code, grant, token and
/// record of a flow); changing a shared set copies it first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Scopes(Arc<Vec<String>>);

impl Serialize for Scopes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Scopes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let values = Vec::<String>::deserialize(d)?;
        Scopes::from_values(&values).map_err(serde::de::Error::custom)
    }
}

/// A scope string that RFC 6749 §3.3 does not allow, or too many or too long scopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidScopeSyntax;

impl fmt::Display for InvalidScopeSyntax {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("malformed scope")
    }
}

impl std::error::Error for InvalidScopeSyntax {}

impl Scopes {
    /// Whether another clone of this set is alive (the in-memory store's interner drops sets
    /// nothing else holds).
    pub(crate) fn is_shared(&self) -> bool {
        Arc::strong_count(&self.0) > 1
    }

    /// An empty set.
    pub fn new() -> Self {
        Scopes::default()
    }

    /// Parse a space-delimited scope parameter.
    pub fn parse(s: &str) -> Result<Scopes, InvalidScopeSyntax> {
        let mut out: Vec<String> = Vec::new();
        for token in s.split(' ').filter(|t| !t.is_empty()) {
            let valid = token.len() <= MAX_SCOPE_LEN
                && token
                    .bytes()
                    .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b));
            if !valid {
                return Err(InvalidScopeSyntax);
            }
            if !out.iter().any(|t| t == token) {
                if out.len() == MAX_SCOPES {
                    return Err(InvalidScopeSyntax);
                }
                out.push(token.to_owned());
            }
        }
        Ok(Scopes(Arc::new(out)))
    }

    /// Build from values already known to be valid.
    pub fn from_values<I, S>(values: I) -> Result<Scopes, InvalidScopeSyntax>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let joined: Vec<String> = values.into_iter().map(|s| s.as_ref().to_owned()).collect();
        Scopes::parse(&joined.join(" "))
    }

    /// Whether the set holds `scope`.
    pub fn contains(&self, scope: &str) -> bool {
        self.0.iter().any(|s| s == scope)
    }

    /// Whether every value of `self` is in `other`.
    pub fn is_subset_of(&self, other: &Scopes) -> bool {
        self.0.iter().all(|s| other.contains(s))
    }

    /// Keep only the values `keep` accepts (`keep` may be called more than once per value).
    pub fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) {
        if !self.0.iter().all(|s| keep(s)) {
            Arc::make_mut(&mut self.0).retain(|s| keep(s));
        }
    }

    /// Remove one value.
    pub fn remove(&mut self, scope: &str) {
        if self.contains(scope) {
            Arc::make_mut(&mut self.0).retain(|s| s != scope);
        }
    }

    /// Add one value (no-op if present).
    pub fn insert(&mut self, scope: &str) {
        if !self.contains(scope) {
            Arc::make_mut(&mut self.0).push(scope.to_owned());
        }
    }

    /// The union of two sets.
    pub fn union(&self, other: &Scopes) -> Scopes {
        let mut out = self.clone();
        for s in other.iter() {
            out.insert(s);
        }
        out
    }

    /// The values, in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many values.
    pub fn len(&self) -> usize {
        self.0.len()
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(s)?;
        }
        Ok(())
    }
}

/// Serialise scopes as one space-separated string (the wire form), for `serialize_with`.
pub fn serialize_joined<S: serde::Serializer>(scopes: &&Scopes, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(*scopes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_spaces_are_ignored() {
        assert_eq!(Scopes::parse("  openid   profile ").unwrap().len(), 2);
        assert!(Scopes::parse("").unwrap().is_empty());
    }

    #[test]
    fn forbidden_characters() {
        for s in ["a\\b", "a\"b", "tab\there", "é", "new\nline"] {
            assert!(Scopes::parse(s).is_err(), "{s}");
        }
    }

    #[test]
    fn limits() {
        let many: Vec<String> = (0..33).map(|i| format!("s{i}")).collect();
        assert!(Scopes::parse(&many.join(" ")).is_err());
        assert!(Scopes::parse(&"a".repeat(129)).is_err());
    }

    #[test]
    fn subset() {
        let a = Scopes::parse("openid").unwrap();
        let b = Scopes::parse("email openid").unwrap();
        assert!(a.is_subset_of(&b));
        assert!(!b.is_subset_of(&a));
    }
}
