//! The discovery document (OpenID Connect Discovery 1.0 §3, RFC 8414) and the JWKS.
//!
//! Both are built once, when the provider is created or its keys change, and served from
//! memory.

use serde::Serialize;

use crate::client::{AuthMethod, GrantType, ResponseType};
use crate::config::{Config, Endpoint};
use crate::flow::authorize::ResponseMode;
use crate::http::HttpResponse;
use crate::jose::KeySet;
use crate::store::{Store, UserStore};
use crate::Provider;

#[derive(Serialize)]
struct Document<'a> {
    issuer: &'a str,
    authorization_endpoint: String,
    token_endpoint: String,
    userinfo_endpoint: String,
    jwks_uri: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    registration_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    revocation_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    introspection_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    end_session_endpoint: Option<String>,
    scopes_supported: &'a [&'a str],
    response_types_supported: Vec<&'static str>,
    response_modes_supported: Vec<&'static str>,
    grant_types_supported: Vec<&'static str>,
    subject_types_supported: [&'static str; 1],
    id_token_signing_alg_values_supported: Vec<&'static str>,
    userinfo_signing_alg_values_supported: Vec<&'static str>,
    token_endpoint_auth_methods_supported: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    revocation_endpoint_auth_methods_supported: Option<Vec<&'static str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    introspection_endpoint_auth_methods_supported: Option<Vec<&'static str>>,
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
    let listed = |endpoint| config.endpoint_path(endpoint).map(url);
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
        registration_endpoint: listed(Endpoint::Registration),
        revocation_endpoint: listed(Endpoint::Revocation),
        introspection_endpoint: listed(Endpoint::Introspection),
        end_session_endpoint: listed(Endpoint::EndSession),
        scopes_supported: &crate::scope::SUPPORTED,
        response_types_supported: ResponseType::ALL.iter().map(|r| r.as_str()).collect(),
        response_modes_supported: ResponseMode::ALL.iter().map(|m| m.as_str()).collect(),
        grant_types_supported: GrantType::ALL
            .iter()
            .filter(|g| **g != GrantType::Password || config.password_grant_enabled)
            .filter(|g| **g != GrantType::TokenExchange || config.token_exchange_enabled)
            .map(|g| g.as_str())
            .collect(),
        subject_types_supported: ["public"],
        id_token_signing_alg_values_supported: keys.algorithms().map(|a| a.as_str()).collect(),
        userinfo_signing_alg_values_supported: keys.algorithms().map(|a| a.as_str()).collect(),
        token_endpoint_auth_methods_supported: auth_methods.clone(),
        revocation_endpoint_auth_methods_supported: config
            .paths
            .revocation
            .is_some()
            .then(|| auth_methods.clone()),
        introspection_endpoint_auth_methods_supported: config
            .paths
            .introspection
            .is_some()
            .then_some(confidential_methods),
        // `plain` is accepted only from confidential clients configured for it (a migration
        // aid), so it is not advertised.
        code_challenge_methods_supported: vec!["S256"],
        claims_supported: &crate::claims::SUPPORTED,
        prompt_values_supported: ["none", "login", "consent", "select_account"],
        claims_parameter_supported: false,
        request_parameter_supported: false,
        request_uri_parameter_supported: false,
        authorization_response_iss_parameter_supported: true,
    };
    serde_json::to_vec(&doc).unwrap_or_default()
}

impl<S: Store, U: UserStore> Provider<S, U> {
    /// `GET /.well-known/openid-configuration`.
    pub fn discovery(&self) -> HttpResponse {
        HttpResponse::json(200, self.published().discovery_json.clone())
            .with_header("cache-control", "public, max-age=300")
    }

    /// `GET` the JWKS: every key's public part, so tokens signed with retired keys still verify.
    pub fn jwks(&self) -> HttpResponse {
        HttpResponse::json(200, self.published().jwks_json.clone())
            .set_header("content-type", "application/jwk-set+json")
            .with_header("cache-control", "public, max-age=300")
    }

    /// The discovery document as JSON bytes.
    pub fn discovery_json(&self) -> Vec<u8> {
        self.published().discovery_json.clone()
    }

    /// The JWKS as JSON bytes.
    pub fn jwks_json(&self) -> Vec<u8> {
        self.published().jwks_json.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RegistrationPolicy;

    fn doc(config: &Config) -> serde_json::Value {
        serde_json::from_slice(&document(config, &KeySet::new())).unwrap()
    }

    #[test]
    fn lists_exactly_the_endpoints_switched_on() {
        let mut config = Config::new("https://op.example").unwrap();
        let d = doc(&config);
        for member in [
            "revocation_endpoint",
            "introspection_endpoint",
            "end_session_endpoint",
            "revocation_endpoint_auth_methods_supported",
        ] {
            assert!(d.get(member).is_some(), "{member}");
        }
        // Registration is closed by default: neither listed nor among the endpoints.
        assert!(d.get("registration_endpoint").is_none());
        assert_eq!(config.endpoint_path(Endpoint::Registration), None);

        config.paths.revocation = None;
        config.paths.introspection = None;
        config.paths.end_session = None;
        config.registration = RegistrationPolicy::Open;
        let d = doc(&config);
        for member in [
            "revocation_endpoint",
            "introspection_endpoint",
            "end_session_endpoint",
            "revocation_endpoint_auth_methods_supported",
            "introspection_endpoint_auth_methods_supported",
        ] {
            assert!(d.get(member).is_none(), "{member}");
        }
        assert_eq!(d["registration_endpoint"], "https://op.example/register");
        let listed: Vec<Endpoint> = config.endpoints().into_iter().map(|(e, _)| e).collect();
        assert_eq!(
            listed,
            [
                Endpoint::Discovery,
                Endpoint::Authorization,
                Endpoint::Token,
                Endpoint::UserInfo,
                Endpoint::Jwks,
                Endpoint::Registration,
            ]
        );
    }
}
