//! The protocol endpoints, each a thin wrapper around a [`opkit::Provider`] method, plus the
//! admin gate of the management API and CORS for browser-based clients.
//!
//! CORS: discovery, JWKS and UserInfo answer any origin (they are public, or need a bearer token
//! the caller presents itself; no cookie is involved). The token and revocation endpoints answer
//! an origin the client lists in `allowed_origins`, or, for a public client, the origin of one of
//! its redirect URIs.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use opkit::http::{parse_basic_authorization, parse_form, HttpResponse};
use opkit::secret::{constant_time_eq, SecretHash};
use opkit::ClientStore;

use super::web::{into_axum, Incoming};
use super::AppState;

/// `GET /.well-known/openid-configuration` (also served as RFC 8414 metadata).
pub(crate) async fn discovery(State(state): State<Arc<AppState>>) -> Response {
    into_axum(any_origin(state.provider.discovery()))
}

/// `GET /jwks`.
pub(crate) async fn jwks(State(state): State<Arc<AppState>>) -> Response {
    into_axum(any_origin(state.provider.jwks()))
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
    into_axum(manage(&state, &incoming, None).await)
}

/// `GET|PUT|DELETE /clients/{id}`.
pub(crate) async fn client_by_id(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    incoming: Incoming,
) -> Response {
    into_axum(manage(&state, &incoming, Some(&id)).await)
}

async fn manage(state: &AppState, incoming: &Incoming, id: Option<&str>) -> HttpResponse {
    let req = incoming.request();
    let authorized = req
        .bearer_token()
        .is_some_and(|t| constant_time_eq(&SecretHash::of(t).0, &state.admin_token.0));
    if !authorized {
        let body = serde_json::json!({
            "error": "unauthorized",
            "message": "the management API needs the admin token as a bearer token",
        });
        return HttpResponse::json(401, body.to_string().into_bytes())
            .no_store()
            .with_header("www-authenticate", "Bearer realm=\"opkit-admin\"");
    }
    state.provider.manage_clients(&req, id).await
}

/// `POST /token`.
pub(crate) async fn token(State(state): State<Arc<AppState>>, incoming: Incoming) -> Response {
    if is_preflight(&incoming) {
        return preflight(incoming).await;
    }
    let resp = state.provider.token(&incoming.request()).await;
    into_axum(client_cors(&state, &incoming, resp).await)
}

/// `POST /revoke` (RFC 7009).
pub(crate) async fn revoke(State(state): State<Arc<AppState>>, incoming: Incoming) -> Response {
    if is_preflight(&incoming) {
        return preflight(incoming).await;
    }
    let resp = state.provider.revoke(&incoming.request()).await;
    into_axum(client_cors(&state, &incoming, resp).await)
}

/// `GET|POST /userinfo`.
pub(crate) async fn userinfo(State(state): State<Arc<AppState>>, incoming: Incoming) -> Response {
    if is_preflight(&incoming) {
        return preflight(incoming).await;
    }
    let resp = state.provider.userinfo(&incoming.request()).await;
    into_axum(any_origin(resp).with_header("access-control-expose-headers", "WWW-Authenticate"))
}

/// `POST /introspect` (RFC 7662; for resource servers, so no CORS).
pub(crate) async fn introspect(State(state): State<Arc<AppState>>, incoming: Incoming) -> Response {
    into_axum(state.provider.introspect(&incoming.request()).await)
}

fn is_preflight(incoming: &Incoming) -> bool {
    incoming.method == axum::http::Method::OPTIONS
        && incoming.header("access-control-request-method").is_some()
}

/// A CORS preflight. Answering it reveals nothing: whether the real response may be read is
/// decided on that response.
pub(crate) async fn preflight(incoming: Incoming) -> Response {
    let mut resp = HttpResponse {
        status: 204,
        headers: Vec::new(),
        body: Vec::new(),
    };
    if let Some(origin) = incoming.header("origin") {
        resp = resp
            .with_header("access-control-allow-origin", origin)
            .with_header("access-control-allow-methods", "GET, POST")
            .with_header(
                "access-control-allow-headers",
                "Authorization, Content-Type, DPoP",
            )
            .with_header("access-control-max-age", "600")
            .with_header("vary", "Origin");
    }
    into_axum(resp)
}

fn any_origin(resp: HttpResponse) -> HttpResponse {
    resp.with_header("access-control-allow-origin", "*")
}

/// Allow the request's `Origin` to read `resp` if the client the request names allows it.
async fn client_cors(state: &AppState, incoming: &Incoming, resp: HttpResponse) -> HttpResponse {
    let resp = resp.with_header("vary", "Origin");
    let Some(origin) = incoming.header("origin") else {
        return resp;
    };
    let Some(client_id) = request_client_id(incoming) else {
        return resp;
    };
    let client = match state.provider.clients().client(&client_id).await {
        Ok(Some(client)) => client,
        _ => return resp,
    };
    let settings = &client.settings;
    let allowed = settings.allowed_origins.iter().any(|o| o == origin)
        || (client.is_public()
            && settings
                .redirect_uris
                .iter()
                .any(|uri| origin_of(uri).as_deref() == Some(origin)));
    if allowed {
        resp.with_header("access-control-allow-origin", origin)
    } else {
        resp
    }
}

/// The `client_id` of a token or revocation request: from HTTP Basic, else the form.
fn request_client_id(incoming: &Incoming) -> Option<String> {
    let req = incoming.request();
    if let Some(basic) = req
        .header_value("authorization")
        .and_then(parse_basic_authorization)
    {
        return Some(basic.client_id);
    }
    if !req.is_form() {
        return None;
    }
    let body = std::str::from_utf8(&incoming.body).ok()?;
    parse_form(body).ok()?.get("client_id").map(str::to_owned)
}

/// The origin of an http(s) URL.
fn origin_of(uri: &str) -> Option<String> {
    let url = url::Url::parse(uri).ok()?;
    matches!(url.scheme(), "http" | "https").then(|| url.origin().ascii_serialization())
}
