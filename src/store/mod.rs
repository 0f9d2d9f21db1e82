//! Storage traits the host implements, and the in-memory default.
//!
//! Three concerns, three traits: [`ClientStore`] (registered clients), [`GrantStore`]
//! (grants, authorization codes, refresh tokens, consents and revoked access tokens) and
//! [`UserStore`] (claims by subject, password checks). Every method returns a `Send` future so a
//! host can back it with PostgreSQL or Redis; the core awaits nothing else and pulls in no async
//! runtime.
//!
//! # Contracts every implementation keeps
//!
//! * Stores see only [`SecretHash`](crate::secret::SecretHash)es of codes, refresh tokens,
//!   client secrets and registration access tokens, never the plaintext.
//! * [`GrantStore::redeem_code`] is atomic: of any number of concurrent calls for one code, at
//!   most one returns [`CodeRedemption::Redeemed`].
//! * [`GrantStore::rotate_refresh_token`] is atomic: of any number of concurrent calls for one
//!   token, at most one returns [`RefreshRotation::Rotated`]; a family has at most one active
//!   token.
//! * Every code, refresh token and access token carries the id of its [`Grant`]; revoking the
//!   grant ([`GrantStore::revoke_grant`]) makes all of them unusable in one call.
//!
//! `opkit::test_kit` (feature `test-kit`) checks these contracts against any implementation.

mod memory;
mod records;

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use time::OffsetDateTime;

use crate::claims::UserClaims;
use crate::client::Client;

pub use memory::{MemoryStats, MemoryStore, MemoryUsers};
pub use records::{
    CodeRecord, CodeRedemption, Consent, Grant, GrantId, RefreshLookup, RefreshRecord,
    RefreshRotation,
};

/// A store failed. The message is for logs and is never sent to a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError {
    kind: StoreErrorKind,
    message: String,
}

/// What kind of store failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreErrorKind {
    /// A record with the same unique key exists (insert only).
    Conflict,
    /// The backend is unreachable or failed.
    Backend,
}

impl StoreError {
    /// A backend failure with a message for logs.
    pub fn new(message: impl Into<String>) -> Self {
        StoreError {
            kind: StoreErrorKind::Backend,
            message: message.into(),
        }
    }

    /// A unique-key conflict on insert.
    pub fn conflict(message: impl Into<String>) -> Self {
        StoreError {
            kind: StoreErrorKind::Conflict,
            message: message.into(),
        }
    }

    /// What kind of failure.
    pub fn kind(&self) -> StoreErrorKind {
        self.kind
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "store error ({:?}): {}", self.kind, self.message)
    }
}

impl std::error::Error for StoreError {}

/// Shorthand for the futures store methods return.
pub type StoreResult<T> = Result<T, StoreError>;

/// Sort order for listing clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    /// By management id, ascending (ids are time-ordered, so oldest first).
    #[default]
    Ascending,
    /// By management id, descending.
    Descending,
}

/// Registered clients.
///
/// SQL sketch: `clients(id TEXT PRIMARY KEY, client_id TEXT UNIQUE NOT NULL, doc JSONB NOT NULL)`
/// where `doc` is the serde form of [`Client`].
pub trait ClientStore: Send + Sync {
    /// The client with this OAuth `client_id`.
    ///
    /// SQL: `SELECT doc FROM clients WHERE client_id = $1`.
    fn client(
        &self,
        client_id: &str,
    ) -> impl Future<Output = StoreResult<Option<Arc<Client>>>> + Send;

    /// The client with this management `id`.
    ///
    /// SQL: `SELECT doc FROM clients WHERE id = $1`.
    fn client_by_id(
        &self,
        id: &str,
    ) -> impl Future<Output = StoreResult<Option<Arc<Client>>>> + Send;

    /// Insert a new client. Fails with [`StoreErrorKind::Conflict`] if its `id` or `client_id`
    /// exists.
    ///
    /// SQL: `INSERT INTO clients … ` (the unique constraints give the conflict).
    fn insert_client(&self, client: Client) -> impl Future<Output = StoreResult<()>> + Send;

