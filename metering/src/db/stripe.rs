//! Stripe sync state: each tenant's customer, every request's idempotency key (saved
//! before the request is sent), invoices' and lines' Stripe ids, and webhook events seen.

use super::invoices::InvoiceRow;
use caravan_core::db::DbConnection;
use caravan_core::db::schema::{invoice_lines, invoices, stripe_customers, stripe_events, stripe_requests};
use caravan_core::id::{InvoiceId, InvoiceLineId, TenantId};
use caravan_core::on_backend;
use chrono::NaiveDateTime;
use diesel::prelude::*;

pub fn customer(connection: &mut DbConnection, tenant: &TenantId) -> QueryResult<Option<String>> {
    stripe_customers::table.find(tenant).select(stripe_customers::customer_id).first(connection).optional()
}

pub fn save_customer(
    connection: &mut DbConnection,
    tenant: &TenantId,
    customer_id: &str,
    at: NaiveDateTime,
) -> QueryResult<()> {
    let row = (
        stripe_customers::tenant_id.eq(tenant),
        stripe_customers::customer_id.eq(customer_id),
        stripe_customers::created_at.eq(at),
    );
    on_backend!(connection, |concrete| {
        diesel::insert_into(stripe_customers::table).values(row).on_conflict_do_nothing().execute(concrete)
    })
    .map(drop)
}

/// Records that a request with `key` is about to be sent (once; a retry keeps the first
/// record).
pub fn save_request(
    connection: &mut DbConnection,
    key: &str,
    invoice: Option<&InvoiceId>,
    operation: &str,
    at: NaiveDateTime,
) -> QueryResult<()> {
    let row = (
        stripe_requests::idempotency_key.eq(key),
        stripe_requests::invoice_id.eq(invoice.map(InvoiceId::as_str)),
        stripe_requests::operation.eq(operation),
        stripe_requests::requested_at.eq(at),
    );
    on_backend!(connection, |concrete| {
        diesel::insert_into(stripe_requests::table).values(row).on_conflict_do_nothing().execute(concrete)
    })
    .map(drop)
}

pub fn complete_request(
    connection: &mut DbConnection,
    key: &str,
    object_id: &str,
    at: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(stripe_requests::table.find(key))
        .set((stripe_requests::completed_at.eq(at), stripe_requests::stripe_object_id.eq(object_id)))
        .execute(connection)
        .map(drop)
}

/// The saved idempotency keys of one invoice's requests, oldest first.
pub fn request_keys(connection: &mut DbConnection, invoice: &InvoiceId) -> QueryResult<Vec<String>> {
    stripe_requests::table
        .filter(stripe_requests::invoice_id.eq(invoice.as_str()))
        .order(stripe_requests::requested_at.asc())
        .select(stripe_requests::idempotency_key)
        .load(connection)
}

/// Invoices that still have something to tell Stripe.
pub fn pending(connection: &mut DbConnection, limit: i64) -> QueryResult<Vec<InvoiceRow>> {
    invoices::table
        .filter(invoices::stripe_status.eq("pending"))
        .order(invoices::id.asc())
        .limit(limit)
        .select(InvoiceRow::as_select())
        .load(connection)
}

pub fn set_invoice(connection: &mut DbConnection, invoice: &InvoiceId, stripe_id: &str) -> QueryResult<()> {
    diesel::update(invoices::table.find(invoice))
        .set(invoices::stripe_invoice_id.eq(stripe_id))
        .execute(connection)
        .map(drop)
}

pub fn set_line_item(connection: &mut DbConnection, line: &InvoiceLineId, item_id: &str) -> QueryResult<()> {
    diesel::update(invoice_lines::table.find(line))
        .set(invoice_lines::stripe_invoice_item_id.eq(item_id))
        .execute(connection)
        .map(drop)
}

pub fn mark_synced(
    connection: &mut DbConnection,
    invoice: &InvoiceId,
    hosted_url: Option<&str>,
    at: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(invoices::table.find(invoice))
        .set((
            invoices::stripe_status.eq("synced"),
            invoices::stripe_hosted_url.eq(hosted_url),
            invoices::stripe_synced_at.eq(at),
            invoices::stripe_error.eq(None::<String>),
        ))
        .execute(connection)
        .map(drop)
}

/// Needs another sync (after a void, say), or stops retrying with the reason.
pub fn set_sync_status(
    connection: &mut DbConnection,
    invoice: &InvoiceId,
    status: &str,
    error: Option<&str>,
) -> QueryResult<()> {
    diesel::update(invoices::table.find(invoice))
        .set((invoices::stripe_status.eq(status), invoices::stripe_error.eq(error)))
        .execute(connection)
        .map(drop)
}

/// Records a webhook event as received; `false` when its id was seen before.
pub fn record_event(
    connection: &mut DbConnection,
    event_id: &str,
    event_type: &str,
    at: NaiveDateTime,
) -> QueryResult<bool> {
    let row = (
        stripe_events::event_id.eq(event_id),
        stripe_events::event_type.eq(event_type),
        stripe_events::received_at.eq(at),
        stripe_events::outcome.eq("received"),
    );
    let inserted = on_backend!(connection, |concrete| {
        diesel::insert_into(stripe_events::table).values(row).on_conflict_do_nothing().execute(concrete)
    })?;
    Ok(inserted == 1)
}

pub fn set_event_outcome(connection: &mut DbConnection, event_id: &str, outcome: &str) -> QueryResult<()> {
    diesel::update(stripe_events::table.find(event_id))
        .set(stripe_events::outcome.eq(outcome))
        .execute(connection)
        .map(drop)
}
