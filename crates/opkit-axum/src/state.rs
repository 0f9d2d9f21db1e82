//! The kit's server-side browser state, as traits a durable store can implement: login
//! sessions ([`SessionStore`]) and pending steps of the authorization and logout endpoints
//! ([`PendingStore`]). Both are keyed by the SHA-256 of a random 256-bit id (the session cookie,
//! the id in a form's URL), so a store never holds the cookie or id that finds a record, and
//! both records serialize (`serde`), so a login started on one instance can complete on another.
//! A pending logout keeps the request's parameters as received, `id_token_hint` included: an ID
//! token identifies its user to a store's reader, although the provider accepts it for nothing
//! but a hint.
//!
//! Methods return boxed futures so the traits are object-safe: the kit holds them as
//! `Arc<dyn SessionStore>` and `Arc<dyn PendingStore>`, and a host's type stays out of the kit's
//! public types. [`crate::MemorySessions`] and [`crate::MemoryPending`] are the in-memory
//! implementations.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use opkit::secret::SecretHash;
use opkit::Session;
use opkit::{ConsentStep, LoginStep};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The future a state store method returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a state store method returns.
pub type StateResult<T> = Result<T, StateError>;

/// A state store failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum StateError {
    /// The store holds as many live records as it may (a cap against anonymous floods); the kit
    /// answers `503`.
    Full,
    /// The backend is briefly unable to serve (unreachable, busy, out of disk): the kit answers
    /// `503`, and the user may retry (the message is for logs).
    Unavailable(String),
    /// The backend failed (the message is for logs, never shown to users).
    Backend(String),
}

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateError::Full => f.write_str("the state store is full"),
            StateError::Unavailable(message) => write!(f, "state store unavailable: {message}"),
            StateError::Backend(message) => write!(f, "state store error: {message}"),
        }
    }
}

impl std::error::Error for StateError {}

/// A login session as the kit keeps it server-side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// The subject and when the user authenticated.
    pub session: Session,
    /// The name the user logged in with (shown on the consent and logout pages).
    pub username: String,
}

/// Login sessions by the SHA-256 of their cookie value.
///
/// Contract: [`get`](SessionStore::get) never returns a record past its `expires_at`;
/// [`insert`](SessionStore::insert) may refuse with [`StateError::Full`] when a cap is reached;
/// [`remove`](SessionStore::remove) of an unknown id succeeds; [`purge_expired`](SessionStore::purge_expired)
/// removes what expired and returns how many records it removed.
pub trait SessionStore: Send + Sync + 'static {
    /// Keep `record` under `id` until `expires_at` (`now` is the provider's clock).
    fn insert(
        &self,
        id: SecretHash,
        record: SessionRecord,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> BoxFuture<'_, StateResult<()>>;

    /// The live record under `id`.
    fn get(
        &self,
        id: SecretHash,
        now: OffsetDateTime,
    ) -> BoxFuture<'_, StateResult<Option<SessionRecord>>>;

    /// Forget the record under `id` (logout, or a new login in the same browser).
    fn remove(&self, id: SecretHash) -> BoxFuture<'_, StateResult<()>>;

    /// Remove what expired at `now`; how many records were removed.
    fn purge_expired(&self, now: OffsetDateTime) -> BoxFuture<'_, StateResult<u64>>;
}

impl<T: SessionStore + ?Sized> SessionStore for std::sync::Arc<T> {
    fn insert(
        &self,
        id: SecretHash,
        record: SessionRecord,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> BoxFuture<'_, StateResult<()>> {
        (**self).insert(id, record, expires_at, now)
    }

    fn get(
        &self,
        id: SecretHash,
        now: OffsetDateTime,
    ) -> BoxFuture<'_, StateResult<Option<SessionRecord>>> {
        (**self).get(id, now)
    }

    fn remove(&self, id: SecretHash) -> BoxFuture<'_, StateResult<()>> {
        (**self).remove(id)
    }

    fn purge_expired(&self, now: OffsetDateTime) -> BoxFuture<'_, StateResult<u64>> {
        (**self).purge_expired(now)
    }
}

/// A step waiting for the user: a login or consent page of the authorization endpoint, or a
/// logout confirmation. Opaque to stores: they keep it whole (it serializes) and hand it back.
#[derive(Serialize, Deserialize)]
pub struct PendingRecord {
    pub(crate) step: PendingStep,
    /// The token the page's form must post back.
    pub(crate) csrf: String,
    /// SHA-256 of the binding cookie of the browser the page was shown to.
    pub(crate) browser: SecretHash,
    /// Wrong passwords posted to this login page so far.
    pub(crate) failed_logins: u32,
}

impl fmt::Debug for PendingRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.step {
            PendingStep::Login(_) => "login",
            PendingStep::Consent(_) => "consent",
            PendingStep::Logout { .. } => "logout",
        };
        f.debug_struct("PendingRecord")
            .field("step", &kind)
            .field("csrf", &"<redacted>")
            .field("failed_logins", &self.failed_logins)
            .finish_non_exhaustive()
    }
}

/// What is pending.
#[derive(Serialize, Deserialize)]
pub(crate) enum PendingStep {
    Login(LoginStep),
    Consent(ConsentStep),
    /// A logout request waiting for confirmation: the request's parameters as received (query
    /// or form body), validated again when the user confirms.
    Logout {
        params: String,
    },
}

/// Pending steps by the SHA-256 of their id.
///
/// Contract: [`take`](PendingStore::take) is atomic: of two concurrent takes of one id at most
/// one gets the record, and a taken record is gone (single use); an expired record is never
/// returned; [`put`](PendingStore::put) inserts or replaces, and at a cap either makes room
/// (dropping the record expiring soonest, as [`crate::MemoryPending`] does: anonymous callers
/// can open steps, and must not be able to refuse everyone else theirs) or refuses with
/// [`StateError::Full`].
pub trait PendingStore: Send + Sync + 'static {
    /// Keep `record` under `id` until `expires_at`.
    fn put(
        &self,
        id: SecretHash,
        record: PendingRecord,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> BoxFuture<'_, StateResult<()>>;

    /// Remove and return the live record under `id`, with its expiry.
    fn take(
        &self,
        id: SecretHash,
        now: OffsetDateTime,
    ) -> BoxFuture<'_, StateResult<Option<(PendingRecord, OffsetDateTime)>>>;

    /// Remove what expired at `now`; how many records were removed.
    fn purge_expired(&self, now: OffsetDateTime) -> BoxFuture<'_, StateResult<u64>>;
}

impl<T: PendingStore + ?Sized> PendingStore for std::sync::Arc<T> {
    fn put(
        &self,
        id: SecretHash,
        record: PendingRecord,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> BoxFuture<'_, StateResult<()>> {
        (**self).put(id, record, expires_at, now)
    }

    fn take(
        &self,
        id: SecretHash,
        now: OffsetDateTime,
    ) -> BoxFuture<'_, StateResult<Option<(PendingRecord, OffsetDateTime)>>> {
        (**self).take(id, now)
    }

    fn purge_expired(&self, now: OffsetDateTime) -> BoxFuture<'_, StateResult<u64>> {
        (**self).purge_expired(now)
    }
}
