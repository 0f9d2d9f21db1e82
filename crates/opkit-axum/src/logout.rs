//! RP-initiated logout at the end-session endpoint. The core validates the request
//! ([`opkit::Provider::logout_request`]); the kit ends the browser's login session through
//! [`EndSession`], asking the user first unless a valid `id_token_hint` names the signed-in
//! user. A confirmation waits in the [`PendingStore`](crate::PendingStore) like a login page.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use opkit::host::Event;
use opkit::http::{HttpRequest, HttpResponse, Method};
use opkit::logout::{EndSession, LogoutOutcome, LogoutRequest};
use opkit::secret::SecretHash;
use opkit::store::{Store, StoreError, UserStore};

use crate::adapter::{into_axum, Incoming};
use crate::kit::Kit;
use crate::pages::{self, LogoutView, MessageKind};
use crate::state::{PendingStep, SessionStore};

/// The host's [`EndSession`]: the login session of the requesting browser.
struct BrowserSession<'a> {
    sessions: &'a dyn SessionStore,
    id: Option<SecretHash>,
}

impl EndSession for BrowserSession<'_> {
    async fn end_session(&self, _subject: Option<&str>) -> Result<(), StoreError> {
        // Only this browser's session; the response clears its cookie.
        if let Some(id) = self.id {
            self.sessions
                .remove(id)
                .await
                .map_err(|e| StoreError::new(e.to_string()))?;
        }
        Ok(())
    }
}

/// `GET|POST` at the end-session endpoint.
pub(crate) async fn end_session<S: Store + 'static, U: UserStore + 'static>(
    State(kit): State<Arc<Kit<S, U>>>,
    incoming: Incoming,
) -> Response {
    let request = match kit.provider.logout_request(&incoming.request()).await {
        Ok(request) => request,
        Err(err) => return into_axum(kit.refused(MessageKind::LogoutRefused, &err)),
    };
    let current = kit.current_session(&incoming).await;
    let confirmed = match (&current, request.subject()) {
        // Nothing to end; straight back to the client.
        (None, _) => true,
        // The client proved which user it means, and it is the one signed in.
        (Some(record), Some(subject)) => {
            request.has_valid_hint() && record.session.subject == subject
        }
        (Some(_), None) => false,
    };
    let resp = if confirmed {
        kit.finish_logout(&incoming, &request).await
    } else {
        // What the request carried, to validate again when the user confirms.
        let params = match incoming.request().method {
            Method::Post => std::str::from_utf8(incoming.request().body)
                .unwrap_or("")
                .to_owned(),
            _ => incoming.uri().query().unwrap_or("").to_owned(),
        };
        let username = current.as_ref().map(|r| r.username.as_str());
        match kit.ask_logout(&incoming, &request, params, username).await {
            Ok(resp) | Err(resp) => resp,
        }
    };
    into_axum(resp)
}

/// `POST {end_session}/{id}`: the user's answer on the confirmation page.
pub(crate) async fn confirm<S: Store + 'static, U: UserStore + 'static>(
    State(kit): State<Arc<Kit<S, U>>>,
    Path(id): Path<String>,
    incoming: Incoming,
) -> Response {
    into_axum(match kit.confirm_logout(&id, &incoming).await {
        Ok(resp) | Err(resp) => resp,
    })
}

impl<S: Store + 'static, U: UserStore + 'static> Kit<S, U> {
    fn end_session_url(&self) -> String {
        let config = self.provider.config();
        let path = config
            .endpoint_path(opkit::config::Endpoint::EndSession)
            .unwrap_or("");
        config.endpoint_url(path)
    }

    /// Keep the request and show the confirmation page.
    async fn ask_logout(
        &self,
        incoming: &Incoming,
        request: &LogoutRequest,
        params: String,
        username: Option<&str>,
    ) -> Result<HttpResponse, HttpResponse> {
        // A confirmation page holds a pending step like a login page: the same quota.
        let attempt = self.reserve_page(incoming)?;
        let shown = self
            .keep_logout_page(incoming, request, params, username)
            .await;
        self.settle_page(&attempt, shown.is_ok());
        shown
    }

    async fn keep_logout_page(
        &self,
        incoming: &Incoming,
        request: &LogoutRequest,
        params: String,
        username: Option<&str>,
    ) -> Result<HttpResponse, HttpResponse> {
        let browser = self.browser(incoming)?;
        let id = self.new_secret()?;
        let csrf = self.new_secret()?;
        let action = format!("{}/{id}", self.end_session_url());
        let target = request
            .post_logout_redirect_uri()
            .and_then(pages::csp_source);
        let page = self.pages.logout(&LogoutView {
            action: &action,
            csrf: &csrf,
            client_name: request.client_name(),
            username,
        });
        let page = pages::html(200, page, target.as_deref());
        let expires_at = self.provider.clock().now() + self.provider.config().interaction_ttl;
        let step = PendingStep::Logout { params };
        self.keep_pending(&id, step, csrf, browser, expires_at, page)
            .await
    }

    async fn confirm_logout(
        &self,
        id: &str,
        incoming: &Incoming,
    ) -> Result<HttpResponse, HttpResponse> {
        let form = incoming
            .form()
            .ok_or_else(|| self.message(MessageKind::BadRequest))?;
        let csrf = form.get("csrf").unwrap_or("");
        let (record, _) = self
            .take_step(id, incoming, csrf, |s| {
                matches!(s, PendingStep::Logout { .. })
            })
            .await?;
        let PendingStep::Logout { params } = record.step else {
            return Err(self.message(MessageKind::Expired));
        };
        if form.get("decision") != Some("logout") {
            return Ok(self.message(MessageKind::StillSignedIn));
        }
        // Validated again: the client or its redirect URIs may have changed meanwhile.
        let again = HttpRequest::new(Method::Get).query(&params);
        let request = match self.provider.logout_request(&again).await {
            Ok(request) => request,
            Err(err) => return Err(self.refused(MessageKind::LogoutRefused, &err)),
        };
        Ok(self.finish_logout(incoming, &request).await)
    }

    /// End the session and send the user on: back to the client, or to the "signed out" page.
    async fn finish_logout(&self, incoming: &Incoming, request: &LogoutRequest) -> HttpResponse {
        let host = BrowserSession {
            sessions: &*self.sessions,
            id: self.session_id(incoming),
        };
        let ending = self.current_session(incoming).await;
        let outcome = match self.provider.finish_logout(request, &host).await {
            Ok(outcome) => {
                if let Some(record) = &ending {
                    self.provider.emit(&Event::SignedOut {
                        subject: &record.session.subject,
                        client_id: request.client_id(),
                    });
                }
                outcome
            }
            Err(err) => {
                crate::log::line(&format!("logout failed: {err}"));
                return self.message(MessageKind::ServerError);
            }
        };
        let resp = match outcome {
            LogoutOutcome::Redirect(location) => HttpResponse::redirect(location),
            LogoutOutcome::LoggedOut => self.message(MessageKind::SignedOut),
        };
        resp.with_header("set-cookie", self.clear_session_cookie())
    }
}
