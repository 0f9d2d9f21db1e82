//! The authorization endpoint as a state machine the host drives.
//!
//! ```text
//! Received ──parse/validate──▶ Validated ──▶ NeedsLogin ──▶ NeedsConsent ──▶ Issued
//!     │                            │              │               │
//!     └─▶ ErrorPage (client or     └──────────────┴───────────────┴──▶ Failed (error redirected
//!         redirect_uri untrusted)                                       to the client)
//! ```
//!
//! [`Provider::authorize`] takes the request and the host's current login session, if any, and
//! returns an [`AuthorizeOutcome`]. For [`AuthorizeOutcome::Login`] the host shows its login page
//! and, once the user has logged in, calls [`Provider::resume`] with the same
//! [`PendingAuthorization`] and the new [`Session`]; for [`AuthorizeOutcome::Consent`] it shows a
//! consent page listing [`PendingAuthorization::scopes`] and calls [`Provider::resume`] with the
//! user's [`ConsentDecision`]. `prompt`, `max_age`, `id_token_hint` and `offline_access` decide
//! which states are visited.
//!
//! The host keeps the `PendingAuthorization` server-side (for example in its session store,
//! keyed by a random id bound to the user's browser); it must not let the browser edit it.

mod issue;
mod params;
mod response;
mod validate;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

pub use params::AuthorizationParams;
pub use response::{escape_html, AuthorizationResponse, ResponseMode};

use crate::client::{Client, ResponseType};
use crate::error::{Error, ErrorKind};
use crate::http::HttpRequest;
use crate::pkce::CodeChallenge;
use crate::scope::{self, Scopes};
use crate::{ClientStore, GrantStore, Provider, UserStore};

/// The user's login session, as the host knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The user's subject identifier (stable, never reassigned).
    pub subject: String,
    /// When the user last authenticated (entered credentials), per the provider's clock.
    #[serde(with = "time::serde::rfc3339")]
    pub auth_time: OffsetDateTime,
}

/// The user's answer on the consent page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsentDecision {
    /// Consent to the requested scopes, or to the subset given.
    Granted(Option<Scopes>),
    /// Refused: the client receives `access_denied`.
    Denied,
}

/// The `prompt` values of the request (OpenID Connect Core §3.1.2.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prompt {
    /// `none`: no page may be shown.
    pub none: bool,
    /// `login`: the user must authenticate again.
    pub login: bool,
    /// `consent`: the user must consent again.
    pub consent: bool,
    /// `select_account`: the user should pick an account (treated as `login`).
    pub select_account: bool,
}

/// A validated authorization request waiting for the user to log in or consent.
///
/// Keep it server-side between pages; it carries everything needed to finish the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingAuthorization {
    pub(crate) client_id: String,
    pub(crate) client_name: String,
    pub(crate) redirect_uri: String,
    pub(crate) redirect_uri_sent: bool,
    pub(crate) response_type: ResponseType,
    pub(crate) response_mode: ResponseMode,
    pub(crate) scopes: Scopes,
    pub(crate) state: Option<String>,
    pub(crate) nonce: Option<String>,
    pub(crate) prompt: Prompt,
    pub(crate) max_age: Option<i64>,
    pub(crate) challenge: Option<CodeChallenge>,
    pub(crate) login_hint: Option<String>,
    pub(crate) hint_subject: Option<String>,
    /// A login older than this does not satisfy the request (`prompt=login`).
    #[serde(with = "time::serde::rfc3339::option")]
    pub(crate) login_after: Option<OffsetDateTime>,
    /// The subject shown the consent page, once reached.
    pub(crate) consent_subject: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) created_at: OffsetDateTime,
}

impl PendingAuthorization {
    /// The client's `client_id`.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The client's display name (for the login and consent pages).
    pub fn client_name(&self) -> &str {
        &self.client_name
    }

    /// The scopes asked for (after dropping those the client may not have).
    pub fn scopes(&self) -> &Scopes {
        &self.scopes
    }

    /// Whether a refresh token for offline access is asked for (show it on the consent page).
    pub fn wants_offline_access(&self) -> bool {
        self.scopes.contains(scope::OFFLINE_ACCESS)
    }

    /// The `login_hint`, to pre-fill the login form.
    pub fn login_hint(&self) -> Option<&str> {
        self.login_hint.as_deref()
    }

    /// The `prompt` values.
    pub fn prompt(&self) -> Prompt {
        self.prompt
    }

