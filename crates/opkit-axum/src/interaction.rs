//! The host's half of the authorization endpoint: the login and consent pages that
//! [`AuthorizeOutcome::Login`] and [`AuthorizeOutcome::Consent`] ask for.
//!
//! A step is kept in the [`PendingStore`](crate::PendingStore) under a random id until the
//! core's expiry ([`LoginStep::expires_at`]), bound to the browser that opened it and protected by
//! a CSRF token. The page's form posts to `/interaction/{id}/login` or `/interaction/{id}/consent`;
//! the step is taken out (single use), checked, and consumed by its transition.
//!
//! Anyone can open a login page, and each is held until it expires, so each page is first
//! reserved with the rate limiter per source ([`Attempt::PendingStep`]; the kit's
//! [`Limiter`](crate::Limiter) allows 120 per 10 minutes by default): a source opening pages in
//! a loop gets `429` with `Retry-After` instead of evicting other users' pending logins.
//!
//! There is no cap per browser binding: the binding cookie is the caller's to send, and one
//! flooding the endpoint simply sends none and gets a new binding with every page, so such a cap
//! would bound only well-behaved browsers (and the store has no count of steps by binding).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use opkit::host::{Attempt, Event, Outcome, SignInVia};
use opkit::http::HttpResponse;
use opkit::secret::SecretHash;
use opkit::store::{Store, UserStore};
use opkit::{AuthorizeOutcome, ConsentDecision, PendingAuthorization};
use opkit::{ConsentStep, LoginStep};
use time::OffsetDateTime;

use crate::adapter::{into_axum, Incoming};
use crate::browser::csrf_matches;
use crate::kit::Kit;
use crate::pages::{self, ConsentView, LoginView, MessageKind};
use crate::state::{PendingRecord, PendingStep};

/// Where the kit's login and consent forms post, below the issuer.
pub(crate) const INTERACTION_PATH: &str = "/interaction";
/// Wrong passwords allowed per login page before it is spent.
const MAX_FAILED_LOGINS: u32 = 5;
/// Longest username and password looked at.
const MAX_USERNAME: usize = 256;
const MAX_PASSWORD: usize = 1024;

type KitState<S, U> = State<Arc<Kit<S, U>>>;

/// `GET|POST` at the authorization endpoint.
pub(crate) async fn authorize<S: Store + 'static, U: UserStore + 'static>(
    State(kit): KitState<S, U>,
    incoming: Incoming,
) -> Response {
    let record = kit.current_session(&incoming).await;
    let session = record.as_ref().map(|r| &r.session);
    let outcome = kit.provider.authorize(&incoming.request(), session).await;
    let username = record.as_ref().map(|r| r.username.as_str());
    into_axum(kit.respond(&incoming, outcome, username).await)
}

/// `POST /interaction/{id}/login`: Cancel, or check the password, start a session and go on.
pub(crate) async fn login<S: Store + 'static, U: UserStore + 'static>(
    State(kit): KitState<S, U>,
    Path(id): Path<String>,
    incoming: Incoming,
) -> Response {
    into_axum(match kit.login(&id, &incoming).await {
        Ok(resp) | Err(resp) => resp,
    })
}

/// `POST /interaction/{id}/consent`: Allow or Deny.
pub(crate) async fn consent<S: Store + 'static, U: UserStore + 'static>(
    State(kit): KitState<S, U>,
    Path(id): Path<String>,
    incoming: Incoming,
) -> Response {
    into_axum(match kit.consent(&id, &incoming).await {
        Ok(resp) | Err(resp) => resp,
    })
}

/// The name to show for the client.
fn client_label(pending: &PendingAuthorization) -> &str {
    match pending.client_name().trim() {
        "" => pending.client_id(),
        name => name,
    }
}

impl<S: Store + 'static, U: UserStore + 'static> Kit<S, U> {
    /// Turn an outcome of the core into the response: to the client, an error page, or a login
    /// or consent page backed by a new pending step.
    pub(crate) async fn respond(
        &self,
        incoming: &Incoming,
        outcome: AuthorizeOutcome,
        username: Option<&str>,
    ) -> HttpResponse {
        let step = match outcome {
            AuthorizeOutcome::Respond(resp) => return resp.into_http(),
            AuthorizeOutcome::ErrorPage(err) => {
                return self.refused(MessageKind::AuthorizationRefused, &err)
            }
            AuthorizeOutcome::Login(step) => PendingStep::Login(step),
            AuthorizeOutcome::Consent(step) => PendingStep::Consent(step),
        };
        match self.show(incoming, step, username.unwrap_or("")).await {
            Ok(resp) | Err(resp) => resp,
        }
    }

