//! Creating, reading, updating and deleting clients: the typed operations behind the
//! management API and dynamic registration.

use std::sync::Arc;

use time::OffsetDateTime;

use super::{Client, ClientSecret, ClientSettings};
use crate::error::{Error, ErrorKind};
use crate::host::Event;
use crate::ids::{uuid_v4, uuid_v7};
use crate::secret::{IssuedSecret, SecretHash};
use crate::store::{SortOrder, StoreErrorKind};
use crate::store::{Store, UserStore};
use crate::Provider;

/// A client just created or changed, with the secrets shown this once (left out of `Debug`).
#[derive(Clone)]
pub struct ClientWithSecrets {
    /// The stored client.
    pub client: Client,
    /// A newly generated client secret, to show once (confidential clients on creation, or
    /// when an update makes a public client confidential).
    pub client_secret: Option<String>,
    /// A newly generated RFC 7592 registration access token (dynamic registration only).
    pub registration_access_token: Option<String>,
}

impl std::fmt::Debug for ClientWithSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |s: &Option<String>| s.as_ref().map(|_| "<redacted>");
        f.debug_struct("ClientWithSecrets")
            .field("client", &self.client)
            .field("client_secret", &redacted(&self.client_secret))
            .field(
                "registration_access_token",
                &redacted(&self.registration_access_token),
            )
            .finish()
    }
}

/// How to create a client: [`Provider::create_client`]'s options.
///
/// By default the provider picks a random `client_id` and, for a confidential client, a random
/// 256-bit secret. A client declared in the host's configuration fixes both, so it keeps them
/// across restarts:
///
/// ```
/// use opkit::client::NewClient;
/// let options = NewClient::new()
///     .client_id("billing-app")
///     .client_secret("a-long-random-secret-from-the-vault-0123456789");
/// assert!(!format!("{options:?}").contains("vault"));
/// ```
#[derive(Clone, Default)]
pub struct NewClient {
    client_id: Option<String>,
    client_secret: Option<String>,
    registration_access_token: bool,
}

impl std::fmt::Debug for NewClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewClient")
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .finish_non_exhaustive()
    }
}

/// Shortest client secret a host may fix (shorter ones could be guessed).
pub const MIN_FIXED_SECRET_LEN: usize = 32;
/// Longest `client_id` a host may fix.
pub const MAX_CLIENT_ID_LEN: usize = 255;

impl NewClient {
    /// Random `client_id` and secret.
    pub fn new() -> NewClient {
        NewClient::default()
    }

    /// Use this `client_id`: 1 to 255 letters, digits, `-`, `.`, `_` or `~` (URL-safe, so it
    /// fits a path segment of the RFC 7592 configuration endpoint and HTTP Basic credentials
    /// even where a client does not form-encode them).
    pub fn client_id(mut self, client_id: impl Into<String>) -> NewClient {
        self.client_id = Some(client_id.into());
        self
    }

    /// Use this secret for a confidential client (at least [`MIN_FIXED_SECRET_LEN`] bytes;
    /// stored as its SHA-256 only). Ignored for public clients.
    pub fn client_secret(mut self, secret: impl Into<String>) -> NewClient {
        self.client_secret = Some(secret.into());
        self
    }

    /// Also issue an RFC 7592 registration access token (dynamic registration).
    pub(crate) fn with_registration_access_token(mut self) -> NewClient {
        self.registration_access_token = true;
        self
    }
}

