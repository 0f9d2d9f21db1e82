//! Creating, reading, updating and deleting clients: the typed operations behind the
//! management API and dynamic registration.

use std::sync::Arc;

use time::OffsetDateTime;

use super::{Client, ClientSecret, ClientSettings};
use crate::error::Error;
use crate::ids::{uuid_v4, uuid_v7};
use crate::secret::IssuedSecret;
use crate::store::SortOrder;
use crate::{ClientStore, GrantStore, Provider, UserStore};

/// A client just created or changed, with the secrets shown this once.
#[derive(Debug, Clone)]
pub struct ClientWithSecrets {
    /// The stored client.
    pub client: Client,
    /// A newly generated client secret, to show once (confidential clients on creation, or
    /// when an update makes a public client confidential).
    pub client_secret: Option<String>,
    /// A newly generated RFC 7592 registration access token (dynamic registration only).
    pub registration_access_token: Option<String>,
}

/// The largest page the management API returns.
pub const MAX_PAGE_SIZE: usize = 1000;
/// The page size when none is asked for.
pub const DEFAULT_PAGE_SIZE: usize = 100;

impl<C: ClientStore, G: GrantStore, U: UserStore> Provider<C, G, U> {
    /// Create a client with these settings: a time-ordered management `id`, a random
    /// `client_id` distinct from it, and for confidential clients a 256-bit secret stored as its
    /// SHA-256 hash.
    pub async fn create_client(
        &self,
        settings: ClientSettings,
        with_registration_token: bool,
    ) -> Result<ClientWithSecrets, Error> {
        let now = self.clock.now();
        let secret = self.new_secret(&settings, now)?;
        let registration = if with_registration_token {
            Some(IssuedSecret::generate(&*self.rng)?)
        } else {
            None
        };
        let client = Client {
            id: uuid_v7(&*self.rng, now)?,
            client_id: uuid_v4(&*self.rng)?,
            secrets: secret.iter().map(|(s, _)| s.clone()).collect(),
            registration_access_token: registration.as_ref().map(|r| r.hash),
            settings,
            date_created: now,
            date_modified: now,
            revision: 0,
        };
        self.clients.insert_client(client.clone()).await?;
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
            let Some(existing) = self.clients.client_by_id(id).await.map_err(Error::from)? else {
                return Ok(None);
            };
            let now = self.clock.now();
            let mut client = Client::clone(&existing);
            let out = change(&mut client, now)?;
            client.date_modified = now.max(client.date_created);
            match self.clients.update_client(client.clone()).await {
                Ok(true) => {
                    client.revision += 1;
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
        let Some(client) = self.clients.delete_client(id).await? else {
            return Ok(None);
        };
        self.grants.revoke_grants(&client.client_id, None).await?;
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
            .clients
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
        let secret = ClientSecret {
            id: uuid_v7(&*self.rng, now)?,
            name: "default".to_owned(),
            hash: issued.hash,
            created_at: now,
            expires_at: None,
        };
        Ok(Some((secret, issued.plaintext)))
    }
}
