//! The invoices pages: the tenant's invoices, and one invoice with its lines, status and
//! the Stripe page when it reached Stripe.

use super::format_time;
use super::page::{PageError, layout};
use super::session::SignedIn;
use actix_web::{HttpResponse, web};
use caravan_core::id::InvoiceId;
use caravan_core::{Database, Scope};
use caravan_metering::billing;
use caravan_metering::db::invoices::{self, InvoiceFilter};
use caravan_metering::error::MeteringError;
use caravan_metering::views::InvoiceView;
use caravan_metering::views::LineView;
use maud::{Markup, html};
use rust_decimal::Decimal;

/// Two years of monthly invoices fit one page.
const PAGE_SIZE: i64 = 24;

pub async fn show_invoices(
    signed_in: SignedIn,
    database: web::Data<Database>,
) -> Result<HttpResponse, PageError> {
    signed_in.principal.require(Scope::BillingRead)?;
    let filter =
        InvoiceFilter { tenant: Some(signed_in.principal.tenant_id.clone()), ..InvoiceFilter::default() };
    let rows = database
        .run(move |connection| {
            invoices::list(connection, &filter, None, PAGE_SIZE).map_err(MeteringError::from)
        })
        .await?;
    let listed: Vec<InvoiceView> = rows.into_iter().map(|row| InvoiceView::new(row, Vec::new())).collect();
    let content = html! {
        @if listed.is_empty() { p { "No invoice yet: one is made when a billing period closes." } }
        @else {
            table {
                thead { tr { th { "Period" } th { "Plan" } th { "Status" } th { "Total" } th { "Stripe" } } }
                tbody {
                    @for invoice in &listed {
                        tr {
                            td { a href={ "/portal/invoices/" (invoice.id) } { (invoice.period) } }
                            td { (invoice.plan) }
                            td { (invoice.status) }
                            td class="number" { (invoice.total) " " (invoice.currency) }
                            td { (invoice.stripe.status) }
                        }
                    }
                }
            }
        }
    };
    Ok(layout(&signed_in, "invoices", "Invoices", content))
}

pub async fn show_invoice(
    signed_in: SignedIn,
    path: web::Path<String>,
    database: web::Data<Database>,
) -> Result<HttpResponse, PageError> {
    signed_in.principal.require(Scope::BillingRead)?;
    let raw = path.into_inner();
    let not_found = || MeteringError::InvoiceNotFound(raw.clone());
    let id = InvoiceId::parse(&raw).map_err(|_| not_found())?;
    let principal = signed_in.principal.clone();
    let found = database
        .run(move |connection| -> Result<_, MeteringError> {
            let Some(row) = invoices::find(connection, &id)? else { return Ok(None) };
            if !billing::may_read(&principal, &row)? {
                return Ok(None);
            }
            let lines = invoices::lines(connection, &row.id)?;
            Ok(Some(InvoiceView::new(row, lines)))
        })
        .await?;
    let invoice = found.ok_or_else(not_found)?;
    let title = format!("Invoice {}", invoice.period);
    let content = html! {
        dl {
            dt { "Invoice" } dd { code { (invoice.id) } }
            dt { "Plan" } dd { (invoice.plan) }
            dt { "Status" } dd { (invoice.status)
                @if let Some(reason) = &invoice.void_reason { " — " (reason) } }
            dt { "Made" } dd { (format_time(invoice.created_at)) }
            @if let Some(paid) = invoice.paid_at { dt { "Paid" } dd { (format_time(paid)) } }
            dt { "Stripe" } dd {
                (invoice.stripe.status)
                @if let Some(url) = &invoice.stripe.hosted_url { " — " a href=(url) rel="noopener" { "open on Stripe" } }
            }
        }
        (line_table(&invoice.lines, &invoice.currency))
        p { a href="/portal/invoices" { "All invoices" } }
    };
    Ok(layout(&signed_in, "invoices", &title, content))
}

/// Invoice lines with their total, amounts as the invoice states them.
pub fn line_table(lines: &[LineView], currency: &str) -> Markup {
    let total: Decimal = lines.iter().map(|line| line.amount).sum();
    html! {
        table {
            thead { tr { th { "Line" } th { "Meter" } th { "Capsule" } th { "Quantity" } th { "Unit price" } th { "Amount" } } }
            tbody {
                @for line in lines {
                    tr {
                        td { (line.description) }
                        td { (line.meter.as_deref().unwrap_or("")) }
                        td { (line.capsule.as_deref().unwrap_or("")) }
                        td class="number" { (line.quantity.normalize()) }
                        td class="number" { (line.unit_price.normalize()) }
                        td class="number" { (line.amount) " " (currency) }
                    }
                }
            }
            tfoot { tr { th colspan="5" { "Total" } td class="number" { strong { (total) " " (currency) } } } }
        }
    }
}
