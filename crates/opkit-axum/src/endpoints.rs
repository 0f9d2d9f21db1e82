//! The protocol endpoints, each a thin wrapper around a [`opkit::Provider`] method.
//!
//! CORS is the core's policy, applied to exactly the endpoints a browser application calls
//! directly: token, UserInfo, JWKS and discovery (with the RFC 8414 metadata). A preflight
//! (`OPTIONS`) goes to [`opkit::Provider::cors_preflight`] and every other response through
//! [`opkit::Provider::with_cors`]: an origin is allowed only when some client lists it in
//! `allowed_origins`. Nothing else the kit serves answers cross-origin.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use opkit::http::{HttpRequest, HttpResponse};
use opkit::store::{Store, UserStore};

use crate::adapter::{into_axum, Incoming};
use crate::kit::Kit;

type KitState<S, U> = State<Arc<Kit<S, U>>>;

/// `OPTIONS` on the CORS endpoints: `204` with the allow headers for a listed origin, `403`
/// otherwise.
pub(crate) async fn preflight<S: Store + 'static, U: UserStore + 'static>(
    State(kit): KitState<S, U>,
    incoming: Incoming,
) -> Response {
    into_axum(kit.provider.cors_preflight(&incoming.request()).await)
}

async fn cors<S: Store + 'static, U: UserStore + 'static>(
    kit: &Kit<S, U>,
    req: &HttpRequest<'_>,
    resp: HttpResponse,
) -> Response {
    into_axum(kit.provider.with_cors(req, resp).await)
}

/// The discovery document (also the RFC 8414 metadata).
pub(crate) async fn discovery<S: Store + 'static, U: UserStore + 'static>(
    State(kit): KitState<S, U>,
    incoming: Incoming,
) -> Response {
    cors(&kit, &incoming.request(), kit.provider.discovery()).await
}

/// The JWKS document.
pub(crate) async fn jwks<S: Store + 'static, U: UserStore + 'static>(
    State(kit): KitState<S, U>,
    incoming: Incoming,
) -> Response {
    cors(&kit, &incoming.request(), kit.provider.jwks()).await
}

/// The token endpoint.
pub(crate) async fn token<S: Store + 'static, U: UserStore + 'static>(
    State(kit): KitState<S, U>,
    incoming: Incoming,
) -> Response {
    let req = incoming.request();
    let resp = kit.provider.token(&req).await;
    cors(&kit, &req, resp).await
}

/// The UserInfo endpoint.
pub(crate) async fn userinfo<S: Store + 'static, U: UserStore + 'static>(
    State(kit): KitState<S, U>,
    incoming: Incoming,
) -> Response {
    let req = incoming.request();
    let resp = kit.provider.userinfo(&req).await;
    cors(&kit, &req, resp).await
}

/// RFC 7591 registration.
pub(crate) async fn register<S: Store + 'static, U: UserStore + 'static>(
    State(kit): KitState<S, U>,
    incoming: Incoming,
) -> Response {
    into_axum(kit.provider.register(&incoming.request()).await)
}

/// RFC 7592 client configuration.
pub(crate) async fn registration_client<S: Store + 'static, U: UserStore + 'static>(
    State(kit): KitState<S, U>,
    Path(client_id): Path<String>,
    incoming: Incoming,
) -> Response {
    let req = incoming.request();
    into_axum(kit.provider.registration_client(&req, &client_id).await)
}

/// RFC 7009 revocation.
pub(crate) async fn revoke<S: Store + 'static, U: UserStore + 'static>(
    State(kit): KitState<S, U>,
    incoming: Incoming,
) -> Response {
    into_axum(kit.provider.revoke(&incoming.request()).await)
}

/// RFC 7662 introspection.
pub(crate) async fn introspect<S: Store + 'static, U: UserStore + 'static>(
    State(kit): KitState<S, U>,
    incoming: Incoming,
) -> Response {
    into_axum(kit.provider.introspect(&incoming.request()).await)
}
