//! Billing: closing a period into exactly one invoice per customer tenant, the preview of
//! the open period's invoice, voiding, and invoice status changes reported by Stripe.
//!
//! A close runs in one write transaction holding the period's lock exclusively, so no
//! event of that period is accepted meanwhile and none after (ingestion sees the closed
//! period). Running it again, or concurrently, finds the period closed and changes
//! nothing; the `(tenant, period)` uniqueness of invoices backs that up.

use crate::db::invoices::{self, InvoiceRow, LineRow, PeriodRow};
use crate::db::rollups::{self, RollupRow};
use crate::domain::meter::{Aggregation, MeterCatalog};
use crate::domain::period::Period;
use crate::domain::pricing::{self, CapsuleCharge, LineDraft, Usage};
use crate::error::MeteringError;
use crate::ingest::period_lock;
use caravan_core::audit::{self, AuditRecord};
use caravan_core::db::schema::tenants;
use caravan_core::db::{DbConnection, locks, write_transaction};
use caravan_core::id::{InvoiceId, InvoiceLineId, TenantId};
use caravan_core::money::{Decimal, micros_to_quantity};
use caravan_core::plans::PlanCatalog;
use caravan_core::{Principal, Scope};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::json;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::str::FromStr;

/// What a close did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosedPeriod {
    pub row: PeriodRow,
    /// False when the period had been closed before this request.
    pub closed_now: bool,
}

/// Each tenant's monthly quantity per meter and its capsule charges.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TenantUsage {
    pub meters: BTreeMap<String, Decimal>,
    pub capsules: Vec<CapsuleCharge>,
}

/// A tenant as billing sees it.
#[derive(Debug, Clone)]
struct BilledTenant {
    id: TenantId,
    plan: String,
}

/// Closes `period`: one invoice per customer tenant that existed before its end or has
/// usage in it. The monthly fee is charged in full, whenever in the period the tenant
/// joined.
#[allow(clippy::too_many_arguments)] // each argument is a distinct input of the close
pub fn close_period(
    connection: &mut DbConnection,
    meters: &MeterCatalog,
    plans: &PlanCatalog,
    actor: &Principal,
    request_id: Option<&str>,
    period: Period,
    stripe_enabled: bool,
    now: NaiveDateTime,
) -> Result<ClosedPeriod, MeteringError> {
    actor.require_operator()?;
    if now < period.end() {
        return Err(MeteringError::PeriodNotEnded(period.to_string()));
    }
    write_transaction(connection, |connection| {
        locks::lock_exclusive(connection, period_lock(period))?;
        if let Some(row) = invoices::find_period(connection, &period.to_string())? {
            return Ok(ClosedPeriod { row, closed_now: false });
        }
        let usage = period_usage(connection, meters, None, period)?;
        // Every customer that existed before the period ended, and any with usage in it
        // (late events of a tenant made since).
        let customers: Vec<BilledTenant> = tenants::table
            .filter(tenants::kind.eq("customer"))
            .select((tenants::id, tenants::plan, tenants::created_at))
            .order(tenants::id.asc())
            .load::<(TenantId, String, NaiveDateTime)>(connection)?
            .into_iter()
            .filter(|(id, _, created_at)| *created_at < period.end() || usage.contains_key(id))
            .map(|(id, plan, _)| BilledTenant { id, plan })
            .collect();
        let stripe_status = if stripe_enabled { "pending" } else { "disabled" };
        let mut invoice_rows = Vec::with_capacity(customers.len());
        let mut line_rows = Vec::new();
        for tenant in &customers {
            let empty = TenantUsage::default();
            let tenant_usage = usage.get(&tenant.id).unwrap_or(&empty);
            let drafts = price(plans, &tenant.plan, tenant_usage)?;
            let invoice = InvoiceRow {
                id: InvoiceId::new(),
                tenant_id: tenant.id.clone(),
                period: period.to_string(),
                plan: tenant.plan.clone(),
                currency: plans.currency().to_string(),
                status: "open".to_owned(),
                total_minor: drafts.iter().map(|line| line.amount_minor).sum(),
                created_at: now,
                paid_at: None,
                voided_at: None,
                void_reason: None,
                stripe_status: stripe_status.to_owned(),
                stripe_invoice_id: None,
                stripe_hosted_url: None,
                stripe_synced_at: None,
                stripe_error: None,
            };
            line_rows.extend(line_rows_of(&invoice.id, drafts));
            invoice_rows.push(invoice);
        }
        invoices::insert(connection, &invoice_rows, &line_rows)?;
        let row = PeriodRow {
            period: period.to_string(),
            closed_at: now,
            closed_by: actor.actor_id().to_owned(),
            invoice_count: i64::try_from(invoice_rows.len()).unwrap_or(i64::MAX),
        };
        invoices::insert_period(connection, &row)?;
        let total: i64 = invoice_rows.iter().map(|invoice| invoice.total_minor).sum();
        audit::append(
            connection,
            AuditRecord {
                tenant_id: None,
                actor: actor.actor_id(),
                action: "billing.period.close",
                target: &row.period,
                details: json!({ "invoices": row.invoice_count, "total_minor": total, "currency": plans.currency() }),
                request_id,
            },
        )?;
        Ok(ClosedPeriod { row, closed_now: true })
    })
}

