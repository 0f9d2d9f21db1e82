use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::pkce::CodeChallenge;
use crate::scope::Scopes;
use crate::secret::SecretHash;

/// The id of a grant: one user's (or, for client credentials, one client's) authorization of a
/// client for some scopes. Random, 128 bits, base64url.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct GrantId(pub String);

impl fmt::Display for GrantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A grant: what codes, access tokens and refresh tokens issued under one authorization share.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// Its id.
    pub id: GrantId,
    /// The client.
    pub client_id: String,
    /// The user, or `None` for a client acting on its own behalf.
    pub subject: Option<String>,
    /// The scopes granted.
    pub scopes: Scopes,
    /// When the user authenticated.
    #[serde(with = "time::serde::rfc3339::option")]
    pub auth_time: Option<OffsetDateTime>,
    /// When the grant was made.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// After this, nothing issued under the grant is valid (the refresh family's absolute
    /// lifetime, or the longest token lifetime without refresh). Stores may purge after it.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// Whether the grant was revoked.
    pub revoked: bool,
    /// The resource (RFC 8707) the authorization request asked for: every access token of the
    /// grant, refreshes included, is for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
}

impl Grant {
    /// Whether tokens issued under it may still be used at `now`.
    pub fn is_active_at(&self, now: OffsetDateTime) -> bool {
        !self.revoked && now < self.expires_at
    }
}

/// An authorization code as stored (keyed by the hash of the code).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeRecord {
    /// SHA-256 of the code.
    pub hash: SecretHash,
    /// The grant it belongs to.
    pub grant_id: GrantId,
    /// The client it was issued to.
    pub client_id: String,
    /// The user.
    pub subject: String,
    /// The `redirect_uri` of the authorization request, if one was sent.
    pub redirect_uri: Option<String>,
    /// The scopes granted.
    pub scopes: Scopes,
    /// The `nonce` of the request, echoed in the ID token.
    pub nonce: Option<String>,
    /// The PKCE challenge, if one was sent.
    pub challenge: Option<CodeChallenge>,
    /// When the user authenticated.
    #[serde(with = "time::serde::rfc3339")]
    pub auth_time: OffsetDateTime,
    /// After this the code is refused.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// What [`CodeStore::redeem_code`](super::CodeStore::redeem_code) found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeRedemption {
    /// The code was unused; it is now redeemed.
    Redeemed(Box<CodeRecord>),
    /// The code was redeemed before: a replay.
    Replayed {
        /// The grant to revoke.
        grant_id: GrantId,
    },
    /// No such code.
    Unknown,
}

/// A refresh token as stored (keyed by the hash of the token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshRecord {
    /// SHA-256 of the token.
    pub hash: SecretHash,
    /// The grant (the token family).
    pub grant_id: GrantId,
    /// The client it was issued to.
    pub client_id: String,
    /// The user.
    pub subject: String,
    /// The scopes this token may be exchanged for.
    pub scopes: Scopes,
    /// When the user authenticated.
    #[serde(with = "time::serde::rfc3339")]
    pub auth_time: OffsetDateTime,
    /// When this token was issued.
    #[serde(with = "time::serde::rfc3339")]
    pub issued_at: OffsetDateTime,
    /// After this the token is refused (the earlier of the idle and absolute limits).
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// A refresh token found by [`RefreshTokenStore::refresh_token`](super::RefreshTokenStore::refresh_token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshLookup {
    /// The record.
    pub record: RefreshRecord,
    /// Whether it was already exchanged for a newer token.
    pub rotated: bool,
}

/// What [`RefreshTokenStore::rotate_refresh_token`](super::RefreshTokenStore::rotate_refresh_token) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshRotation {
    /// The presented token is now rotated and the next one stored.
    Rotated,
    /// The presented token had been rotated already: reuse.
    Reused {
        /// The grant (family) to revoke.
        grant_id: GrantId,
    },
    /// No such token.
    Unknown,
}

/// What [`RefreshTokenStore::reuse_rotated_refresh_token`](super::RefreshTokenStore::reuse_rotated_refresh_token)
/// did with a rotated token presented again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshReuse {
    /// Within the grace window and under the reuse count: the count went up by one and the
    /// next token is stored (same grant).
    Granted,
    /// Not rotated, rotated before the window, or its reuses used up: nothing changed (the
    /// caller revokes the grant).
    Refused {
        /// The grant (family) to revoke.
        grant_id: GrantId,
    },
    /// No such token.
    Unknown,
}

/// A user's standing consent to a client for some scopes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    /// The user.
    pub subject: String,
    /// The client.
    pub client_id: String,
    /// The scopes consented to.
    pub scopes: Scopes,
    /// When consent was (last) given.
    #[serde(with = "time::serde::rfc3339")]
    pub granted_at: OffsetDateTime,
}
