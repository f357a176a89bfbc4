//! The capsule registry: the capsule format (manifest, safe unpacking, packing), publisher
//! signatures (cosign- and openssl-compatible), and, as it grows, the publish pipeline (signature, SBOM, admission policy), content-addressed blob
//! storage, search and performance ranking.

pub mod capsule;
pub mod signing;

use actix_web::web;
use utoipa::OpenApi;

/// This crate's part of the OpenAPI document, merged by `caravan-openapi`.
#[derive(Debug, OpenApi)]
#[openapi()]
pub struct ApiDoc;

/// Mounts this crate's routes; the gateway calls it inside its `/v1` scope.
pub fn configure(_config: &mut web::ServiceConfig) {}
