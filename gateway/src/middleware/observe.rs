//! Measures every request for Prometheus and writes the access log line (`debug` level,
//! target `caravan::access`; server errors at `warn`).

use crate::metrics::HttpMetrics;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{Error, web};
use std::time::Instant;

pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let Some(metrics) = req.app_data::<web::Data<HttpMetrics>>().cloned() else {
        return next.call(req).await;
    };
    let method = req.method().clone();
    let started = Instant::now();
    metrics.request_started();
    let outcome = next.call(req).await;
    let elapsed = started.elapsed();
    let (route, status) = match &outcome {
        Ok(response) => (response.request().match_pattern(), response.status()),
        Err(error) => (None, error.as_response_error().status_code()),
    };
    let route = route.as_deref().unwrap_or("unmatched");
    metrics.request_finished(method.as_str(), route, status.as_str(), elapsed);
    if status.is_server_error() {
        tracing::warn!(target: "caravan::access", %status, route, elapsed_ms = elapsed.as_secs_f64() * 1e3, "request answered");
    } else {
        tracing::debug!(target: "caravan::access", %status, route, elapsed_ms = elapsed.as_secs_f64() * 1e3, "request answered");
    }
    outcome
}
