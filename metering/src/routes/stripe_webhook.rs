//! `POST /v1/stripe/webhook`: Stripe's events, authenticated by their signature (not by
//! an API key).

use crate::Metering;
use crate::error::MeteringError;
use crate::stripe::signature;
use crate::stripe::webhook::{self, WebhookOutcome};
use actix_web::{HttpRequest, HttpResponse, web};
use caravan_core::error::responses::{BadRequest, Conflict};
use caravan_core::{ApiError, Database};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookReceipt {
    pub outcome: WebhookOutcome,
}

/// Receive a Stripe webhook
///
/// Verifies `Stripe-Signature` (HMAC-SHA256 over `<t>.<body>` with one of the configured
/// signing secrets, at most 300 s old), handles each event id once, and moves invoices to
/// `paid`, `payment_failed` or `void` on `invoice.paid`, `invoice.payment_failed` and
/// `invoice.voided`. Answers 409 `stripe-not-configured` when no signing secret is configured.
#[utoipa::path(
    post,
    path = "/v1/stripe/webhook",
    operation_id = "receive_stripe_webhook",
    tag = "billing",
    request_body(content = Object, content_type = "application/json", description = "A Stripe event"),
    params(("Stripe-Signature" = String, Header, description = "`t=<unix time>,v1=<hex HMAC-SHA256>`")),
    responses((status = 200, description = "Handled (or a duplicate, or ignored)", body = WebhookReceipt), BadRequest,
        Conflict),
    security(())
)]
pub async fn receive_stripe_webhook(
    request: HttpRequest,
    body: web::Bytes,
    database: web::Data<Database>,
    metering: web::Data<Metering>,
) -> Result<HttpResponse, ApiError> {
    let header = request.headers().get("Stripe-Signature").and_then(|value| value.to_str().ok());
    if header.is_none() {
        let missing = "the Stripe-Signature header is missing".to_owned();
        return Err(MeteringError::InvalidStripeSignature(missing).into());
    }
    if metering.webhook_secrets.is_empty() {
        return Err(MeteringError::StripeNotConfigured.into());
    }
    signature::verify(header, &body, &metering.webhook_secrets, chrono::Utc::now().timestamp())
        .map_err(|error| MeteringError::InvalidStripeSignature(error.to_string()))?;
    let outcome =
        database.run(move |connection| webhook::handle(connection, &body, caravan_core::db::now())).await?;
    Ok(HttpResponse::Ok().json(WebhookReceipt { outcome }))
}
