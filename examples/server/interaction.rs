//! The host's half of the authorization endpoint: the login and consent pages that
//! [`opkit::AuthorizeOutcome::Login`] and [`opkit::AuthorizeOutcome::Consent`] ask for.
//!
//! A pending request is kept server-side under a random interaction id, bound to the browser
//! that started it (see [`super::session`]) and protected by a per-interaction CSRF token. The
//! page's form posts to `/interaction/{id}/login` or `/interaction/{id}/consent`, and the answer
//! goes back to the core with [`opkit::Provider::resume`].

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use opkit::host::{Attempt, RateLimit};
use opkit::http::HttpResponse;
use opkit::secret::SecretHash;
use opkit::store::UserStore;
use opkit::{AuthorizeOutcome, ConsentDecision, PendingAuthorization};
use time::{Duration, OffsetDateTime};

use super::pages::{self, ConsentView, LoginView};
use super::session::{
    csrf_matches, current_session, is_browser, new_secret, start_session, Browser,
};
use super::web::{into_axum, Incoming};
use super::AppState;

/// How long a login or consent page stays usable.
const INTERACTION_TTL: Duration = Duration::minutes(10);
/// Wrong passwords allowed per interaction before it is dropped.
const MAX_FAILED_LOGINS: u32 = 5;
/// Longest username and password looked at.
const MAX_USERNAME: usize = 256;
const MAX_PASSWORD: usize = 1024;

/// Which page an interaction shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Login,
    Consent,
}

/// A pending authorization request waiting for the user.
pub(crate) struct Interaction {
    pending: PendingAuthorization,
    stage: Stage,
    csrf: String,
    /// Hash of the binding cookie of the browser that started it.
    browser: SecretHash,
    failed_logins: u32,
}

/// `GET|POST /authorize`.
pub(crate) async fn authorize(State(state): State<Arc<AppState>>, incoming: Incoming) -> Response {
    let record = current_session(&state, &incoming);
    let session = record.as_ref().map(|r| &r.session);
    let outcome = state.provider.authorize(&incoming.request(), session).await;
    let username = record.as_ref().map(|r| r.username.as_str());
    into_axum(respond(&state, &incoming, outcome, username))
}

/// Turn an outcome of the core into the response: a redirect (or form post) to the client, an
/// error page, or a login or consent page backed by a new interaction.
fn respond(
    state: &AppState,
    incoming: &Incoming,
    outcome: AuthorizeOutcome,
    username: Option<&str>,
) -> HttpResponse {
    let shown = match outcome {
        AuthorizeOutcome::Respond(resp) => return resp.into_http(),
        AuthorizeOutcome::ErrorPage(err) => {
            if let Some(cause) = err.cause() {
                eprintln!("authorization error page ({}): {cause}", err.code());
            }
            return pages::authorization_error(&err);
        }
        AuthorizeOutcome::Login(pending) => start(state, incoming, pending, Stage::Login, ""),
        AuthorizeOutcome::Consent(pending) => start(
            state,
            incoming,
            pending,
            Stage::Consent,
            username.unwrap_or(""),
        ),
    };
    match shown {
        Ok(resp) | Err(resp) => resp,
    }
}

/// Keep `pending` under a new interaction and render its page.
fn start(
    state: &AppState,
    incoming: &Incoming,
    pending: PendingAuthorization,
    stage: Stage,
    username: &str,
) -> Result<HttpResponse, HttpResponse> {
    let browser = Browser::of(state, incoming)?;
    let id = new_secret(state)?;
    let csrf = new_secret(state)?;
    let now = state.provider.clock().now();
    let mut page = match stage {
        Stage::Login => render_login(state, &id, &csrf, &pending, pending.login_hint(), None),
        Stage::Consent => render_consent(state, &id, &csrf, &pending, username),
    };
    let interaction = Interaction {
        pending,
        stage,
        csrf,
        browser: browser.hash(),
        failed_logins: 0,
    };
    state
        .interactions
        .insert(&id, interaction, now + INTERACTION_TTL, now)
        .map_err(|_| pages::busy())?;
    if let Some(cookie) = browser.set_cookie {
        page.headers.push(("set-cookie", cookie.into()));
    }
    Ok(page)
}

/// The name to show for the client.
fn client_label(pending: &PendingAuthorization) -> &str {
    match pending.client_name().trim() {
        "" => pending.client_id(),
        name => name,
    }
}