/// Whether a host-chosen `client_id` is acceptable.
fn valid_client_id(id: &str) -> bool {
    (1..=MAX_CLIENT_ID_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// The largest page the management API returns.
pub const MAX_PAGE_SIZE: usize = 1000;
/// The page size when none is asked for.
pub const DEFAULT_PAGE_SIZE: usize = 100;

impl<S: Store, U: UserStore> Provider<S, U> {
    /// Create a client with these settings: a time-ordered management `id`, a `client_id`
    /// distinct from it (random unless `options` fixes it), and for confidential clients a
    /// secret (a random 256-bit one unless `options` fixes it) stored as its SHA-256 hash. A
    /// `client_id` in use is a conflict (`invalid_client_metadata`).
    pub async fn create_client(
        &self,
        settings: ClientSettings,
        options: NewClient,
    ) -> Result<ClientWithSecrets, Error> {
        let now = self.clock.now();
        let client_id = match options.client_id {
            Some(id) if valid_client_id(&id) => id,
            Some(_) => {
                return Err(ErrorKind::InvalidClientMetadata(
                    "client_id: 1-255 letters, digits, '-', '.', '_' or '~'".into(),
                )
                .into())
            }
            None => uuid_v4(&*self.rng)?,
        };
        let secret = match options.client_secret {
            Some(fixed) if fixed.len() < MIN_FIXED_SECRET_LEN => {
                return Err(ErrorKind::InvalidClientMetadata(
                    "client_secret: at least 32 bytes".into(),
                )
                .into())
            }
            Some(fixed) => self.fixed_secret(&settings, fixed, now)?,
            None => self.new_secret(&settings, now)?,
        };
        let registration = if options.registration_access_token {
            Some(IssuedSecret::generate(&*self.rng)?)
        } else {
            None
        };
        let client = Client {
            id: uuid_v7(&*self.rng, now)?,
            client_id,
            secrets: secret.iter().map(|(s, _)| s.clone()).collect(),
            registration_access_token: registration.as_ref().map(|r| r.hash),
            settings,
            date_created: now,
            date_modified: now,
            revision: 0,
        };
        match self.store.insert_client(client.clone()).await {
            Err(e) if e.kind() == StoreErrorKind::Conflict => {
                return Err(ErrorKind::InvalidClientMetadata(
                    "client_id: a client with this client_id exists".into(),
                )
                .into())
            }
            other => other?,
        }
        self.events.emit(&Event::ClientCreated {
            id: &client.id,
            client_id: &client.client_id,
            registered: client.registration_access_token.is_some(),
        });
        Ok(ClientWithSecrets {
            client,
            client_secret: secret.map(|(_, plaintext)| plaintext),
            registration_access_token: registration.map(|r| r.plaintext),
        })
    }

    /// Replace a client's settings (by management `id`), bumping `date_modified`. A client that
    /// becomes public loses its secrets; one that becomes confidential gets a new secret.
    /// `None` if there is no such client.
    pub async fn update_client(
        &self,
        id: &str,
        settings: ClientSettings,
    ) -> Result<Option<ClientWithSecrets>, Error> {
        let changed = self
            .modify_client(id, |client, now| {
                let was_confidential = client.settings.token_endpoint_auth_method.is_confidential();
                let mut new_secret = None;
                if !settings.token_endpoint_auth_method.is_confidential() {
                    client.secrets.clear();
                } else if !was_confidential || client.secrets.is_empty() {
                    if let Some((secret, plaintext)) = self.new_secret(&settings, now)? {
                        client.secrets = vec![secret];
                        new_secret = Some(plaintext);
                    }
                }
                client.settings = settings.clone();
                Ok::<_, Error>(new_secret)
            })
            .await?;
        Ok(changed.map(|(client, client_secret)| ClientWithSecrets {
            client,
            client_secret,
            registration_access_token: None,
        }))
    }

    /// Change a stored client without losing concurrent changes: `change` is applied to the
    /// latest version and written only if nobody changed the client meanwhile; otherwise it is
    /// applied again to the newer version. Returns the client as stored and what `change`
    /// returned, or `None` if there is no client with this management `id`.
    pub(crate) async fn modify_client<T, E: From<Error>>(
        &self,
        id: &str,
        mut change: impl FnMut(&mut Client, OffsetDateTime) -> Result<T, E>,
    ) -> Result<Option<(Client, T)>, E> {
        const ATTEMPTS: usize = 8;
        for _ in 0..ATTEMPTS {
            let Some(existing) = self.store.client_by_id(id).await.map_err(Error::from)? else {
                return Ok(None);
            };
            let now = self.clock.now();
            let mut client = Client::clone(&existing);
            let out = change(&mut client, now)?;
            client.date_modified = now.max(client.date_created);
            match self.store.update_client(client.clone()).await {
                Ok(true) => {
                    client.revision += 1;
                    self.events.emit(&Event::ClientUpdated {
                        id: &client.id,
                        client_id: &client.client_id,
                    });
                    return Ok(Some((client, out)));
                }
                Ok(false) => return Ok(None),
                Err(e) if e.kind() == crate::store::StoreErrorKind::Conflict => continue,
                Err(e) => return Err(Error::from(e).into()),
            }
        }
        Err(Error::from(crate::store::StoreError::conflict(
            "the client kept changing; try again",
        ))
        .into())
    }

    /// Delete a client (by management `id`) and revoke every grant made to it. Returns the
    /// deleted client.
    pub async fn delete_client(&self, id: &str) -> Result<Option<Arc<Client>>, Error> {
        let Some(client) = self.store.delete_client(id).await? else {
            return Ok(None);
        };
        self.store.revoke_grants(&client.client_id, None).await?;
        self.events.emit(&Event::ClientDeleted {
            id: &client.id,
            client_id: &client.client_id,
        });
        Ok(Some(client))
    }

    /// A page of clients ordered by management `id` (creation order), after the cursor `after`.
    pub async fn list_clients(
        &self,
        after: Option<&str>,
        page_size: usize,
        order: SortOrder,
    ) -> Result<Vec<Arc<Client>>, Error> {
        Ok(self
            .store
            .list_clients(after, page_size.clamp(1, MAX_PAGE_SIZE), order)
            .await?)
    }

    fn new_secret(
        &self,
        settings: &ClientSettings,
        now: OffsetDateTime,
    ) -> Result<Option<(ClientSecret, String)>, Error> {
        if !settings.token_endpoint_auth_method.is_confidential() {
            return Ok(None);
        }
        let issued = IssuedSecret::generate(&*self.rng)?;
        self.fixed_secret(settings, issued.plaintext, now)
    }

    /// A confidential client's first secret, `plaintext`, as stored (its hash) and shown.
    fn fixed_secret(
        &self,
        settings: &ClientSettings,
        plaintext: String,
        now: OffsetDateTime,
    ) -> Result<Option<(ClientSecret, String)>, Error> {
        if !settings.token_endpoint_auth_method.is_confidential() {
            return Ok(None);
        }
        let secret = ClientSecret {
            id: uuid_v7(&*self.rng, now)?,
            name: "default".to_owned(),
            hash: SecretHash::of(&plaintext),
            created_at: now,
            expires_at: None,
        };
        Ok(Some((secret, plaintext)))
    }
}
