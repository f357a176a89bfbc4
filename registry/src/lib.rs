//! The capsule registry: capsule format, publish pipeline (signature, SBOM, admission policy),
//! content-addressed blob storage, search and performance ranking.

use actix_web::web;
use utoipa::OpenApi;

/// This crate's part of the OpenAPI document, merged by `caravan-openapi`.
#[derive(Debug, OpenApi)]
#[openapi()]
pub struct ApiDoc;

/// Mounts this crate's routes; the gateway calls it inside its `/` scope.
pub fn configure(_config: &mut web::ServiceConfig) {}
