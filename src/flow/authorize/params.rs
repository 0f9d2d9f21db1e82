//! The raw parameters of an authorization request.

use crate::config::Config;
use crate::error::Error;
use crate::http::{parse_form_keep_first, FormParams, HttpRequest, ParamsFrom};

/// Longest value accepted for `state` and `nonce`.
pub(crate) const MAX_STATE_LEN: usize = 2048;

/// The parameters of an authorization request, as sent (OpenID Connect Core §3.1.2.1).
/// Each is `None` when absent or empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthorizationParams {
    /// `response_type`
    pub response_type: Option<String>,
    /// `client_id`
    pub client_id: Option<String>,
    /// `redirect_uri`
    pub redirect_uri: Option<String>,
    /// `scope`
    pub scope: Option<String>,
    /// `state`
    pub state: Option<String>,
    /// `response_mode`
    pub response_mode: Option<String>,
    /// `nonce`
    pub nonce: Option<String>,
    /// `prompt`
    pub prompt: Option<String>,
    /// `max_age`
    pub max_age: Option<String>,
    /// `login_hint`
    pub login_hint: Option<String>,
    /// `id_token_hint`
    pub id_token_hint: Option<String>,
    /// `code_challenge`
    pub code_challenge: Option<String>,
    /// `code_challenge_method`
    pub code_challenge_method: Option<String>,
    /// `request` (request objects are not supported)
    pub request: Option<String>,
    /// `request_uri` (not supported)
    pub request_uri: Option<String>,
    /// `registration` (not supported)
    pub registration: Option<String>,
    /// `resource` (RFC 8707): one of the client's allowed resources; one per request.
    pub resource: Option<String>,
    /// The first parameter sent more than once (its first value is kept above). The request is
    /// refused: with an error page when it is `client_id` or `redirect_uri`, otherwise with an
    /// `invalid_request` redirect once the client is trusted.
    pub duplicate: Option<String>,
}

impl AuthorizationParams {
    /// Read the parameters of a GET (query) or POST (form body) request.
    pub fn from_http(req: &HttpRequest<'_>, config: &Config) -> Result<AuthorizationParams, Error> {
        let text = req.params_text(ParamsFrom::GetOrPost, config)?;
        let (form, duplicate) = parse_form_keep_first(text)?;
        Ok(Self::from_pairs(form).with_duplicate(duplicate))
    }

    /// Read the parameters from decoded form parameters.
    pub fn from_form(form: &FormParams<'_>) -> AuthorizationParams {
        let get = |name: &str| form.get(name).map(str::to_owned);
        AuthorizationParams {
            response_type: get("response_type"),
            client_id: get("client_id"),
            redirect_uri: get("redirect_uri"),
            scope: get("scope"),
            state: get("state"),
            response_mode: get("response_mode"),
            nonce: get("nonce"),
            prompt: get("prompt"),
            max_age: get("max_age"),
            login_hint: get("login_hint"),
            id_token_hint: get("id_token_hint"),
            code_challenge: get("code_challenge"),
            code_challenge_method: get("code_challenge_method"),
            request: get("request"),
            request_uri: get("request_uri"),
            registration: get("registration"),
            resource: get("resource"),
            duplicate: None,
        }
    }

    /// Read the parameters, moving the decoded values instead of copying them.
    fn from_pairs(form: FormParams<'_>) -> AuthorizationParams {
        let mut p = AuthorizationParams::default();
        for (name, value) in form.into_pairs() {
            let slot = match name.as_ref() {
                "response_type" => &mut p.response_type,
                "client_id" => &mut p.client_id,
                "redirect_uri" => &mut p.redirect_uri,
                "scope" => &mut p.scope,
                "state" => &mut p.state,
                "response_mode" => &mut p.response_mode,
                "nonce" => &mut p.nonce,
                "prompt" => &mut p.prompt,
                "max_age" => &mut p.max_age,
                "login_hint" => &mut p.login_hint,
                "id_token_hint" => &mut p.id_token_hint,
                "code_challenge" => &mut p.code_challenge,
                "code_challenge_method" => &mut p.code_challenge_method,
                "request" => &mut p.request,
                "request_uri" => &mut p.request_uri,
                "registration" => &mut p.registration,
                "resource" => &mut p.resource,
                _ => continue,
            };
            *slot = Some(value.into_owned());
        }
        p
    }

    fn with_duplicate(mut self, duplicate: Option<String>) -> Self {
        self.duplicate = duplicate;
        self
    }
}