    /// Replace the client with the same management `id`, if the stored one is at the same
    /// [`Client::revision`] as `client` (the version the caller read), and store it with the
    /// revision increased by one. `false` if there is no such client; a conflict
    /// ([`StoreErrorKind::Conflict`]) if the stored revision differs (someone else changed it
    /// meanwhile: re-read and retry) or the update would take over another client's
    /// `client_id` (opkit never changes a `client_id`).
    ///
    /// SQL: `UPDATE clients SET doc = $2, revision = revision + 1 WHERE id = $1 AND revision =
    /// $3` (zero rows: `SELECT 1 … WHERE id = $1` tells missing from stale).
    fn update_client(&self, client: Client) -> impl Future<Output = StoreResult<bool>> + Send;

    /// Delete the client with this management `id`, returning it.
    ///
    /// SQL: `DELETE FROM clients WHERE id = $1 RETURNING doc`.
    fn delete_client(
        &self,
        id: &str,
    ) -> impl Future<Output = StoreResult<Option<Arc<Client>>>> + Send;

    /// Up to `limit` clients ordered by `id`, starting after the id `after` (exclusive) in that
    /// order. Inserts that happen meanwhile never make a page repeat or skip an existing client.
    ///
    /// SQL: `SELECT doc FROM clients WHERE id > $1 ORDER BY id LIMIT $2` (or `<` / `DESC`).
    fn list_clients(
        &self,
        after: Option<&str>,
        limit: usize,
        order: SortOrder,
    ) -> impl Future<Output = StoreResult<Vec<Arc<Client>>>> + Send;

    /// Whether any client lists `origin` (exactly, e.g. `https://app.example`) in its
    /// `allowed_origins` (browser calls to the token, UserInfo, JWKS and discovery endpoints).
    ///
    /// SQL: `SELECT EXISTS (SELECT 1 FROM client_origins WHERE origin = $1)`, with
    /// `client_origins(client_id, origin)` kept beside `clients`.
    fn origin_allowed(&self, origin: &str) -> impl Future<Output = StoreResult<bool>> + Send;
}

/// Grants and everything issued under them.
///
/// SQL sketch: `grants(id PK, client_id, subject, scopes, created_at, expires_at, revoked_at)`,
/// `codes(hash BYTEA PK, grant_id FK, doc, expires_at, redeemed_at)`,
/// `refresh_tokens(hash BYTEA PK, grant_id FK, doc, expires_at, rotated_at)`,
/// `consents(subject, client_id, scopes, PRIMARY KEY (subject, client_id))`,
/// `revoked_access_tokens(jti PK, expires_at)`.
pub trait GrantStore: Send + Sync {
    /// Record a new grant. A duplicate id is a conflict: re-creating a revoked grant must never
    /// bring it back.
    ///
    /// SQL: `INSERT INTO grants …`.
    fn create_grant(&self, grant: Grant) -> impl Future<Output = StoreResult<()>> + Send;

    /// The grant with this id, revoked or not (`None` once deleted or purged).
    ///
    /// SQL: `SELECT … FROM grants WHERE id = $1`.
    fn grant(&self, id: &GrantId) -> impl Future<Output = StoreResult<Option<Grant>>> + Send;

    /// Revoke a grant: every code, refresh token and access token carrying its id stops working.
    /// Idempotent.
    ///
    /// SQL: `UPDATE grants SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL` (and
    /// optionally `DELETE FROM refresh_tokens WHERE grant_id = $1`).
    fn revoke_grant(&self, id: &GrantId) -> impl Future<Output = StoreResult<()>> + Send;

    /// Revoke every grant of a client, or of one subject at a client (consent withdrawn, client
    /// deleted). Returns how many were revoked.
    ///
    /// SQL: `UPDATE grants SET revoked_at = now() WHERE client_id = $1 [AND subject = $2] AND
    /// revoked_at IS NULL`.
    fn revoke_grants(
        &self,
        client_id: &str,
        subject: Option<&str>,
    ) -> impl Future<Output = StoreResult<u64>> + Send;

    /// Store a new authorization code (a duplicate hash is a conflict).
    ///
    /// SQL: `INSERT INTO codes …`.
    fn put_code(&self, code: CodeRecord) -> impl Future<Output = StoreResult<()>> + Send;

