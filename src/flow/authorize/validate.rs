//! Validating an authorization request. Until the client and its redirect URI are trusted, every
//! error is shown to the user and never redirected (no open redirector); afterwards errors go
//! back to the client.

use std::sync::Arc;

use super::params::{AuthorizationParams, MAX_STATE_LEN};
use super::{AuthorizationResponse, PendingAuthorization, Prompt, ResponseMode};
use crate::client::{Client, GrantType, ResponseType};
use crate::error::{Error, ErrorKind};
use crate::pkce::{ChallengeMethod, CodeChallenge};
use crate::scope::{self, Scopes};
use crate::store::{Store, UserStore};
use crate::Provider;

/// Why a request was refused, and how the refusal is delivered.
pub(super) enum Rejection {
    /// Show an error page (client or redirect URI untrusted).
    Page(Error),
    /// Redirect the error to the client.
    Redirect(AuthorizationResponse),
}

fn page(err: impl Into<Error>) -> Rejection {
    Rejection::Page(err.into())
}

impl<S: Store, U: UserStore> Provider<S, U> {
    pub(super) async fn validate_authorization(
        &self,
        mut p: AuthorizationParams,
    ) -> Result<(PendingAuthorization, Arc<Client>), Rejection> {
        // The client and redirect URI first: nothing is redirected before both are trusted.
        if let Some(dup) = p
            .duplicate
            .as_deref()
            .filter(|d| matches!(*d, "client_id" | "redirect_uri"))
        {
            return Err(page(ErrorKind::DuplicateParameter(dup.to_owned())));
        }
        let client_id = p
            .client_id
            .as_deref()
            .ok_or_else(|| page(ErrorKind::MissingParameter("client_id")))?;
        let client = self
            .store
            .client(client_id)
            .await
            .map_err(page)?
            .ok_or_else(|| page(ErrorKind::UnknownClient))?;
        let wants_openid = p
            .scope
            .as_deref()
            .is_some_and(|s| s.split(' ').any(|t| t == scope::OPENID));
        let (redirect_uri, redirect_uri_sent) = match p.redirect_uri.take() {
            Some(uri) if client.has_redirect_uri(&uri) => (uri, true),
            Some(_) => {
                return Err(page(ErrorKind::UntrustedRedirectUri(
                    "not registered for this client",
                )))
            }
            // OAuth 2.0 lets a client with one registered URI omit it; OpenID Connect does not.
            None => match client.settings.redirect_uris.as_slice() {
                [only] if !wants_openid => (only.clone(), false),
                _ => return Err(page(ErrorKind::MissingParameter("redirect_uri"))),
            },
        };

        // From here on, errors are redirected to the client.
        // RFC 6749 appendix A.5: `state` is visible ASCII and spaces. Any other one is refused
        // and, not being a `state` a client could have sent, not echoed back.
        let raw_state = p.state.take();
        let state_ok = raw_state
            .as_deref()
            .is_none_or(|s| s.bytes().all(|b| (0x20..=0x7e).contains(&b)));
        let state = raw_state.filter(|_| state_ok);
        let response_type = p.response_type.as_deref().and_then(ResponseType::parse);
        let requested_mode = p.response_mode.as_deref().map(ResponseMode::parse);
        let error_mode = match (requested_mode, response_type) {
            (Some(Some(ResponseMode::Query)), Some(rt)) if rt.has_front_channel_tokens() => {
                ResponseMode::Fragment
            }
            (Some(Some(mode)), _) => mode,
            (_, Some(rt)) => ResponseMode::default_for(rt),
            (_, None) => ResponseMode::Query,
        };
        let redirect = |kind: ErrorKind| {
            Rejection::Redirect(AuthorizationResponse::error(
                redirect_uri.clone(),
                error_mode,
                state.as_deref(),
                self.config.issuer(),
                &Error::new(kind),
            ))
        };

        if let Some(dup) = &p.duplicate {
            return Err(redirect(ErrorKind::DuplicateParameter(dup.clone())));
        }
        if p.request.is_some() {
            return Err(redirect(ErrorKind::RequestNotSupported));
        }
        if p.request_uri.is_some() {
            return Err(redirect(ErrorKind::RequestUriNotSupported));
        }
        if p.registration.is_some() {
            return Err(redirect(ErrorKind::RegistrationNotSupported));
        }
        let response_type = match (p.response_type.as_deref(), response_type) {
            (None, _) => return Err(redirect(ErrorKind::MissingParameter("response_type"))),
            (Some(_), None) => return Err(redirect(ErrorKind::UnsupportedResponseType)),
            (Some(_), Some(rt)) => rt,
        };
        if !client.allows_response_type(response_type)
            || response_type
                .required_grants()
                .any(|g| !client.allows_grant(g))
        {
            return Err(redirect(ErrorKind::UnauthorizedClient(
                format!("the client may not use response_type {response_type}").into(),
            )));
        }
        let response_mode = match requested_mode {
            None => ResponseMode::default_for(response_type),
            Some(None) => {
                return Err(redirect(ErrorKind::invalid(
                    "response_mode",
                    "unsupported response_mode",
                )))
            }
            Some(Some(ResponseMode::Query)) if response_type.has_front_channel_tokens() => {
                return Err(redirect(ErrorKind::invalid(
                    "response_mode",
                    "query mode may not carry tokens; use fragment or form_post",
                )))
            }
            Some(Some(mode)) => mode,
        };

        if !state_ok {
            return Err(redirect(ErrorKind::invalid(
                "state",
                "only visible ASCII characters and spaces",
            )));
        }
        if state.as_ref().is_some_and(|s| s.len() > MAX_STATE_LEN) {
            return Err(redirect(ErrorKind::invalid("state", "too long")));
        }
        let scopes = self
            .requested_scopes(&client, p.scope.as_deref(), response_type)
            .map_err(redirect)?;
        let openid = scopes.contains(scope::OPENID);
        if response_type.id_token && !openid {
            return Err(redirect(ErrorKind::invalid(
                "scope",
                "response_type id_token requires the openid scope",
            )));
        }
        let nonce = p.nonce.take();
        if nonce.as_ref().is_some_and(|n| n.len() > MAX_STATE_LEN) {
            return Err(redirect(ErrorKind::invalid("nonce", "too long")));
        }
        if openid && response_type.has_front_channel_tokens() && nonce.is_none() {
            return Err(redirect(ErrorKind::invalid(
                "nonce",
                "required for the implicit and hybrid flows",
            )));
        }
        let prompt = parse_prompt(p.prompt.as_deref()).map_err(redirect)?;
        let max_age = match p.max_age.as_deref() {
            None => None,
            Some(v) => match v.parse::<u32>() {
                Ok(n) => Some(i64::from(n)),
                Err(_) => {
                    return Err(redirect(ErrorKind::invalid(
                        "max_age",
                        "must be a non-negative integer",
                    )))
                }
            },
        };
        let challenge = if response_type.code {
            self.code_challenge(&client, &p).map_err(redirect)?
        } else {
            None
        };
        let hint_subject = match p.id_token_hint.as_deref() {
            None => None,
            Some(hint) => Some(
                self.id_token_hint_subject(hint, &client)
                    .map_err(redirect)?,
            ),
        };
        let login_hint = p.login_hint.take();
        if login_hint.as_ref().is_some_and(|h| h.len() > 512) {
            return Err(redirect(ErrorKind::invalid("login_hint", "too long")));
        }
        let resource = p.resource.take();
        if let Some(r) = &resource {
            client.check_resource(r).map_err(redirect)?;
        }

        let now = self.clock.now();
        let Ok(id) = crate::secret::random_token(&*self.rng, 16) else {
            return Err(redirect(ErrorKind::Random));
        };
        let pending = PendingAuthorization {
            id,
            client_id: client.client_id.clone(),
            client_name: client.settings.name.clone(),
            redirect_uri,
            redirect_uri_sent,
            response_type,
            response_mode,
            scopes,
            state,
            nonce,
            prompt,
            max_age,
            challenge,
            login_hint,
            hint_subject,
            resource,
            login_after: (prompt.login || prompt.select_account).then_some(now),
            created_at: now,
        };
        Ok((pending, client))
    }

