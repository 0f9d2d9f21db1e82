//! The authorization endpoint as a state machine the host drives, with the host's part as
//! step values.
//!
//! ```text
//!   request ──validate──▶ Validated ─┬─▶ ErrorPage          (client or redirect URI untrusted:
//!                                    │                        never redirected)
//!                                    ├─▶ LoginStep ──complete(session)──┐
//!                                    │       └──cancel()──▶ Respond     │
//!                                    │                    (access_denied)│
//!                                    │  ◀────────────────────────────────┘
//!                                    ├─▶ ConsentStep ──decide(decision)──▶ Respond
//!                                    │       └──cancel()──▶ Respond (access_denied)
//!                                    └─▶ Respond          (code and/or tokens, or an error
//!                                                          redirected to the client)
//! ```
//!
//! [`Provider::authorize`] takes the request and the host's current login session, if any, and
//! returns an [`AuthorizeOutcome`]. For [`AuthorizeOutcome::Login`] the host shows its login
//! page and, once the user has logged in, consumes the [`LoginStep`] with
//! [`LoginStep::complete`]; for [`AuthorizeOutcome::Consent`] it shows a consent page for
//! [`ConsentStep::request`]'s scopes and consumes the [`ConsentStep`] with
//! [`ConsentStep::decide`]. Either can be [`cancel`](LoginStep::cancel)led instead. Each step
//! allows exactly its transitions and is consumed by them, so a consent decision cannot be fed
//! to a login step and a finished request cannot be resumed. `prompt`, `max_age`,
//! `id_token_hint` and `offline_access` decide which steps are visited.
//!
//! A step expires [`Config::interaction_ttl`](crate::Config::interaction_ttl) after the
//! request arrived; the core checks it (the client then receives `access_denied`). The host
//! keeps steps server-side (they serialize, for a shared store), bound to the browser that
//! started them, and takes each out once; it must not let the browser edit them. A request
//! issues at most once even so: its grant takes the request's random id, so a copy of a step
//! that issues a second time collides with the first grant, and what both issued is revoked.

mod issue;
mod params;
mod response;
mod validate;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

pub use params::AuthorizationParams;
pub use response::escape_html;
pub use response::{AuthorizationResponse, ResponseMode};

use crate::client::{Client, ResponseType};
use crate::error::{Error, ErrorKind};
use crate::host::Event;
use crate::http::HttpRequest;
use crate::pkce::CodeChallenge;
use crate::scope::{self, Scopes};
use crate::store::{Store, UserStore};
use crate::Provider;

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

/// A validated authorization request, as a [`LoginStep`] or [`ConsentStep`] carries it: what
/// the login and consent pages show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingAuthorization {
    /// Random, 128 bits: the id of the grant the request ends in (so it ends at most once).
    pub(crate) id: String,
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
    /// The resource (RFC 8707) the tokens are for, if the request named one.
    #[serde(default)]
    pub(crate) resource: Option<String>,
    /// A login older than this does not satisfy the request (`prompt=login`).
    #[serde(with = "time::serde::rfc3339::option")]
    pub(crate) login_after: Option<OffsetDateTime>,
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

    /// The error response to the client for this request.
    fn error_response(&self, issuer: &str, err: &Error) -> AuthorizationResponse {
        AuthorizationResponse::error(
            self.redirect_uri.clone(),
            self.response_mode,
            self.state.as_deref(),
            issuer,
            err,
        )
    }
}

/// The user must log in before the request can go on: show the login page, then
/// [`complete`](LoginStep::complete) the step with the new session, or
/// [`cancel`](LoginStep::cancel) it.
///
/// Not `Clone`: each step is consumed by the one transition it takes. It serializes so a host
/// can keep it in a shared store between the page and the form post.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginStep {
    request: PendingAuthorization,
}

/// The user must consent before the request can go on: show the consent page for
/// [`request`](ConsentStep::request)'s scopes, then [`decide`](ConsentStep::decide) or
/// [`cancel`](ConsentStep::cancel).
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentStep {
    request: PendingAuthorization,
    /// The user shown the consent page.
    subject: String,
}

impl LoginStep {
    /// The request, for the login page.
    pub fn request(&self) -> &PendingAuthorization {
        &self.request
    }

