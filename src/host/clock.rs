use time::OffsetDateTime;

/// The source of "now" for every expiry decision.
///
/// Tests inject a clock they can move; production hosts use [`SystemClock`].
///
/// ```
/// use opkit::host::{Clock, SystemClock};
/// let now = SystemClock.now();
/// assert!(now.unix_timestamp() > 1_600_000_000);
/// ```
pub trait Clock: Send + Sync {
    /// The current time, in UTC.
    fn now(&self) -> OffsetDateTime;
}

/// The wall clock. The only place the crate reads the system time, and only when the host picks it.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

impl<C: Clock + ?Sized> Clock for std::sync::Arc<C> {
    fn now(&self) -> OffsetDateTime {
        (**self).now()
    }
}
