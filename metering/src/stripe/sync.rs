//! Pushing closed invoices to Stripe exactly once.
//!
//! Per invoice, in order: the tenant's customer (found by metadata, or created), a draft
//! invoice, one invoice item per line, finalize — and a void when the invoice was voided
//! here after it reached Stripe. Every request carries a deterministic idempotency key
//! (`caravan-invoice-<id>`, `caravan-line-<line id>`, …) that is saved in the database
//! before the request is sent, and every Stripe id is saved once Stripe answers. A crash
//! anywhere in between is harmless: the next sync skips what has an id and resends the
//! rest with the same keys, and Stripe replays the first answer instead of doing the
//! work twice. Crash points (`caravan_core::faults`) mark each gap for the tests.

use super::client::{NewItem, StripeApi, StripeFailure, StripeInvoice};
use crate::db::invoices::{self, InvoiceRow};
use crate::db::stripe as state;
use crate::error::MeteringError;
use caravan_core::Database;
use caravan_core::db::{DbConnection, now, schema::tenants, write_transaction};
use caravan_core::faults::crash_point;
use caravan_core::id::TenantId;
use caravan_core::money::Currency;
use diesel::prelude::*;
use std::collections::HashMap;

/// How many invoices one sync round takes on.
const BATCH: i64 = 100;

/// What one sync round did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct SyncReport {
    /// Invoices now as Stripe has them.
    pub synced: usize,
    /// Invoices Stripe refused; they wait for an operator (`stripe_error` says why).
    pub failed: usize,
    /// Invoices left for the next round (Stripe unreachable or failing).
    pub retrying: usize,
}

/// Syncs every invoice waiting for Stripe.
pub async fn sync_pending(api: &StripeApi, database: &Database) -> Result<SyncReport, MeteringError> {
    let mut report = SyncReport::default();
    loop {
        let pending =
            database.run(|connection| state::pending(connection, BATCH).map_err(MeteringError::from)).await?;
        let round = pending.len();
        let mut progressed = 0;
        for invoice in pending {
            let id = invoice.id.clone();
            match sync_invoice(api, database, invoice).await {
                Ok(()) => {
                    report.synced += 1;
                    progressed += 1;
                }
                Err(SyncError::Stripe(StripeFailure::Refused { status, message })) => {
                    let error = format!("Stripe refused a request ({status}): {message}");
                    tracing::warn!(invoice = %id, error = %error, "Stripe sync refused; the invoice waits for an operator");
                    database
                        .run(move |connection| {
                            state::set_sync_status(connection, &id, "failed", Some(&error))
                                .map_err(MeteringError::from)
                        })
                        .await?;
                    report.failed += 1;
                    progressed += 1;
                }
                Err(SyncError::Stripe(failure @ StripeFailure::Transient(_))) => {
                    tracing::warn!(invoice = %id, error = %failure, "Stripe sync will be retried");
                    let error = failure.to_string();
                    database
                        .run(move |connection| {
                            state::set_sync_status(connection, &id, "pending", Some(&error))
                                .map_err(MeteringError::from)
                        })
                        .await?;
                    report.retrying += 1;
                }
                Err(SyncError::Local(error)) => return Err(error),
            }
        }
        if i64::try_from(round).unwrap_or(0) < BATCH || progressed == 0 {
            return Ok(report);
        }
    }
}

#[derive(Debug)]
enum SyncError {
    Stripe(StripeFailure),
    Local(MeteringError),
}

impl From<StripeFailure> for SyncError {
    fn from(failure: StripeFailure) -> Self {
        Self::Stripe(failure)
    }
}

impl From<MeteringError> for SyncError {
    fn from(error: MeteringError) -> Self {
        Self::Local(error)
    }
}

/// Runs `work` on the blocking pool, in a write transaction.
async fn save<T: Send + 'static>(
    database: &Database,
    work: impl FnOnce(&mut DbConnection) -> QueryResult<T> + Send + 'static,
) -> Result<T, SyncError> {
    Ok(database
        .run(move |connection| {
            write_transaction(connection, |connection| work(connection)).map_err(MeteringError::from)
        })
        .await?)
}

async fn sync_invoice(api: &StripeApi, database: &Database, invoice: InvoiceRow) -> Result<(), SyncError> {
    let currency = Currency::parse(&invoice.currency).map_err(MeteringError::from)?;
    if invoice.status == "void" && invoice.stripe_invoice_id.is_none() {
        // Voided before it reached Stripe: there is nothing to tell Stripe.
        let id = invoice.id.clone();
        return save(database, move |connection| state::mark_synced(connection, &id, None, now())).await;
    }
    let customer = customer(api, database, &invoice.tenant_id).await?;
    let stripe_invoice = match &invoice.stripe_invoice_id {
        Some(stripe_id) => stripe_id.clone(),
        None => create_invoice(api, database, &invoice, &customer, &currency).await?,
    };
    create_items(api, database, &invoice, &customer, &stripe_invoice, &currency).await?;
    let mut stripe = finalize(api, database, &invoice, &stripe_invoice).await?;
    if invoice.status == "void" && stripe.status != "void" {
        let key = format!("caravan-void-{}", invoice.id);
        remember(database, &key, &invoice, "invoice.void").await?;
        stripe = api.void(&stripe_invoice, &key).await?;
        crash_point("stripe.invoice.void.sent");
    }
    let id = invoice.id.clone();
    save(database, move |connection| state::mark_synced(connection, &id, stripe.hosted_url.as_deref(), now()))
        .await
}

