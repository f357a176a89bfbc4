//! HTTP handlers of metering and billing, one file per concern, mounted under `/v1`.

mod billing;
mod events;
mod executions;
mod invoices;
mod stripe_webhook;
mod usage;
mod workers;

use crate::error::MeteringError;
use actix_web::web;
use base64::Engine;
use caravan_core::Principal;
use caravan_core::id::TenantId;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::marker::PhantomData;
use utoipa::OpenApi;

#[derive(Debug, OpenApi)]
#[openapi(
    paths(
        events::ingest_events,
        events::list_events,
        usage::query_usage,
        usage::list_meters,
        billing::close_period,
        billing::sync_stripe,
        billing::get_earnings,
        invoices::list_invoices,
        invoices::upcoming_invoice,
        invoices::get_invoice,
        invoices::void_invoice,
        stripe_webhook::receive_stripe_webhook,
        executions::run_capsule,
        executions::get_execution,
        executions::list_executions,
        executions::cancel_execution,
        executions::list_deliveries,
        workers::list_workers,
        workers::register_worker,
        workers::remove_worker,
        workers::get_webhook_secrets,
        workers::rotate_webhook_secret,
    ),
    tags(
        (name = "executions", description = "Running capsules on worker backends: sync, stream, async; webhooks; workers"),
        (name = "metering", description = "Usage events (CloudEvents), meters and usage queries"),
        (name = "billing", description = "Billing periods, invoices, Stripe sync and publisher earnings"),
    )
)]
pub struct ApiDoc;

/// Mounts the API-key-authenticated routes; the gateway calls it inside its `/v1` scope.
pub fn configure(config: &mut web::ServiceConfig) {
    config
        .service(
            web::resource("/events")
                .app_data(caravan_core::error::payload_config(events::MAX_BODY_BYTES))
                .route(web::post().to(events::ingest_events))
                .route(web::get().to(events::list_events)),
        )
        .service(web::resource("/usage").route(web::get().to(usage::query_usage)))
        .service(web::resource("/meters").route(web::get().to(usage::list_meters)))
        .service(
            web::resource("/billing/periods/{period}/close").route(web::post().to(billing::close_period)),
        )
        .service(web::resource("/billing/stripe/sync").route(web::post().to(billing::sync_stripe)))
        .service(web::resource("/earnings").route(web::get().to(billing::get_earnings)))
        .service(web::resource("/invoices").route(web::get().to(invoices::list_invoices)))
        .service(web::resource("/invoices/upcoming").route(web::get().to(invoices::upcoming_invoice)))
        .service(web::resource("/invoices/{id}").route(web::get().to(invoices::get_invoice)))
        .service(web::resource("/invoices/{id}/void").route(web::post().to(invoices::void_invoice)))
        .service(
            web::resource("/capsules/{publisher}/{name}/executions")
                .route(web::post().to(executions::run_capsule)),
        )
        .service(web::resource("/executions").route(web::get().to(executions::list_executions)))
        .service(
            web::resource("/executions/{id}")
                .route(web::get().to(executions::get_execution))
                .route(web::delete().to(executions::cancel_execution)),
        )
        .service(
            web::resource("/executions/{id}/deliveries").route(web::get().to(executions::list_deliveries)),
        )
        .service(
            web::resource("/workers")
                .route(web::get().to(workers::list_workers))
                .route(web::post().to(workers::register_worker)),
        )
        .service(web::resource("/workers/{id}").route(web::delete().to(workers::remove_worker)))
        .service(web::resource("/webhooks/secrets").route(web::get().to(workers::get_webhook_secrets)))
        .service(
            web::resource("/webhooks/secrets/rotate").route(web::post().to(workers::rotate_webhook_secret)),
        );
}

/// Mounts the routes that authenticate otherwise (Stripe's signature, the worker token);
/// the gateway mounts them before its `/v1` scope.
pub fn configure_public(config: &mut web::ServiceConfig) {
    config
        .service(
            web::resource("/v1/stripe/webhook")
                .app_data(caravan_core::error::payload_config(1024 * 1024))
                .route(web::post().to(stripe_webhook::receive_stripe_webhook)),
        )
        // In a scope of its own: a scope's static prefix is a string comparison, while a
        // resource with a `{digest}` segment at the root would run its pattern's regex
        // against the path of every request that gets this far.
        .service(
            web::scope("/internal")
                .service(web::resource("/bundles/{digest}").route(web::get().to(workers::worker_bundle))),
        );
}

/// Whose data a request reads: the caller's own tenant; for the operator's admin, the
/// tenant it names or (`None`) every tenant. Naming another tenant without being the
/// operator is reported as not found.
fn tenant_scope(
    principal: &Principal,
    requested: Option<TenantId>,
) -> Result<Option<TenantId>, MeteringError> {
    match requested {
        Some(tenant) if principal.can_access_tenant(&tenant) => Ok(Some(tenant)),
        Some(tenant) => Err(MeteringError::TenantNotFound(tenant.to_string())),
        None if principal.is_operator_admin() => Ok(None),
        None => Ok(Some(principal.tenant_id.clone())),
    }
}

/// An opaque pagination cursor: URL-safe base64 of the JSON of the last item's key.
struct Cursor<T>(PhantomData<T>);

impl<T: Serialize + DeserializeOwned> Cursor<T> {
    fn encode(key: &T) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(key).unwrap_or_default())
    }

    fn decode(cursor: &str) -> Result<T, MeteringError> {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(cursor)
            .ok()
            .and_then(|json| serde_json::from_slice(&json).ok())
            .ok_or_else(|| MeteringError::InvalidQuery("the cursor is not valid for this list".to_owned()))
    }
}
