//! Client secrets as credentials: a confidential client may hold several, each with a name, an
//! id, a creation time and an optional expiry, so secrets rotate without downtime (add the new
//! one, move the application over, revoke the old one). An expired secret authenticates nothing.
//! The plaintext is returned once, at creation.

use time::OffsetDateTime;

use super::ClientSecret;
use crate::error::Error;
use crate::ids::uuid_v7;
use crate::secret::IssuedSecret;
use crate::store::{Store, UserStore};
use crate::Provider;

/// Most secrets one client may hold.
pub const MAX_SECRETS: usize = 10;

/// Why a credential operation was refused.
#[derive(Debug)]
pub enum CredentialError {
    /// No client with that management id (or no secret with that id).
    NotFound,
    /// Public clients (`token_endpoint_auth_method=none`) hold no secrets.
    PublicClient,
    /// The client already holds [`MAX_SECRETS`].
    TooMany,
    /// The expiry is not in the future.
    ExpiryInPast,
    /// The name is empty or longer than 128 characters.
    InvalidName,
    /// The store or random source failed.
    Internal(Error),
}

impl std::fmt::Display for CredentialError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CredentialError::NotFound => f.write_str("not found"),
            CredentialError::PublicClient => f.write_str("public clients have no secrets"),
            CredentialError::TooMany => write!(f, "a client holds at most {MAX_SECRETS} secrets"),
            CredentialError::ExpiryInPast => f.write_str("expires must be in the future"),
            CredentialError::InvalidName => f.write_str("name must be 1 to 128 characters"),
            CredentialError::Internal(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for CredentialError {}

impl<E: Into<Error>> From<E> for CredentialError {
    fn from(e: E) -> Self {
        CredentialError::Internal(e.into())
    }
}

impl<S: Store, U: UserStore> Provider<S, U> {
    /// Add a secret to the client with management id `id`. Returns the stored secret and its
    /// plaintext (to show once).
    pub async fn add_client_secret(
        &self,
        id: &str,
        name: &str,
        expires_at: Option<OffsetDateTime>,
    ) -> Result<(ClientSecret, String), CredentialError> {
        if name.trim().is_empty() || name.chars().count() > 128 {
            return Err(CredentialError::InvalidName);
        }
        let now = self.clock.now();
        if expires_at.is_some_and(|e| e <= now) {
            return Err(CredentialError::ExpiryInPast);
        }
        let issued = IssuedSecret::generate(&*self.rng)?;
        let secret = ClientSecret {
            id: uuid_v7(&*self.rng, now)?,
            name: name.to_owned(),
            hash: issued.hash,
            created_at: now,
            expires_at,
        };
        self.modify_client(id, |client, _| {
            if client.is_public() {
                return Err(CredentialError::PublicClient);
            }
            if client.secrets.len() >= MAX_SECRETS {
                return Err(CredentialError::TooMany);
            }
            client.secrets.push(secret.clone());
            Ok(())
        })
        .await?
        .ok_or(CredentialError::NotFound)?;
        Ok((secret, issued.plaintext))
    }

    /// Revoke one secret of the client with management id `id`.
    pub async fn revoke_client_secret(
        &self,
        id: &str,
        secret_id: &str,
    ) -> Result<(), CredentialError> {
        self.modify_client(id, |client, _| {
            let before = client.secrets.len();
            client.secrets.retain(|s| s.id != secret_id);
            if client.secrets.len() == before {
                return Err(CredentialError::NotFound);
            }
            Ok(())
        })
        .await?
        .ok_or(CredentialError::NotFound)?;
        Ok(())
    }
}

impl From<CredentialError> for super::ManagementError {
    fn from(e: CredentialError) -> Self {
        use super::ManagementErrorKind as K;
        let message = e.to_string();
        let invalid = K::Metadata(super::metadata::MetadataErrorKind::InvalidValue);
        let err = |kind| super::ManagementError::new(kind, message.clone());
        match e {
            // A conflict that outlasted the retries is 409, other failures 500.
            CredentialError::Internal(err) => super::ManagementError::from(err),
            CredentialError::NotFound => err(K::NotFound),
            CredentialError::PublicClient => err(K::PublicClient),
            CredentialError::TooMany => err(K::TooManySecrets),
            CredentialError::ExpiryInPast => err(invalid).on_field("expires"),
            CredentialError::InvalidName => err(invalid).on_field("name"),
        }
    }
}