/// The lines the open period's invoice would have if it closed now.
pub fn upcoming(
    connection: &mut DbConnection,
    meters: &MeterCatalog,
    plans: &PlanCatalog,
    tenant: &TenantId,
    now: NaiveDateTime,
) -> Result<(Period, String, Vec<LineDraft>), MeteringError> {
    let plan: String = tenants::table
        .find(tenant)
        .select(tenants::plan)
        .first(connection)
        .optional()?
        .ok_or_else(|| MeteringError::TenantNotFound(tenant.to_string()))?;
    let period = Period::containing(now);
    let usage = period_usage(connection, meters, Some(tenant), period)?;
    let lines = price(plans, &plan, usage.get(tenant).unwrap_or(&TenantUsage::default()))?;
    Ok((period, plan, lines))
}

/// Voids an open or unpaid invoice, for a reason (the operator's admin only). A synced
/// invoice is voided on Stripe by the next sync.
pub fn void(
    connection: &mut DbConnection,
    actor: &Principal,
    request_id: Option<&str>,
    id: &InvoiceId,
    reason: &str,
    now: NaiveDateTime,
) -> Result<InvoiceRow, MeteringError> {
    actor.require_operator()?;
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 1000 {
        return Err(MeteringError::InvalidVoidReason);
    }
    write_transaction(connection, |connection| {
        let invoice =
            invoices::find(connection, id)?.ok_or_else(|| MeteringError::InvoiceNotFound(id.to_string()))?;
        if !matches!(invoice.status.as_str(), "open" | "payment_failed") {
            return Err(MeteringError::NotVoidable { id: id.to_string(), status: invoice.status });
        }
        invoices::set_status(connection, id, "void", now, Some(reason))?;
        if invoice.stripe_status != "disabled" {
            crate::db::stripe::set_sync_status(connection, id, "pending", None)?;
        }
        audit::append(
            connection,
            AuditRecord {
                tenant_id: Some(&invoice.tenant_id),
                actor: actor.actor_id(),
                action: "invoice.void",
                target: id.as_str(),
                details: json!({ "reason": reason, "previous_status": invoice.status }),
                request_id,
            },
        )?;
        invoices::find(connection, id)?.ok_or_else(|| MeteringError::InvoiceNotFound(id.to_string()))
    })
}

/// Applies a status Stripe reported (`paid`, `payment_failed`, `void`) if the invoice
/// can move there; returns whether it changed. Call it inside a write transaction.
pub fn apply_reported_status(
    connection: &mut DbConnection,
    invoice: &InvoiceRow,
    status: &str,
    stripe_event: &str,
    now: NaiveDateTime,
) -> Result<bool, MeteringError> {
    let allowed = matches!(
        (invoice.status.as_str(), status),
        ("open", "paid" | "payment_failed" | "void") | ("payment_failed", "paid" | "void")
    );
    if !allowed {
        return Ok(false);
    }
    invoices::set_status(connection, &invoice.id, status, now, None)?;
    audit::append(
        connection,
        AuditRecord {
            tenant_id: Some(&invoice.tenant_id),
            actor: "stripe",
            action: match status {
                "paid" => "invoice.paid",
                "void" => "invoice.void",
                _ => "invoice.payment_failed",
            },
            target: invoice.id.as_str(),
            details: json!({ "stripe_event": stripe_event, "previous_status": invoice.status }),
            request_id: None,
        },
    )?;
    Ok(true)
}

/// Whether the caller may read `invoice`: its own tenant with `billing:read`, or the
/// operator's admin.
pub fn may_read(actor: &Principal, invoice: &InvoiceRow) -> Result<bool, MeteringError> {
    actor.require(Scope::BillingRead)?;
    Ok(actor.can_access_tenant(&invoice.tenant_id))
}

