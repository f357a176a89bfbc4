//! `GET /healthz`: the process is up and serving. Touches nothing else, so a slow
//! database never gets a healthy process restarted.

use actix_web::HttpResponse;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct HealthStatus {
    /// Always `ok` when the process answers.
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// The body is constant, so it is serialized once.
const HEALTHY: &str = r#"{"status":"ok"}"#;

/// Liveness
///
/// Answers 200 while the process serves HTTP. Needs no credentials.
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "check_health",
    tag = "operations",
    responses((status = 200, description = "The process is alive", body = HealthStatus))
)]
pub async fn check_health() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "application/json"))
        .insert_header((CACHE_CONTROL, "no-store"))
        .body(HEALTHY)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_constant_body_matches_the_schema() {
        let expected = serde_json::to_string(&super::HealthStatus { status: "ok" }).ok();
        assert_eq!(expected.as_deref(), Some(super::HEALTHY));
    }
}
