use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

/// Something the provider (or the host) is about to do for a caller who may be anonymous: check
/// a credential, or create something that is kept for the caller (a client, a pending login
/// page). A [`RateLimit`] decides which it counts; one that does not know a variant lets it
/// through (the enum is `#[non_exhaustive]`, so match with a `_` arm).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Attempt<'a> {
    /// A resource owner password check (password grant or a login page) for this username.
    Password {
        /// The username as sent.
        username: &'a str,
        /// Where the attempt comes from, as the host knows it (the TCP peer, or the client
        /// address a trusted proxy reported); `None` when unknown.
        source: Option<IpAddr>,
    },
    /// A client secret check at the token, revocation or introspection endpoint.
    ClientSecret {
        /// The `client_id` as sent.
        client_id: &'a str,
    },
    /// An RFC 7591 dynamic registration while registration is
    /// [open](crate::config::RegistrationPolicy::Open), reserved by
    /// [`Provider::register`](crate::Provider::register) after the policy check and before the
    /// document is read, and settled [`Succeeded`](Outcome::Succeeded) when the client was
    /// stored, [`Failed`](Outcome::Failed) when the request was refused (a wrong document) and
    /// [`NotChecked`](Outcome::NotChecked) when the store failed. A caller holding the
    /// [initial access token](crate::config::RegistrationPolicy::InitialAccessToken) is trusted
    /// and never limited, so this is not reserved for it; RFC 7592 updates through a
    /// registration access token are not limited either (they replace a client, they do not add
    /// one).
    Registration {
        /// Where the request comes from, as the host knows it; `None` when unknown.
        source: Option<IpAddr>,
    },
    /// A host is about to keep a pending step for a browser: a login or consent page of the
    /// authorization endpoint, held until it expires (the `opkit-axum` kit reserves this before
    /// it shows such a page, so that one source cannot fill the store of pending steps).
    /// Settled [`Succeeded`](Outcome::Succeeded) when the step was kept,
    /// [`NotChecked`](Outcome::NotChecked) when it could not be (and the page was not shown).
    PendingStep {
        /// Where the request comes from, as the host knows it; `None` when unknown.
        source: Option<IpAddr>,
    },
}

/// How a reserved [`Attempt`] ended (see [`RateLimit::settle`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The credential was right; or what was to be created was created.
    Succeeded,
    /// The credential was wrong (or the user unknown); or the request was refused (a wrong
    /// registration document) and nothing was created.
    Failed,
    /// The check could not be made, or nothing could be created (a store failed): neither the
    /// caller's success nor its fault.
    NotChecked,
}

/// A refusal: the check may not happen before `retry_after` has passed. Answered `429` with a
/// `Retry-After` of that many seconds, rounded up, so a retry after it is not refused for the
/// same reason (another attempt may still take the slot first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Throttled {
    /// How long until a check may be reserved again.
    pub retry_after: Duration,
}

impl Throttled {
    /// `retry_after` in whole seconds, rounded up, at least 1: the `Retry-After` value.
    ///
    /// ```
    /// use opkit::host::Throttled;
    /// use std::time::Duration;
    /// let t = Throttled { retry_after: Duration::from_millis(1500) };
    /// assert_eq!(t.retry_after_secs(), 2);
    /// ```
    pub fn retry_after_secs(&self) -> u64 {
        let d = self.retry_after;
        let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
        secs.max(1)
    }
}

impl fmt::Display for Throttled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "too many attempts; retry in {} s",
            self.retry_after_secs()
        )
    }
}

impl std::error::Error for Throttled {}

/// The host's rate limiter for credential checks and for what anonymous callers may create:
/// brute force against passwords (and, if the host wants, client secrets) is throttled here,
/// and so are dynamic registrations ([`Attempt::Registration`]) and the pending login pages a
/// host keeps ([`Attempt::PendingStep`]), each a quota per source.
///
/// Every attempt is first [reserved](Self::reserve), *before* the expensive work, and the
/// reservation is what the limiter counts: it must decide and count in one atomic step, so that
/// any number of parallel attempts get no more real checks than the budget allows. Each
/// granted reservation is then [settled](Self::settle) exactly once with its [`Outcome`].
///
/// Calls are synchronous and must be cheap (an in-process counter); a host with a shared
/// backend keeps a local view of it. A host's own login page should reserve its password checks
/// through the same limiter as [`Attempt::Password`], so the password grant and the login page
/// share one budget.
///
/// ```
/// use opkit::host::{Attempt, Outcome, RateLimit, Throttled};
/// use std::sync::Mutex;
/// use std::time::Duration;
///
/// /// Three checks in all, counted when reserved; a success gives its reservation back.
/// struct ThreeChecks(Mutex<u32>);
/// impl RateLimit for ThreeChecks {
///     fn reserve(&self, _: &Attempt<'_>) -> Result<(), Throttled> {
///         let mut used = self.0.lock().unwrap_or_else(|e| e.into_inner());
///         if *used >= 3 {
///             return Err(Throttled { retry_after: Duration::from_secs(60) });
///         }
///         *used += 1;
///         Ok(())
///     }
///     fn settle(&self, _: &Attempt<'_>, outcome: Outcome) {
///         if outcome != Outcome::Failed {
///             *self.0.lock().unwrap_or_else(|e| e.into_inner()) -= 1;
///         }
///     }
/// }
///
/// let limiter = ThreeChecks(Mutex::new(0));
/// let alice = Attempt::Password { username: "alice", source: None };
/// for _ in 0..3 {
///     limiter.reserve(&alice).unwrap();
///     limiter.settle(&alice, Outcome::Failed);
/// }
/// assert!(limiter.reserve(&alice).is_err());
/// ```
pub trait RateLimit: Send + Sync {
    /// Reserve one check of `attempt`, counted now; `Err` refuses it (answered `429`).
    fn reserve(&self, attempt: &Attempt<'_>) -> Result<(), Throttled>;
    /// How a check reserved with [`reserve`](Self::reserve) ended.
    fn settle(&self, attempt: &Attempt<'_>, outcome: Outcome);
}

/// No limits (the default). Hosts exposing the password grant, a login page or open
/// registration to the internet should install a real limiter (the `opkit-axum` kit does).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoRateLimit;

impl RateLimit for NoRateLimit {
    fn reserve(&self, _: &Attempt<'_>) -> Result<(), Throttled> {
        Ok(())
    }
    fn settle(&self, _: &Attempt<'_>, _: Outcome) {}
}

impl fmt::Display for Attempt<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Attempt::Password { .. } => f.write_str("password check"),
            Attempt::ClientSecret { .. } => f.write_str("client secret check"),
            Attempt::Registration { .. } => f.write_str("client registration"),
            Attempt::PendingStep { .. } => f.write_str("login or consent page"),
        }
    }
}
