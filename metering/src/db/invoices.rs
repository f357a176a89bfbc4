//! The `invoices` and `invoice_lines` tables, and the `billing_periods` that produced them.

use caravan_core::db::DbConnection;
use caravan_core::db::schema::{billing_periods, invoice_lines, invoices};
use caravan_core::id::{InvoiceId, InvoiceLineId, TenantId};
use caravan_core::on_backend;
use chrono::NaiveDateTime;
use diesel::prelude::*;

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = invoices)]
pub struct InvoiceRow {
    pub id: InvoiceId,
    pub tenant_id: TenantId,
    pub period: String,
    pub plan: String,
    pub currency: String,
    /// `open`, `paid`, `payment_failed` or `void`.
    pub status: String,
    pub total_minor: i64,
    pub created_at: NaiveDateTime,
    pub paid_at: Option<NaiveDateTime>,
    pub voided_at: Option<NaiveDateTime>,
    pub void_reason: Option<String>,
    /// `disabled` (no Stripe configured when it was made), `pending`, `synced` or `failed`.
    pub stripe_status: String,
    pub stripe_invoice_id: Option<String>,
    pub stripe_hosted_url: Option<String>,
    pub stripe_synced_at: Option<NaiveDateTime>,
    pub stripe_error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = invoice_lines)]
pub struct LineRow {
    pub id: InvoiceLineId,
    pub invoice_id: InvoiceId,
    pub position: i64,
    pub kind: String,
    pub meter: Option<String>,
    pub capsule: Option<String>,
    pub description: String,
    pub quantity: String,
    pub unit_price: String,
    pub amount_minor: i64,
    pub stripe_invoice_item_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = billing_periods)]
pub struct PeriodRow {
    pub period: String,
    pub closed_at: NaiveDateTime,
    pub closed_by: String,
    pub invoice_count: i64,
}

pub fn insert(connection: &mut DbConnection, invoices: &[InvoiceRow], lines: &[LineRow]) -> QueryResult<()> {
    for chunk in invoices.chunks(1000) {
        on_backend!(&mut *connection, |concrete| diesel::insert_into(invoices::table)
            .values(chunk)
            .execute(concrete))?;
    }
    for chunk in lines.chunks(1000) {
        on_backend!(&mut *connection, |concrete| diesel::insert_into(invoice_lines::table)
            .values(chunk)
            .execute(concrete))?;
    }
    Ok(())
}

pub fn find(connection: &mut DbConnection, id: &InvoiceId) -> QueryResult<Option<InvoiceRow>> {
    invoices::table.find(id).select(InvoiceRow::as_select()).first(connection).optional()
}

pub fn find_by_stripe_id(connection: &mut DbConnection, stripe_id: &str) -> QueryResult<Option<InvoiceRow>> {
    invoices::table
        .filter(invoices::stripe_invoice_id.eq(stripe_id))
        .select(InvoiceRow::as_select())
        .first(connection)
        .optional()
}

pub fn lines(connection: &mut DbConnection, invoice: &InvoiceId) -> QueryResult<Vec<LineRow>> {
    invoice_lines::table
        .filter(invoice_lines::invoice_id.eq(invoice))
        .order(invoice_lines::position.asc())
        .select(LineRow::as_select())
        .load(connection)
}

/// Which invoices to list.
#[derive(Debug, Clone, Default)]
pub struct InvoiceFilter {
    pub tenant: Option<TenantId>,
    pub period: Option<String>,
    pub status: Option<String>,
}

/// Newest first, after the cursor (an invoice id).
pub fn list(
    connection: &mut DbConnection,
    filter: &InvoiceFilter,
    before: Option<&InvoiceId>,
    limit: i64,
) -> QueryResult<Vec<InvoiceRow>> {
    let mut query =
        invoices::table.select(InvoiceRow::as_select()).order(invoices::id.desc()).limit(limit).into_boxed();
    if let Some(tenant) = &filter.tenant {
        query = query.filter(invoices::tenant_id.eq(tenant.clone()));
    }
    if let Some(period) = &filter.period {
        query = query.filter(invoices::period.eq(period.clone()));
    }
    if let Some(status) = &filter.status {
        query = query.filter(invoices::status.eq(status.clone()));
    }
    if let Some(before) = before {
        query = query.filter(invoices::id.lt(before.clone()));
    }
    query.load(connection)
}

/// Moves an invoice to `status`, stamping when it was paid or voided.
pub fn set_status(
    connection: &mut DbConnection,
    id: &InvoiceId,
    status: &str,
    at: NaiveDateTime,
    void_reason: Option<&str>,
) -> QueryResult<()> {
    let target = invoices::table.find(id);
    match status {
        "paid" => diesel::update(target)
            .set((invoices::status.eq(status), invoices::paid_at.eq(at)))
            .execute(connection),
        "void" => diesel::update(target)
            .set((
                invoices::status.eq(status),
                invoices::voided_at.eq(at),
                invoices::void_reason.eq(void_reason),
            ))
            .execute(connection),
        _ => diesel::update(target).set(invoices::status.eq(status)).execute(connection),
    }
    .map(drop)
}

pub fn find_period(connection: &mut DbConnection, period: &str) -> QueryResult<Option<PeriodRow>> {
    billing_periods::table.find(period).select(PeriodRow::as_select()).first(connection).optional()
}

pub fn insert_period(connection: &mut DbConnection, row: &PeriodRow) -> QueryResult<()> {
    diesel::insert_into(billing_periods::table).values(row).execute(connection).map(drop)
}