    /// When the step stops being accepted.
    pub fn expires_at(&self, config: &crate::Config) -> OffsetDateTime {
        self.request.created_at + config.step_lifetime()
    }

    /// The user logged in: go on with `session`. A session that does not satisfy the request
    /// (made before a `prompt=login`, older than `max_age`, or of another user than
    /// `id_token_hint` names) leads to a new [`AuthorizeOutcome::Login`].
    pub async fn complete<S: Store, U: UserStore>(
        self,
        provider: &Provider<S, U>,
        session: &Session,
    ) -> AuthorizeOutcome {
        match provider.live_client(&self.request).await {
            Ok(client) => provider.advance(self.request, &client, Some(session)).await,
            Err(outcome) => outcome,
        }
    }

    /// The user cancelled on the login page: the client receives `access_denied`.
    pub async fn cancel<S: Store, U: UserStore>(
        self,
        provider: &Provider<S, U>,
    ) -> AuthorizeOutcome {
        provider.cancel(&self.request).await
    }
}

impl ConsentStep {
    /// The request, for the consent page.
    pub fn request(&self) -> &PendingAuthorization {
        &self.request
    }

    /// The subject of the user shown the consent page.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// When the step stops being accepted.
    pub fn expires_at(&self, config: &crate::Config) -> OffsetDateTime {
        self.request.created_at + config.step_lifetime()
    }

    /// The user decided on the consent page. A denial always answers the client with
    /// `access_denied`. A grant counts only if `session` (the browser's login session now) is
    /// the user's who was shown the page and still satisfies the request; otherwise nothing is
    /// issued: without such a session the user logs in again ([`AuthorizeOutcome::Login`]),
    /// and another user now logged in is asked for consent of their own
    /// ([`AuthorizeOutcome::Consent`]), even if they consented before.
    pub async fn decide<S: Store, U: UserStore>(
        self,
        provider: &Provider<S, U>,
        session: Option<&Session>,
        decision: ConsentDecision,
    ) -> AuthorizeOutcome {
        let client = match provider.live_client(&self.request).await {
            Ok(client) => client,
            Err(outcome) => return outcome,
        };
        let ConsentDecision::Granted(chosen) = decision else {
            provider.events.emit(&Event::ConsentDenied {
                subject: &self.subject,
                client_id: &client.client_id,
            });
            return provider.fail(
                &self.request,
                ErrorKind::AccessDenied("the user denied the request".into()),
            );
        };
        let now = provider.clock.now();
        let mut request = self.request;
        match session.filter(|s| provider.session_satisfies(&request, s, now)) {
            Some(s) if s.subject == self.subject => {
                provider.granted(request, &client, s, chosen, now).await
            }
            Some(other) => AuthorizeOutcome::Consent(ConsentStep {
                request,
                subject: other.subject.clone(),
            }),
            None if request.prompt.none => provider.fail(&request, ErrorKind::LoginRequired),
            None => {
                request.login_after.get_or_insert(now);
                AuthorizeOutcome::Login(LoginStep { request })
            }
        }
    }

    /// The user cancelled on the consent page: the client receives `access_denied`.
    pub async fn cancel<S: Store, U: UserStore>(
        self,
        provider: &Provider<S, U>,
    ) -> AuthorizeOutcome {
        provider.cancel(&self.request).await
    }
}

/// What the host does next with an authorization request.
#[derive(Debug)]
pub enum AuthorizeOutcome {
    /// Show the login page; then [`LoginStep::complete`] or [`LoginStep::cancel`].
    Login(LoginStep),
    /// Show the consent page; then [`ConsentStep::decide`] or [`ConsentStep::cancel`].
    Consent(ConsentStep),
    /// Send this response (success or error) to the client through the user agent.
    Respond(AuthorizationResponse),
    /// Show an error page to the user. Never redirect: the client or its redirect URI could not
    /// be trusted.
    ErrorPage(Error),
}

impl<S: Store, U: UserStore> Provider<S, U> {
    /// Handle a request at the authorization endpoint (GET query or POST form,
    /// OpenID Connect Core §3.1.2.1), given the user's current login session if any.
    pub async fn authorize(
        &self,
        req: &HttpRequest<'_>,
        session: Option<&Session>,
    ) -> AuthorizeOutcome {
        match AuthorizationParams::from_http(req, &self.config) {
            Ok(params) => self.authorize_params(params, session).await,
            Err(e) => AuthorizeOutcome::ErrorPage(e),
        }
    }

