//! Validating client metadata from the two ways clients are created: the management API
//! (`POST /clients`, `PUT /clients/{id}`) and RFC 7591 dynamic registration. Both produce
//! [`ClientSettings`]; every refusal names the offending field.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};

use super::redirect::{validate_redirect_uri, validate_web_uri};
use super::{AuthMethod, ClientSettings, GrantType, ResponseType};
use crate::config::RefreshGrace;
use crate::jose::Algorithm;
use crate::scope::{self, Scopes};

/// Longest `name` / `client_name`.
const MAX_NAME: usize = 256;
/// Longest `description`.
const MAX_DESCRIPTION: usize = 4096;
/// Most entries in a list field.
const MAX_LIST: usize = 64;

// Dynamic registration is open to anyone when the host opens it, so what one registration
// (RFC 7591, or an RFC 7592 update) may hold is capped further; see `validate`.
/// Most redirect URIs, and most post-logout redirect URIs, of a registration.
const REG_MAX_URIS: usize = 16;
/// Longest URI of a registration (redirect, post-logout and logo URIs), in bytes.
const REG_MAX_URI_LEN: usize = 512;
/// Longest `description` of a registration, in characters.
const REG_MAX_DESCRIPTION: usize = 1024;
/// Longest `scope` of a registration, in bytes.
const REG_MAX_SCOPE: usize = 1024;
/// Most bytes of the unknown members a registration keeps (names and compact JSON values).
const REG_MAX_EXTRAS: usize = 4096;

/// A metadata field was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataError {
    /// The field (JSON member) at fault.
    pub field: String,
    /// What is wrong, for people.
    pub message: String,
    /// What kind of fault.
    pub kind: MetadataErrorKind,
}

/// What is wrong with a client metadata document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetadataErrorKind {
    /// A required field is missing.
    MissingField,
    /// A field has the wrong JSON type.
    InvalidType,
    /// A field's value is not acceptable.
    InvalidValue,
    /// The management API does not know this field.
    UnknownField,
    /// A redirect URI is not acceptable (`invalid_redirect_uri` in RFC 7591).
    InvalidRedirectUri,
}

impl MetadataErrorKind {
    /// The stable machine code of the management API.
    pub fn code(self) -> &'static str {
        match self {
            MetadataErrorKind::MissingField => "missing_field",
            MetadataErrorKind::InvalidType => "invalid_type",
            MetadataErrorKind::InvalidValue => "invalid_value",
            MetadataErrorKind::UnknownField => "unknown_field",
            MetadataErrorKind::InvalidRedirectUri => "invalid_redirect_uri",
        }
    }
}

impl MetadataError {
    fn new(field: &str, kind: MetadataErrorKind, message: impl Into<String>) -> Self {
        MetadataError {
            field: field.to_owned(),
            message: message.into(),
            kind,
        }
    }
    fn missing(field: &str) -> Self {
        Self::new(
            field,
            MetadataErrorKind::MissingField,
            format!("{field} is required"),
        )
    }
    fn wrong_type(field: &str, want: &str) -> Self {
        Self::new(
            field,
            MetadataErrorKind::InvalidType,
            format!("{field} must be {want}"),
        )
    }
    fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::new(field, MetadataErrorKind::InvalidValue, message)
    }
    fn redirect_uri(message: impl Into<String>) -> Self {
        Self::new(
            "redirect_uris",
            MetadataErrorKind::InvalidRedirectUri,
            message,
        )
    }
}

impl fmt::Display for MetadataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for MetadataError {}

/// Which API the metadata came through: field names and defaults differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataSource {
    /// The management API: `name`, `redirect_uris`, `id_token_signed_response_alg` and
    /// `token_endpoint_auth_method` are required; unknown fields are refused.
    Management,
    /// RFC 7591 / OpenID Connect Dynamic Registration: `client_name`, defaults as the specs
    /// give them, unknown fields kept in `metadata`.
    Registration,
}

/// Members the server sets itself (management API and RFC 7591 / 7592 responses). Sending them
/// back is harmless: they are ignored, never stored (RFC 7592 §2.2).
const READ_ONLY: [&str; 10] = [
    "id",
    "client_id",
    "client_secret",
    "date_created",
    "date_modified",
    "client_secrets",
    "registration_access_token",
    "registration_client_uri",
    "client_id_issued_at",
    "client_secret_expires_at",
];

