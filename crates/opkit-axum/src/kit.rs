//! The state every handler shares, and how it renders pages through the host's [`Pages`].

use std::sync::Arc;

use opkit::host::{Attempt, Event, Outcome, RateLimit};
use opkit::http::HttpResponse;
use opkit::secret::SecretHash;
use opkit::store::{Store, UserStore};
use opkit::{Error, ErrorKind, Provider};
use time::{Duration, OffsetDateTime};

use crate::browser::{Browser, CookiePolicy};
use crate::limiter::Limiter;
use crate::observe::Observer;
use crate::pages::{self, MessageKind, MessageView, Pages};
use crate::state::{PendingRecord, PendingStep, PendingStore, SessionStore, StateError};
use crate::users::BlockingUsers;

/// The provider type the kit serves: the host's store, and its users with the password check
/// off the async workers.
pub type KitProvider<S, U> = Provider<S, BlockingUsers<U>>;

/// Shared state of all handlers.
pub(crate) struct Kit<S, U> {
    pub(crate) provider: KitProvider<S, U>,
    pub(crate) pages: Arc<dyn Pages>,
    pub(crate) sessions: Arc<dyn SessionStore>,
    pub(crate) pending: Arc<dyn PendingStore>,
    /// The limiter installed in the provider; the login page counts through it too.
    pub(crate) limiter: Arc<dyn RateLimit>,
    /// The kit's own limiter when the host gave none (purged periodically).
    pub(crate) own_limiter: Option<Arc<Limiter>>,
    /// SHA-256 of the management API's bearer token; no management API without it.
    pub(crate) admin_token: Option<SecretHash>,
    pub(crate) cookies: CookiePolicy,
    pub(crate) session_ttl: Duration,
    pub(crate) access_log: bool,
    pub(crate) body_limit: usize,
    /// Where the provider's events go (also installed in the provider).
    pub(crate) observer: Arc<Observer>,
    /// Mount `/healthz` and `/readyz`.
    pub(crate) health: bool,
}

impl<S: Store + 'static, U: UserStore + 'static> Kit<S, U> {
    /// The issuer identifier.
    pub(crate) fn issuer(&self) -> &str {
        self.provider.config().issuer()
    }

    /// A short page of `kind`, with its usual status and wording.
    pub(crate) fn message(&self, kind: MessageKind) -> HttpResponse {
        let (status, title, text) = pages::wording(kind);
        self.message_page(kind, status, title, text, None)
    }

    pub(crate) fn message_page(
        &self,
        kind: MessageKind,
        status: u16,
        title: &str,
        text: &str,
        error: Option<(&str, &str)>,
    ) -> HttpResponse {
        let page = self.pages.message(&MessageView {
            kind,
            status,
            title,
            text,
            error,
        });
        // No `Retry-After` here: a spent login page (too many attempts on it) does not recover
        // with time, the application must start again. Throttled checks announce their delay.
        pages::html(status, page, None)
    }

    /// The page for a refused request (never a redirect), with the error's status and, for a
    /// `405`, its `Allow` header.
    pub(crate) fn refused(&self, kind: MessageKind, err: &Error) -> HttpResponse {
        if let ErrorKind::Store(store) = err.kind() {
            self.provider
                .emit(&opkit::host::Event::StoreFailed { kind: *store });
        }
        if let Some(cause) = err.cause() {
            crate::log::line(&format!("refused ({}): {cause}", err.code()));
        }
        let (_, title, text) = pages::wording(kind);
        let description = err.description();
        let resp = self.message_page(
            kind,
            err.status(),
            title,
            text,
            Some((err.code().as_str(), &description)),
        );
        match err.kind() {
            ErrorKind::MethodNotAllowed(allow) => resp.set_header("allow", *allow),
            ErrorKind::RateLimited(throttled) => {
                let secs = throttled.retry_after_secs().to_string();
                resp.set_header("retry-after", secs)
            }
            _ => resp,
        }
    }

    /// Keep `step` under the new `id` until `expires_at`, bound to `browser` and to the form's
    /// `csrf` token, and answer with `page` (setting the binding cookie when it is new).
    pub(crate) async fn keep_pending(
        &self,
        id: &str,
        step: PendingStep,
        csrf: String,
        browser: Browser,
        expires_at: OffsetDateTime,
        mut page: HttpResponse,
    ) -> Result<HttpResponse, HttpResponse> {
        let record = PendingRecord {
            step,
            csrf,
            browser: browser.hash,
            failed_logins: 0,
        };
        let now = self.provider.clock().now();
        self.pending
            .put(SecretHash::of(id), record, expires_at, now)
            .await
            .map_err(|e| self.state_failed(e))?;
        if let Some(cookie) = browser.set_cookie {
            page.headers.push(("set-cookie", cookie.into()));
        }
        Ok(page)
    }

    /// Reserve a new pending page (login, consent, logout confirmation) in the quota of the
    /// request's source, or the `429` page with `Retry-After`.
    pub(crate) fn reserve_page(
        &self,
        incoming: &crate::adapter::Incoming,
    ) -> Result<Attempt<'static>, HttpResponse> {
        let attempt = Attempt::PendingStep {
            source: incoming.remote_addr(),
        };
        if let Err(throttled) = self.limiter.reserve(&attempt) {
            self.provider.emit(&Event::Throttled {
                attempt,
                retry_after: throttled.retry_after,
            });
            let err = Error::new(ErrorKind::RateLimited(throttled));
            return Err(self.refused(MessageKind::Busy, &err));
        }
        Ok(attempt)
    }

    /// A page reserved with [`reserve_page`](Self::reserve_page) was kept (it keeps its place
    /// in the quota) or not (the place is given back).
    pub(crate) fn settle_page(&self, attempt: &Attempt<'_>, kept: bool) {
        let outcome = if kept {
            Outcome::Succeeded
        } else {
            Outcome::NotChecked
        };
        self.limiter.settle(attempt, outcome);
    }

    /// The response when a state store refused or failed.
    pub(crate) fn state_failed(&self, e: StateError) -> HttpResponse {
        match e {
            StateError::Full => self.message(MessageKind::Busy),
            StateError::Unavailable(message) => {
                self.observer.state_store_failed();
                crate::log::line(&format!("state store unavailable: {message}"));
                self.message(MessageKind::Busy)
            }
            other => {
                crate::log::line(&other.to_string());
                self.message(MessageKind::ServerError)
            }
        }
    }
}
