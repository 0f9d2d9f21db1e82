//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0).
//!
//! [`Provider::logout_request`] validates the request: `id_token_hint` (an ID token this provider
//! issued, expired or not), `client_id`, `post_logout_redirect_uri` (honoured only when
//! registered for that client), `state`. Errors are shown to the user, never redirected. The host
//! then asks the user to confirm when the request is not verifiably from the client
//! ([`LogoutRequest::has_valid_hint`] is false) and calls [`Provider::finish_logout`], which ends
//! the host's session through [`EndSession`] and says where the user goes: back to the client
//! (with `state`) or to the host's own "logged out" page ([`LogoutOutcome`]).

use std::future::Future;

use crate::error::{Error, ErrorKind};
use crate::http::{parse_form, HttpRequest, HttpResponse, ParamsFrom};
use crate::store::StoreError;
use crate::store::{Store, UserStore};
use crate::Provider;

/// The host's side of logout: end the user's login session.
pub trait EndSession: Send + Sync {
    /// End the login session (of `subject`, when the request named one).
    fn end_session(
        &self,
        subject: Option<&str>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// A validated logout request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutRequest {
    client_id: Option<String>,
    client_name: Option<String>,
    subject: Option<String>,
    redirect: Option<String>,
    state: Option<String>,
    valid_hint: bool,
}

impl LogoutRequest {
    /// The client that asked, if known.
    pub fn client_id(&self) -> Option<&str> {
        self.client_id.as_deref()
    }

    /// The client's display name, if known (for the confirmation page).
    pub fn client_name(&self) -> Option<&str> {
        self.client_name.as_deref()
    }

    /// The subject of the `id_token_hint`, if one was sent.
    pub fn subject(&self) -> Option<&str> {
        self.subject.as_deref()
    }

    /// Whether a valid `id_token_hint` came with the request. Without one the request may be a
    /// cross-site forgery: ask the user to confirm.
    pub fn has_valid_hint(&self) -> bool {
        self.valid_hint
    }

    /// The registered post-logout redirect URI the user will be sent to, if any.
    pub fn post_logout_redirect_uri(&self) -> Option<&str> {
        self.redirect.as_deref()
    }
}

/// Where the user goes after logout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogoutOutcome {
    /// Back to the client: the registered post-logout redirect URI, with `state`.
    Redirect(String),
    /// Nowhere in particular: the host shows its "you are logged out" page.
    LoggedOut,
}

impl LogoutOutcome {
    /// A `303` redirect, or a minimal "logged out" page (hosts usually render their own).
    pub fn into_http(self) -> HttpResponse {
        match self {
            LogoutOutcome::Redirect(location) => HttpResponse::redirect(location),
            LogoutOutcome::LoggedOut => HttpResponse::html(
                200,
                "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Logged out</title></head>\
                 <body><h1>You are logged out</h1></body></html>"
                    .to_owned(),
                "default-src 'none'; frame-ancestors 'none'",
            ),
        }
    }
}

impl<S: Store, U: UserStore> Provider<S, U> {
    /// Validate a request at the end-session endpoint (GET query or POST form).
    pub async fn logout_request(&self, req: &HttpRequest<'_>) -> Result<LogoutRequest, Error> {
        let params = parse_form(req.params_text(ParamsFrom::GetOrPost, &self.config)?)?;
        let invalid = |name: &'static str, reason: &'static str| {
            Error::new(ErrorKind::InvalidParameter {
                name,
                reason: reason.into(),
            })
        };

        let (hint_subject, hint_audience) = match params.get("id_token_hint") {
            None => (None, Vec::new()),
            Some(hint) => {
                let hint = self.id_token_hint(hint).ok_or_else(|| {
                    invalid("id_token_hint", "not an ID token issued by this provider")
                })?;
                (Some(hint.subject), hint.audience)
            }
        };
        let client_id = match (params.get("client_id"), hint_audience.as_slice()) {
            (Some(id), aud) if !aud.is_empty() && !aud.iter().any(|a| a == id) => {
                return Err(invalid("client_id", "does not match the id_token_hint"))
            }
            (Some(id), _) => Some(id.to_owned()),
            (None, [only]) => Some(only.clone()),
            (None, _) => None,
        };
        let client = match &client_id {
            Some(id) => Some(
                self.store
                    .client(id)
                    .await?
                    .ok_or(ErrorKind::UnknownClient)?,
            ),
            None => None,
        };
        let redirect = match (params.get("post_logout_redirect_uri"), &client) {
            (None, _) => None,
            (Some(_), None) => {
                return Err(invalid(
                    "post_logout_redirect_uri",
                    "needs client_id or id_token_hint to identify the client",
                ))
            }
            (Some(uri), Some(c))
                if c.settings
                    .post_logout_redirect_uris
                    .iter()
                    .any(|r| r == uri) =>
            {
                Some(uri.to_owned())
            }
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "post_logout_redirect_uri",
                    "not registered for this client",
                ))
            }
        };
        let state = params.get("state").map(str::to_owned);
        if state.as_ref().is_some_and(|s| s.len() > 2048) {
            return Err(invalid("state", "too long"));
        }
        Ok(LogoutRequest {
            client_name: client.as_ref().map(|c| c.settings.name.clone()),
            client_id,
            valid_hint: hint_subject.is_some(),
            subject: hint_subject,
            redirect,
            state,
        })
    }

    /// End the session through the host and say where the user goes next.
    pub async fn finish_logout(
        &self,
        request: &LogoutRequest,
        host: &impl EndSession,
    ) -> Result<LogoutOutcome, Error> {
        host.end_session(request.subject()).await?;
        Ok(match &request.redirect {
            Some(uri) => {
                let mut location = uri.clone();
                if let Some(state) = &request.state {
                    let encoded: String = url::form_urlencoded::Serializer::new(String::new())
                        .append_pair("state", state)
                        .finish();
                    location.push(if location.contains('?') { '&' } else { '?' });
                    location.push_str(&encoded);
                }
                LogoutOutcome::Redirect(location)
            }
            None => LogoutOutcome::LoggedOut,
        })
    }
}