/// RFC 7591 / OIDC registration members that opkit understands or deliberately keeps.
/// Security settings of the management API that dynamic registration ignores.
const MANAGEMENT_ONLY: [&str; 7] = [
    "allowed_resources",
    "require_pkce",
    "allow_plain_pkce",
    "introspect_any_token",
    "allowed_origins",
    "refresh_grace_seconds",
    "refresh_grace_reuses",
];

const REGISTRATION_KNOWN: [&str; 12] = [
    "client_name",
    "userinfo_signed_response_alg",
    "redirect_uris",
    "token_endpoint_auth_method",
    "id_token_signed_response_alg",
    "grant_types",
    "response_types",
    "scope",
    "post_logout_redirect_uris",
    "logo_uri",
    "logo_dark_mode_uri",
    "description",
];

/// Validate metadata into settings.
///
/// Both APIs cap a name at 256 characters, a description at 4,096, a list at 64 entries and
/// any URI at 2,048 bytes ([`MAX_REDIRECT_URI_LEN`](super::redirect::MAX_REDIRECT_URI_LEN)).
/// A dynamic registration ([`MetadataSource::Registration`]), which anyone may send while
/// registration is open, is capped further, each cap refused as `invalid_client_metadata`
/// naming its field (`invalid_redirect_uri` for a redirect URI):
///
/// | field | at most |
/// |---|---|
/// | `client_name` | 256 characters (1 KiB of UTF-8) |
/// | `description` | 1,024 characters (4 KiB) |
/// | `redirect_uris`, `post_logout_redirect_uris` | 16 entries each, each 512 bytes (16 KiB in all) |
/// | `logo_uri`, `logo_dark_mode_uri` | 512 bytes each (1 KiB) |
/// | `scope` | 1,024 bytes |
/// | unknown members (kept and echoed: `contacts`, `jwks`, …) | 64 members, 4,096 bytes of names and compact JSON |
///
/// so one registration stores at most about 27 KiB of text whatever the body limit, plus its
/// fixed fields (ids, the secret and registration token hashes, dates, grant and response
/// types: well under 1 KiB). The management API is the administrator's and keeps only the
/// shared caps (and the body limit).
///
/// ```
/// use opkit::client::{validate, MetadataErrorKind, MetadataSource};
/// let json = serde_json::json!({
///     "name": "My app",
///     "redirect_uris": ["https://app.example/cb"],
///     "id_token_signed_response_alg": "ES256",
///     "token_endpoint_auth_method": "client_secret_basic"
/// });
/// let settings = validate(json.as_object().unwrap(), MetadataSource::Management, false).unwrap();
/// assert_eq!(settings.name, "My app");
///
/// let bad = serde_json::json!({"redirect_uris": ["http://app.example/cb"]});
/// let err = validate(bad.as_object().unwrap(), MetadataSource::Registration, false).unwrap_err();
/// assert_eq!(err.kind, MetadataErrorKind::InvalidRedirectUri);
/// ```
pub fn validate(
    doc: &Map<String, Value>,
    source: MetadataSource,
    password_grant_enabled: bool,
) -> Result<ClientSettings, MetadataError> {
    let management = source == MetadataSource::Management;
    let (max_uris, max_uri_len) = match management {
        true => (MAX_LIST, super::redirect::MAX_REDIRECT_URI_LEN),
        false => (REG_MAX_URIS, REG_MAX_URI_LEN),
    };
    let name_field = if management { "name" } else { "client_name" };
    let name = match opt_string(doc, name_field)? {
        Some(n) => n,
        None if management => return Err(MetadataError::missing(name_field)),
        None => String::new(),
    };
    if name.chars().count() > MAX_NAME {
        return Err(MetadataError::invalid(
            name_field,
            format!("at most {MAX_NAME} characters"),
        ));
    }
    if management && name.trim().is_empty() {
        return Err(MetadataError::invalid(name_field, "must not be empty"));
    }

    let alg = match opt_string(doc, "id_token_signed_response_alg")? {
        Some(a) => a.parse::<Algorithm>().map_err(|_| {
            MetadataError::invalid("id_token_signed_response_alg", "must be ES256 or RS256")
        })?,
        None if management => return Err(MetadataError::missing("id_token_signed_response_alg")),
        None => Algorithm::Rs256,
    };
    // `none` (or nothing): plain JSON.
    let userinfo_alg = match opt_string(doc, "userinfo_signed_response_alg")? {
        Some(a) if a == "none" => None,
        Some(a) => Some(a.parse::<Algorithm>().map_err(|_| {
            MetadataError::invalid(
                "userinfo_signed_response_alg",
                "must be ES256, RS256 or none",
            )
        })?),
        None => None,
    };
    let auth_method = match opt_string(doc, "token_endpoint_auth_method")? {
        Some(m) => AuthMethod::parse(&m).ok_or_else(|| {
            MetadataError::invalid(
                "token_endpoint_auth_method",
                "must be client_secret_basic, client_secret_post or none",
            )
        })?,
        None if management => return Err(MetadataError::missing("token_endpoint_auth_method")),
        None => AuthMethod::ClientSecretBasic,
    };

    let (grant_types, response_types) =
        grants_and_responses(doc, management, password_grant_enabled)?;
    if !auth_method.is_confidential() && grant_types.contains(&GrantType::ClientCredentials) {
        return Err(MetadataError::invalid(
            "grant_types",
            "public clients may not use client_credentials",
        ));
    }
    if !auth_method.is_confidential() && grant_types.contains(&GrantType::Password) {
        return Err(MetadataError::invalid(
            "grant_types",
            "public clients may not use password",
        ));
    }
    if !auth_method.is_confidential() && grant_types.contains(&GrantType::TokenExchange) {
        return Err(MetadataError::invalid(
            "grant_types",
            "public clients may not use token exchange",
        ));
    }

    let redirect_uris = match opt_string_list(doc, "redirect_uris", max_uris)? {
        Some(list) => list,
        None if management => return Err(MetadataError::missing("redirect_uris")),
        None => Vec::new(),
    };
    for uri in &redirect_uris {
        if uri.len() > max_uri_len {
            return Err(MetadataError::redirect_uri(format!(
                "a redirect URI has at most {max_uri_len} bytes: {}",
                shorten(uri)
            )));
        }
        validate_redirect_uri(uri)
            .map_err(|e| MetadataError::redirect_uri(format!("{e}: {}", shorten(uri))))?;
    }
    let needs_redirect = grant_types
        .iter()
        .any(|g| matches!(g, GrantType::AuthorizationCode | GrantType::Implicit));
    if needs_redirect && redirect_uris.is_empty() {
        return Err(MetadataError::redirect_uri(
            "at least one redirect URI is required for the authorization code and implicit grants",
        ));
    }

    let post_logout_redirect_uris =
        opt_string_list(doc, "post_logout_redirect_uris", max_uris)?.unwrap_or_default();
    for uri in &post_logout_redirect_uris {
        check_len("post_logout_redirect_uris", uri, max_uri_len)?;
        validate_redirect_uri(uri).map_err(|e| {
            MetadataError::invalid(
                "post_logout_redirect_uris",
                format!("{e}: {}", shorten(uri)),
            )
        })?;
    }

    let allowed_scopes = if management {
        match opt_string_list(doc, "allowed_scopes", MAX_LIST)? {
            Some(list) => {
                let mut scopes = Scopes::new();
                for value in &list {
                    match Scopes::parse(value) {
                        Ok(one) if one.len() == 1 && one.to_string() == *value => {
                            scopes.insert(value)
                        }
                        _ => {
                            return Err(MetadataError::invalid(
                                "allowed_scopes",
                                format!("not a single scope value: {:?}", shorten(value)),
                            ))
                        }
                    }
                }
                scopes
            }
            None => default_scopes(),
        }
    } else {
        match opt_string(doc, "scope")? {
            Some(s) => {
                check_len("scope", &s, REG_MAX_SCOPE)?;
                Scopes::parse(&s).map_err(|_| MetadataError::invalid("scope", "malformed scope"))?
            }
            None => default_scopes(),
        }
    };

    // Browsers at these origins may call the token endpoint with this client's credentials
    // flow: an administrator's decision, which dynamic registration cannot make.
    let allowed_origins = match management {
        true => opt_string_list(doc, "allowed_origins", MAX_LIST)?.unwrap_or_default(),
        false => Vec::new(),
    };
    for origin in &allowed_origins {
        validate_origin(origin)?;
    }
    let logo_uri = opt_web_uri(doc, "logo_uri", max_uri_len)?;
    let logo_dark_mode_uri = opt_web_uri(doc, "logo_dark_mode_uri", max_uri_len)?;
    let description = opt_string(doc, "description")?;
    let max_description = match management {
        true => MAX_DESCRIPTION,
        false => REG_MAX_DESCRIPTION,
    };
    if description
        .as_ref()
        .is_some_and(|d| d.chars().count() > max_description)
    {
        return Err(MetadataError::invalid(
            "description",
            format!("at most {max_description} characters"),
        ));
    }
    // PKCE is required unless the administrator exempts a confidential client; dynamically
    // registered clients cannot exempt themselves.
    let require_pkce = !management
        || !auth_method.is_confidential()
        || opt_bool(doc, "require_pkce")?.unwrap_or(true);
    let allow_plain_pkce = management && opt_bool(doc, "allow_plain_pkce")?.unwrap_or(false);
    if allow_plain_pkce && !auth_method.is_confidential() {
        return Err(MetadataError::invalid(
            "allow_plain_pkce",
            "public clients must use S256",
        ));
    }

    let metadata = if management {
        match doc.get("metadata") {
            None | Some(Value::Null) => BTreeMap::new(),
            Some(Value::Object(m)) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            Some(_) => return Err(MetadataError::wrong_type("metadata", "an object")),
        }
    } else {
        registration_extras(doc)?
    };
    if management {
        let known = [
            "name",
            "description",
            "redirect_uris",
            "post_logout_redirect_uris",
            "id_token_signed_response_alg",
            "token_endpoint_auth_method",
            "grant_types",
            "response_types",
            "allowed_scopes",
            "allowed_origins",
            "logo_uri",
            "logo_dark_mode_uri",
            "require_pkce",
            "allow_plain_pkce",
            "introspect_any_token",
            "refresh_grace_seconds",
            "refresh_grace_reuses",
            "allowed_resources",
            "userinfo_signed_response_alg",
            "metadata",
        ];
        if let Some(unknown) = doc
            .keys()
            .find(|k| !known.contains(&k.as_str()) && !READ_ONLY.contains(&k.as_str()))
        {
            return Err(MetadataError::new(
                unknown,
                MetadataErrorKind::UnknownField,
                "unknown field",
            ));
        }
    }

    let introspect_any_token =
        management && opt_bool(doc, "introspect_any_token")?.unwrap_or(false);
    if introspect_any_token && !auth_method.is_confidential() {
        return Err(MetadataError::invalid(
            "introspect_any_token",
            "only a confidential client may introspect",
        ));
    }

    let refresh_grace = if management {
        refresh_grace(doc)?
    } else {
        None
    };
    let allowed_resources = if management {
        allowed_resources(doc)?
    } else {
        Vec::new()
    };

    Ok(ClientSettings {
        name,
        description,
        redirect_uris,
        post_logout_redirect_uris,
        id_token_signed_response_alg: alg,
        token_endpoint_auth_method: auth_method,
        grant_types,
        response_types,
        allowed_scopes,
        allowed_origins,
        logo_uri,
        logo_dark_mode_uri,
        require_pkce,
        allow_plain_pkce,
        introspect_any_token,
        refresh_grace,
        allowed_resources,
        userinfo_signed_response_alg: userinfo_alg,
        metadata,
    })
}

