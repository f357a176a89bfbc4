//! `GET /metrics`: Prometheus text exposition of the server's metrics.

use crate::metrics::HttpMetrics;
use actix_web::{HttpResponse, web};
use caravan_core::{ApiError, Database, ErrorKind, Problematic};

/// Prometheus metrics
///
/// Request counts and latency histograms by method, route and status; requests in flight;
/// database pool connections.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "render_metrics",
    tag = "operations",
    responses((status = 200, description = "Prometheus text format 0.0.4", body = String,
        content_type = "text/plain; version=0.0.4"))
)]
pub async fn render_metrics(
    metrics: web::Data<HttpMetrics>,
    database: web::Data<Database>,
) -> Result<HttpResponse, ApiError> {
    let text = metrics.render(&database).map_err(MetricsError)?;
    Ok(HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(text))
}

#[derive(Debug, thiserror::Error)]
#[error("could not encode metrics")]
struct MetricsError(#[source] prometheus::Error);

impl Problematic for MetricsError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Internal
    }
    fn slug(&self) -> &'static str {
        "internal"
    }
    fn title(&self) -> &'static str {
        "Internal error"
    }
}
