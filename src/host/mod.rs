//! What the host supplies besides storage: the clock, the random source, the rate limiter and
//! the event sink, and the claims hook.
//!
//! The core never reads the wall clock or the OS random source on its own; every expiry decision
//! goes through [`Clock`] and every code, token, secret and id comes from [`Rng`]. What happened
//! is reported to [`Events`].

mod claims_hook;
mod clock;
mod events;
mod exchange_policy;
mod rate_limit;
mod rng;

pub use claims_hook::{ClaimsFuture, ClaimsHook, ExtraClaims, TokenContext};
pub(crate) use claims_hook::{RESERVED_ACCESS_TOKEN, RESERVED_ID_TOKEN};
pub use clock::{Clock, SystemClock};
pub use events::{Event, Events, Issued, NoEvents, SignInVia};
pub use exchange_policy::{
    ExchangeDecision, ExchangeRequest, ExchangedTokenType, TokenExchangePolicy,
};
pub use rate_limit::{Attempt, NoRateLimit, Outcome, RateLimit, Throttled};
pub use rng::{Rng, RngError, SystemRng};
