//! Browser state: the login session (`opkit_session` cookie → [`opkit::Session`]) and the
//! browser binding cookie (`opkit_browser`) that ties login, consent and logout pages to the
//! browser that opened them. Cookies are `HttpOnly; SameSite=Lax; Path=/`, plus `Secure` and the
//! `__Host-` prefix when the issuer is https. The server keeps only hashes of cookie values.

use opkit::http::HttpResponse;
use opkit::secret::{constant_time_eq, random_token, SecretHash};
use opkit::Session;
use time::Duration;

use super::pages;
use super::web::{CookiePolicy, Incoming};
use super::AppState;

/// The login session cookie.
const SESSION_COOKIE: &str = "opkit_session";
/// The cookie binding pages to the browser that opened them.
const BROWSER_COOKIE: &str = "opkit_browser";
/// How long a login session lasts (the cookie itself ends with the browser session).
const SESSION_TTL: Duration = Duration::hours(12);

/// A login session, as kept server-side.
#[derive(Clone)]
pub(crate) struct SessionRecord {
    pub(crate) session: Session,
    pub(crate) username: String,
}

fn cookie_policy(state: &AppState) -> CookiePolicy {
    CookiePolicy {
        secure: state.secure_cookies,
    }
}

/// The login session the request's cookie maps to, if it is still valid.
pub(crate) fn current_session(state: &AppState, incoming: &Incoming) -> Option<SessionRecord> {
    let value = incoming.cookie(&cookie_policy(state).name(SESSION_COOKIE))?;
    let now = state.provider.clock().now();
    state.sessions.with(value, now, |record| record.clone())
}

/// A new login session (always a new id: no session fixation), replacing the browser's old one.
/// Returns it with its `Set-Cookie` value.
pub(crate) fn start_session(
    state: &AppState,
    incoming: &Incoming,
    subject: String,
    username: &str,
) -> Result<(SessionRecord, String), HttpResponse> {
    let policy = cookie_policy(state);
    if let Some(old) = incoming.cookie(&policy.name(SESSION_COOKIE)) {
        state.sessions.remove(old);
    }
    let now = state.provider.clock().now();
    let record = SessionRecord {
        session: Session {
            subject,
            auth_time: now,
        },
        username: username.to_owned(),
    };
    let id = new_secret(state)?;
    state
        .sessions
        .insert(&id, record.clone(), now + SESSION_TTL, now)
        .map_err(|_| pages::busy())?;
    Ok((record, policy.set(SESSION_COOKIE, &id)))
}

/// End the browser's login session (server-side; see [`clear_cookie`] for the cookie).
pub(crate) fn end_session(state: &AppState, incoming: &Incoming) {
    if let Some(id) = incoming.cookie(&cookie_policy(state).name(SESSION_COOKIE)) {
        state.sessions.remove(id);
    }
}

/// The `Set-Cookie` value that deletes the login session cookie.
pub(crate) fn clear_cookie(state: &AppState) -> String {
    cookie_policy(state).clear(SESSION_COOKIE)
}

/// The browser's binding cookie, or a new one (to be set with the response).
pub(crate) struct Browser {
    id: String,
    /// The `Set-Cookie` value, when the cookie is new.
    pub(crate) set_cookie: Option<String>,
}

impl Browser {
    /// The request's binding cookie, or a new one.
    pub(crate) fn of(state: &AppState, incoming: &Incoming) -> Result<Browser, HttpResponse> {
        let policy = cookie_policy(state);
        let existing = incoming
            .cookie(&policy.name(BROWSER_COOKIE))
            .filter(|v| v.len() == 43);
        Ok(match existing {
            Some(id) => Browser {
                id: id.to_owned(),
                set_cookie: None,
            },
            None => {
                let id = new_secret(state)?;
                let set_cookie = Some(policy.set(BROWSER_COOKIE, &id));
                Browser { id, set_cookie }
            }
        })
    }

    /// What to remember to recognise this browser later.
    pub(crate) fn hash(&self) -> SecretHash {
        SecretHash::of(&self.id)
    }
}

/// Whether the request comes from the browser whose binding cookie hashes to `expected`
/// (constant time).
pub(crate) fn is_browser(state: &AppState, incoming: &Incoming, expected: &SecretHash) -> bool {
    incoming
        .cookie(&cookie_policy(state).name(BROWSER_COOKIE))
        .is_some_and(|b| constant_time_eq(&SecretHash::of(b).0, &expected.0))
}

/// Whether a posted CSRF token equals the expected one (constant time, any lengths).
pub(crate) fn csrf_matches(posted: &str, expected: &str) -> bool {
    constant_time_eq(&SecretHash::of(posted).0, &SecretHash::of(expected).0)
}

/// A fresh 256-bit secret from the provider's random source.
pub(crate) fn new_secret(state: &AppState) -> Result<String, HttpResponse> {
    random_token(state.provider.rng(), 32).map_err(|_| pages::server_error())
}
