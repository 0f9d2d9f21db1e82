//! The protocol endpoints, each a thin wrapper around a [`opkit::Provider`] method, plus the
//! admin gate of the management API.
//!
//! CORS is the core's policy, applied to exactly the endpoints a browser application calls
//! directly: token, UserInfo, JWKS and discovery (with the RFC 8414 metadata). A preflight
//! (`OPTIONS`) goes to [`opkit::Provider::cors_preflight`] and every other response through
//! [`opkit::Provider::with_cors`]: an origin is allowed only when some client lists it in
//! `allowed_origins`, the answer names that origin (never `*`) and never allows credentials.
//! Nothing else here (authorization, revocation, introspection, registration, the management
//! API, the login, consent and logout pages) answers cross-origin.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use opkit::http::{HttpRequest, HttpResponse};
use opkit::secret::{constant_time_eq, SecretHash};

use super::web::{into_axum, Incoming};
use super::AppState;

/// `OPTIONS` on the token, UserInfo, JWKS and discovery endpoints: the core's CORS preflight
/// (`204` with the allow headers for a listed origin, `403` otherwise).
pub(crate) async fn preflight(State(state): State<Arc<AppState>>, incoming: Incoming) -> Response {
    into_axum(state.provider.cors_preflight(&incoming.request()).await)
}

/// `resp` with the core's CORS headers for the request's `Origin`.
async fn cors(state: &AppState, req: &HttpRequest<'_>, resp: HttpResponse) -> Response {
    into_axum(state.provider.with_cors(req, resp).await)
}

/// `GET /.well-known/openid-configuration` (also served as RFC 8414 metadata).
pub(crate) async fn discovery(State(state): State<Arc<AppState>>, incoming: Incoming) -> Response {
    cors(&state, &incoming.request(), state.provider.discovery()).await
}

/// `GET /jwks`.
pub(crate) async fn jwks(State(state): State<Arc<AppState>>, incoming: Incoming) -> Response {
    cors(&state, &incoming.request(), state.provider.jwks()).await
}

/// `POST /register` (RFC 7591).
pub(crate) async fn register(State(state): State<Arc<AppState>>, incoming: Incoming) -> Response {
    into_axum(state.provider.register(&incoming.request()).await)
}

/// `GET|PUT|DELETE /register/{client_id}` (RFC 7592).
pub(crate) async fn registration_client(
    State(state): State<Arc<AppState>>,
    Path(client_id): Path<String>,
    incoming: Incoming,
) -> Response {
    let resp = state
        .provider
        .registration_client(&incoming.request(), &client_id)
        .await;
    into_axum(resp)
}

/// `GET|POST /clients`: the management API, for the admin token only.
pub(crate) async fn clients(State(state): State<Arc<AppState>>, incoming: Incoming) -> Response {
    let resp = match admin_only(&state, &incoming) {
        Ok(()) => {
            state
                .provider
                .manage_clients(&incoming.request(), None)
                .await
        }
        Err(refused) => refused,
    };
    into_axum(with_allow(resp, "GET, POST"))
}

/// `GET|PUT|DELETE /clients/{id}`.
pub(crate) async fn client_by_id(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    incoming: Incoming,
) -> Response {
    let resp = match admin_only(&state, &incoming) {
        Ok(()) => {
            let req = incoming.request();
            state.provider.manage_clients(&req, Some(&id)).await
        }
        Err(refused) => refused,
    };
    into_axum(with_allow(resp, "GET, PUT, DELETE"))
}

/// `GET|POST /clients/{id}/secrets`: list a client's secrets, or add one (its plaintext is in
/// the `201` response, once).
pub(crate) async fn client_secrets(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    incoming: Incoming,
) -> Response {
    let resp = match admin_only(&state, &incoming) {
        Ok(()) => {
            let req = incoming.request();
            state.provider.manage_client_secrets(&req, &id, None).await
        }
        Err(refused) => refused,
    };
    into_axum(with_allow(resp, "GET, POST"))
}

/// `DELETE /clients/{id}/secrets/{secret_id}`: revoke one secret.
pub(crate) async fn client_secret(
    State(state): State<Arc<AppState>>,
    Path((id, secret_id)): Path<(String, String)>,
    incoming: Incoming,
) -> Response {
    let resp = match admin_only(&state, &incoming) {
        Ok(()) => {
            let req = incoming.request();
            state
                .provider
                .manage_client_secrets(&req, &id, Some(&secret_id))
                .await
        }
        Err(refused) => refused,
    };
    into_axum(with_allow(resp, "DELETE"))
}

/// The admin gate of the management API: the admin token as a bearer token, compared in
/// constant time; otherwise `401`.
fn admin_only(state: &AppState, incoming: &Incoming) -> Result<(), HttpResponse> {
    let authorized = incoming
        .request()
        .bearer_token()
        .is_some_and(|t| constant_time_eq(&SecretHash::of(t).0, &state.admin_token.0));
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

/// The management API answers `405` with one `Allow` for all its paths; name the methods of
/// this path instead.
fn with_allow(resp: HttpResponse, allow: &'static str) -> HttpResponse {
    if resp.status == 405 {
        resp.set_header("allow", allow)
    } else {
        resp
    }
}

/// `POST /token`.
pub(crate) async fn token(State(state): State<Arc<AppState>>, incoming: Incoming) -> Response {
    let req = incoming.request();
    let resp = state.provider.token(&req).await;
    cors(&state, &req, resp).await
}

/// `GET|POST /userinfo`.
pub(crate) async fn userinfo(State(state): State<Arc<AppState>>, incoming: Incoming) -> Response {
    let req = incoming.request();
    let resp = state.provider.userinfo(&req).await;
    cors(&state, &req, resp).await
}

/// `POST /revoke` (RFC 7009; no CORS).
pub(crate) async fn revoke(State(state): State<Arc<AppState>>, incoming: Incoming) -> Response {
    into_axum(state.provider.revoke(&incoming.request()).await)
}

/// `POST /introspect` (RFC 7662; for resource servers, so no CORS).
pub(crate) async fn introspect(State(state): State<Arc<AppState>>, incoming: Incoming) -> Response {
    into_axum(state.provider.introspect(&incoming.request()).await)
}
