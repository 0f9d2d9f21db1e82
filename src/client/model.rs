use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::config::RefreshGrace;
use crate::jose::Algorithm;
use crate::scope::Scopes;
use crate::secret::SecretHash;

/// How a client authenticates at the token endpoint (RFC 7591 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// HTTP Basic with the client id and secret.
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
    /// A public client: no secret; PKCE with S256 is required.
    None,
}

impl AuthMethod {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::ClientSecretPost => "client_secret_post",
            AuthMethod::None => "none",
        }
    }

    /// Parse a wire name.
    pub fn parse(s: &str) -> Option<AuthMethod> {
        match s {
            "client_secret_basic" => Some(AuthMethod::ClientSecretBasic),
            "client_secret_post" => Some(AuthMethod::ClientSecretPost),
            "none" => Some(AuthMethod::None),
            _ => None,
        }
    }

    /// Whether clients using it hold a secret.
    pub fn is_confidential(self) -> bool {
        !matches!(self, AuthMethod::None)
    }

    /// Every method, as discovery lists them.
    pub const ALL: [AuthMethod; 3] = [
        AuthMethod::ClientSecretBasic,
        AuthMethod::ClientSecretPost,
        AuthMethod::None,
    ];
}

/// A grant type a client may use at the token endpoint (or `implicit` at the authorization
/// endpoint).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    /// `authorization_code`
    AuthorizationCode,
    /// `implicit`
    Implicit,
    /// `refresh_token`
    RefreshToken,
    /// `client_credentials`
    ClientCredentials,
    /// `password` (resource owner password credentials; off unless enabled per provider and client)
    Password,
    /// `urn:ietf:params:oauth:grant-type:token-exchange` (RFC 8693; off unless enabled per
    /// provider, and given to a client by the administrator only)
    TokenExchange,
}

impl GrantType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::Implicit => "implicit",
            GrantType::RefreshToken => "refresh_token",
            GrantType::ClientCredentials => "client_credentials",
            GrantType::Password => "password",
            GrantType::TokenExchange => TOKEN_EXCHANGE,
        }
    }

    /// Parse a wire name.
    pub fn parse(s: &str) -> Option<GrantType> {
        match s {
            "authorization_code" => Some(GrantType::AuthorizationCode),
            "implicit" => Some(GrantType::Implicit),
            "refresh_token" => Some(GrantType::RefreshToken),
            "client_credentials" => Some(GrantType::ClientCredentials),
            "password" => Some(GrantType::Password),
            TOKEN_EXCHANGE => Some(GrantType::TokenExchange),
            _ => None,
        }
    }

    /// Every grant type, as discovery may list them.
    pub const ALL: [GrantType; 6] = [
        GrantType::AuthorizationCode,
        GrantType::Implicit,
        GrantType::RefreshToken,
        GrantType::ClientCredentials,
        GrantType::Password,
        GrantType::TokenExchange,
    ];
}

/// The grant type of RFC 8693 token exchange.
const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

/// A `response_type` value: a set of `code`, `id_token` and `token` (OAuth 2.0 Multiple
/// Response Type Encoding Practices). Order in the parameter does not matter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ResponseType {
    /// An authorization code is returned.
    pub code: bool,
    /// An ID token is returned from the authorization endpoint.
    pub id_token: bool,
    /// An access token is returned from the authorization endpoint.
    pub token: bool,
}

impl ResponseType {
    /// `code`
    pub const CODE: ResponseType = ResponseType::of(true, false, false);
    /// `id_token`
    pub const ID_TOKEN: ResponseType = ResponseType::of(false, true, false);
    /// `id_token token`
    pub const ID_TOKEN_TOKEN: ResponseType = ResponseType::of(false, true, true);
    /// `code id_token`
    pub const CODE_ID_TOKEN: ResponseType = ResponseType::of(true, true, false);
    /// `code token`
    pub const CODE_TOKEN: ResponseType = ResponseType::of(true, false, true);
    /// `code id_token token`
    pub const CODE_ID_TOKEN_TOKEN: ResponseType = ResponseType::of(true, true, true);

    /// Every response type opkit implements, as discovery lists them.
    pub const ALL: [ResponseType; 6] = [
        ResponseType::CODE,
        ResponseType::ID_TOKEN,
        ResponseType::ID_TOKEN_TOKEN,
        ResponseType::CODE_ID_TOKEN,
        ResponseType::CODE_TOKEN,
        ResponseType::CODE_ID_TOKEN_TOKEN,
    ];

    const fn of(code: bool, id_token: bool, token: bool) -> ResponseType {
        ResponseType {
            code,
            id_token,
            token,
        }
    }

