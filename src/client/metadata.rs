//! Validating client metadata from the two ways clients are created: the management API
//! (`POST /clients`, `PUT /clients/{id}`) and RFC 7591 dynamic registration. Both produce
//! [`ClientSettings`]; every refusal names the offending field.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};

use super::redirect::{validate_redirect_uri, validate_web_uri};
use super::{AuthMethod, ClientSettings, GrantType, ResponseType};
use crate::jose::Algorithm;
use crate::scope::{self, Scopes};

/// Longest `name` / `client_name`.
const MAX_NAME: usize = 256;
/// Longest `description`.
const MAX_DESCRIPTION: usize = 4096;
/// Most entries in a list field.
const MAX_LIST: usize = 64;

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
const MANAGEMENT_ONLY: [&str; 4] = [
    "require_pkce",
    "allow_plain_pkce",
    "introspect_any_token",
    "allowed_origins",
];

const REGISTRATION_KNOWN: [&str; 11] = [
    "client_name",
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

    let redirect_uris = match opt_string_list(doc, "redirect_uris")? {
        Some(list) => list,
        None if management => return Err(MetadataError::missing("redirect_uris")),
        None => Vec::new(),
    };
    for uri in &redirect_uris {
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
        opt_string_list(doc, "post_logout_redirect_uris")?.unwrap_or_default();
    for uri in &post_logout_redirect_uris {
        validate_redirect_uri(uri).map_err(|e| {
            MetadataError::invalid(
                "post_logout_redirect_uris",
                format!("{e}: {}", shorten(uri)),
            )
        })?;
    }

    let allowed_scopes = if management {
        match opt_string_list(doc, "allowed_scopes")? {
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
                Scopes::parse(&s).map_err(|_| MetadataError::invalid("scope", "malformed scope"))?
            }
            None => default_scopes(),
        }
    };

    // Browsers at these origins may call the token endpoint with this client's credentials
    // flow: an administrator's decision, which dynamic registration cannot make.
    let allowed_origins = match management {
        true => opt_string_list(doc, "allowed_origins")?.unwrap_or_default(),
        false => Vec::new(),
    };
    for origin in &allowed_origins {
        validate_origin(origin)?;
    }
    let logo_uri = opt_web_uri(doc, "logo_uri")?;
    let logo_dark_mode_uri = opt_web_uri(doc, "logo_dark_mode_uri")?;
    let description = opt_string(doc, "description")?;
    if description
        .as_ref()
        .is_some_and(|d| d.chars().count() > MAX_DESCRIPTION)
    {
        return Err(MetadataError::invalid(
            "description",
            format!("at most {MAX_DESCRIPTION} characters"),
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
        metadata,
    })
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
    let grants = match opt_string_list(doc, "grant_types")? {
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
                if !out.contains(&grant) {
                    out.push(grant);
                }
            }
            Some(out)
        }
    };
    let responses = match opt_string_list(doc, "response_types")? {
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
    if let Some(v) = doc
        .get("userinfo_signed_response_alg")
        .filter(|v| !v.is_null())
    {
        if v.as_str() != Some("none") {
            return Err(MetadataError::invalid(
                "userinfo_signed_response_alg",
                "signed UserInfo responses are not supported",
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

fn opt_string_list(
    doc: &Map<String, Value>,
    field: &str,
) -> Result<Option<Vec<String>>, MetadataError> {
    match doc.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => {
            if items.len() > MAX_LIST {
                return Err(MetadataError::invalid(
                    field,
                    format!("at most {MAX_LIST} entries"),
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

fn opt_web_uri(doc: &Map<String, Value>, field: &str) -> Result<Option<String>, MetadataError> {
    let value = opt_string(doc, field)?;
    if let Some(uri) = &value {
        validate_web_uri(uri)
            .map_err(|e| MetadataError::invalid(field, format!("{e}: {}", shorten(uri))))?;
    }
    Ok(value)
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
