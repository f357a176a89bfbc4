//! Stripe's webhook events, after their signature checked out: each event id is handled
//! once (a redelivery changes nothing), and `invoice.paid`, `invoice.payment_failed` and
//! `invoice.voided` move the matching invoice, with an audit entry. Events about objects
//! Caravan did not make are acknowledged and ignored, so Stripe does not retry them.

use crate::billing::apply_reported_status;
use crate::db::invoices::{self, InvoiceRow};
use crate::db::stripe as state;
use crate::error::MeteringError;
use caravan_core::db::{DbConnection, write_transaction};
use caravan_core::id::InvoiceId;
use chrono::NaiveDateTime;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// What Caravan did with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WebhookOutcome {
    /// The invoice moved to the reported status.
    Applied,
    /// The event was handled before; nothing changed.
    Duplicate,
    /// The invoice's status does not move that way (already paid or void).
    Unchanged,
    /// The event concerns nothing Caravan tracks.
    Ignored,
}

impl WebhookOutcome {
    fn as_str(self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::Duplicate => "duplicate",
            Self::Unchanged => "unchanged",
            Self::Ignored => "ignored",
        }
    }
}

/// Handles one verified event.
pub fn handle(
    connection: &mut DbConnection,
    payload: &[u8],
    now: NaiveDateTime,
) -> Result<WebhookOutcome, MeteringError> {
    let event: Value = serde_json::from_slice(payload)
        .map_err(|error| MeteringError::InvalidBatch(format!("the event is not JSON: {error}")))?;
    let (Some(id), Some(event_type)) = (event["id"].as_str(), event["type"].as_str()) else {
        return Err(MeteringError::InvalidBatch("the event needs a string `id` and `type`".to_owned()));
    };
    let object = &event["data"]["object"];
    write_transaction(connection, |connection| {
        if !state::record_event(connection, id, event_type, now)? {
            return Ok(WebhookOutcome::Duplicate);
        }
        let outcome = match reported_status(event_type) {
            None => WebhookOutcome::Ignored,
            Some(status) => match find_invoice(connection, object)? {
                None => WebhookOutcome::Ignored,
                Some(invoice) if apply_reported_status(connection, &invoice, status, id, now)? => {
                    WebhookOutcome::Applied
                }
                Some(_) => WebhookOutcome::Unchanged,
            },
        };
        state::set_event_outcome(connection, id, outcome.as_str())?;
        Ok(outcome)
    })
}

fn reported_status(event_type: &str) -> Option<&'static str> {
    match event_type {
        "invoice.paid" => Some("paid"),
        "invoice.payment_failed" => Some("payment_failed"),
        "invoice.voided" => Some("void"),
        _ => None,
    }
}

/// The invoice an event's object is: by the id Caravan put in its metadata, else by the
/// Stripe invoice id Caravan saved.
fn find_invoice(connection: &mut DbConnection, object: &Value) -> Result<Option<InvoiceRow>, MeteringError> {
    if let Some(id) =
        object["metadata"]["caravan_invoice_id"].as_str().and_then(|id| InvoiceId::parse(id).ok())
        && let Some(invoice) = invoices::find(connection, &id)?
    {
        return Ok(Some(invoice));
    }
    match object["id"].as_str() {
        Some(stripe_id) => Ok(invoices::find_by_stripe_id(connection, stripe_id)?),
        None => Ok(None),
    }
}