    /// Parse a space-separated `response_type`; `None` for anything opkit does not implement
    /// (including `token` alone, `none`, repeated or unknown values).
    pub fn parse(s: &str) -> Option<ResponseType> {
        let mut rt = ResponseType::of(false, false, false);
        for part in s.split(' ') {
            let slot = match part {
                "code" => &mut rt.code,
                "id_token" => &mut rt.id_token,
                "token" => &mut rt.token,
                _ => return None,
            };
            if *slot {
                return None;
            }
            *slot = true;
        }
        ResponseType::ALL.contains(&rt).then_some(rt)
    }

    /// The canonical spelling (`code id_token token` order).
    pub fn as_str(self) -> &'static str {
        match (self.code, self.id_token, self.token) {
            (true, false, false) => "code",
            (false, true, false) => "id_token",
            (false, true, true) => "id_token token",
            (true, true, false) => "code id_token",
            (true, false, true) => "code token",
            (true, true, true) => "code id_token token",
            (false, false, true) => "token",
            (false, false, false) => "none",
        }
    }

    /// Whether anything but a code comes back through the front channel (implicit or hybrid).
    pub fn has_front_channel_tokens(self) -> bool {
        self.id_token || self.token
    }

    /// The grant type a client must hold to use this response type.
    pub fn required_grants(self) -> impl Iterator<Item = GrantType> {
        [
            self.code.then_some(GrantType::AuthorizationCode),
            self.has_front_channel_tokens()
                .then_some(GrantType::Implicit),
        ]
        .into_iter()
        .flatten()
    }
}

impl fmt::Display for ResponseType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ResponseType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ResponseType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ResponseType::parse(&s).ok_or_else(|| serde::de::Error::custom("unsupported response_type"))
    }
}

/// One client secret. A client may hold several (rotation without downtime).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientSecret {
    /// Identifies the secret for management (not secret itself).
    pub id: String,
    /// A label chosen by the administrator.
    pub name: String,
    /// SHA-256 of the secret.
    pub hash: SecretHash,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// After this instant the secret authenticates nothing.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientSecret")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl ClientSecret {
    /// Whether the secret is usable at `now`.
    pub fn is_valid_at(&self, now: OffsetDateTime) -> bool {
        self.expires_at.is_none_or(|exp| now < exp)
    }
}

/// A registered client, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Client {
    /// The management id (`/clients/{id}`); not the `client_id`.
    pub id: String,
    /// The OAuth `client_id`.
    pub client_id: String,
    /// Secrets of a confidential client (empty for `token_endpoint_auth_method=none`).
    pub secrets: Vec<ClientSecret>,
    /// The hash of the RFC 7592 registration access token, for dynamically registered clients.
    pub registration_access_token: Option<SecretHash>,
    /// The client's settings.
    #[serde(flatten)]
    pub settings: ClientSettings,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub date_created: OffsetDateTime,
    /// When it was last modified.
    #[serde(with = "time::serde::rfc3339")]
    pub date_modified: OffsetDateTime,
    /// Bumped by the store on every update; an update based on an older revision is refused
    /// (optimistic concurrency, so concurrent changes are never lost).
    #[serde(default)]
    pub revision: u64,
}

impl Client {
    /// Whether `uri` is a registered redirect URI: the same string (simple string comparison,
    /// RFC 9700 §4.1.3), or, for a registered `http` URI on a loopback IP literal
    /// (`127.0.0.1`, `[::1]`), the same URI with any port, as native apps pick a free port at
    /// run time (RFC 8252 §7.3).
    pub fn has_redirect_uri(&self, uri: &str) -> bool {
        self.settings
            .redirect_uris
            .iter()
            .any(|r| r == uri || super::redirect::same_loopback_uri(r, uri))
    }

    /// Whether the client may use `grant`.
    pub fn allows_grant(&self, grant: GrantType) -> bool {
        self.settings.grant_types.contains(&grant)
    }

    /// Whether the client may use `rt`.
    pub fn allows_response_type(&self, rt: ResponseType) -> bool {
        self.settings.response_types.contains(&rt)
    }

    /// Parse a `scope` parameter and check every value is in the client's `allowed_scopes`
    /// (`invalid_scope` otherwise). An absent parameter is the empty set.
    pub fn requested_scopes(&self, raw: Option<&str>) -> Result<Scopes, crate::ErrorKind> {
        use crate::ErrorKind;
        let scopes = Scopes::parse(raw.unwrap_or(""))
            .map_err(|_| ErrorKind::InvalidScope("malformed scope".into()))?;
        if let Some(bad) = scopes
            .iter()
            .find(|s| !self.settings.allowed_scopes.contains(s))
        {
            let shown: String = bad.chars().take(64).collect();
            return Err(ErrorKind::InvalidScope(
                format!("scope not allowed for this client: {shown}").into(),
            ));
        }
        Ok(scopes)
    }