    /// The response type.
    pub fn response_type(&self) -> ResponseType {
        self.response_type
    }

    /// The redirect URI the response will go to.
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// When the request arrived.
    pub fn created_at(&self) -> OffsetDateTime {
        self.created_at
    }

    /// An error response to the client for this request. Crate-private: callers outside must go
    /// through [`Provider::cancel`], which checks the redirect URI is still registered.
    pub(crate) fn error_response(&self, issuer: &str, err: &Error) -> AuthorizationResponse {
        let mut resp = AuthorizationResponse::new(self.redirect_uri.clone(), self.response_mode);
        resp.push("error", err.code().as_str());
        resp.push("error_description", err.description());
        if let Some(state) = &self.state {
            resp.push("state", state.clone());
        }
        resp.push("iss", issuer);
        resp
    }
}

/// What the host does next with an authorization request.
#[derive(Debug)]
pub enum AuthorizeOutcome {
    /// Show the login page; then call [`Provider::resume`] with the session.
    Login(PendingAuthorization),
    /// Show the consent page for [`PendingAuthorization::scopes`]; then call
    /// [`Provider::resume`] with the decision.
    Consent(PendingAuthorization),
    /// Send this response (success or error) to the client through the user agent.
    Respond(AuthorizationResponse),
    /// Show an error page to the user. Never redirect: the client or its redirect URI could not
    /// be trusted.
    ErrorPage(Error),
}

impl<C: ClientStore, G: GrantStore, U: UserStore> Provider<C, G, U> {
    /// Handle a request at the authorization endpoint (GET query or POST form,
    /// OpenID Connect Core §3.1.2.1), given the user's current login session if any.
    pub async fn authorize(
        &self,
        req: &HttpRequest<'_>,
        session: Option<&Session>,
    ) -> AuthorizeOutcome {
        match AuthorizationParams::from_http(req, &self.config) {
            Ok(params) => self.authorize_owned(params, session).await,
            Err(e) => AuthorizeOutcome::ErrorPage(e),
        }
    }

    /// [`Provider::authorize`] for parameters the host parsed itself.
    pub async fn authorize_params(
        &self,
        params: &AuthorizationParams,
        session: Option<&Session>,
    ) -> AuthorizeOutcome {
        self.authorize_owned(params.clone(), session).await
    }

    async fn authorize_owned(
        &self,
        params: AuthorizationParams,
        session: Option<&Session>,
    ) -> AuthorizeOutcome {
        match self.validate_authorization(params).await {
            Ok((pending, client)) => self.advance(pending, &client, session, None).await,
            Err(validate::Rejection::Page(err)) => AuthorizeOutcome::ErrorPage(err),
            Err(validate::Rejection::Redirect(resp)) => AuthorizeOutcome::Respond(resp),
        }
    }

    /// Continue a pending request after the login or consent page.
    ///
    /// The client may have changed while the user was on the page: if it was deleted or no
    /// longer lists the redirect URI, the answer is an error page, never a redirect.
    pub async fn resume(
        &self,
        pending: PendingAuthorization,
        session: Option<&Session>,
        consent: Option<ConsentDecision>,
    ) -> AuthorizeOutcome {
        match self.trusted_client(&pending).await {
            Ok(client) => self.advance(pending, &client, session, consent).await,
            Err(page) => page,
        }
    }

    /// The pending request's client, if it still exists and still lists the redirect URI;
    /// otherwise the error page to show (nothing may be redirected then).
    async fn trusted_client(
        &self,
        pending: &PendingAuthorization,
    ) -> Result<Arc<Client>, AuthorizeOutcome> {
        match self.clients.client(&pending.client_id).await {
            Ok(Some(c)) if c.has_redirect_uri(&pending.redirect_uri) => Ok(c),
            Ok(Some(_)) => Err(AuthorizeOutcome::ErrorPage(
                ErrorKind::UntrustedRedirectUri("no longer registered for this client").into(),
            )),
            Ok(None) => Err(AuthorizeOutcome::ErrorPage(ErrorKind::UnknownClient.into())),
            Err(e) => Err(AuthorizeOutcome::ErrorPage(e.into())),
        }
    }

    /// The user cancelled on the login or consent page: answer the client with `access_denied`
    /// — or show an error page, if the client was deleted or its redirect URI removed meanwhile.
    pub async fn cancel(&self, pending: &PendingAuthorization) -> AuthorizeOutcome {
        match self.trusted_client(pending).await {
            Ok(_) => self.fail(
                pending,
                ErrorKind::AccessDenied("the user cancelled the request".into()),
            ),
            Err(page) => page,
        }
    }

