//! Prometheus metrics of the HTTP server: request counts and latency histograms by
//! method, route pattern and status, requests in flight, and database pool usage.
//!
//! Routes are labelled by their pattern (`/v1/capsules/{name}`), never the raw path;
//! unmatched requests share the label `unmatched`, and methods outside the standard ones
//! the label `OTHER`, so scanners cannot explode cardinality. Each server worker holds
//! the counter and histogram of every label set it has answered ([`WorkerInstruments`]).

use actix_web::http::{Method, StatusCode};
use caravan_core::Database;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
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
pub struct InFlight(Rc<WorkerInstruments>);

impl InFlight {
    /// Counts the request's answer and its latency under its method, route label (the
    /// matched pattern, or [`UNMATCHED`]) and status.
    pub fn answered(&self, method: &Method, route: String, status: StatusCode, elapsed: Duration) {
        self.0.answered(method, route, status, elapsed);
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.metrics.in_flight.dec();
    }
}

/// The counter and the histogram of one method, route and status.
#[derive(Debug)]
struct Instruments {
    requests: IntCounter,
    latency: Histogram,
}

/// One server worker's view of the metrics. It finds the counter and histogram of a
/// method, route and status in the shared vectors once; after that, counting an answer is
/// a lookup in the worker's own map, without the vectors' lock and reference counts. It
/// holds as many entries as the labels have values, which the route patterns, the
/// standard methods and the status codes bound.
#[derive(Debug)]
pub struct WorkerInstruments {
    metrics: Arc<HttpMetrics>,
    by_labels: RefCell<HashMap<(&'static str, String, StatusCode), Instruments>>,
}

impl WorkerInstruments {
    pub fn new(metrics: Arc<HttpMetrics>) -> Self {
        Self { metrics, by_labels: RefCell::default() }
    }

    /// Counts a request in flight until the returned guard is dropped: whether its future
    /// ran to the answer or was dropped unfinished (a worker stopping, a connection torn
    /// down mid-request).
    pub fn request_started(self: &Rc<Self>) -> InFlight {
        self.metrics.in_flight.inc();
        InFlight(Rc::clone(self))
    }

    fn answered(&self, method: &Method, route: String, status: StatusCode, elapsed: Duration) {
        let key = (method_label(method), route, status);
        let mut by_labels = self.by_labels.borrow_mut();
        let instruments = by_labels.entry(key).or_insert_with_key(|(method, route, status)| {
            let labels = [*method, route.as_str(), status.as_str()];
            Instruments {
                requests: self.metrics.requests.with_label_values(&labels),
                latency: self.metrics.latency.with_label_values(&labels),
            }
        });
        instruments.requests.inc();
        instruments.latency.observe(elapsed.as_secs_f64());
    }
}

/// The route label of a request that matched no route.
pub const UNMATCHED: &str = "unmatched";

/// The method as its label: any method outside the standard ones (a client may send any
/// token) shares the label `OTHER`, so they cannot explode the number of series.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "OTHER",
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
    use super::{HttpMetrics, UNMATCHED, WorkerInstruments};
    use actix_web::http::{Method, StatusCode};
    use std::rc::Rc;
    use std::sync::Arc;
    use std::time::Duration;

    fn in_flight(metrics: &HttpMetrics) -> i64 {
        metrics.in_flight.get()
    }

    fn answers(metrics: &HttpMetrics, method: &str, route: &str, status: &str) -> u64 {
        metrics.requests.with_label_values(&[method, route, status]).get()
    }

    #[test]
    fn a_request_leaves_the_in_flight_count_however_it_ends() {
        let metrics = Arc::new(HttpMetrics::new().expect("metrics"));
        let worker = Rc::new(WorkerInstruments::new(Arc::clone(&metrics)));
        let answered = worker.request_started();
        let dropped_unfinished = worker.request_started();
        assert_eq!(in_flight(&metrics), 2);

        drop(answered);
        assert_eq!(in_flight(&metrics), 1);
        drop(dropped_unfinished);
        assert_eq!(in_flight(&metrics), 0, "a request dropped unanswered is no longer in flight");
    }

    #[test]
    fn answers_are_counted_by_method_route_and_status_across_workers() {
        let metrics = Arc::new(HttpMetrics::new().expect("metrics"));
        let first = Rc::new(WorkerInstruments::new(Arc::clone(&metrics))).request_started();
        let second = Rc::new(WorkerInstruments::new(Arc::clone(&metrics))).request_started();
        let whoami = || "/v1/whoami".to_owned();
        let unmatched = || UNMATCHED.to_owned();
        let brew = Method::from_bytes(b"BREW").expect("a method token");
        let elapsed = Duration::from_micros(300);

        for _ in 0..3 {
            first.answered(&Method::GET, whoami(), StatusCode::OK, elapsed);
        }
        second.answered(&Method::GET, whoami(), StatusCode::OK, elapsed);
        second.answered(&Method::GET, whoami(), StatusCode::UNAUTHORIZED, elapsed);
        first.answered(&Method::GET, unmatched(), StatusCode::NOT_FOUND, elapsed);
        first.answered(&brew, unmatched(), StatusCode::NOT_FOUND, elapsed);

        assert_eq!(answers(&metrics, "GET", "/v1/whoami", "200"), 4, "both workers add to one series");
        assert_eq!(answers(&metrics, "GET", "/v1/whoami", "401"), 1);
        assert_eq!(answers(&metrics, "GET", "unmatched", "404"), 1);
        assert_eq!(answers(&metrics, "OTHER", "unmatched", "404"), 1, "unknown methods share one label");
        let latency = metrics.latency.with_label_values(&["GET", "/v1/whoami", "200"]);
        assert_eq!(latency.get_sample_count(), 4);
        assert!((latency.get_sample_sum() - 4.0 * 0.0003).abs() < 1e-9);
    }
}
