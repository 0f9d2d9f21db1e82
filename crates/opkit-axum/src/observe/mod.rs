//! What operators watch: the provider's [events](opkit::host::Event) as `tracing` events and,
//! when switched on, as Prometheus metrics next to request counts and latencies; a liveness and
//! a readiness endpoint.

mod health;
mod metrics;
mod trace;

use std::sync::Arc;

use opkit::host::{Event, Events};

pub(crate) use health::{healthz, readyz};
pub(crate) use metrics::{endpoint as metrics_endpoint, measure, Metrics};

/// The sink the kit installs in the provider: every event goes to `tracing`, to the metrics
/// when they are on, and to the host's own sink when it gave one.
pub(crate) struct Observer {
    pub(crate) metrics: Option<Arc<Metrics>>,
    pub(crate) host: Option<Arc<dyn Events>>,
}

impl Observer {
    /// A state store of the kit failed (counted with the store errors).
    pub(crate) fn state_store_failed(&self) {
        if let Some(metrics) = &self.metrics {
            metrics.state_store_failed();
        }
    }
}

impl Events for Observer {
    fn emit(&self, event: &Event<'_>) {
        trace::trace(event);
        if let Some(metrics) = &self.metrics {
            metrics.count(event);
        }
        if let Some(host) = &self.host {
            host.emit(event);
        }
    }
}