/// Saves the idempotency key of a request about to be sent.
async fn remember(
    database: &Database,
    key: &str,
    invoice: &InvoiceRow,
    operation: &'static str,
) -> Result<(), SyncError> {
    let (key, id) = (key.to_owned(), invoice.id.clone());
    save(database, move |connection| state::save_request(connection, &key, Some(&id), operation, now()))
        .await?;
    crash_point(&format!("stripe.{operation}.saved"));
    Ok(())
}

/// The tenant's Stripe customer: saved before, found by its metadata, or created.
async fn customer(api: &StripeApi, database: &Database, tenant: &TenantId) -> Result<String, SyncError> {
    let lookup = tenant.clone();
    let (known, name) = database
        .run(move |connection| {
            let known = state::customer(connection, &lookup)?;
            let name: String = tenants::table.find(&lookup).select(tenants::name).first(connection)?;
            Ok::<_, MeteringError>((known, name))
        })
        .await?;
    if let Some(customer) = known {
        return Ok(customer);
    }
    let key = format!("caravan-customer-{tenant}");
    let (saved_key, owner) = (key.clone(), tenant.clone());
    save(database, move |connection| {
        state::save_request(connection, &saved_key, None, "customer.create", now())
    })
    .await?;
    crash_point("stripe.customer.create.saved");
    let customer = match api.find_customer(tenant.as_str()).await? {
        Some(found) => found,
        None => api.create_customer(tenant.as_str(), &name, &key).await?,
    };
    crash_point("stripe.customer.create.sent");
    let saved = customer.clone();
    save(database, move |connection| {
        state::save_customer(connection, &owner, &saved, now())?;
        state::complete_request(connection, &key, &saved, now())
    })
    .await?;
    Ok(customer)
}

async fn create_invoice(
    api: &StripeApi,
    database: &Database,
    invoice: &InvoiceRow,
    customer: &str,
    currency: &Currency,
) -> Result<String, SyncError> {
    let key = format!("caravan-invoice-{}", invoice.id);
    remember(database, &key, invoice, "invoice.create").await?;
    let metadata = HashMap::from([
        ("caravan_invoice_id".to_owned(), invoice.id.to_string()),
        ("caravan_tenant_id".to_owned(), invoice.tenant_id.to_string()),
        ("caravan_period".to_owned(), invoice.period.clone()),
    ]);
    let description = format!("Caravan usage, {} ({} plan)", invoice.period, invoice.plan);
    let created = api.create_invoice(customer, currency, &description, metadata, &key).await?;
    crash_point("stripe.invoice.create.sent");
    let (id, stripe_id) = (invoice.id.clone(), created.id.clone());
    save(database, move |connection| {
        state::set_invoice(connection, &id, &stripe_id)?;
        state::complete_request(connection, &key, &stripe_id, now())
    })
    .await?;
    Ok(created.id)
}

async fn create_items(
    api: &StripeApi,
    database: &Database,
    invoice: &InvoiceRow,
    customer: &str,
    stripe_invoice: &str,
    currency: &Currency,
) -> Result<(), SyncError> {
    let id = invoice.id.clone();
    let lines =
        database.run(move |connection| invoices::lines(connection, &id).map_err(MeteringError::from)).await?;
    for line in lines.into_iter().filter(|line| line.stripe_invoice_item_id.is_none()) {
        let key = format!("caravan-line-{}", line.id);
        remember(database, &key, invoice, "line.create").await?;
        let metadata = HashMap::from([
            ("caravan_invoice_id".to_owned(), invoice.id.to_string()),
            ("caravan_line_id".to_owned(), line.id.to_string()),
        ]);
        let item = NewItem {
            customer,
            invoice: Some(stripe_invoice),
            amount_minor: line.amount_minor,
            currency,
            description: &line.description,
            metadata,
        };
        let item_id = api.create_item(item, &key).await?;
        crash_point("stripe.line.create.sent");
        save(database, move |connection| {
            state::set_line_item(connection, &line.id, &item_id)?;
            state::complete_request(connection, &key, &item_id, now())
        })
        .await?;
    }
    Ok(())
}

/// Finalizes the draft; one that is already finalized (a replay after the key expired)
/// is read back instead.
async fn finalize(
    api: &StripeApi,
    database: &Database,
    invoice: &InvoiceRow,
    stripe_invoice: &str,
) -> Result<StripeInvoice, SyncError> {
    let key = format!("caravan-finalize-{}", invoice.id);
    remember(database, &key, invoice, "invoice.finalize").await?;
    let finalized = match api.finalize(stripe_invoice, &key).await {
        Ok(finalized) => finalized,
        Err(StripeFailure::Refused { .. }) => {
            let current = api.retrieve(stripe_invoice).await?;
            if current.status == "draft" {
                return Err(StripeFailure::Refused {
                    status: 400,
                    message: "the draft could not be finalized".to_owned(),
                }
                .into());
            }
            current
        }
        Err(failure) => return Err(failure.into()),
    };
    crash_point("stripe.invoice.finalize.sent");
    let stripe_id = finalized.id.clone();
    save(database, move |connection| state::complete_request(connection, &key, &stripe_id, now())).await?;
    Ok(finalized)
}
