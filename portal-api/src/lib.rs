//! The developer portal: tenants, members, API keys, publisher keys, and the usage and
//! invoice views, as an API and as server-rendered pages at `/portal`.

use actix_web::web;
use utoipa::OpenApi;

/// This crate's part of the OpenAPI document, merged by `caravan-openapi`.
#[derive(Debug, OpenApi)]
#[openapi()]
pub struct ApiDoc;

/// Mounts this crate's routes; the gateway calls it inside its `/` scope.
pub fn configure(_config: &mut web::ServiceConfig) {}
