//! RP-initiated logout at `/logout` (the `end_session_endpoint`). The core validates the request
//! ([`opkit::Provider::end_session`]); this module ends the browser's login session through
//! [`EndSession`], asking the user first unless a valid `id_token_hint` names the signed-in user.

use std::future::Future;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use opkit::flow::logout::{EndSession, LogoutOutcome, LogoutRequest};
use opkit::http::HttpResponse;
use opkit::secret::SecretHash;
use opkit::store::StoreError;
use time::Duration;

use super::pages::{self, LogoutView};
use super::session::{self, csrf_matches, current_session, is_browser, new_secret, Browser};
use super::web::{into_axum, Incoming};
use super::AppState;

/// How long the confirmation page stays usable.
const CONFIRM_TTL: Duration = Duration::minutes(10);

/// A logout waiting for the user's confirmation.
pub(crate) struct PendingLogout {
    request: LogoutRequest,
    csrf: String,
    browser: SecretHash,
}

/// The host's [`EndSession`]: the login session of the requesting browser.
struct BrowserSession<'a> {
    state: &'a AppState,
    incoming: &'a Incoming,
}

impl EndSession for BrowserSession<'_> {
    fn end_session(
        &self,
        _subject: Option<&str>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        // Only this browser's session; `finish` clears the cookie on the response.
        session::end_session(self.state, self.incoming);
        std::future::ready(Ok(()))
    }
}

/// `GET|POST /logout`.
pub(crate) async fn end_session(
    State(state): State<Arc<AppState>>,
    incoming: Incoming,
) -> Response {
    let request = match state.provider.end_session(&incoming.request()).await {
        Ok(request) => request,
        Err(err) => return into_axum(pages::logout_error(&err)),
    };
    let current = current_session(&state, &incoming);
    let confirmed = match (&current, request.subject()) {
        // Nothing to end; go straight back to the client.
        (None, _) => true,
        // The client proved which user it means, and it is the one signed in.
        (Some(record), Some(subject)) => {
            request.has_valid_hint() && record.session.subject == subject
        }
        (Some(_), None) => false,
    };
    let resp = if confirmed {
        finish(&state, &incoming, &request).await
    } else {
        let username = current.as_ref().map(|r| r.username.as_str());
        match ask(&state, &incoming, request, username) {
            Ok(resp) | Err(resp) => resp,
        }
    };
    into_axum(resp)
}

/// Keep the request and show the confirmation page.
fn ask(
    state: &AppState,
    incoming: &Incoming,
    request: LogoutRequest,
    username: Option<&str>,
) -> Result<HttpResponse, HttpResponse> {
    let browser = Browser::of(state, incoming)?;
    let id = new_secret(state)?;
    let csrf = new_secret(state)?;
    let config = state.provider.config();
    let action = format!("{}/{id}", config.endpoint_url(&config.paths.end_session));
    let target = request
        .post_logout_redirect_uri()
        .and_then(pages::csp_source);
    let mut page = pages::logout_confirm(&LogoutView {
        action: &action,
        csrf: &csrf,
        client_name: request.client_name(),
        username,
        form_target: target.as_deref(),
    });
    let now = state.provider.clock().now();
    let pending = PendingLogout {
        request,
        csrf,
        browser: browser.hash(),
    };
    state
        .logouts
        .insert(&id, pending, now + CONFIRM_TTL, now)
        .map_err(|_| pages::busy())?;
    if let Some(cookie) = browser.set_cookie {
        page.headers.push(("set-cookie", cookie.into()));
    }
    Ok(page)
}

/// End the session and send the user on: back to the client, or to the "signed out" page.
async fn finish(state: &AppState, incoming: &Incoming, request: &LogoutRequest) -> HttpResponse {
    let host = BrowserSession { state, incoming };
    let resp = match state.provider.finish_logout(request, &host).await {
        Ok(LogoutOutcome::Redirect(location)) => HttpResponse::redirect(location),
        Ok(LogoutOutcome::LoggedOut) => pages::signed_out(state.issuer()),
        Err(err) => {
            eprintln!("logout failed: {err}");
            return pages::server_error();
        }
    };
    resp.with_header("set-cookie", session::clear_cookie(state))
}

/// `POST /logout/{id}`: the user's answer on the confirmation page.
pub(crate) async fn confirm(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    incoming: Incoming,
) -> Response {
    let Some(form) = incoming.form() else {
        return into_axum(pages::bad_form());
    };
    let csrf = form.get("csrf").unwrap_or("");
    let now = state.provider.clock().now();
    let pending = state.logouts.take_if(&id, now, |p| {
        let csrf_ok = csrf_matches(csrf, &p.csrf);
        let browser_ok = is_browser(&state, &incoming, &p.browser);
        csrf_ok && browser_ok
    });
    let Some(pending) = pending else {
        return into_axum(pages::expired());
    };
    let resp = match form.get("decision") {
        Some("logout") => finish(&state, &incoming, &pending.request).await,
        _ => pages::message(200, "Still signed in", "You were not signed out."),
    };
    into_axum(resp)
}
