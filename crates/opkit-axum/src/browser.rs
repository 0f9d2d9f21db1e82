//! Browser state: the login session cookie (a random id whose SHA-256 keys a
//! [`SessionRecord`](crate::SessionRecord)), the binding cookie that ties pending pages to the
//! browser that opened them, and CSRF tokens. Cookies are `HttpOnly; SameSite=Lax; Path=/`,
//! plus `Secure` and the `__Host-` prefix when the issuer is https.

use opkit::http::HttpResponse;
use opkit::secret::{constant_time_eq, random_token, SecretHash};
use opkit::store::{Store, UserStore};
use opkit::Session;

use crate::adapter::Incoming;
use crate::kit::Kit;
use crate::pages::MessageKind;
use crate::state::SessionRecord;

/// The login session cookie.
const SESSION_COOKIE: &str = "opkit_session";
/// The cookie binding pages to the browser that opened them.
const BROWSER_COOKIE: &str = "opkit_browser";

/// How cookies are scoped.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CookiePolicy {
    /// `Secure` and the `__Host-` name prefix (https issuers).
    pub(crate) secure: bool,
}

impl CookiePolicy {
    /// The cookie's name on the wire: `__Host-` prefixed when secure, which pins it to this
    /// host, path `/`, and https.
    pub(crate) fn name(&self, base: &str) -> String {
        if self.secure {
            format!("__Host-{base}")
        } else {
            base.to_owned()
        }
    }

    /// A `Set-Cookie` value for a browser-session cookie.
    pub(crate) fn set(&self, base: &str, value: &str) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!(
            "{}={value}; Path=/; HttpOnly; SameSite=Lax{secure}",
            self.name(base)
        )
    }

    /// A `Set-Cookie` value that deletes the cookie.
    pub(crate) fn clear(&self, base: &str) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!(
            "{}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax{secure}",
            self.name(base)
        )
    }
}

impl<S: Store + 'static, U: UserStore + 'static> Kit<S, U> {
    pub(crate) fn session_id(&self, incoming: &Incoming) -> Option<SecretHash> {
        incoming
            .cookie(&self.cookies.name(SESSION_COOKIE))
            .map(SecretHash::of)
    }

    /// The login session the request's cookie maps to, if it is still valid.
    pub(crate) async fn current_session(&self, incoming: &Incoming) -> Option<SessionRecord> {
        let id = self.session_id(incoming)?;
        let now = self.provider.clock().now();
        match self.sessions.get(id, now).await {
            Ok(record) => record,
            Err(e) => {
                crate::log::line(&format!("session store: {e}"));
                None
            }
        }
    }

    /// A new login session, always under a new id (no session fixation), replacing the
    /// browser's old one. Returns it with its `Set-Cookie` value.
    pub(crate) async fn start_session(
        &self,
        incoming: &Incoming,
        subject: String,
        username: &str,
    ) -> Result<(SessionRecord, String), HttpResponse> {
        self.end_session(incoming).await;
        let now = self.provider.clock().now();
        let record = SessionRecord {
            session: Session {
                subject,
                auth_time: now,
            },
            username: username.to_owned(),
        };
        let id = self.new_secret()?;
        self.sessions
            .insert(
                SecretHash::of(&id),
                record.clone(),
                now + self.session_ttl,
                now,
            )
            .await
            .map_err(|e| self.state_failed(e))?;
        Ok((record, self.cookies.set(SESSION_COOKIE, &id)))
    }

    /// End the browser's login session server-side (see [`Kit::clear_session_cookie`]).
    pub(crate) async fn end_session(&self, incoming: &Incoming) {
        if let Some(id) = self.session_id(incoming) {
            if let Err(e) = self.sessions.remove(id).await {
                crate::log::line(&format!("session store: {e}"));
            }
        }
    }

    /// The `Set-Cookie` value that deletes the login session cookie.
    pub(crate) fn clear_session_cookie(&self) -> String {
        self.cookies.clear(SESSION_COOKIE)
    }

    /// The request's binding cookie, or a new one to set with the response.
    pub(crate) fn browser(&self, incoming: &Incoming) -> Result<Browser, HttpResponse> {
        let existing = incoming
            .cookie(&self.cookies.name(BROWSER_COOKIE))
            .filter(|v| v.len() == 43);
        Ok(match existing {
            Some(id) => Browser {
                hash: SecretHash::of(id),
                set_cookie: None,
            },
            None => {
                let id = self.new_secret()?;
                Browser {
                    hash: SecretHash::of(&id),
                    set_cookie: Some(self.cookies.set(BROWSER_COOKIE, &id)),
                }
            }
        })
    }

    /// Whether the request comes from the browser whose binding cookie hashes to `expected`
    /// (constant time).
    pub(crate) fn is_browser(&self, incoming: &Incoming, expected: &SecretHash) -> bool {
        incoming
            .cookie(&self.cookies.name(BROWSER_COOKIE))
            .is_some_and(|b| constant_time_eq(&SecretHash::of(b).0, &expected.0))
    }

    /// A fresh 256-bit secret from the provider's random source.
    pub(crate) fn new_secret(&self) -> Result<String, HttpResponse> {
        random_token(self.provider.rng(), 32).map_err(|_| self.message(MessageKind::ServerError))
    }
}

/// The browser's binding: the hash to remember, and the cookie to set if it is new.
pub(crate) struct Browser {
    pub(crate) hash: SecretHash,
    pub(crate) set_cookie: Option<String>,
}

/// Whether a posted CSRF token equals the expected one (constant time, any lengths).
pub(crate) fn csrf_matches(posted: &str, expected: &str) -> bool {
    constant_time_eq(&SecretHash::of(posted).0, &SecretHash::of(expected).0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_attributes() {
        let secure = CookiePolicy { secure: true };
        assert_eq!(
            secure.set("opkit_session", "v"),
            "__Host-opkit_session=v; Path=/; HttpOnly; SameSite=Lax; Secure"
        );
        let plain = CookiePolicy { secure: false };
        assert!(plain
            .clear("x")
            .starts_with("x=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"));
        assert!(csrf_matches("abc", "abc") && !csrf_matches("abc", "abcd"));
    }
}