/// `allowed_resources`: at most 16 absolute URIs without a fragment (RFC 8707 §2), each at most
/// 512 bytes.
fn allowed_resources(doc: &Map<String, Value>) -> Result<Vec<String>, MetadataError> {
    let Some(list) = opt_string_list(doc, "allowed_resources", 16)? else {
        return Ok(Vec::new());
    };
    let mut out: Vec<String> = Vec::new();
    for resource in list {
        let ok = resource.len() <= 512
            && url::Url::parse(&resource).is_ok_and(|u| u.fragment().is_none());
        if !ok {
            return Err(MetadataError::invalid(
                "allowed_resources",
                format!(
                    "not an absolute URI without a fragment: {}",
                    shorten(&resource)
                ),
            ));
        }
        if !out.contains(&resource) {
            out.push(resource);
        }
    }
    Ok(out)
}

/// `refresh_grace_seconds` (0 to 300; 0 switches grace off for this client) and
/// `refresh_grace_reuses` (0 to 10, default 3, only with `refresh_grace_seconds`); neither:
/// the provider's grace applies.
fn refresh_grace(doc: &Map<String, Value>) -> Result<Option<RefreshGrace>, MetadataError> {
    let seconds = opt_u32(doc, "refresh_grace_seconds")?;
    let reuses = opt_u32(doc, "refresh_grace_reuses")?;
    let Some(seconds) = seconds else {
        return match reuses {
            None => Ok(None),
            Some(_) => Err(MetadataError::invalid(
                "refresh_grace_reuses",
                "needs refresh_grace_seconds",
            )),
        };
    };
    if seconds > RefreshGrace::MAX_WINDOW_SECONDS {
        return Err(MetadataError::invalid(
            "refresh_grace_seconds",
            format!("at most {}", RefreshGrace::MAX_WINDOW_SECONDS),
        ));
    }
    let reuses = reuses.unwrap_or(RefreshGrace::DEFAULT_REUSES);
    RefreshGrace::new(seconds, reuses)
        .map(Some)
        .map_err(|e| MetadataError::invalid("refresh_grace_reuses", e.to_string()))
}