    /// The scopes of the request: well-formed, all allowed for the client. `offline_access`
    /// is dropped where no refresh token can follow (no code in the response, or the client may
    /// not use the refresh grant), as OpenID Connect Core §11 asks.
    fn requested_scopes(
        &self,
        client: &Client,
        raw: Option<&str>,
        response_type: ResponseType,
    ) -> Result<Scopes, ErrorKind> {
        let mut scopes = client.requested_scopes(raw)?;
        if !response_type.code || !client.allows_grant(GrantType::RefreshToken) {
            scopes.remove(scope::OFFLINE_ACCESS);
        }
        Ok(scopes)
    }

    /// The PKCE challenge of a request that returns a code.
    fn code_challenge(
        &self,
        client: &Client,
        p: &AuthorizationParams,
    ) -> Result<Option<CodeChallenge>, ErrorKind> {
        let Some(challenge) = p.code_challenge.as_deref() else {
            if p.code_challenge_method.is_some() {
                return Err(ErrorKind::invalid(
                    "code_challenge",
                    "code_challenge_method without code_challenge",
                ));
            }
            if client.is_public() || client.settings.require_pkce {
                return Err(ErrorKind::invalid(
                    "code_challenge",
                    "this client must use PKCE",
                ));
            }
            return Ok(None);
        };
        let method = match p.code_challenge_method.as_deref() {
            None => ChallengeMethod::Plain,
            Some(m) => ChallengeMethod::parse(m).ok_or_else(|| {
                ErrorKind::invalid("code_challenge_method", "must be S256 or plain")
            })?,
        };
        if method == ChallengeMethod::Plain && !client.allows_plain_pkce() {
            return Err(ErrorKind::invalid(
                "code_challenge_method",
                "S256 is required",
            ));
        }
        CodeChallenge::new(challenge, method)
            .map(Some)
            .ok_or_else(|| ErrorKind::invalid("code_challenge", "malformed"))
    }

