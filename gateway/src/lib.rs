//! The `caravan` binary's library: CLI, configuration, telemetry, middleware, the
//! operational endpoints, and the composition of every crate's routes into one server.

pub mod cli;
pub mod config;
mod metrics;
pub mod middleware;
pub mod rate_limit;
pub mod routes;
pub mod startup;
pub mod telemetry;

pub use startup::Application;

/// The complete OpenAPI document this binary serves.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    caravan_openapi::with_edge(<routes::EdgeApi as utoipa::OpenApi>::openapi())
}