fn interaction_url(state: &AppState, id: &str, step: &str) -> String {
    format!("{}/interaction/{id}/{step}", state.issuer())
}

fn render_login(
    state: &AppState,
    id: &str,
    csrf: &str,
    pending: &PendingAuthorization,
    username: Option<&str>,
    error: Option<&str>,
) -> HttpResponse {
    let action = interaction_url(state, id, "login");
    let target = pages::csp_source(pending.redirect_uri());
    pages::login(&LoginView {
        action: &action,
        csrf,
        client_name: client_label(pending),
        username,
        error,
        form_target: target.as_deref(),
    })
}

fn render_consent(
    state: &AppState,
    id: &str,
    csrf: &str,
    pending: &PendingAuthorization,
    username: &str,
) -> HttpResponse {
    let action = interaction_url(state, id, "consent");
    let target = pages::csp_source(pending.redirect_uri());
    pages::consent(&ConsentView {
        action: &action,
        csrf,
        client_name: client_label(pending),
        username,
        scopes: pending.scopes().iter().collect(),
        offline_access: pending.wants_offline_access(),
        redirect_uri: pending.redirect_uri(),
        form_target: target.as_deref(),
    })
}

/// How a post to an interaction was received.
enum Checked<T> {
    /// No such interaction (expired, completed, never existed) or not at this stage.
    Missing,
    /// The CSRF token or the browser does not match.
    Forbidden,
    Ok(T),
}

impl Interaction {
    fn accepts(&self, state: &AppState, incoming: &Incoming, stage: Stage, csrf: &str) -> bool {
        // Both checks run, so the timing does not tell which failed.
        let csrf_ok = csrf_matches(csrf, &self.csrf);
        let browser_ok = is_browser(state, incoming, &self.browser);
        self.stage == stage && csrf_ok && browser_ok
    }
}

/// Run `f` on the interaction `id` if the post carries its CSRF token from its browser.
fn check<T>(
    state: &AppState,
    incoming: &Incoming,
    id: &str,
    stage: Stage,
    csrf: &str,
    now: OffsetDateTime,
    f: impl FnOnce(&mut Interaction) -> T,
) -> Checked<T> {
    let result = state.interactions.with(id, now, |ix| {
        if ix.stage != stage {
            Checked::Missing
        } else if ix.accepts(state, incoming, stage, csrf) {
            Checked::Ok(f(ix))
        } else {
            Checked::Forbidden
        }
    });
    result.unwrap_or(Checked::Missing)
}

/// Remove the interaction `id` for good (re-checking CSRF and browser) and return its request.
fn take(
    state: &AppState,
    incoming: &Incoming,
    id: &str,
    stage: Stage,
    csrf: &str,
    now: OffsetDateTime,
) -> Option<PendingAuthorization> {
    state
        .interactions
        .take_if(id, now, |ix| ix.accepts(state, incoming, stage, csrf))
        .map(|ix| ix.pending)
}

/// What a login post found in its interaction.
struct LoginAttempt {
    /// Attempts so far, this one included.
    attempts: u32,
    /// For showing the page again after a wrong password.
    pending: PendingAuthorization,
    csrf: String,
}

/// `POST /interaction/{id}/login`: Cancel, or check the password, start a session and resume.
pub(crate) async fn login(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    incoming: Incoming,
) -> Response {
    into_axum(match login_inner(&state, &id, &incoming).await {
        Ok(resp) | Err(resp) => resp,
    })
}

