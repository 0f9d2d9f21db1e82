//! [`ClientStore`]: `clients` and the `client_origins` kept beside it.

use std::sync::Arc;

use opkit::client::Client;
use opkit::store::{ClientStore, SortOrder, StoreResult};
use rusqlite::{params, OptionalExtension, Transaction, TransactionBehavior};

use crate::codec::{from_json, limit, to_json};
use crate::error::{Error, Result};
use crate::{sql, SqliteStore};

fn decode(doc: String) -> Result<Arc<Client>> {
    from_json(&doc).map(Arc::new)
}

/// Make `client_origins` list exactly the client's allowed origins.
fn set_origins(tx: &Transaction<'_>, client: &Client) -> Result<()> {
    tx.prepare_cached("DELETE FROM client_origins WHERE client_id = ?1")?
        .execute([&client.client_id])?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO client_origins (origin, client_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
    )?;
    for origin in &client.settings.allowed_origins {
        insert.execute([origin, &client.client_id])?;
    }
    Ok(())
}

fn revision(client: &Client) -> i64 {
    i64::try_from(client.revision).unwrap_or(i64::MAX)
}

impl ClientStore for SqliteStore {
    async fn client(&self, client_id: &str) -> StoreResult<Option<Arc<Client>>> {
        let client_id = client_id.to_owned();
        self.run(move |c| {
            c.prepare_cached(sql::CLIENT_BY_CLIENT_ID)?
                .query_row([&client_id], |row| row.get(0))
                .optional()?
                .map(decode)
                .transpose()
        })
        .await
        .map_err(Into::into)
    }

    async fn client_by_id(&self, id: &str) -> StoreResult<Option<Arc<Client>>> {
        let id = id.to_owned();
        self.run(move |c| {
            c.prepare_cached(sql::CLIENT_BY_ID)?
                .query_row([&id], |row| row.get(0))
                .optional()?
                .map(decode)
                .transpose()
        })
        .await
        .map_err(Into::into)
    }

    async fn insert_client(&self, client: Client) -> StoreResult<()> {
        let doc = to_json(&client)?;
        self.write(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.prepare_cached(
                "INSERT INTO clients (id, client_id, revision, doc) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![client.id, client.client_id, revision(&client), doc])?;
            set_origins(&tx, &client)?;
            tx.commit()?;
            Ok(())
        })
        .await
        .map_err(Into::into)
    }

    /// Compare-and-set on `revision` in one `BEGIN IMMEDIATE` transaction; a changed
    /// `client_id` that another client holds is a conflict (the unique constraint), and
    /// nothing changes.
    async fn update_client(&self, client: Client) -> StoreResult<bool> {
        let read = revision(&client);
        let mut stored = client;
        stored.revision = stored.revision.saturating_add(1);
        let doc = to_json(&stored)?;
        self.write(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let updated = tx
                .prepare_cached(
                    "UPDATE clients SET client_id = ?2, revision = ?3 + 1, doc = ?4 \
                     WHERE id = ?1 AND revision = ?3",
                )?
                .execute(params![stored.id, stored.client_id, read, doc])?;
            if updated == 0 {
                let exists = tx
                    .prepare_cached("SELECT 1 FROM clients WHERE id = ?1")?
                    .exists([&stored.id])?;
                return if exists {
                    Err(Error::Conflict("the client changed since it was read"))
                } else {
                    Ok(false)
                };
            }
            set_origins(&tx, &stored)?;
            tx.commit()?;
            Ok(true)
        })
        .await
        .map_err(Into::into)
    }

    /// Its origins go with it (`ON DELETE CASCADE`).
    async fn delete_client(&self, id: &str) -> StoreResult<Option<Arc<Client>>> {
        let id = id.to_owned();
        self.write(move |c| {
            c.prepare_cached("DELETE FROM clients WHERE id = ?1 RETURNING doc")?
                .query_row([&id], |row| row.get(0))
                .optional()?
                .map(decode)
                .transpose()
        })
        .await
        .map_err(Into::into)
    }

    async fn list_clients(
        &self,
        after: Option<&str>,
        limit_to: usize,
        order: SortOrder,
    ) -> StoreResult<Vec<Arc<Client>>> {
        let after = after.map(str::to_owned);
        let n = limit(limit_to);
        self.run(move |c| {
            let sql = match (order, after.is_some()) {
                (SortOrder::Ascending, false) => "SELECT doc FROM clients ORDER BY id LIMIT ?1",
                (SortOrder::Ascending, true) => {
                    "SELECT doc FROM clients WHERE id > ?2 ORDER BY id LIMIT ?1"
                }
                (SortOrder::Descending, false) => {
                    "SELECT doc FROM clients ORDER BY id DESC LIMIT ?1"
                }
                (SortOrder::Descending, true) => {
                    "SELECT doc FROM clients WHERE id < ?2 ORDER BY id DESC LIMIT ?1"
                }
            };
            let mut stmt = c.prepare_cached(sql)?;
            let rows = match &after {
                Some(after) => stmt
                    .query_map(params![n, after], |row| row.get::<_, String>(0))?
                    .collect::<rusqlite::Result<Vec<_>>>()?,
                None => stmt
                    .query_map([n], |row| row.get::<_, String>(0))?
                    .collect::<rusqlite::Result<Vec<_>>>()?,
            };
            rows.into_iter().map(decode).collect()
        })
        .await
        .map_err(Into::into)
    }

    async fn origin_allowed(&self, origin: &str) -> StoreResult<bool> {
        let origin = origin.to_owned();
        self.run(move |c| Ok(c.prepare_cached(sql::ORIGIN_ALLOWED)?.exists([&origin])?))
            .await
            .map_err(Into::into)
    }
}