fn opt_u32(doc: &Map<String, Value>, field: &str) -> Result<Option<u32>, MetadataError> {
    match doc.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| MetadataError::wrong_type(field, "a non-negative integer")),
    }
}

fn default_scopes() -> Scopes {
    Scopes::from_values(scope::SUPPORTED).unwrap_or_default()
}

/// Grant and response types, with the defaults and consistency rules of RFC 7591 §2.1: each
/// response type needs its grant (`code` → `authorization_code`; `id_token`, `token` →
/// `implicit`). When only one list is given the other is derived from it.
fn grants_and_responses(
    doc: &Map<String, Value>,
    management: bool,
    password_grant_enabled: bool,
) -> Result<(Vec<GrantType>, Vec<ResponseType>), MetadataError> {
    let grants = match opt_string_list(doc, "grant_types", MAX_LIST)? {
        None => None,
        Some(list) => {
            let mut out = Vec::new();
            for g in &list {
                let grant = GrantType::parse(g).ok_or_else(|| {
                    MetadataError::invalid(
                        "grant_types",
                        format!("unsupported grant type: {}", shorten(g)),
                    )
                })?;
                if grant == GrantType::Password && !(management && password_grant_enabled) {
                    let why = match password_grant_enabled {
                        false => "the password grant is not enabled on this provider",
                        true => "only the administrator may give a client the password grant",
                    };
                    return Err(MetadataError::invalid("grant_types", why));
                }
                if grant == GrantType::TokenExchange && !management {
                    return Err(MetadataError::invalid(
                        "grant_types",
                        "only the administrator may give a client token exchange",
                    ));
                }
                if !out.contains(&grant) {
                    out.push(grant);
                }
            }
            Some(out)
        }
    };
    let responses = match opt_string_list(doc, "response_types", MAX_LIST)? {
        None => None,
        Some(list) => {
            let mut out = Vec::new();
            for r in &list {
                let rt = ResponseType::parse(r).ok_or_else(|| {
                    MetadataError::invalid(
                        "response_types",
                        format!("unsupported response type: {}", shorten(r)),
                    )
                })?;
                if !out.contains(&rt) {
                    out.push(rt);
                }
            }
            Some(out)
        }
    };
    let (grants, responses) = match (grants, responses) {
        (None, None) if management => (
            vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            vec![ResponseType::CODE],
        ),
        (None, None) => (vec![GrantType::AuthorizationCode], vec![ResponseType::CODE]),
        (Some(g), None) => {
            let mut r = Vec::new();
            if g.contains(&GrantType::AuthorizationCode) {
                r.push(ResponseType::CODE);
            }
            if g.contains(&GrantType::Implicit) {
                r.extend([ResponseType::ID_TOKEN, ResponseType::ID_TOKEN_TOKEN]);
            }
            (g, r)
        }
        (None, Some(r)) => {
            let mut g: Vec<GrantType> = Vec::new();
            for grant in r.iter().flat_map(|rt| rt.required_grants()) {
                if !g.contains(&grant) {
                    g.push(grant);
                }
            }
            (g, r)
        }
        (Some(g), Some(r)) => (g, r),
    };
    for rt in &responses {
        if let Some(missing) = rt.required_grants().find(|needed| !grants.contains(needed)) {
            return Err(MetadataError::invalid(
                "grant_types",
                format!(
                    "response type {rt} needs the {} grant type",
                    missing.as_str()
                ),
            ));
        }
    }
    if grants.contains(&GrantType::Implicit)
        && !responses.iter().any(|r| r.has_front_channel_tokens())
    {
        return Err(MetadataError::invalid(
            "response_types",
            "the implicit grant needs an id_token or token response type",
        ));
    }
    if grants.contains(&GrantType::AuthorizationCode) && !responses.iter().any(|r| r.code) {
        return Err(MetadataError::invalid(
            "response_types",
            "the authorization_code grant needs a code response type",
        ));
    }
    Ok((grants, responses))
}