fn price(plans: &PlanCatalog, plan_id: &str, usage: &TenantUsage) -> Result<Vec<LineDraft>, MeteringError> {
    // A tenant on a plan the catalog no longer has pays nothing rather than blocking the
    // close of every other tenant; the line-less invoice shows it.
    let Some(plan) = plans.get(plan_id) else {
        tracing::warn!(plan = plan_id, "tenant on a plan the catalog does not define; invoiced nothing");
        return Ok(Vec::new());
    };
    let usage =
        Usage { plan_id, plan, currency: plans.currency(), meters: &usage.meters, capsules: &usage.capsules };
    Ok(pricing::invoice_lines(&usage)?)
}

fn line_rows_of(invoice: &InvoiceId, drafts: Vec<LineDraft>) -> impl Iterator<Item = LineRow> + '_ {
    drafts.into_iter().enumerate().map(move |(position, draft)| LineRow {
        id: InvoiceLineId::new(),
        invoice_id: invoice.clone(),
        position: i64::try_from(position).unwrap_or(i64::MAX),
        kind: draft.kind.as_str().to_owned(),
        meter: draft.meter,
        capsule: draft.capsule,
        description: draft.description,
        quantity: draft.quantity.normalize().to_string(),
        unit_price: draft.unit_price.normalize().to_string(),
        amount_minor: draft.amount_minor,
        stripe_invoice_item_id: None,
    })
}

/// Every tenant's (or one tenant's) usage in `period`, from the monthly rollups.
pub fn period_usage(
    connection: &mut DbConnection,
    meters: &MeterCatalog,
    tenant: Option<&TenantId>,
    period: Period,
) -> Result<HashMap<TenantId, TenantUsage>, MeteringError> {
    let cells = rollups::monthly(connection, tenant, period.start())?;
    let mut usage = summarize(meters, &cells);
    for meter in meters.iter().filter(|meter| meter.aggregation == Aggregation::UniqueCount) {
        let values = rollups::distinct_values(connection, tenant, &meter.slug, period.start(), period.end())?;
        let mut distinct: HashMap<&TenantId, HashSet<&str>> = HashMap::new();
        for row in &values {
            distinct.entry(&row.tenant_id).or_default().insert(&row.value);
        }
        for (tenant, values) in distinct {
            usage
                .entry(tenant.clone())
                .or_default()
                .meters
                .insert(meter.slug.clone(), Decimal::from(values.len()));
        }
    }
    Ok(usage)
}

/// Monthly cells into per-tenant meter quantities (sum or max) and capsule charges.
pub fn summarize(meters: &MeterCatalog, cells: &[RollupRow]) -> HashMap<TenantId, TenantUsage> {
    let mut sums: HashMap<(&TenantId, &str), i64> = HashMap::new();
    let mut charges: BTreeMap<(&TenantId, &str, &str), i64> = BTreeMap::new();
    for cell in cells {
        let Some(meter) = meters.get(&cell.meter) else { continue };
        let value = match meter.aggregation {
            Aggregation::Sum | Aggregation::Count => cell.quantity_micros,
            Aggregation::Max => cell.max_micros,
            Aggregation::UniqueCount => continue,
        };
        let entry = sums.entry((&cell.tenant_id, &cell.meter)).or_insert(0);
        *entry = if meter.aggregation == Aggregation::Max {
            (*entry).max(value)
        } else {
            entry.saturating_add(value)
        };
        if !cell.unit_price.is_empty() && !cell.capsule.is_empty() {
            let charge = charges.entry((&cell.tenant_id, &cell.capsule, &cell.unit_price)).or_insert(0);
            *charge = charge.saturating_add(cell.quantity_micros);
        }
    }
    let mut usage: HashMap<TenantId, TenantUsage> = HashMap::new();
    for ((tenant, meter), micros) in sums {
        usage.entry(tenant.clone()).or_default().meters.insert(meter.to_owned(), micros_to_quantity(micros));
    }
    for ((tenant, capsule, unit_price), micros) in charges {
        let Ok(unit_price) = Decimal::from_str(unit_price) else { continue };
        usage.entry(tenant.clone()).or_default().capsules.push(CapsuleCharge {
            capsule: capsule.to_owned(),
            unit_price,
            executions: micros_to_quantity(micros),
        });
    }
    usage
}
