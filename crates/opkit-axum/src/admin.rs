//! The management API (`/clients`, `/clients/{id}`, `/clients/{id}/secrets[/{secret_id}]`),
//! mounted only when the host gives an admin token, which callers present as a bearer token
//! (compared as SHA-256 hashes, in constant time).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use opkit::http::HttpResponse;
use opkit::secret::constant_time_eq;
use opkit::secret::SecretHash;
use opkit::store::{Store, UserStore};

use crate::adapter::{into_axum, Incoming};
use crate::kit::Kit;

type KitState<S, U> = State<Arc<Kit<S, U>>>;

/// Where the management API is mounted, below the issuer.
pub(crate) const CLIENTS_PATH: &str = "/clients";

/// `GET|POST /clients`.
pub(crate) async fn clients<S: Store + 'static, U: UserStore + 'static>(
    State(kit): KitState<S, U>,
    incoming: Incoming,
) -> Response {
    let resp = match kit.admin_only(&incoming) {
        Ok(()) => kit.provider.manage_clients(&incoming.request(), None).await,
        Err(refused) => refused,
    };
    into_axum(with_allow(resp, "GET, POST"))
}

/// `GET|PUT|DELETE /clients/{id}`.
pub(crate) async fn client_by_id<S: Store + 'static, U: UserStore + 'static>(
    State(kit): KitState<S, U>,
    Path(id): Path<String>,
    incoming: Incoming,
) -> Response {
    let resp = match kit.admin_only(&incoming) {
        Ok(()) => {
            let req = incoming.request();
            kit.provider.manage_clients(&req, Some(&id)).await
        }
        Err(refused) => refused,
    };
    into_axum(with_allow(resp, "GET, PUT, DELETE"))
}

/// `GET|POST /clients/{id}/secrets`: list a client's secrets, or add one.
pub(crate) async fn client_secrets<S: Store + 'static, U: UserStore + 'static>(
    State(kit): KitState<S, U>,
    Path(id): Path<String>,
    incoming: Incoming,
) -> Response {
    let resp = match kit.admin_only(&incoming) {
        Ok(()) => {
            let req = incoming.request();
            kit.provider.manage_client_secrets(&req, &id, None).await
        }
        Err(refused) => refused,
    };
    into_axum(with_allow(resp, "GET, POST"))
}

/// `DELETE /clients/{id}/secrets/{secret_id}`.
pub(crate) async fn client_secret<S: Store + 'static, U: UserStore + 'static>(
    State(kit): KitState<S, U>,
    Path((id, secret_id)): Path<(String, String)>,
    incoming: Incoming,
) -> Response {
    let resp = match kit.admin_only(&incoming) {
        Ok(()) => {
            let req = incoming.request();
            kit.provider
                .manage_client_secrets(&req, &id, Some(&secret_id))
                .await
        }
        Err(refused) => refused,
    };
    into_axum(with_allow(resp, "DELETE"))
}

impl<S, U> Kit<S, U> {
    /// The admin token as a bearer token, compared in constant time; otherwise `401`.
    fn admin_only(&self, incoming: &Incoming) -> Result<(), HttpResponse> {
        let presented = incoming.request().bearer_token().map(SecretHash::of);
        let authorized = match (presented, &self.admin_token) {
            (Some(presented), Some(expected)) => constant_time_eq(&presented.0, &expected.0),
            _ => false,
        };
        if authorized {
            return Ok(());
        }
        let body = serde_json::json!({
            "error": "unauthorized",
            "message": "the management API needs the admin token as a bearer token",
        });
        Err(HttpResponse::json(401, body.to_string().into_bytes())
            .no_store()
            .with_header("www-authenticate", "Bearer realm=\"opkit-admin\""))
    }
}

/// The core answers `405` with one `Allow` for all management paths; name this path's.
fn with_allow(resp: HttpResponse, allow: &'static str) -> HttpResponse {
    if resp.status == 405 {
        resp.set_header("allow", allow)
    } else {
        resp
    }
}
