//! Storage traits the host implements, and the in-memory default.
//!
//! One trait per concern, fosite-style: [`ClientStore`] (registered clients), [`GrantStore`]
//! (grants and their revocation), [`CodeStore`] (authorization codes), [`RefreshTokenStore`]
//! (refresh tokens and their rotation), [`ConsentStore`] (standing consents),
//! [`RevokedTokenStore`] (access tokens revoked before they expire), [`UserStore`] (claims by
//! subject, password checks) and [`KeyStore`] (signing keys shared by instances). [`Store`] is all of them but users in one bound, implemented
//! automatically. Every method returns a `Send` future so a host can back it with PostgreSQL or
//! Redis; the core awaits nothing else and pulls in no async runtime.
//!
//! # Contracts every implementation keeps
//!
//! * Stores see only [`SecretHash`]es of codes, refresh tokens,
//!   client secrets and registration access tokens, never the plaintext.
//! * [`CodeStore::redeem_code`] is atomic: of any number of concurrent calls for one code, at
//!   most one returns [`CodeRedemption::Redeemed`].
//! * [`RefreshTokenStore::rotate_refresh_token`] is atomic: of any number of concurrent calls for one
//!   token, at most one returns [`RefreshRotation::Rotated`]. Without a grace window a family
//!   has at most one active token.
//! * [`RefreshTokenStore::reuse_rotated_refresh_token`] is atomic: of any number of concurrent
//!   calls for one rotated token, at most `max_reuses` (counted over the token's life) return
//!   [`RefreshReuse::Granted`], and only within the window after its rotation.
//! * Every code, refresh token and access token carries the id of its [`Grant`]; revoking the
//!   grant ([`GrantStore::revoke_grant`]) makes all of them unusable in one call.
//!
//! * Every concern whose records expire has a bounded `purge_…(now, limit)`; [`Store::purge_expired`]
//!   runs them all.
//!
//! `opkit::test_kit` (feature `test-kit`) checks these contracts against any implementation.

mod keys;
mod memory;
mod records;

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use time::OffsetDateTime;

use crate::claims::UserClaims;
use crate::client::Client;
use crate::secret::SecretHash;

pub use keys::{KeyStore, SigningKeyRecord};
pub use memory::{MemoryStats, MemoryStore, MemoryUsers};
pub use records::{
    CodeRecord, CodeRedemption, Consent, Grant, GrantId, RefreshLookup, RefreshRecord,
    RefreshReuse, RefreshRotation,
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
    /// The backend failed.
    Backend,
    /// The backend is briefly unable to serve (unreachable, overloaded, a serialization
    /// failure that retrying did not resolve): the client is told to retry
    /// (`temporarily_unavailable`, 503).
    Unavailable,
}

impl StoreError {
    /// A backend failure with a message for logs.
    pub fn new(message: impl Into<String>) -> Self {
        StoreError {
            kind: StoreErrorKind::Backend,
            message: message.into(),
        }
    }

