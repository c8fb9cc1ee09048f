//! Prometheus metrics: requests by route and status, latencies, requests in flight, requests
//! waiting for the face models or the index (queue depth), background jobs by state, the
//! number of templates and the lag of the replica searches read from (the last three read at
//! scrape time).

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RouteLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct LatencyLabels {
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct StageLabels {
    /// `analysis` (face models) or `search` (the index).
    pub stage: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct JobLabels {
    pub state: String,
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 14))
}

pub(crate) struct Metrics {
    pub registry: Registry,
    pub requests: Family<RouteLabels, Counter>,
    pub latency: Family<LatencyLabels, Histogram, fn() -> Histogram>,
    pub in_flight: Gauge,
    pub waiting: Family<StageLabels, Gauge>,
    pub jobs: Family<JobLabels, Gauge>,
    pub templates: Gauge<u64, AtomicU64>,
    /// The lag of the streaming replica searches read from (0 without one: they see every
    /// write).
    pub replica_lag: Gauge<f64, AtomicU64>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("gabarit");
        let requests = Family::<RouteLabels, Counter>::default();
        let latency = Family::<LatencyLabels, Histogram, fn() -> Histogram>::new_with_constructor(latency_histogram);
        let in_flight = Gauge::default();
        let templates = Gauge::<u64, AtomicU64>::default();
        let waiting = Family::<StageLabels, Gauge>::default();
        let jobs = Family::<JobLabels, Gauge>::default();
        registry.register("http_requests", "HTTP requests by route and status", requests.clone());
        registry.register("http_request_seconds", "HTTP request latency", latency.clone());
        registry.register("http_requests_in_flight", "Requests being served (queue depth)", in_flight.clone());
        registry.register("templates", "Templates in the vector index", templates.clone());
        registry.register("waiting", "Requests waiting for the face models or the index", waiting.clone());
        registry.register("jobs", "Background jobs by state", jobs.clone());
        let replica_lag = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "replica_lag_seconds",
            "How far behind the primary the replica searches read from is (0 without one)",
            replica_lag.clone(),
        );
        Metrics { registry, requests, latency, in_flight, waiting, jobs, templates, replica_lag }
    }
}