    /// Mark a code redeemed and return it — atomically, so it succeeds at most once. A code
    /// already redeemed yields [`CodeRedemption::Replayed`] with its grant id (the caller
    /// revokes the grant); an unknown code yields [`CodeRedemption::Unknown`]. Expiry is checked
    /// by the caller.
    ///
    /// SQL: `UPDATE codes SET redeemed_at = now() WHERE hash = $1 AND redeemed_at IS NULL
    /// RETURNING doc`; on no row, `SELECT grant_id FROM codes WHERE hash = $1`.
    fn redeem_code(
        &self,
        hash: &crate::secret::SecretHash,
    ) -> impl Future<Output = StoreResult<CodeRedemption>> + Send;

    /// Store a refresh token (the first of a family; a duplicate hash is a conflict).
    ///
    /// SQL: `INSERT INTO refresh_tokens …`.
    fn put_refresh_token(
        &self,
        token: RefreshRecord,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Look up a refresh token and whether it was already rotated.
    ///
    /// SQL: `SELECT doc, rotated_at IS NOT NULL FROM refresh_tokens WHERE hash = $1`.
    fn refresh_token(
        &self,
        hash: &crate::secret::SecretHash,
    ) -> impl Future<Output = StoreResult<Option<RefreshLookup>>> + Send;

    /// Atomically mark `presented` rotated and insert `next` (same grant). At most one of any
    /// number of concurrent calls for the same `presented` returns
    /// [`RefreshRotation::Rotated`]; the others get [`RefreshRotation::Reused`] (the caller
    /// revokes the grant).
    ///
    /// SQL, in one transaction: `UPDATE refresh_tokens SET rotated_at = now() WHERE hash = $1
    /// AND rotated_at IS NULL RETURNING grant_id`; if a row came back, `INSERT` the next token.
    fn rotate_refresh_token(
        &self,
        presented: &crate::secret::SecretHash,
        next: RefreshRecord,
    ) -> impl Future<Output = StoreResult<RefreshRotation>> + Send;

    /// The consent `subject` gave `client_id`, if any.
    ///
    /// SQL: `SELECT … FROM consents WHERE subject = $1 AND client_id = $2`.
    fn consent(
        &self,
        subject: &str,
        client_id: &str,
    ) -> impl Future<Output = StoreResult<Option<Consent>>> + Send;

    /// Record or replace a consent.
    ///
    /// SQL: `INSERT … ON CONFLICT (subject, client_id) DO UPDATE SET scopes = $3, …`.
    fn put_consent(&self, consent: Consent) -> impl Future<Output = StoreResult<()>> + Send;

    /// Withdraw a consent; the caller also revokes the grants with [`GrantStore::revoke_grants`].
    /// Returns whether one existed.
    ///
    /// SQL: `DELETE FROM consents WHERE subject = $1 AND client_id = $2`.
    fn delete_consent(
        &self,
        subject: &str,
        client_id: &str,
    ) -> impl Future<Output = StoreResult<bool>> + Send;

    /// Remember that the access token with this `jti` is revoked until it expires.
    ///
    /// SQL: `INSERT INTO revoked_access_tokens … ON CONFLICT DO NOTHING`.
    fn revoke_access_token(
        &self,
        jti: &str,
        expires_at: OffsetDateTime,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Whether the access token with this `jti` was revoked.
    ///
    /// SQL: `SELECT 1 FROM revoked_access_tokens WHERE jti = $1`.
    fn is_access_token_revoked(&self, jti: &str) -> impl Future<Output = StoreResult<bool>> + Send;
}

/// The host's users.
pub trait UserStore: Send + Sync {
    /// The claims of `subject`, or `None` if the user no longer exists. Shared (`Arc`) so a
    /// store that caches them hands them out without copying.
    fn claims(
        &self,
        subject: &str,
    ) -> impl Future<Output = StoreResult<Option<Arc<UserClaims>>>> + Send;

    /// Check a username and password (the password grant only). Returns the subject on success.
    /// Implementations compare in constant time and hash passwords with a password hash.
    fn authenticate(
        &self,
        username: &str,
        password: &str,
    ) -> impl Future<Output = StoreResult<Option<String>>> + Send;
}