    /// Keep `step` under a new id, bound to this browser, and render its page; first reserved
    /// with the limiter as [`Attempt::PendingStep`] of the request's source. The pending store
    /// makes room by evicting the step expiring soonest, so without a quota per source one
    /// source opening pages in a loop would evict every other user's login. A refusal is the
    /// `429` message page with `Retry-After`.
    async fn show(
        &self,
        incoming: &Incoming,
        step: PendingStep,
        username: &str,
    ) -> Result<HttpResponse, HttpResponse> {
        let attempt = self.reserve_page(incoming)?;
        let shown = self.keep_and_render(incoming, step, username).await;
        self.settle_page(&attempt, shown.is_ok());
        shown
    }

    async fn keep_and_render(
        &self,
        incoming: &Incoming,
        step: PendingStep,
        username: &str,
    ) -> Result<HttpResponse, HttpResponse> {
        let browser = self.browser(incoming)?;
        let id = self.new_secret()?;
        let csrf = self.new_secret()?;
        let config = self.provider.config();
        let (page, expires_at) = match &step {
            PendingStep::Login(s) => {
                let page = self.login_page(&id, &csrf, s, s.request().login_hint(), None);
                (page, s.expires_at(config))
            }
            PendingStep::Consent(s) => (
                self.consent_page(&id, &csrf, s, username),
                s.expires_at(config),
            ),
            PendingStep::Logout { .. } => return Err(self.message(MessageKind::ServerError)),
        };
        self.keep_pending(&id, step, csrf, browser, expires_at, page)
            .await
    }

    fn action(&self, id: &str, step: &str) -> String {
        format!("{}{INTERACTION_PATH}/{id}/{step}", self.issuer())
    }

    fn login_page(
        &self,
        id: &str,
        csrf: &str,
        step: &LoginStep,
        username: Option<&str>,
        error: Option<&str>,
    ) -> HttpResponse {
        let action = self.action(id, "login");
        let target = pages::csp_source(step.request().redirect_uri());
        let page = self.pages.login(&LoginView {
            action: &action,
            csrf,
            client_name: client_label(step.request()),
            username,
            error,
        });
        pages::html(200, page, target.as_deref())
    }

    fn consent_page(
        &self,
        id: &str,
        csrf: &str,
        step: &ConsentStep,
        username: &str,
    ) -> HttpResponse {
        let request = step.request();
        let action = self.action(id, "consent");
        let target = pages::csp_source(request.redirect_uri());
        let page = self.pages.consent(&ConsentView {
            action: &action,
            csrf,
            client_name: client_label(request),
            username,
            scopes: request.scopes().iter().collect(),
            offline_access: request.wants_offline_access(),
            redirect_uri: request.redirect_uri(),
        });
        pages::html(200, page, target.as_deref())
    }

    /// Take the pending step `id` for a post with `csrf`: it must exist, be live, be a
    /// `wanted` step, and come from its browser with its CSRF token. A refused post leaves the
    /// step in place (so a forged post cannot spend a user's page).
    pub(crate) async fn take_step(
        &self,
        id: &str,
        incoming: &Incoming,
        csrf: &str,
        wanted: fn(&PendingStep) -> bool,
    ) -> Result<(PendingRecord, OffsetDateTime), HttpResponse> {
        let now = self.provider.clock().now();
        let key = SecretHash::of(id);
        let taken = self.pending.take(key, now).await;
        let (record, expires_at) = match taken {
            Ok(Some(taken)) => taken,
            Ok(None) => return Err(self.message(MessageKind::Expired)),
            Err(e) => return Err(self.state_failed(e)),
        };
        // Both checks run, so the timing does not tell which failed.
        let csrf_ok = csrf_matches(csrf, &record.csrf);
        let browser_ok = self.is_browser(incoming, &record.browser);
        let kind = if !wanted(&record.step) {
            MessageKind::Expired
        } else if csrf_ok && browser_ok {
            return Ok((record, expires_at));
        } else {
            MessageKind::Forbidden
        };
        self.put_back(id, record, expires_at).await;
        Err(self.message(kind))
    }

    /// Return a taken step to the store (after a refused post or a wrong password).
    pub(crate) async fn put_back(
        &self,
        id: &str,
        record: PendingRecord,
        expires_at: OffsetDateTime,
    ) {
        let now = self.provider.clock().now();
        if let Err(e) = self
            .pending
            .put(SecretHash::of(id), record, expires_at, now)
            .await
        {
            crate::log::line(&format!("a pending step was lost: {e}"));
        }
    }