/// Unknown registration members are kept and returned (RFC 7591 §2 lets a server ignore them);
/// known but unsupported ones are refused so a client never believes it got them.
fn registration_extras(doc: &Map<String, Value>) -> Result<BTreeMap<String, Value>, MetadataError> {
    let unsupported_if_set = [
        (
            "id_token_encrypted_response_alg",
            "encrypted ID tokens are not supported",
        ),
        (
            "id_token_encrypted_response_enc",
            "encrypted ID tokens are not supported",
        ),
        (
            "userinfo_encrypted_response_alg",
            "encrypted UserInfo responses are not supported",
        ),
        (
            "userinfo_encrypted_response_enc",
            "encrypted UserInfo responses are not supported",
        ),
        (
            "request_object_encryption_alg",
            "request objects are not supported",
        ),
        ("request_uris", "request_uri is not supported"),
    ];
    for (field, why) in unsupported_if_set {
        if doc.get(field).is_some_and(|v| !v.is_null()) {
            return Err(MetadataError::invalid(field, why));
        }
    }
    if let Some(v) = doc.get("subject_type").filter(|v| !v.is_null()) {
        if v.as_str() != Some("public") {
            return Err(MetadataError::invalid(
                "subject_type",
                "only public subject identifiers are supported",
            ));
        }
    }
    if let Some(v) = doc.get("application_type").filter(|v| !v.is_null()) {
        if !matches!(v.as_str(), Some("web" | "native")) {
            return Err(MetadataError::invalid(
                "application_type",
                "must be web or native",
            ));
        }
    }
    let mut extras = BTreeMap::new();
    let mut extras_len = 0usize;
    for (key, value) in doc {
        let key_str = key.as_str();
        // Settings only an administrator may make are neither applied nor kept (and so not
        // echoed back as if they had been): RFC 7591 section 3.2.1 lets a server replace
        // metadata values it does not accept.
        if MANAGEMENT_ONLY.contains(&key_str) {
            continue;
        }
        if !REGISTRATION_KNOWN.contains(&key_str) && !READ_ONLY.contains(&key_str) {
            if extras.len() == MAX_LIST {
                return Err(MetadataError::invalid(key, "too many metadata members"));
            }
            extras_len = extras_len
                .saturating_add(key.len())
                .saturating_add(json_len(value));
            if extras_len > REG_MAX_EXTRAS {
                return Err(MetadataError::invalid(
                    key,
                    format!(
                        "the members this provider does not use hold at most {REG_MAX_EXTRAS} \
                         bytes in all"
                    ),
                ));
            }
            extras.insert(key.clone(), value.clone());
        }
    }
    Ok(extras)
}