    /// The subject of an `id_token_hint`: an ID token this provider issued to this client
    /// (expired ones are accepted, as the hint is about identity, not authorization).
    fn id_token_hint_subject(&self, hint: &str, client: &Client) -> Result<String, ErrorKind> {
        self.id_token_hint(hint)
            .filter(|h| h.audience.contains(&client.client_id))
            .map(|h| h.subject)
            .ok_or_else(|| {
                ErrorKind::invalid(
                    "id_token_hint",
                    "not an ID token issued by this provider to this client",
                )
            })
    }
}

/// Parse `prompt` (space-separated; `none` must stand alone).
fn parse_prompt(raw: Option<&str>) -> Result<Prompt, ErrorKind> {
    let mut prompt = Prompt::default();
    for value in raw.unwrap_or("").split(' ').filter(|v| !v.is_empty()) {
        let slot = match value {
            "none" => &mut prompt.none,
            "login" => &mut prompt.login,
            "consent" => &mut prompt.consent,
            "select_account" => &mut prompt.select_account,
            _ => return Err(ErrorKind::invalid("prompt", "unsupported prompt value")),
        };
        *slot = true;
    }
    if prompt.none && (prompt.login || prompt.consent || prompt.select_account) {
        return Err(ErrorKind::invalid(
            "prompt",
            "none may not be combined with other values",
        ));
    }
    Ok(prompt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_values() {
        assert_eq!(parse_prompt(None).unwrap(), Prompt::default());
        let p = parse_prompt(Some("login consent")).unwrap();
        assert!(p.login && p.consent && !p.none);
        assert!(parse_prompt(Some("none login")).is_err());
        assert!(parse_prompt(Some("bogus")).is_err());
    }
}
