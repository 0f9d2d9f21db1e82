//! The client side of the memory store.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::Arc;

use super::{read, write, MemoryStore};
use crate::client::Client;
use crate::store::{ClientStore, SortOrder, StoreError, StoreResult};

/// Clients by management id (ordered, for keyset pagination) and by `client_id`.
#[derive(Default)]
pub(super) struct ClientState {
    by_id: BTreeMap<String, Arc<Client>>,
    /// `client_id` → management id.
    by_client_id: HashMap<String, String>,
    /// Allowed CORS origin → how many clients list it.
    origins: HashMap<String, usize>,
}

impl ClientState {
    pub(super) fn len(&self) -> usize {
        self.by_id.len()
    }

    pub(super) fn client(&self, client_id: &str) -> Option<Arc<Client>> {
        let id = self.by_client_id.get(client_id)?;
        self.by_id.get(id).cloned()
    }

    pub(super) fn origin_allowed(&self, origin: &str) -> bool {
        self.origins.contains_key(origin)
    }

    fn count_origins(&mut self, client: &Client) {
        for origin in &client.settings.allowed_origins {
            *self.origins.entry(origin.clone()).or_default() += 1;
        }
    }

    fn uncount_origins(&mut self, client: &Client) {
        for origin in &client.settings.allowed_origins {
            if let Some(n) = self.origins.get_mut(origin) {
                *n -= 1;
                if *n == 0 {
                    self.origins.remove(origin);
                }
            }
        }
    }

    pub(super) fn client_by_id(&self, id: &str) -> Option<Arc<Client>> {
        self.by_id.get(id).cloned()
    }

    pub(super) fn insert(&mut self, client: Client) -> Result<(), StoreError> {
        if self.by_id.contains_key(&client.id) {
            return Err(StoreError::conflict("a client with this id exists"));
        }
        if self.by_client_id.contains_key(&client.client_id) {
            return Err(StoreError::conflict("a client with this client_id exists"));
        }
        self.by_client_id
            .insert(client.client_id.clone(), client.id.clone());
        self.count_origins(&client);
        self.by_id.insert(client.id.clone(), Arc::new(client));
        Ok(())
    }

    /// Replace the client with the same id if it is at the same revision (then bump it). A
    /// changed `client_id` is re-indexed, unless another client holds it (a conflict, and
    /// nothing changes).
    pub(super) fn update(&mut self, mut client: Client) -> Result<bool, StoreError> {
        let Some(old) = self.by_id.get(&client.id) else {
            return Ok(false);
        };
        if old.revision != client.revision {
            return Err(StoreError::conflict("the client changed since it was read"));
        }
        client.revision += 1;
        if old.client_id != client.client_id {
            if self.by_client_id.contains_key(&client.client_id) {
                return Err(StoreError::conflict("another client holds this client_id"));
            }
            let old_client_id = old.client_id.clone();
            self.by_client_id.remove(&old_client_id);
            self.by_client_id
                .insert(client.client_id.clone(), client.id.clone());
        }
        let old = Arc::clone(old);
        self.uncount_origins(&old);
        self.count_origins(&client);
        self.by_id.insert(client.id.clone(), Arc::new(client));
        Ok(true)
    }

    pub(super) fn delete(&mut self, id: &str) -> Option<Arc<Client>> {
        let client = self.by_id.remove(id)?;
        self.uncount_origins(&client);
        if self.by_client_id.get(&client.client_id).map(String::as_str) == Some(id) {
            self.by_client_id.remove(&client.client_id);
        }
        Some(client)
    }

    pub(super) fn list(
        &self,
        after: Option<&str>,
        limit: usize,
        order: SortOrder,
    ) -> Vec<Arc<Client>> {
        let bound = after.map_or(Bound::Unbounded, Bound::Excluded);
        match order {
            SortOrder::Ascending => self
                .by_id
                .range::<str, _>((bound, Bound::Unbounded))
                .take(limit)
                .map(|(_, c)| Arc::clone(c))
                .collect(),
            SortOrder::Descending => self
                .by_id
                .range::<str, _>((Bound::Unbounded, bound))
                .rev()
                .take(limit)
                .map(|(_, c)| Arc::clone(c))
                .collect(),
        }
    }
}

impl ClientStore for MemoryStore {
    async fn client(&self, client_id: &str) -> StoreResult<Option<Arc<Client>>> {
        Ok(read(&self.inner.clients).client(client_id))
    }

    async fn client_by_id(&self, id: &str) -> StoreResult<Option<Arc<Client>>> {
        Ok(read(&self.inner.clients).client_by_id(id))
    }

    async fn insert_client(&self, client: Client) -> StoreResult<()> {
        write(&self.inner.clients).insert(client)
    }

    /// Replace the client with the same `id`. A changed `client_id` is re-indexed, unless
    /// another client holds it: then a conflict, and nothing changes.
    async fn update_client(&self, client: Client) -> StoreResult<bool> {
        write(&self.inner.clients).update(client)
    }

    async fn delete_client(&self, id: &str) -> StoreResult<Option<Arc<Client>>> {
        Ok(write(&self.inner.clients).delete(id))
    }

    async fn list_clients(
        &self,
        after: Option<&str>,
        limit: usize,
        order: SortOrder,
    ) -> StoreResult<Vec<Arc<Client>>> {
        Ok(read(&self.inner.clients).list(after, limit, order))
    }

    async fn origin_allowed(&self, origin: &str) -> StoreResult<bool> {
        Ok(read(&self.inner.clients).origin_allowed(origin))
    }
}
