//! Metering and billing: the usage ledger and meters, plans and pricing, invoices, Stripe
//! sync and webhooks, and forwarding of executions to worker backends.

use actix_web::web;
use utoipa::OpenApi;

/// This crate's part of the OpenAPI document, merged by `caravan-openapi`.
#[derive(Debug, OpenApi)]
#[openapi()]
pub struct ApiDoc;

/// Mounts this crate's routes; the gateway calls it inside its `/` scope.
pub fn configure(_config: &mut web::ServiceConfig) {}
