//! What the host supplies besides storage: the clock and the random source.
//!
//! The core never reads the wall clock or the OS random source on its own; every expiry decision
//! goes through [`Clock`] and every code, token, secret and id comes from [`Rng`].

mod clock;
mod rate_limit;
mod rng;

pub use clock::{Clock, SystemClock};
pub use rate_limit::{Attempt, NoRateLimit, Outcome, RateLimit, Throttled};
pub use rng::{Rng, RngError, SystemRng};
