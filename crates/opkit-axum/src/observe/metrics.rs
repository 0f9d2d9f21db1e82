//! Prometheus metrics: requests by route and status with their latency, and counts of the
//! provider's events (tokens by grant type, throttling by attempt, store failures by kind),
//! in the Prometheus text format at the endpoint [`OpenIdProvider::metrics`] mounts.
//!
//! [`OpenIdProvider::metrics`]: crate::OpenIdProvider::metrics

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use opkit::host::Event;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use super::trace::attempt_name;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    /// The route's path template (`/token`, `/interaction/{id}/login`; `unmatched` for
    /// others), so the label has as many values as the router has routes.
    route: String,
    method: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteOnly {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabels {
    event: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GrantLabels {
    grant_type: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AttemptLabels {
    attempt: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: String,
}

/// The kit's metrics and their registry.
pub(crate) struct Metrics {
    registry: Registry,
    requests: Family<RouteLabels, Counter>,
    latency: Family<RouteOnly, Histogram, fn() -> Histogram>,
    events: Family<EventLabels, Counter>,
    tokens: Family<GrantLabels, Counter>,
    throttled: Family<AttemptLabels, Counter>,
    store_errors: Family<KindLabels, Counter>,
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
        let mut registry = Registry::with_prefix("opkit");
        let requests = Family::<RouteLabels, Counter>::default();
        // 0.1 ms to about 3.3 s.
        let latency: Family<RouteOnly, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.0001, 2.0, 16)));
        let events = Family::<EventLabels, Counter>::default();
        let tokens = Family::<GrantLabels, Counter>::default();
        let throttled = Family::<AttemptLabels, Counter>::default();
        let store_errors = Family::<KindLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route, method and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time from request to response head, by route",
            latency.clone(),
        );
        registry.register(
            "events",
            "Events the provider reported, by event",
            events.clone(),
        );
        registry.register(
            "tokens_issued",
            "Issuances of codes or tokens, by grant type",
            tokens.clone(),
        );
        registry.register(
            "throttled",
            "Attempts refused by the rate limiter, by what was attempted",
            throttled.clone(),
        );
        registry.register(
            "store_errors",
            "Store calls that failed while answering a request, by kind",
            store_errors.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            events,
            tokens,
            throttled,
            store_errors,
        }
    }

    /// Count `event`.
    pub(crate) fn count(&self, event: &Event<'_>) {
        self.events
            .get_or_create(&EventLabels {
                event: event.name(),
            })
            .inc();
        match event {
            Event::TokensIssued { grant_type, .. } => {
                self.tokens
                    .get_or_create(&GrantLabels {
                        grant_type: grant_type.as_str(),
                    })
                    .inc();
            }
            Event::Throttled { attempt, .. } => {
                self.throttled
                    .get_or_create(&AttemptLabels {
                        attempt: attempt_name(attempt),
                    })
                    .inc();
            }
            Event::StoreFailed { kind } => {
                self.store_errors
                    .get_or_create(&KindLabels {
                        kind: format!("{kind:?}").to_lowercase(),
                    })
                    .inc();
            }
            _ => {}
        }
    }

    /// A state store of the kit (sessions, pending steps) failed.
    pub(crate) fn state_store_failed(&self) {
        self.store_errors
            .get_or_create(&KindLabels {
                kind: "state_store".to_owned(),
            })
            .inc();
    }

    /// Everything in the Prometheus text format.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// The middleware counting and timing every request (installed by the router when metrics are
/// on).
pub(crate) async fn measure(
    State(metrics): State<Arc<Metrics>>,
    req: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let method = method_label(req.method());
    let resp = next.run(req).await;
    let status = resp.status().as_u16();
    metrics
        .latency
        .get_or_create(&RouteOnly {
            route: route.clone(),
        })
        .observe(started.elapsed().as_secs_f64());
    metrics
        .requests
        .get_or_create(&RouteLabels {
            route,
            method,
            status,
        })
        .inc();
    resp
}

/// The method as a label: the usual ones by name, anything else as `other` (a caller must not
/// be able to grow the label set).
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::HEAD => "HEAD",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

/// `GET` the metrics endpoint.
pub(crate) async fn endpoint(State(metrics): State<Arc<Metrics>>) -> Response {
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        metrics.render(),
    )
        .into_response()
}
