//! The gateway's own operational endpoints (liveness, readiness, metrics) and their part
//! of the OpenAPI document.

mod health;
mod metrics;
mod readiness;

use actix_web::web;
use utoipa::OpenApi;

pub use health::HealthStatus;
pub use readiness::ReadinessStatus;

#[derive(Debug, OpenApi)]
#[openapi(
    paths(health::check_health, readiness::check_readiness, metrics::render_metrics),
    tags((name = "operations", description = "Liveness, readiness and metrics for operators"))
)]
pub struct EdgeApi;

/// Registers each path as a resource, so a known path with another method answers 405
/// rather than 404.
pub fn configure(config: &mut web::ServiceConfig) {
    config
        .service(web::resource("/healthz").route(web::get().to(health::check_health)))
        .service(web::resource("/readyz").route(web::get().to(readiness::check_readiness)))
        .service(web::resource("/metrics").route(web::get().to(metrics::render_metrics)))
        .service(web::resource("/docs").route(web::get().to(redirect_to_docs)));
}

/// Swagger UI lives under `/docs/`; the bare path leads there.
async fn redirect_to_docs() -> actix_web::HttpResponse {
    actix_web::HttpResponse::PermanentRedirect().insert_header(("Location", "/docs/")).finish()
}