    /// Whether the client is public (no secret, PKCE S256 required).
    pub fn is_public(&self) -> bool {
        !self.settings.token_endpoint_auth_method.is_confidential()
    }

    /// `invalid_target` unless `resource` is one of the client's allowed resources (RFC 8707).
    pub fn check_resource(&self, resource: &str) -> Result<(), crate::ErrorKind> {
        if self
            .settings
            .allowed_resources
            .iter()
            .any(|r| r == resource)
        {
            Ok(())
        } else {
            Err(crate::ErrorKind::InvalidTarget(
                "the client may not ask tokens for this resource".into(),
            ))
        }
    }

    /// Whether `code_challenge_method=plain` is accepted from it: only when configured so, and
    /// never for a public client.
    pub fn allows_plain_pkce(&self) -> bool {
        self.settings.allow_plain_pkce && !self.is_public()
    }
}

/// The validated, administrator-controlled settings of a client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientSettings {
    /// Human-readable name.
    pub name: String,
    /// A longer description.
    pub description: Option<String>,
    /// Registered redirect URIs, compared exactly.
    pub redirect_uris: Vec<String>,
    /// Where RP-initiated logout may send the user back to.
    pub post_logout_redirect_uris: Vec<String>,
    /// The ID token signing algorithm.
    pub id_token_signed_response_alg: Algorithm,
    /// How the client authenticates at the token endpoint.
    pub token_endpoint_auth_method: AuthMethod,
    /// The grant types it may use.
    pub grant_types: Vec<GrantType>,
    /// The response types it may use.
    pub response_types: Vec<ResponseType>,
    /// The scopes it may request; requests for others are `invalid_scope`.
    pub allowed_scopes: Scopes,
    /// Origins allowed to call the token, userinfo, JWKS and discovery endpoints from a browser.
    pub allowed_origins: Vec<String>,
    /// Logo URL.
    pub logo_uri: Option<String>,
    /// Logo URL for dark backgrounds.
    pub logo_dark_mode_uri: Option<String>,
    /// Whether authorization requests must carry a PKCE challenge: true unless the
    /// administrator exempted a confidential client (always true for public clients).
    pub require_pkce: bool,
    /// Whether this (confidential) client may use `code_challenge_method=plain` instead of
    /// `S256` (default false; never for public clients).
    #[serde(default)]
    pub allow_plain_pkce: bool,
    /// Whether this (confidential) client is a resource server that may introspect tokens
    /// issued to any client (default false: a client learns only about its own tokens, and
    /// any other token is described as `{"active": false}`, RFC 7662 section 4). Set through
    /// the management API only.
    #[serde(default)]
    pub introspect_any_token: bool,
    /// This client's refresh rotation grace window, overriding the provider's
    /// ([`Config::refresh_grace`](crate::Config::refresh_grace)); `None` uses the provider's,
    /// [`RefreshGrace::OFF`] switches it off for this client. Set through the management API only
    /// (`refresh_grace_seconds`, `refresh_grace_reuses`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_grace: Option<RefreshGrace>,
    /// The resources (RFC 8707) the client may ask tokens for with the `resource` parameter:
    /// absolute URIs without a fragment, set by the management API only. A token asked for one
    /// of them is for it alone (`aud`); without the parameter, tokens are for the provider's
    /// own audience.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_resources: Vec<String>,
    /// Answer UserInfo as a JWT signed with this algorithm (`application/jwt`, OpenID Connect
    /// Core §5.3.2) instead of JSON; `None` (the default) for plain JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userinfo_signed_response_alg: Option<Algorithm>,
    /// Free-form metadata kept and returned as given.
    pub metadata: BTreeMap<String, serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_type_order_does_not_matter() {
        assert_eq!(
            ResponseType::parse("token id_token"),
            Some(ResponseType::ID_TOKEN_TOKEN)
        );
        assert_eq!(
            ResponseType::parse("id_token token code"),
            Some(ResponseType::CODE_ID_TOKEN_TOKEN)
        );
    }

    #[test]
    fn response_type_refusals() {
        for s in [
            "",
            "token",
            "none",
            "code code",
            "code  id_token",
            "CODE",
            "code x",
        ] {
            assert_eq!(ResponseType::parse(s), None, "{s:?}");
        }
    }

    #[test]
    fn response_type_round_trips() {
        for rt in ResponseType::ALL {
            assert_eq!(ResponseType::parse(rt.as_str()), Some(rt));
        }
    }
}