async fn login_inner(
    state: &AppState,
    id: &str,
    incoming: &Incoming,
) -> Result<HttpResponse, HttpResponse> {
    let form = incoming.form().ok_or_else(pages::bad_form)?;
    let csrf = form.get("csrf").unwrap_or("");
    let now = state.provider.clock().now();

    if form.get("action") == Some("cancel") {
        let pending =
            take(state, incoming, id, Stage::Login, csrf, now).ok_or_else(pages::expired)?;
        let outcome = state.provider.cancel(&pending).await;
        return Ok(respond(state, incoming, outcome, None));
    }

    // Count the attempt before the (slow) password check, so parallel guesses count too.
    let attempt = check(state, incoming, id, Stage::Login, csrf, now, |ix| {
        ix.failed_logins += 1;
        LoginAttempt {
            attempts: ix.failed_logins,
            pending: ix.pending.clone(),
            csrf: ix.csrf.clone(),
        }
    });
    let attempt = match attempt {
        Checked::Missing => return Err(pages::expired()),
        Checked::Forbidden => return Err(pages::forbidden()),
        Checked::Ok(a) => a,
    };
    if attempt.attempts > MAX_FAILED_LOGINS {
        state.interactions.remove(id);
        return Err(pages::message(
            429,
            "Too many attempts",
            "Too many failed sign-in attempts. Go back to the application and start again.",
        ));
    }

    let username = form.get("username").unwrap_or("").trim();
    let password = form.get("password").unwrap_or("");
    let plausible = !username.is_empty()
        && !password.is_empty()
        && username.len() <= MAX_USERNAME
        && password.len() <= MAX_PASSWORD;
    let throttle = Attempt::Password { username };
    if plausible && !state.limiter.allow(&throttle) {
        let message = "Too many failed sign-ins for this account. Try again in a few minutes.";
        let mut page = render_login(
            state,
            id,
            &attempt.csrf,
            &attempt.pending,
            Some(username),
            Some(message),
        );
        page.status = 429;
        return Ok(page);
    }
    let subject = if plausible {
        let subject = authenticate(state, username, password).await?;
        match subject {
            Some(_) => state.limiter.succeeded(&throttle),
            None => state.limiter.failed(&throttle),
        }
        subject
    } else {
        None
    };
    let Some(subject) = subject else {
        // The same message for an unknown user and a wrong password.
        let message = if username.is_empty() || password.is_empty() {
            "Enter your username and password."
        } else {
            "The username or password is incorrect."
        };
        let typed = Some(username).filter(|u| !u.is_empty());
        let page = render_login(
            state,
            id,
            &attempt.csrf,
            &attempt.pending,
            typed,
            Some(message),
        );
        return Ok(page);
    };

    let pending = take(state, incoming, id, Stage::Login, csrf, now).ok_or_else(pages::expired)?;
    let (record, cookie) = start_session(state, incoming, subject, username)?;
    let outcome = state
        .provider
        .resume(pending, Some(&record.session), None)
        .await;
    let mut resp = respond(state, incoming, outcome, Some(&record.username));
    resp.headers.push(("set-cookie", cookie.into()));
    Ok(resp)
}

/// Check a password (the user store runs PBKDF2 on the blocking pool).
async fn authenticate(
    state: &AppState,
    username: &str,
    password: &str,
) -> Result<Option<String>, HttpResponse> {
    state
        .provider
        .users()
        .authenticate(username, password)
        .await
        .map_err(|e| {
            eprintln!("user store error: {e}");
            pages::server_error()
        })
}

/// `POST /interaction/{id}/consent`: Allow or Deny, then resume.
pub(crate) async fn consent(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    incoming: Incoming,
) -> Response {
    into_axum(match consent_inner(&state, &id, &incoming).await {
        Ok(resp) | Err(resp) => resp,
    })
}

async fn consent_inner(
    state: &AppState,
    id: &str,
    incoming: &Incoming,
) -> Result<HttpResponse, HttpResponse> {
    let form = incoming.form().ok_or_else(pages::bad_form)?;
    let csrf = form.get("csrf").unwrap_or("");
    let now = state.provider.clock().now();
    match check(state, incoming, id, Stage::Consent, csrf, now, |_| ()) {
        Checked::Missing => return Err(pages::expired()),
        Checked::Forbidden => return Err(pages::forbidden()),
        Checked::Ok(()) => {}
    }
    let decision = match form.get("decision") {
        Some("allow") => ConsentDecision::Granted(None),
        Some("deny") => ConsentDecision::Denied,
        _ => return Err(pages::message(400, "Bad request", "Choose Allow or Deny.")),
    };
    let pending =
        take(state, incoming, id, Stage::Consent, csrf, now).ok_or_else(pages::expired)?;
    // The core checks that the session's user is the one who was shown the page; without a
    // session it asks for a login again.
    let record = current_session(state, incoming);
    let outcome = state
        .provider
        .resume(pending, record.as_ref().map(|r| &r.session), Some(decision))
        .await;
    let username = record.as_ref().map(|r| r.username.as_str());
    Ok(respond(state, incoming, outcome, username))
}