    /// A transient failure: the caller may retry.
    pub fn unavailable(message: impl Into<String>) -> Self {
        StoreError {
            kind: StoreErrorKind::Unavailable,
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

/// Grants: one user's (or, for client credentials, one client's) authorization of a client.
///
/// Every code, refresh token and access token carries the id of its grant, and the core checks
/// that the grant is active before it honours any of them: revoking the grant
/// ([`GrantStore::revoke_grant`]) makes all of them unusable in one call, whichever stores
/// hold the codes and tokens.
///
/// SQL sketch: `grants(id PRIMARY KEY, client_id, subject, scopes, auth_time, created_at,
/// expires_at, revoked)` with an index on `(client_id, subject)` and one on `expires_at`.
pub trait GrantStore: Send + Sync {
    /// Record a new grant. A duplicate id is a conflict: re-creating a revoked grant must never
    /// bring it back.
    ///
    /// SQL: `INSERT INTO grants …`.
    fn create_grant(&self, grant: Grant) -> impl Future<Output = StoreResult<()>> + Send;

    /// The grant with this id, revoked or not (`None` once purged).
    ///
    /// SQL: `SELECT … FROM grants WHERE id = $1`.
    fn grant(&self, id: &GrantId) -> impl Future<Output = StoreResult<Option<Grant>>> + Send;

    /// Revoke a grant: every code, refresh token and access token carrying its id stops working.
    /// Idempotent.
    ///
    /// SQL: `UPDATE grants SET revoked = true WHERE id = $1`.
    fn revoke_grant(&self, id: &GrantId) -> impl Future<Output = StoreResult<()>> + Send;

    /// Revoke every grant of a client, or of one subject at a client (consent withdrawn, client
    /// deleted). Returns how many were revoked.
    ///
    /// SQL: `UPDATE grants SET revoked = true WHERE client_id = $1 [AND subject = $2] AND NOT
    /// revoked`.
    fn revoke_grants(
        &self,
        client_id: &str,
        subject: Option<&str>,
    ) -> impl Future<Output = StoreResult<u64>> + Send;

    /// Remove at most `limit` grants whose `expires_at` is at or before `now`, returning how
    /// many were removed (the caller repeats while the answer equals `limit`). A grant is
    /// purged only after everything issued under it has expired, since `expires_at` bounds them.
    ///
    /// SQL: `DELETE FROM grants WHERE id IN (SELECT id FROM grants WHERE expires_at <= $1
    /// LIMIT $2)`.
    fn purge_expired_grants(
        &self,
        now: OffsetDateTime,
        limit: usize,
    ) -> impl Future<Output = StoreResult<u64>> + Send;
}

/// Authorization codes: `Issued → Redeemed`, exactly once.
///
/// SQL sketch: `codes(hash BYTEA PRIMARY KEY, grant_id, doc, expires_at, redeemed)`.
pub trait CodeStore: Send + Sync {
    /// Store a new authorization code (a duplicate hash is a conflict).
    ///
    /// SQL: `INSERT INTO codes …`.
    fn put_code(&self, code: CodeRecord) -> impl Future<Output = StoreResult<()>> + Send;

    /// Mark a code redeemed and return it — atomically, so of any number of concurrent calls
    /// for one code at most one returns [`CodeRedemption::Redeemed`]. A code already redeemed
    /// yields [`CodeRedemption::Replayed`] with its grant id (the caller revokes the grant); an
    /// unknown code yields [`CodeRedemption::Unknown`]. Expiry is checked by the caller, so a
    /// redeemed code must be kept until it expires for a replay to be recognised.
    ///
    /// SQL: `UPDATE codes SET redeemed = true WHERE hash = $1 AND NOT redeemed RETURNING doc`;
    /// on no row, `SELECT grant_id FROM codes WHERE hash = $1`.
    fn redeem_code(
        &self,
        hash: &SecretHash,
    ) -> impl Future<Output = StoreResult<CodeRedemption>> + Send;

    /// Remove at most `limit` codes, redeemed or not, whose `expires_at` is at or before `now`;
    /// returns how many.
    ///
    /// SQL: `DELETE FROM codes WHERE hash IN (SELECT hash FROM codes WHERE expires_at <= $1
    /// LIMIT $2)`.
    fn purge_expired_codes(
        &self,
        now: OffsetDateTime,
        limit: usize,
    ) -> impl Future<Output = StoreResult<u64>> + Send;
}

/// Refresh tokens: `Active → Rotated`, with reuse detected.
///
/// SQL sketch: `refresh_tokens(hash BYTEA PRIMARY KEY, grant_id, doc, expires_at, rotated,
/// rotated_at, reuses)` with an index on `grant_id`.
pub trait RefreshTokenStore: Send + Sync {
    /// Store a refresh token (the first of a family; a duplicate hash is a conflict).
    ///
    /// SQL: `INSERT INTO refresh_tokens …`.
    fn put_refresh_token(
        &self,
        token: RefreshRecord,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Look up a refresh token and whether it was already rotated.
    ///
    /// SQL: `SELECT doc, rotated FROM refresh_tokens WHERE hash = $1`.
    fn refresh_token(
        &self,
        hash: &SecretHash,
    ) -> impl Future<Output = StoreResult<Option<RefreshLookup>>> + Send;

    /// Atomically mark `presented` rotated at `next.issued_at` (its rotation time, which
    /// [`reuse_rotated_refresh_token`](Self::reuse_rotated_refresh_token) compares with the
    /// grace window) and insert `next` (same grant). At most one of any number of concurrent
    /// calls for the same `presented` returns [`RefreshRotation::Rotated`]; the others get
    /// [`RefreshRotation::Reused`] (the caller applies its grace window or revokes the grant)
    /// and store nothing. Rotation alone never leaves a family with two unrotated tokens.
    ///
    /// SQL, in one transaction: `UPDATE refresh_tokens SET rotated = true, rotated_at = $2
    /// WHERE hash = $1 AND NOT rotated RETURNING grant_id`; if a row came back, `INSERT` the
    /// next token.
    fn rotate_refresh_token(
        &self,
        presented: &SecretHash,
        next: RefreshRecord,
    ) -> impl Future<Output = StoreResult<RefreshRotation>> + Send;

    /// A rotated token presented again within the grace window: atomically, if `presented` is
    /// rotated, was rotated at or after `window_start` and was granted fewer than `max_reuses`
    /// reuses so far, count one more reuse and insert `next` (same grant, unrotated: from then
    /// on the family has one more active token) — [`RefreshReuse::Granted`]. Otherwise nothing
    /// changes: [`RefreshReuse::Refused`] with the grant (the caller revokes it), or
    /// [`RefreshReuse::Unknown`]. Of any number of concurrent calls for one token at most
    /// `max_reuses` minus the reuses already granted succeed. A reuse does not move the
    /// rotation time, so the window never extends. A `next` hash already in use is a conflict
    /// ([`StoreErrorKind::Conflict`]) and changes nothing.
    ///
    /// SQL, in one transaction: `UPDATE refresh_tokens SET reuses = reuses + 1 WHERE hash = $1
    /// AND rotated AND rotated_at >= $2 AND reuses < $3 RETURNING grant_id`; if a row came back,
    /// `INSERT` the next token; if not, `SELECT grant_id … WHERE hash = $1` tells Refused from
    /// Unknown.
    fn reuse_rotated_refresh_token(
        &self,
        presented: &SecretHash,
        window_start: OffsetDateTime,
        max_reuses: u32,
        next: RefreshRecord,
    ) -> impl Future<Output = StoreResult<RefreshReuse>> + Send;

    /// Remove at most `limit` refresh tokens, rotated or not, whose `expires_at` is at or
    /// before `now`; returns how many. Rotated tokens are kept until then so that their reuse
    /// is recognised.
    ///
    /// SQL: `DELETE FROM refresh_tokens WHERE hash IN (SELECT hash FROM refresh_tokens WHERE
    /// expires_at <= $1 LIMIT $2)`.
    fn purge_expired_refresh_tokens(
        &self,
        now: OffsetDateTime,
        limit: usize,
    ) -> impl Future<Output = StoreResult<u64>> + Send;
}

/// Users' standing consents to clients.
///
/// SQL sketch: `consents(subject, client_id, scopes, granted_at, PRIMARY KEY (subject,
/// client_id))`.
pub trait ConsentStore: Send + Sync {
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
}

/// Access tokens revoked before they expire (RFC 7009), by their `jti`.
///
/// SQL sketch: `revoked_access_tokens(jti PRIMARY KEY, expires_at)`.
pub trait RevokedTokenStore: Send + Sync {
    /// Remember that the access token with this `jti` is revoked until it expires. Idempotent.
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

    /// Forget at most `limit` revoked tokens whose `expires_at` is at or before `now` (they are
    /// refused as expired from then on); returns how many.
    ///
    /// SQL: `DELETE FROM revoked_access_tokens WHERE jti IN (SELECT jti FROM
    /// revoked_access_tokens WHERE expires_at <= $1 LIMIT $2)`.
    fn purge_revoked_access_tokens(
        &self,
        now: OffsetDateTime,
        limit: usize,
    ) -> impl Future<Output = StoreResult<u64>> + Send;
}

/// Every store concern the provider needs besides users, in one bound.
///
/// It is implemented automatically for any type that implements all of [`ClientStore`],
/// [`GrantStore`], [`CodeStore`], [`RefreshTokenStore`], [`ConsentStore`] and
/// [`RevokedTokenStore`]: a host backing them with one database writes one `impl` block per
/// concern and passes the one value to [`Provider::new`](crate::Provider::new). Concerns added
/// later (pushed authorization requests, JWT `jti` replay, DPoP nonces, upstream connections,
/// signing keys) join this bound as traits of their own.
pub trait Store:
    ClientStore + GrantStore + CodeStore + RefreshTokenStore + ConsentStore + RevokedTokenStore
{
    /// Purge what expired at `now` in every concern, in batches of at most `batch` records per
    /// statement, until nothing expired is left. Returns how many records were removed. A host
    /// runs it periodically (`opkit-axum` can schedule it).
    fn purge_expired(
        &self,
        now: OffsetDateTime,
        batch: usize,
    ) -> impl Future<Output = StoreResult<PurgeCounts>> + Send {
        async move {
            let batch = batch.max(1);
            Ok(PurgeCounts {
                codes: drain(batch, |n| self.purge_expired_codes(now, n)).await?,
                refresh_tokens: drain(batch, |n| self.purge_expired_refresh_tokens(now, n)).await?,
                revoked_access_tokens: drain(batch, |n| self.purge_revoked_access_tokens(now, n))
                    .await?,
                // Last: a grant outlives what was issued under it.
                grants: drain(batch, |n| self.purge_expired_grants(now, n)).await?,
            })
        }
    }
}

impl<T> Store for T where
    T: ClientStore + GrantStore + CodeStore + RefreshTokenStore + ConsentStore + RevokedTokenStore
{
}

/// How many records [`Store::purge_expired`] removed, by concern.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PurgeCounts {
    /// Authorization codes.
    pub codes: u64,
    /// Refresh tokens.
    pub refresh_tokens: u64,
    /// Revoked access token entries.
    pub revoked_access_tokens: u64,
    /// Grants.
    pub grants: u64,
}

/// Call a bounded purge until it removes fewer than `batch` records.
async fn drain<F, Fut>(batch: usize, mut purge: F) -> StoreResult<u64>
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = StoreResult<u64>>,
{
    let mut total = 0;
    loop {
        let n = purge(batch).await?;
        total += n;
        if n < batch as u64 {
            return Ok(total);
        }
    }
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

/// Users the host can add and change through opkit, for stores that keep them (the in-memory
/// users, and the SQLite and PostgreSQL stores): how a host provisions users from
/// configuration without knowing which store it runs on.
pub trait UserDirectory: UserStore {
    /// Add the user `username`, or replace its subject, password and claims if it exists, so
    /// that provisioning the same users at every start is idempotent. The password is stored as
    /// a [`PasswordHash`](crate::secret::PasswordHash) (CPU-heavy: the database stores hash on
    /// tokio's blocking pool, the in-memory users on the calling thread). A `subject` already
    /// used by another username is a conflict ([`StoreErrorKind::Conflict`]). Relying parties
    /// know users by their subject: keep it stable.
    fn put_user(
        &self,
        username: &str,
        password: &str,
        subject: &str,
        claims: UserClaims,
    ) -> impl Future<Output = StoreResult<()>> + Send;
}