/// An origin: `scheme://host[:port]`, https or http on loopback, nothing else.
fn validate_origin(origin: &str) -> Result<(), MetadataError> {
    let bad = || {
        MetadataError::invalid(
            "allowed_origins",
            format!("not an origin: {}", shorten(origin)),
        )
    };
    let url = url::Url::parse(origin).map_err(|_| bad())?;
    if url.scheme() == "http" && validate_web_uri(origin).is_err() {
        return Err(MetadataError::invalid(
            "allowed_origins",
            format!(
                "an http origin must be on a loopback host; use https: {}",
                shorten(origin)
            ),
        ));
    }
    validate_web_uri(origin).map_err(|_| bad())?;
    if url.origin().ascii_serialization() != origin {
        return Err(bad());
    }
    Ok(())
}

fn opt_bool(doc: &Map<String, Value>, field: &str) -> Result<Option<bool>, MetadataError> {
    match doc.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(MetadataError::wrong_type(field, "a boolean")),
    }
}

fn opt_string(doc: &Map<String, Value>, field: &str) -> Result<Option<String>, MetadataError> {
    match doc.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(MetadataError::wrong_type(field, "a string")),
    }
}

/// A list of at most `max` strings (duplicates dropped).
fn opt_string_list(
    doc: &Map<String, Value>,
    field: &str,
    max: usize,
) -> Result<Option<Vec<String>>, MetadataError> {
    match doc.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => {
            if items.len() > max {
                return Err(MetadataError::invalid(
                    field,
                    format!("at most {max} entries"),
                ));
            }
            let mut out: Vec<String> = Vec::with_capacity(items.len());
            for item in items {
                let s = item
                    .as_str()
                    .ok_or_else(|| MetadataError::wrong_type(field, "an array of strings"))?;
                if !out.iter().any(|o| o == s) {
                    out.push(s.to_owned());
                }
            }
            Ok(Some(out))
        }
        Some(_) => Err(MetadataError::wrong_type(field, "an array of strings")),
    }
}

