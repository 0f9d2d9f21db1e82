//! The discovery document (OpenID Connect Discovery 1.0 §3, RFC 8414) and the JWKS.
//!
//! Both are built once, when the provider is created or its keys change, and served from
//! memory.

use serde::Serialize;

use crate::client::{AuthMethod, GrantType, ResponseType};
use crate::config::{Config, RegistrationPolicy};
use crate::flow::authorize::ResponseMode;
use crate::http::HttpResponse;
use crate::jose::KeySet;
use crate::{ClientStore, GrantStore, Provider, UserStore};

#[derive(Serialize)]
struct Document<'a> {
    issuer: &'a str,
    authorization_endpoint: String,
    token_endpoint: String,
    userinfo_endpoint: String,
    jwks_uri: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    registration_endpoint: Option<String>,
    revocation_endpoint: String,
    introspection_endpoint: String,
    end_session_endpoint: String,
    scopes_supported: &'a [&'a str],
    response_types_supported: Vec<&'static str>,
    response_modes_supported: Vec<&'static str>,
    grant_types_supported: Vec<&'static str>,
    subject_types_supported: [&'static str; 1],
    id_token_signing_alg_values_supported: Vec<&'static str>,
    token_endpoint_auth_methods_supported: Vec<&'static str>,
    revocation_endpoint_auth_methods_supported: Vec<&'static str>,
    introspection_endpoint_auth_methods_supported: Vec<&'static str>,
    code_challenge_methods_supported: Vec<&'static str>,
    claims_supported: &'a [&'a str],
    prompt_values_supported: [&'static str; 4],
    claims_parameter_supported: bool,
    request_parameter_supported: bool,
    request_uri_parameter_supported: bool,
    authorization_response_iss_parameter_supported: bool,
}

/// Build the discovery document's JSON.
pub(crate) fn document(config: &Config, keys: &KeySet) -> Vec<u8> {
    let url = |path: &str| config.endpoint_url(path);
    let auth_methods: Vec<&str> = AuthMethod::ALL.iter().map(|m| m.as_str()).collect();
    let confidential_methods: Vec<&str> = auth_methods
        .iter()
        .copied()
        .filter(|m| *m != "none")
        .collect();
    let doc = Document {
        issuer: config.issuer(),
        authorization_endpoint: url(&config.paths.authorization),
        token_endpoint: url(&config.paths.token),
        userinfo_endpoint: url(&config.paths.userinfo),
        jwks_uri: url(&config.paths.jwks),
        registration_endpoint: (config.registration != RegistrationPolicy::Closed)
            .then(|| url(&config.paths.registration)),
        revocation_endpoint: url(&config.paths.revocation),
        introspection_endpoint: url(&config.paths.introspection),
        end_session_endpoint: url(&config.paths.end_session),
        scopes_supported: &crate::scope::SUPPORTED,
        response_types_supported: ResponseType::ALL.iter().map(|r| r.as_str()).collect(),
        response_modes_supported: ResponseMode::ALL.iter().map(|m| m.as_str()).collect(),
        grant_types_supported: GrantType::ALL
            .iter()
            .filter(|g| **g != GrantType::Password || config.password_grant_enabled)
            .map(|g| g.as_str())
            .collect(),
        subject_types_supported: ["public"],
        id_token_signing_alg_values_supported: keys.algorithms().map(|a| a.as_str()).collect(),
        token_endpoint_auth_methods_supported: auth_methods.clone(),
        revocation_endpoint_auth_methods_supported: auth_methods.clone(),
        introspection_endpoint_auth_methods_supported: confidential_methods,
        code_challenge_methods_supported: if config.allow_plain_pkce {
            vec!["S256", "plain"]
        } else {
            vec!["S256"]
        },
        claims_supported: &crate::claims::SUPPORTED,
        prompt_values_supported: ["none", "login", "consent", "select_account"],
        claims_parameter_supported: false,
        request_parameter_supported: false,
        request_uri_parameter_supported: false,
        authorization_response_iss_parameter_supported: true,
    };
    serde_json::to_vec(&doc).unwrap_or_default()
}

impl<C: ClientStore, G: GrantStore, U: UserStore> Provider<C, G, U> {
    /// `GET /.well-known/openid-configuration`.
    pub fn discovery(&self) -> HttpResponse {
        HttpResponse::json(200, self.discovery_json.clone())
            .with_header("cache-control", "public, max-age=300")
    }

    /// `GET` the JWKS: every key's public part, so tokens signed with retired keys still verify.
    pub fn jwks(&self) -> HttpResponse {
        HttpResponse::json(200, self.jwks_json.clone())
            .set_header("content-type", "application/jwk-set+json")
            .with_header("cache-control", "public, max-age=300")
    }

    /// The discovery document as JSON bytes.
    pub fn discovery_json(&self) -> &[u8] {
        &self.discovery_json
    }

    /// The JWKS as JSON bytes.
    pub fn jwks_json(&self) -> &[u8] {
        &self.jwks_json
    }
}