    async fn login(&self, id: &str, incoming: &Incoming) -> Result<HttpResponse, HttpResponse> {
        let form = incoming
            .form()
            .ok_or_else(|| self.message(MessageKind::BadRequest))?;
        let csrf = form.get("csrf").unwrap_or("");
        let (mut record, expires_at) = self
            .take_step(id, incoming, csrf, |s| matches!(s, PendingStep::Login(_)))
            .await?;
        let PendingStep::Login(step) = record.step else {
            return Err(self.message(MessageKind::Expired));
        };
        if form.get("action") == Some("cancel") {
            let outcome = step.cancel(&self.provider).await;
            return Ok(self.respond(incoming, outcome, None).await);
        }
        record.failed_logins += 1;
        if record.failed_logins > MAX_FAILED_LOGINS {
            return Err(self.message(MessageKind::TooManyAttempts));
        }

        let username = form.get("username").unwrap_or("").trim();
        let password = form.get("password").unwrap_or("");
        let plausible = !username.is_empty()
            && !password.is_empty()
            && username.len() <= MAX_USERNAME
            && password.len() <= MAX_PASSWORD;
        let throttle = Attempt::Password {
            username,
            source: incoming.remote_addr(),
        };
        // Reserved (and counted) before the password hash, so parallel posts cannot exceed the
        // limiter's budget.
        let (subject, error, status, retry_after) = if !plausible {
            (None, "Enter your username and password.", 200, None)
        } else if let Err(throttled) = self.limiter.reserve(&throttle) {
            self.provider.emit(&Event::Throttled {
                attempt: throttle,
                retry_after: throttled.retry_after,
            });
            let message = "Too many failed sign-ins for this account. Try again later.";
            (None, message, 429, Some(throttled.retry_after_secs()))
        } else {
            let checked = self.provider.users().authenticate(username, password).await;
            let client_id = Some(step.request().client_id());
            match checked {
                Ok(Some(subject)) => {
                    self.limiter.settle(&throttle, Outcome::Succeeded);
                    self.provider.emit(&Event::SignInSucceeded {
                        subject: &subject,
                        client_id,
                        via: SignInVia::LoginPage,
                    });
                    (Some(subject), "", 200, None)
                }
                // The same message for an unknown user and a wrong password.
                Ok(None) => {
                    self.limiter.settle(&throttle, Outcome::Failed);
                    self.provider.emit(&Event::SignInFailed {
                        username,
                        client_id,
                        via: SignInVia::LoginPage,
                    });
                    (None, "The username or password is incorrect.", 200, None)
                }
                Err(e) => {
                    self.limiter.settle(&throttle, Outcome::NotChecked);
                    crate::log::line(&format!("user store: {e}"));
                    (
                        None,
                        "The sign-in could not be checked. Please try again.",
                        500,
                        None,
                    )
                }
            }
        };
        let Some(subject) = subject else {
            let typed = Some(username).filter(|u| !u.is_empty());
            let mut page = self.login_page(id, &record.csrf, &step, typed, Some(error));
            page.status = status;
            if let Some(secs) = retry_after {
                page.headers.push(("retry-after", secs.to_string().into()));
            }
            record.step = PendingStep::Login(step);
            self.put_back(id, record, expires_at).await;
            return Ok(page);
        };

        let (session, cookie) = self.start_session(incoming, subject, username).await?;
        let outcome = step.complete(&self.provider, &session.session).await;
        let mut resp = self
            .respond(incoming, outcome, Some(&session.username))
            .await;
        resp.headers.push(("set-cookie", cookie.into()));
        Ok(resp)
    }

    async fn consent(&self, id: &str, incoming: &Incoming) -> Result<HttpResponse, HttpResponse> {
        let form = incoming
            .form()
            .ok_or_else(|| self.message(MessageKind::BadRequest))?;
        let csrf = form.get("csrf").unwrap_or("");
        let (record, expires_at) = self
            .take_step(id, incoming, csrf, |s| matches!(s, PendingStep::Consent(_)))
            .await?;
        let decision = match form.get("decision") {
            Some("allow") => ConsentDecision::Granted(None),
            Some("deny") => ConsentDecision::Denied,
            _ => {
                self.put_back(id, record, expires_at).await;
                let (status, title, _) = pages::wording(MessageKind::BadRequest);
                return Err(self.message_page(
                    MessageKind::BadRequest,
                    status,
                    title,
                    "Choose Allow or Deny.",
                    None,
                ));
            }
        };
        let PendingStep::Consent(step) = record.step else {
            return Err(self.message(MessageKind::Expired));
        };
        // The core checks that the session's user is the one shown the page; without a session
        // it asks for a login again.
        let current = self.current_session(incoming).await;
        let outcome = step
            .decide(
                &self.provider,
                current.as_ref().map(|r| &r.session),
                decision,
            )
            .await;
        let username = current.as_ref().map(|r| r.username.as_str());
        Ok(self.respond(incoming, outcome, username).await)
    }
}
