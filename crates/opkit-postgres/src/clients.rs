//! [`ClientStore`]: clients as JSON documents, their allowed origins in a table beside them.

use std::sync::Arc;

use opkit::client::Client;
use opkit::store::{ClientStore, SortOrder, StoreError, StoreResult};

use crate::db::{from_doc, limit, to_doc};
use crate::error::DbError;
use crate::PostgresStore;

pub(crate) const BY_CLIENT_ID: &str = "SELECT doc FROM clients WHERE client_id = $1";
const BY_ID: &str = "SELECT doc FROM clients WHERE id = $1";
const INSERT: &str = "INSERT INTO clients (id, client_id, revision, doc) VALUES ($1, $2, $3, $4)";
const INSERT_ORIGINS: &str = "INSERT INTO client_origins (origin, client_id) \
     SELECT DISTINCT o, $2 FROM unnest($1::text[]) AS o ON CONFLICT DO NOTHING";
const DELETE_ORIGINS: &str = "DELETE FROM client_origins WHERE client_id = $1";
/// Compare-and-set on the revision; returns the `client_id` the row had before (the
/// `old` snapshot is the statement's, and the update succeeds only if no one changed the row
/// since, so it is the current one).
const UPDATE: &str = "WITH old AS (SELECT client_id FROM clients WHERE id = $1) \
     UPDATE clients SET client_id = $2, revision = revision + 1, doc = $3 \
     WHERE id = $1 AND revision = $4 RETURNING (SELECT client_id FROM old)";
const EXISTS: &str = "SELECT 1 FROM clients WHERE id = $1";
const DELETE: &str = "DELETE FROM clients WHERE id = $1 RETURNING client_id, doc";
const LIST_FIRST_ASC: &str = "SELECT doc FROM clients ORDER BY id LIMIT $1";
const LIST_AFTER_ASC: &str = "SELECT doc FROM clients WHERE id > $1 ORDER BY id LIMIT $2";
const LIST_FIRST_DESC: &str = "SELECT doc FROM clients ORDER BY id DESC LIMIT $1";
const LIST_AFTER_DESC: &str = "SELECT doc FROM clients WHERE id < $1 ORDER BY id DESC LIMIT $2";
pub(crate) const ORIGIN_ALLOWED: &str =
    "SELECT EXISTS (SELECT 1 FROM client_origins WHERE origin = $1)";

fn decode(doc: &str) -> Result<Arc<Client>, DbError> {
    from_doc::<Client>("client", doc).map(Arc::new)
}

fn revision(client: &Client) -> Result<i64, DbError> {
    i64::try_from(client.revision)
        .map_err(|_| DbError::Store(StoreError::new("a client revision past i64::MAX")))
}

impl ClientStore for PostgresStore {
    async fn client(&self, client_id: &str) -> StoreResult<Option<Arc<Client>>> {
        self.call(|c| async move {
            let st = c.prepare_cached(BY_CLIENT_ID).await?;
            let row = c.query_opt(&st, &[&client_id]).await?;
            row.map(|r| decode(r.try_get(0)?)).transpose()
        })
        .await
    }

    async fn client_by_id(&self, id: &str) -> StoreResult<Option<Arc<Client>>> {
        self.call(|c| async move {
            let st = c.prepare_cached(BY_ID).await?;
            let row = c.query_opt(&st, &[&id]).await?;
            row.map(|r| decode(r.try_get(0)?)).transpose()
        })
        .await
    }

    async fn insert_client(&self, client: Client) -> StoreResult<()> {
        let client = &client;
        self.call(|mut c| async move {
            let doc = to_doc("client", client)?;
            let revision = revision(client)?;
            let tx = c.transaction().await?;
            let insert = tx.prepare_cached(INSERT).await?;
            tx.execute(&insert, &[&client.id, &client.client_id, &revision, &doc])
                .await?;
            let origins = tx.prepare_cached(INSERT_ORIGINS).await?;
            tx.execute(
                &origins,
                &[&client.settings.allowed_origins, &client.client_id],
            )
            .await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    async fn update_client(&self, client: Client) -> StoreResult<bool> {
        let read_revision = &client.revision;
        let mut stored = client.clone();
        stored.revision = stored.revision.wrapping_add(1);
        let stored = &stored;
        self.call(|mut c| async move {
            let doc = to_doc("client", stored)?;
            let expected = i64::try_from(*read_revision)
                .map_err(|_| DbError::Store(StoreError::new("a client revision past i64::MAX")))?;
            let tx = c.transaction().await?;
            let update = tx.prepare_cached(UPDATE).await?;
            let row = tx
                .query_opt(&update, &[&stored.id, &stored.client_id, &doc, &expected])
                .await?;
            let Some(row) = row else {
                let exists = tx.prepare_cached(EXISTS).await?;
                let found = tx.query_opt(&exists, &[&stored.id]).await?.is_some();
                tx.rollback().await?;
                return if found {
                    Err(DbError::Store(StoreError::conflict(
                        "the client changed since it was read (revision differs)",
                    )))
                } else {
                    Ok(false)
                };
            };
            let old_client_id: String = row.try_get(0)?;
            let delete = tx.prepare_cached(DELETE_ORIGINS).await?;
            tx.execute(&delete, &[&old_client_id]).await?;
            let origins = tx.prepare_cached(INSERT_ORIGINS).await?;
            tx.execute(
                &origins,
                &[&stored.settings.allowed_origins, &stored.client_id],
            )
            .await?;
            tx.commit().await?;
            Ok(true)
        })
        .await
    }

    async fn delete_client(&self, id: &str) -> StoreResult<Option<Arc<Client>>> {
        self.call(|mut c| async move {
            let tx = c.transaction().await?;
            let delete = tx.prepare_cached(DELETE).await?;
            let Some(row) = tx.query_opt(&delete, &[&id]).await? else {
                tx.rollback().await?;
                return Ok(None);
            };
            let client_id: String = row.try_get(0)?;
            let doc: &str = row.try_get(1)?;
            let client = decode(doc)?;
            let origins = tx.prepare_cached(DELETE_ORIGINS).await?;
            tx.execute(&origins, &[&client_id]).await?;
            tx.commit().await?;
            Ok(Some(client))
        })
        .await
    }

    async fn list_clients(
        &self,
        after: Option<&str>,
        limit_to: usize,
        order: SortOrder,
    ) -> StoreResult<Vec<Arc<Client>>> {
        let n = limit(limit_to);
        self.call(|c| async move {
            let rows = match (after, order) {
                (None, SortOrder::Ascending) => {
                    let st = c.prepare_cached(LIST_FIRST_ASC).await?;
                    c.query(&st, &[&n]).await?
                }
                (None, SortOrder::Descending) => {
                    let st = c.prepare_cached(LIST_FIRST_DESC).await?;
                    c.query(&st, &[&n]).await?
                }
                (Some(after), SortOrder::Ascending) => {
                    let st = c.prepare_cached(LIST_AFTER_ASC).await?;
                    c.query(&st, &[&after, &n]).await?
                }
                (Some(after), SortOrder::Descending) => {
                    let st = c.prepare_cached(LIST_AFTER_DESC).await?;
                    c.query(&st, &[&after, &n]).await?
                }
            };
            rows.iter().map(|r| decode(r.try_get(0)?)).collect()
        })
        .await
    }

    async fn origin_allowed(&self, origin: &str) -> StoreResult<bool> {
        self.call(|c| async move {
            let st = c.prepare_cached(ORIGIN_ALLOWED).await?;
            Ok(c.query_one(&st, &[&origin]).await?.try_get(0)?)
        })
        .await
    }
}