    /// The state machine: login, then consent, then issue.
    async fn advance(
        &self,
        mut pending: PendingAuthorization,
        client: &Client,
        session: Option<&Session>,
        consent: Option<ConsentDecision>,
    ) -> AuthorizeOutcome {
        let now = self.clock.now();
        // Login.
        let session = match session.filter(|s| self.session_satisfies(&pending, s, now)) {
            Some(s) => s,
            None if pending.prompt.none => return self.fail(&pending, ErrorKind::LoginRequired),
            None => {
                // From here on only a login made after this moment satisfies the request, so a
                // slow consent page never sends the user back to the login page.
                pending.login_after.get_or_insert(now);
                return AuthorizeOutcome::Login(pending);
            }
        };
        // A consent decision counts only for the user who was shown the page.
        let consent = consent
            .filter(|_| pending.consent_subject.as_deref() == Some(session.subject.as_str()));
        match consent {
            Some(ConsentDecision::Denied) => self.fail(
                &pending,
                ErrorKind::AccessDenied("the user denied the request".into()),
            ),
            Some(ConsentDecision::Granted(chosen)) => {
                let mut granted = pending.scopes.clone();
                if let Some(chosen) = chosen {
                    granted.retain(|s| s == scope::OPENID || chosen.contains(s));
                }
                if let Err(e) = self
                    .record_consent(&session.subject, &pending.client_id, &granted, now)
                    .await
                {
                    return self.fail_with(&pending, e);
                }
                self.finish(&pending, client, session, granted, now).await
            }
            None => match self.needs_consent(&pending, &session.subject).await {
                Err(e) => self.fail_with(&pending, e),
                Ok(false) => {
                    let scopes = pending.scopes.clone();
                    self.finish(&pending, client, session, scopes, now).await
                }
                Ok(true) if pending.prompt.none => self.fail(&pending, ErrorKind::ConsentRequired),
                Ok(true) => {
                    pending.consent_subject = Some(session.subject.clone());
                    AuthorizeOutcome::Consent(pending)
                }
            },
        }
    }

    /// Whether this session may answer the request without a new login.
    fn session_satisfies(
        &self,
        pending: &PendingAuthorization,
        session: &Session,
        now: OffsetDateTime,
    ) -> bool {
        if pending
            .hint_subject
            .as_deref()
            .is_some_and(|hint| hint != session.subject)
        {
            return false;
        }
        match (pending.login_after, pending.max_age) {
            (Some(after), _) => session.auth_time >= after,
            (None, Some(max_age)) => (now - session.auth_time).whole_seconds() <= max_age,
            (None, None) => true,
        }
    }

    /// Consent is asked when `prompt=consent`, when offline access is requested (never granted
    /// silently), or when the standing consent does not cover the scopes.
    async fn needs_consent(
        &self,
        pending: &PendingAuthorization,
        subject: &str,
    ) -> Result<bool, Error> {
        if pending.prompt.consent || pending.wants_offline_access() {
            return Ok(true);
        }
        let standing = self.grants.consent(subject, &pending.client_id).await?;
        Ok(!standing.is_some_and(|c| pending.scopes.is_subset_of(&c.scopes)))
    }

    /// Remember consent (without `offline_access`, which is asked for every time).
    async fn record_consent(
        &self,
        subject: &str,
        client_id: &str,
        granted: &Scopes,
        now: OffsetDateTime,
    ) -> Result<(), Error> {
        let mut scopes = match self.grants.consent(subject, client_id).await? {
            Some(existing) => existing.scopes.union(granted),
            None => granted.clone(),
        };
        scopes.remove(scope::OFFLINE_ACCESS);
        self.grants
            .put_consent(crate::store::Consent {
                subject: subject.to_owned(),
                client_id: client_id.to_owned(),
                scopes,
                granted_at: now,
            })
            .await?;
        Ok(())
    }

    fn fail(&self, pending: &PendingAuthorization, kind: ErrorKind) -> AuthorizeOutcome {
        self.fail_with(pending, Error::new(kind))
    }

    fn fail_with(&self, pending: &PendingAuthorization, err: Error) -> AuthorizeOutcome {
        AuthorizeOutcome::Respond(pending.error_response(self.config.issuer(), &err))
    }
}
