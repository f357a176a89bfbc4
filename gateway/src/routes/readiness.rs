//! `GET /readyz`: ready to take traffic, meaning the database answers and every migration
//! is applied. Load balancers stop routing here while it fails.

use actix_web::{HttpResponse, web};
use caravan_core::{ApiError, Database, DbError};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct ReadinessStatus {
    #[schema(example = "ready")]
    pub status: &'static str,
    /// The database backend in use: `sqlite` or `postgres`.
    #[schema(example = "sqlite")]
    pub database: &'static str,
}

/// Readiness
///
/// Answers 200 when the database is reachable and fully migrated, 503 otherwise.
#[utoipa::path(
    get,
    path = "/readyz",
    operation_id = "check_readiness",
    tag = "operations",
    responses(
        (status = 200, description = "Ready for traffic", body = ReadinessStatus),
        (status = 503, description = "Database unreachable or not migrated", body = caravan_core::Problem,
            content_type = "application/problem+json"),
    )
)]
pub async fn check_readiness(database: web::Data<Database>) -> Result<HttpResponse, ApiError> {
    database.check_ready().await.map_err(|error: DbError| {
        tracing::warn!(error = %error, "not ready");
        ApiError::from(NotReady(error))
    })?;
    Ok(HttpResponse::Ok().json(ReadinessStatus { status: "ready", database: database.backend().as_str() }))
}

/// Readiness failures are expected operational states, reported as 503 with the reason.
#[derive(Debug, thiserror::Error)]
#[error("not ready: {0}")]
struct NotReady(#[source] DbError);

impl caravan_core::Problematic for NotReady {
    fn kind(&self) -> caravan_core::ErrorKind {
        caravan_core::ErrorKind::Unavailable
    }
    fn slug(&self) -> &'static str {
        "not-ready"
    }
    fn title(&self) -> &'static str {
        "Not ready"
    }
}
