use std::fmt;

/// A credential check the provider is about to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Attempt<'a> {
    /// A resource owner password check (password grant) for this username.
    Password {
        /// The username as sent.
        username: &'a str,
    },
    /// A client secret check at the token, revocation or introspection endpoint.
    ClientSecret {
        /// The `client_id` as sent.
        client_id: &'a str,
    },
}

/// The host's rate limiter for credential checks: brute force against passwords and client
/// secrets is throttled here. Calls are synchronous and must be cheap (an in-process counter);
/// a host with a shared backend keeps a local view of it. A host's own login page should count
/// its password checks through the same limiter as [`Attempt::Password`], so the password grant
/// and the login page share one budget per user.
///
/// ```
/// use opkit::host::{Attempt, RateLimit};
/// use std::sync::atomic::{AtomicU32, Ordering};
///
/// /// Refuses everything after three failures (a real one counts per key and window).
/// struct ThreeStrikes(AtomicU32);
/// impl RateLimit for ThreeStrikes {
///     fn allow(&self, _: &Attempt<'_>) -> bool { self.0.load(Ordering::Relaxed) < 3 }
///     fn failed(&self, _: &Attempt<'_>) { self.0.fetch_add(1, Ordering::Relaxed); }
/// }
/// ```
pub trait RateLimit: Send + Sync {
    /// Whether the check may happen now. A refusal answers `429` with `Retry-After`.
    fn allow(&self, attempt: &Attempt<'_>) -> bool;
    /// The check failed (wrong password or secret).
    fn failed(&self, attempt: &Attempt<'_>);
    /// The check succeeded.
    fn succeeded(&self, _attempt: &Attempt<'_>) {}
}

/// No limits (the default). Hosts exposing the password grant or secrets to the internet
/// should install a real limiter.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoRateLimit;

impl RateLimit for NoRateLimit {
    fn allow(&self, _: &Attempt<'_>) -> bool {
        true
    }
    fn failed(&self, _: &Attempt<'_>) {}
}

impl fmt::Display for Attempt<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Attempt::Password { .. } => f.write_str("password check"),
            Attempt::ClientSecret { .. } => f.write_str("client secret check"),
        }
    }
}
