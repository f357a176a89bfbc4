//! Prometheus metrics of the HTTP server: request counts and latency histograms by
//! method, route pattern and status, requests in flight, and database pool usage.
//!
//! Routes are labelled by their pattern (`/v1/capsules/{name}`), never the raw path, and
//! unmatched requests share the label `unmatched`, so scanners cannot explode cardinality.

use caravan_core::Database;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};
use std::sync::Arc;
use std::time::Duration;

/// Latency buckets in seconds, from half a millisecond to ten seconds.
const LATENCY_BUCKETS: &[f64] =
    &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

#[derive(Debug, Clone)]
pub struct HttpMetrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    in_flight: IntGauge,
    pool_connections: IntGaugeVec,
}

/// One request in `http_requests_in_flight`, until dropped; it records the answer too.
#[derive(Debug)]
pub struct InFlight(Arc<HttpMetrics>);

impl InFlight {
    /// Counts the request's answer and its latency.
    pub fn answered(&self, method: &str, route: &str, status: &str, elapsed: Duration) {
        let labels = [method, route, status];
        self.0.requests.with_label_values(&labels).inc();
        self.0.latency.with_label_values(&labels).observe(elapsed.as_secs_f64());
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.dec();
    }
}

impl HttpMetrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new_custom(Some("caravan".to_owned()), None)?;
        let labels = &["method", "route", "status"];
        let requests =
            IntCounterVec::new(Opts::new("http_requests_total", "HTTP requests answered"), labels)?;
        let latency = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "Time to answer an HTTP request")
                .buckets(LATENCY_BUCKETS.to_vec()),
            labels,
        )?;
        let in_flight = IntGauge::new("http_requests_in_flight", "HTTP requests being answered")?;
        let pool_connections = IntGaugeVec::new(
            Opts::new("db_pool_connections", "Database pool connections by state"),
            &["state"],
        )?;
        let build_info =
            IntGaugeVec::new(Opts::new("build_info", "Version of the running binary"), &["version"])?;
        build_info.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);

        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(in_flight.clone()))?;
        registry.register(Box::new(pool_connections.clone()))?;
        registry.register(Box::new(build_info))?;
        Ok(Self { registry, requests, latency, in_flight, pool_connections })
    }

    /// Counts a request in flight until the returned guard is dropped: whether its future
    /// ran to the answer or was dropped unfinished (a worker stopping, a connection torn
    /// down mid-request).
    pub fn request_started(self: &Arc<Self>) -> InFlight {
        self.in_flight.inc();
        InFlight(Arc::clone(self))
    }

    /// The text exposition format, with pool gauges read at scrape time.
    pub fn render(&self, database: &Database) -> Result<String, prometheus::Error> {
        let pool = database.pool_state();
        self.pool_connections.with_label_values(&["idle"]).set(i64::from(pool.idle_connections));
        self.pool_connections
            .with_label_values(&["in_use"])
            .set(i64::from(pool.connections.saturating_sub(pool.idle_connections)));
        let mut buffer = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buffer)?;
        String::from_utf8(buffer).map_err(|error| prometheus::Error::Msg(error.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::HttpMetrics;
    use std::sync::Arc;

    fn in_flight(metrics: &HttpMetrics) -> i64 {
        metrics.in_flight.get()
    }

    #[test]
    fn a_request_leaves_the_in_flight_count_however_it_ends() {
        let metrics = Arc::new(HttpMetrics::new().expect("metrics"));
        let answered = metrics.request_started();
        let dropped_unfinished = metrics.request_started();
        assert_eq!(in_flight(&metrics), 2);

        drop(answered);
        assert_eq!(in_flight(&metrics), 1);
        drop(dropped_unfinished);
        assert_eq!(in_flight(&metrics), 0, "a request dropped unanswered is no longer in flight");
    }
}
