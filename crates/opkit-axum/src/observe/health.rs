//! `GET /healthz` (the process answers) and `GET /readyz` (and its store answers, in time).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use opkit::host::Event;
use opkit::store::{Store, UserStore};

use crate::kit::Kit;

/// How long the store may take to answer the readiness probe.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// A `client_id` looked up to reach the store (only whether the store answers matters; the
/// space keeps it from being a `client_id` the kit would create).
const PROBE_CLIENT_ID: &str = "opkit readiness probe";

fn plain(status: StatusCode, text: &'static str) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        text,
    )
        .into_response()
}

/// Liveness: `200 ok` whenever the process serves requests.
pub(crate) async fn healthz() -> Response {
    plain(StatusCode::OK, "ok\n")
}

/// Readiness: `200 ready` when a store lookup succeeds within two seconds, else `503`.
pub(crate) async fn readyz<S: Store + 'static, U: UserStore + 'static>(
    State(kit): State<Arc<Kit<S, U>>>,
) -> Response {
    let lookup = kit.provider.store().client(PROBE_CLIENT_ID);
    match tokio::time::timeout(READY_TIMEOUT, lookup).await {
        Ok(Ok(_)) => plain(StatusCode::OK, "ready\n"),
        Ok(Err(e)) => {
            tracing::warn!(target: "opkit_axum", error = %e, "readiness: the store failed");
            kit.provider.emit(&Event::StoreFailed { kind: e.kind() });
            plain(StatusCode::SERVICE_UNAVAILABLE, "store unavailable\n")
        }
        Err(_) => {
            tracing::warn!(target: "opkit_axum", "readiness: the store did not answer in time");
            plain(StatusCode::SERVICE_UNAVAILABLE, "store unavailable\n")
        }
    }
}