    /// [`Provider::authorize`] for parameters the host parsed itself.
    pub async fn authorize_params(
        &self,
        params: AuthorizationParams,
        session: Option<&Session>,
    ) -> AuthorizeOutcome {
        match self.validate_authorization(params).await {
            Ok((pending, client)) => self.advance(pending, &client, session).await,
            Err(validate::Rejection::Page(err)) => AuthorizeOutcome::ErrorPage(err),
            Err(validate::Rejection::Redirect(resp)) => AuthorizeOutcome::Respond(resp),
        }
    }

    /// The pending request's client, if it still exists and still lists the redirect URI and
    /// the request has not expired; otherwise what to answer (an error page when nothing may be
    /// redirected, `access_denied` to the client when the request expired).
    async fn live_client(
        &self,
        pending: &PendingAuthorization,
    ) -> Result<Arc<Client>, AuthorizeOutcome> {
        let client = match self.store.client(&pending.client_id).await {
            Ok(Some(c)) if c.has_redirect_uri(&pending.redirect_uri) => c,
            Ok(Some(_)) => {
                return Err(AuthorizeOutcome::ErrorPage(
                    ErrorKind::UntrustedRedirectUri("no longer registered for this client").into(),
                ))
            }
            Ok(None) => return Err(AuthorizeOutcome::ErrorPage(ErrorKind::UnknownClient.into())),
            Err(e) => return Err(AuthorizeOutcome::ErrorPage(e.into())),
        };
        if self.clock.now() >= pending.created_at + self.config.step_lifetime() {
            return Err(self.fail(
                pending,
                ErrorKind::AccessDenied("the authorization request expired".into()),
            ));
        }
        Ok(client)
    }

    /// `access_denied` for a cancelled request — or an error page, if the client was deleted
    /// or its redirect URI removed meanwhile.
    async fn cancel(&self, pending: &PendingAuthorization) -> AuthorizeOutcome {
        match self.live_client(pending).await {
            Ok(_) => self.fail(
                pending,
                ErrorKind::AccessDenied("the user cancelled the request".into()),
            ),
            Err(outcome) => outcome,
        }
    }

    /// The state machine: login, then consent, then issue.
    async fn advance(
        &self,
        mut pending: PendingAuthorization,
        client: &Client,
        session: Option<&Session>,
    ) -> AuthorizeOutcome {
        let now = self.clock.now();
        let session = match session.filter(|s| self.session_satisfies(&pending, s, now)) {
            Some(s) => s,
            None if pending.prompt.none => return self.fail(&pending, ErrorKind::LoginRequired),
            None => {
                // From here on only a login made after this moment satisfies the request, so a
                // slow consent page never sends the user back to the login page.
                pending.login_after.get_or_insert(now);
                return AuthorizeOutcome::Login(LoginStep { request: pending });
            }
        };
        match self.needs_consent(&pending, &session.subject).await {
            Err(e) => self.fail_with(&pending, e),
            Ok(false) => {
                let scopes = pending.scopes.clone();
                self.finish(&pending, client, session, scopes, now).await
            }
            Ok(true) if pending.prompt.none => self.fail(&pending, ErrorKind::ConsentRequired),
            Ok(true) => AuthorizeOutcome::Consent(ConsentStep {
                request: pending,
                subject: session.subject.clone(),
            }),
        }
    }

    /// The user shown the consent page granted the requested scopes, or the subset `chosen`.
    async fn granted(
        &self,
        pending: PendingAuthorization,
        client: &Client,
        session: &Session,
        chosen: Option<Scopes>,
        now: OffsetDateTime,
    ) -> AuthorizeOutcome {
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
        self.events.emit(&Event::ConsentGiven {
            subject: &session.subject,
            client_id: &client.client_id,
            scopes: &granted,
        });
        self.finish(&pending, client, session, granted, now).await
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
        let standing = self.store.consent(subject, &pending.client_id).await?;
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
        let mut scopes = match self.store.consent(subject, client_id).await? {
            Some(existing) => existing.scopes.union(granted),
            None => granted.clone(),
        };
        scopes.remove(scope::OFFLINE_ACCESS);
        self.store
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