fn opt_web_uri(
    doc: &Map<String, Value>,
    field: &str,
    max_len: usize,
) -> Result<Option<String>, MetadataError> {
    let value = opt_string(doc, field)?;
    if let Some(uri) = &value {
        check_len(field, uri, max_len)?;
        validate_web_uri(uri)
            .map_err(|e| MetadataError::invalid(field, format!("{e}: {}", shorten(uri))))?;
    }
    Ok(value)
}

/// Refuse a value of `field` longer than `max` bytes.
fn check_len(field: &str, value: &str, max: usize) -> Result<(), MetadataError> {
    if value.len() > max {
        return Err(MetadataError::invalid(
            field,
            format!("at most {max} bytes: {}", shorten(value)),
        ));
    }
    Ok(())
}

/// The length of `value` as compact JSON, counted without building it.
fn json_len(value: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 = self.0.saturating_add(buf.len());
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    match serde_json::to_writer(&mut count, value) {
        Ok(()) => count.0,
        Err(_) => usize::MAX,
    }
}

fn shorten(s: &str) -> String {
    s.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mgmt(v: Value) -> Result<ClientSettings, MetadataError> {
        validate(v.as_object().unwrap(), MetadataSource::Management, false)
    }
    fn reg(v: Value) -> Result<ClientSettings, MetadataError> {
        validate(v.as_object().unwrap(), MetadataSource::Registration, false)
    }
    fn base() -> Value {
        json!({
            "name": "App",
            "redirect_uris": ["https://app.example/cb"],
            "id_token_signed_response_alg": "RS256",
            "token_endpoint_auth_method": "none"
        })
    }

    #[test]
    fn management_required_fields() {
        for field in [
            "name",
            "redirect_uris",
            "id_token_signed_response_alg",
            "token_endpoint_auth_method",
        ] {
            let mut v = base();
            v.as_object_mut().unwrap().remove(field);
            let err = mgmt(v).unwrap_err();
            assert_eq!(
                (err.field.as_str(), err.kind.code()),
                (field, "missing_field")
            );
        }
    }

    #[test]
    fn management_refuses_unknown_but_accepts_read_only() {
        let mut v = base();
        v["id"] = json!("x");
        v["date_created"] = json!("2020-01-01T00:00:00Z");
        assert!(mgmt(v.clone()).is_ok());
        v["colour"] = json!("blue");
        assert_eq!(mgmt(v).unwrap_err().kind, MetadataErrorKind::UnknownField);
    }

    #[test]
    fn public_clients_require_pkce() {
        assert!(mgmt(base()).unwrap().require_pkce);
    }

    #[test]
    fn bad_values_name_their_field() {
        let cases = [
            ("id_token_signed_response_alg", json!("HS256")),
            ("token_endpoint_auth_method", json!("private_key_jwt")),
            ("redirect_uris", json!("https://app.example/cb")),
            ("redirect_uris", json!([1])),
            (
                "grant_types",
                json!(["urn:ietf:params:oauth:grant-type:device_code"]),
            ),
            ("allowed_origins", json!(["https://app.example/path"])),
            ("logo_uri", json!("javascript:alert(1)")),
            ("name", json!("")),
        ];
        for (field, value) in cases {
            let mut v = base();
            v[field] = value;
            let err = mgmt(v).unwrap_err();
            assert_eq!(err.field, field);
        }
    }

    #[test]
    fn registration_defaults() {
        let s = reg(json!({"redirect_uris": ["https://rp.example/cb"]})).unwrap();
        assert_eq!(s.token_endpoint_auth_method, AuthMethod::ClientSecretBasic);
        assert_eq!(s.id_token_signed_response_alg, Algorithm::Rs256);
        assert_eq!(s.grant_types, vec![GrantType::AuthorizationCode]);
        assert_eq!(s.response_types, vec![ResponseType::CODE]);
    }

    #[test]
    fn registration_derives_grants_from_response_types() {
        let s = reg(json!({"redirect_uris": ["https://rp.example/cb"], "response_types": ["code id_token"]})).unwrap();
        assert_eq!(
            s.grant_types,
            vec![GrantType::AuthorizationCode, GrantType::Implicit]
        );
    }

    #[test]
    fn registration_inconsistent_types() {
        let err = reg(json!({
            "redirect_uris": ["https://rp.example/cb"],
            "grant_types": ["authorization_code"],
            "response_types": ["id_token"]
        }))
        .unwrap_err();
        assert_eq!(err.field, "grant_types");
    }

    #[test]
    fn registration_keeps_unknown_members() {
        let s =
            reg(json!({"redirect_uris": ["https://rp.example/cb"], "contacts": ["a@rp.example"]}))
                .unwrap();
        assert_eq!(s.metadata["contacts"], json!(["a@rp.example"]));
    }

    #[test]
    fn registration_refuses_unsupported_features() {
        let err = reg(json!({"redirect_uris": ["https://rp.example/cb"], "id_token_encrypted_response_alg": "RSA-OAEP"})).unwrap_err();
        assert_eq!(err.field, "id_token_encrypted_response_alg");
        assert_ne!(err.kind, MetadataErrorKind::InvalidRedirectUri);
    }

    #[test]
    fn a_registration_stays_small() {
        let uri = |len: usize| format!("https://rp.example/{}", "a".repeat(len - 19));
        let ok = |v: Value| {
            reg(v.clone()).unwrap_or_else(|e| panic!("{v} refused: {e}"));
        };
        let refused = |v: Value, field: &str, kind: MetadataErrorKind| {
            let err = reg(v.clone()).unwrap_err();
            assert_eq!((err.field.as_str(), err.kind), (field, kind), "{v}");
        };
        let invalid = MetadataErrorKind::InvalidValue;
        // At the caps (a scope value has at most 128 bytes).
        let scope_of_1024_bytes = (0..8)
            .map(|i| format!("{i}{}", "s".repeat(if i == 0 { 127 } else { 126 })))
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(scope_of_1024_bytes.len(), 1024);
        let uris: Vec<String> = (0..16).map(|i| format!("{}{i:02}", uri(510))).collect();
        ok(json!({
            "redirect_uris": uris,
            "post_logout_redirect_uris": uris,
            "logo_uri": uri(512),
            "description": "é".repeat(1024),
            "scope": scope_of_1024_bytes,
            "contacts": ["x".repeat(4096 - 8 - 4)],
        }));
        // One past each.
        let small = json!({"redirect_uris": ["https://rp.example/cb"]});
        let with = |field: &str, value: Value| {
            let mut v = small.clone();
            v[field] = value;
            v
        };
        let seventeen: Vec<String> = (0..17).map(|i| format!("https://rp.example/{i}")).collect();
        refused(
            with("redirect_uris", json!(seventeen)),
            "redirect_uris",
            invalid,
        );
        refused(
            with("redirect_uris", json!([uri(513)])),
            "redirect_uris",
            MetadataErrorKind::InvalidRedirectUri,
        );
        let field = "post_logout_redirect_uris";
        refused(with(field, json!(seventeen)), field, invalid);
        refused(with(field, json!([uri(513)])), field, invalid);
        refused(with("logo_uri", json!(uri(513))), "logo_uri", invalid);
        refused(
            with("description", json!("d".repeat(1025))),
            "description",
            invalid,
        );
        refused(with("scope", json!("s".repeat(1025))), "scope", invalid);
        refused(
            with("contacts", json!(["x".repeat(4096 - 8 - 3)])),
            "contacts",
            invalid,
        );
        // Many small unknown members add up.
        let mut many = small.clone();
        for i in 0..40 {
            many[format!("m{i:02}")] = json!("v".repeat(100));
        }
        assert_eq!(reg(many).unwrap_err().kind, invalid);
        // The administrator's API keeps its own, larger caps.
        let mut v = base();
        v["redirect_uris"] = json!(seventeen);
        v["description"] = json!("d".repeat(4096));
        v["logo_uri"] = json!(uri(2048));
        assert!(mgmt(v).is_ok());
    }

    #[test]
    fn password_grant_only_when_enabled() {
        let mut v = base();
        v["token_endpoint_auth_method"] = json!("client_secret_basic");
        v["grant_types"] = json!(["password"]);
        v["redirect_uris"] = json!([]);
        assert!(mgmt(v.clone()).is_err());
        assert!(validate(v.as_object().unwrap(), MetadataSource::Management, true).is_ok());
    }

    #[test]
    fn client_credentials_only_client_needs_no_redirect() {
        let v = json!({
            "name": "Service",
            "redirect_uris": [],
            "id_token_signed_response_alg": "ES256",
            "token_endpoint_auth_method": "client_secret_post",
            "grant_types": ["client_credentials"]
        });
        assert!(mgmt(v).is_ok());
    }
}
