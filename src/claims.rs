//! User claims (OpenID Connect Core §5.1) and their selection by scope (§5.4).

use std::collections::BTreeMap;

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};

use crate::scope::{self, Scopes};

/// The standard claims a host returns for a subject. Every field is optional; `sub` is the
/// subject itself and is never taken from here.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UserClaims {
    /// Full name.
    pub name: Option<String>,
    /// Given name(s).
    pub given_name: Option<String>,
    /// Surname(s).
    pub family_name: Option<String>,
    /// Middle name(s).
    pub middle_name: Option<String>,
    /// Casual name.
    pub nickname: Option<String>,
    /// Shorthand name the user wishes to be referred to by.
    pub preferred_username: Option<String>,
    /// Profile page URL.
    pub profile: Option<String>,
    /// Profile picture URL.
    pub picture: Option<String>,
    /// Web page or blog URL.
    pub website: Option<String>,
    /// Gender.
    pub gender: Option<String>,
    /// Birthday, `YYYY-MM-DD` or `YYYY`.
    pub birthdate: Option<String>,
    /// Time zone, e.g. `Europe/Paris`.
    pub zoneinfo: Option<String>,
    /// Locale, BCP47, e.g. `en-US`.
    pub locale: Option<String>,
    /// Time the information was last updated, seconds since the epoch.
    pub updated_at: Option<i64>,
    /// Preferred e-mail address.
    pub email: Option<String>,
    /// Whether the e-mail address was verified.
    pub email_verified: Option<bool>,
    /// Preferred telephone number.
    pub phone_number: Option<String>,
    /// Whether the phone number was verified.
    pub phone_number_verified: Option<bool>,
    /// Preferred postal address (§5.1.1), as a JSON object.
    pub address: Option<BTreeMap<String, String>>,
}

/// The claims of `UserClaims` that the granted scopes release, serialised as JSON members.
///
/// ```
/// use opkit::claims::{ScopedClaims, UserClaims};
/// use opkit::scope::Scopes;
/// let user = UserClaims { name: Some("Ada".into()), email: Some("ada@example.com".into()), ..Default::default() };
/// let scopes = Scopes::parse("openid email").unwrap();
/// let json = serde_json::to_string(&ScopedClaims::new(&user, &scopes)).unwrap();
/// assert_eq!(json, r#"{"email":"ada@example.com"}"#);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ScopedClaims<'a> {
    claims: &'a UserClaims,
    profile: bool,
    email: bool,
    address: bool,
    phone: bool,
}

impl<'a> ScopedClaims<'a> {
    /// Select the claims `scopes` release.
    pub fn new(claims: &'a UserClaims, scopes: &Scopes) -> Self {
        ScopedClaims {
            claims,
            profile: scopes.contains(scope::PROFILE),
            email: scopes.contains(scope::EMAIL),
            address: scopes.contains(scope::ADDRESS),
            phone: scopes.contains(scope::PHONE),
        }
    }
}

impl Serialize for ScopedClaims<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        fn put<M: SerializeMap, T: Serialize>(
            map: &mut M,
            on: bool,
            key: &str,
            value: &Option<T>,
        ) -> Result<(), M::Error> {
            match value {
                Some(v) if on => map.serialize_entry(key, v),
                _ => Ok(()),
            }
        }
        let c = self.claims;
        let mut map = serializer.serialize_map(None)?;
        let p = self.profile;
        put(&mut map, p, "name", &c.name)?;
        put(&mut map, p, "given_name", &c.given_name)?;
        put(&mut map, p, "family_name", &c.family_name)?;
        put(&mut map, p, "middle_name", &c.middle_name)?;
        put(&mut map, p, "nickname", &c.nickname)?;
        put(&mut map, p, "preferred_username", &c.preferred_username)?;
        put(&mut map, p, "profile", &c.profile)?;
        put(&mut map, p, "picture", &c.picture)?;
        put(&mut map, p, "website", &c.website)?;
        put(&mut map, p, "gender", &c.gender)?;
        put(&mut map, p, "birthdate", &c.birthdate)?;
        put(&mut map, p, "zoneinfo", &c.zoneinfo)?;
        put(&mut map, p, "locale", &c.locale)?;
        put(&mut map, p, "updated_at", &c.updated_at)?;
        put(&mut map, self.email, "email", &c.email)?;
        put(&mut map, self.email, "email_verified", &c.email_verified)?;
        put(&mut map, self.address, "address", &c.address)?;
        put(&mut map, self.phone, "phone_number", &c.phone_number)?;
        put(
            &mut map,
            self.phone,
            "phone_number_verified",
            &c.phone_number_verified,
        )?;
        map.end()
    }
}

/// The claim names each scope releases, for discovery's `claims_supported`.
pub const SUPPORTED: [&str; 22] = [
    "sub",
    "iss",
    "auth_time",
    "name",
    "given_name",
    "family_name",
    "middle_name",
    "nickname",
    "preferred_username",
    "profile",
    "picture",
    "website",
    "gender",
    "birthdate",
    "zoneinfo",
    "locale",
    "updated_at",
    "email",
    "email_verified",
    "address",
    "phone_number",
    "phone_number_verified",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> UserClaims {
        UserClaims {
            name: Some("Ada Lovelace".into()),
            given_name: Some("Ada".into()),
            preferred_username: Some("ada".into()),
            email: Some("ada@example.com".into()),
            email_verified: Some(true),
            phone_number: Some("+1 555".into()),
            ..Default::default()
        }
    }

    fn json(scopes: &str) -> serde_json::Value {
        let u = user();
        let s = Scopes::parse(scopes).unwrap();
        serde_json::to_value(ScopedClaims::new(&u, &s)).unwrap()
    }

    #[test]
    fn openid_alone_releases_nothing() {
        assert_eq!(json("openid"), serde_json::json!({}));
    }

    #[test]
    fn profile_and_email() {
        let v = json("openid profile email");
        assert_eq!(v["name"], "Ada Lovelace");
        assert_eq!(v["given_name"], "Ada");
        assert_eq!(v["preferred_username"], "ada");
        assert_eq!(v["email_verified"], true);
        assert!(v.get("phone_number").is_none());
        assert!(
            v.get("family_name").is_none(),
            "absent claims are omitted, not null"
        );
    }
}
