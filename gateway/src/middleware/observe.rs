//! The outermost middleware: gives the request its id, measures it for Prometheus, logs
//! it, and echoes `X-Request-Id`.
//!
//! Logging: a server error is logged at `error` with the request id and the cause chain
//! that `ApiError` attached to the response; every request is logged at `debug` (target
//! `caravan::access`). The per-request tracing span, which makes every log line inside a
//! handler carry the request id, is opened only when debug logging is on: at `info` it
//! would cost a tenth of the server's throughput on small requests.

use crate::metrics::HttpMetrics;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, web};
use caravan_core::ErrorCause;
use caravan_core::request_id::{RequestIdentity, X_REQUEST_ID};
use std::time::Instant;
use tracing::Instrument;

pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let identity = RequestIdentity::of(req.headers());
    let method = req.method().clone();
    let metrics = req.app_data::<web::Data<HttpMetrics>>().cloned();
    if let Some(metrics) = &metrics {
        metrics.request_started();
    }
    let span = tracing::debug_span!("request", request_id = identity.as_str());
    req.extensions_mut().insert(identity.clone());

    let outcome = next.call(req).instrument(span).await;

    let elapsed = started.elapsed();
    let (route, status) = match &outcome {
        Ok(response) => (response.request().match_pattern(), response.status()),
        Err(error) => (None, error.as_response_error().status_code()),
    };
    let route = route.as_deref().unwrap_or("unmatched");
    if let Some(metrics) = &metrics {
        metrics.request_finished(method.as_str(), route, status.as_str(), elapsed);
    }
    let request_id = identity.as_str();
    let elapsed_ms = elapsed.as_secs_f64() * 1e3;
    if status.is_server_error() {
        let cause = outcome
            .as_ref()
            .ok()
            .and_then(|response| response.response().extensions().get::<ErrorCause>().cloned());
        let cause = cause.map(|cause| cause.0).unwrap_or_default();
        tracing::error!(target: "caravan::access", request_id, %method, route, %status, elapsed_ms, cause, "request failed");
    } else {
        tracing::debug!(target: "caravan::access", request_id, %method, route, %status, elapsed_ms, "request answered");
    }
    let mut response = outcome?;
    response.headers_mut().insert(X_REQUEST_ID, identity.0);
    Ok(response)
}
