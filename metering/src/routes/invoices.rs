//! Invoices: list, get, the upcoming one, and void.

use super::{Cursor, tenant_scope};
use crate::Metering;
use crate::billing;
use crate::db::invoices::{self, InvoiceFilter};
use crate::error::MeteringError;
use crate::views::{InvoicePage, InvoiceView, LineView, UpcomingInvoice};
use actix_web::{HttpResponse, web};
use caravan_core::error::responses::{
    BadRequest, Conflict, Forbidden, NotFound, TooManyRequests, Unauthorized, Unprocessable,
};
use caravan_core::id::{InvoiceId, TenantId};
use caravan_core::money::from_minor_units;
use caravan_core::{ApiError, Database, JsonObject, Principal, RequestIdentity, Scope};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InvoiceListQuery {
    /// Only this period (`YYYY-MM`).
    pub period: Option<String>,
    /// Only this status: `open`, `paid`, `payment_failed` or `void`.
    pub status: Option<String>,
    /// Another tenant's (the operator's admin; without it the operator sees every tenant's).
    pub tenant_id: Option<TenantId>,
    pub cursor: Option<String>,
    /// 1 to 200; 50 by default.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

/// List invoices
///
/// Newest first, without their lines. Needs `billing:read`.
#[utoipa::path(
    get,
    path = "/v1/invoices",
    operation_id = "list_invoices",
    tag = "billing",
    params(InvoiceListQuery),
    responses((status = 200, description = "A page of invoices", body = InvoicePage), BadRequest, Unauthorized,
        Forbidden, NotFound, TooManyRequests),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn list_invoices(
    principal: Principal,
    query: web::Query<InvoiceListQuery>,
    database: web::Data<Database>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::BillingRead)?;
    let query = query.into_inner();
    if let Some(period) = &query.period {
        crate::domain::period::Period::parse(period).map_err(MeteringError::from)?;
    }
    if let Some(status) = &query.status
        && !matches!(status.as_str(), "open" | "paid" | "payment_failed" | "void")
    {
        return Err(MeteringError::InvalidQuery(
            "`status` is one of open, paid, payment_failed, void".to_owned(),
        )
        .into());
    }
    let limit = match query.limit {
        None => 50,
        Some(limit) if (1..=200).contains(&limit) => limit,
        Some(_) => {
            return Err(MeteringError::InvalidQuery("`limit` must be between 1 and 200".to_owned()).into());
        }
    };
    let before = query.cursor.as_deref().map(Cursor::<InvoiceId>::decode).transpose()?;
    let filter = InvoiceFilter {
        tenant: tenant_scope(&principal, query.tenant_id)?,
        period: query.period,
        status: query.status,
    };
    let rows = database
        .run(move |connection| {
            invoices::list(connection, &filter, before.as_ref(), limit).map_err(MeteringError::from)
        })
        .await?;
    let full = usize::try_from(limit).is_ok_and(|limit| rows.len() == limit);
    let next_cursor = rows.last().filter(|_| full).map(|last| Cursor::encode(&last.id));
    let invoices = rows.into_iter().map(|row| InvoiceView::new(row, Vec::new())).collect();
    Ok(HttpResponse::Ok().json(InvoicePage { data: invoices, next_cursor }))
}

/// Get an invoice
///
/// With its lines: meter or capsule, quantity, unit price and amount, each line rounded
/// once to the minor unit (half away from zero). Needs `billing:read`.
#[utoipa::path(
    get,
    path = "/v1/invoices/{id}",
    operation_id = "get_invoice",
    tag = "billing",
    params(("id" = String, Path, description = "The invoice id (`inv_…`)")),
    responses((status = 200, description = "The invoice", body = InvoiceView), BadRequest, Unauthorized, Forbidden,
        NotFound, TooManyRequests),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn get_invoice(
    principal: Principal,
    path: web::Path<String>,
    database: web::Data<Database>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::BillingRead)?;
    let raw = path.into_inner();
    let id = InvoiceId::parse(&raw).map_err(|_| MeteringError::InvoiceNotFound(raw.clone()))?;
    let view = database
        .run(move |connection| {
            let invoice = invoices::find(connection, &id)?
                .filter(|invoice| principal.can_access_tenant(&invoice.tenant_id))
                .ok_or_else(|| MeteringError::InvoiceNotFound(id.to_string()))?;
            let lines = invoices::lines(connection, &id)?;
            Ok::<_, MeteringError>(InvoiceView::new(invoice, lines))
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UpcomingQuery {
    /// Another tenant's (the operator's admin only).
    pub tenant_id: Option<TenantId>,
}

/// Preview the upcoming invoice
///
/// What the open period's invoice would be if it closed now. Needs `billing:read`.
#[utoipa::path(
    get,
    path = "/v1/invoices/upcoming",
    operation_id = "get_upcoming_invoice",
    tag = "billing",
    params(UpcomingQuery),
    responses((status = 200, description = "The preview", body = UpcomingInvoice), Unauthorized, Forbidden, NotFound,
        TooManyRequests),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn upcoming_invoice(
    principal: Principal,
    query: web::Query<UpcomingQuery>,
    database: web::Data<Database>,
    metering: web::Data<Metering>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::BillingRead)?;
    let tenant = tenant_scope(&principal, query.into_inner().tenant_id)?
        .unwrap_or_else(|| principal.tenant_id.clone());
    let preview = database
        .run(move |connection| {
            let now = caravan_core::db::now();
            let (period, plan, drafts) =
                billing::upcoming(connection, &metering.meters, &metering.plans, &tenant, now)?;
            let currency = metering.plans.currency().clone();
            let total_minor: i64 = drafts.iter().map(|line| line.amount_minor).sum();
            Ok::<_, MeteringError>(UpcomingInvoice {
                tenant_id: tenant,
                period: period.to_string(),
                plan,
                currency: currency.to_string(),
                total: from_minor_units(total_minor, &currency),
                total_minor,
                as_of: now,
                lines: drafts.into_iter().map(|draft| LineView::from_draft(draft, &currency)).collect(),
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(preview))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({ "reason": "billed twice by mistake" }))]
pub struct VoidRequest {
    /// 1 to 1000 characters, kept with the invoice and in the audit log.
    pub reason: String,
}

/// Void an invoice
///
/// An open or unpaid invoice is cancelled; on Stripe too, by the next sync. The operator's
/// admin only.
#[utoipa::path(
    post,
    path = "/v1/invoices/{id}/void",
    operation_id = "void_invoice",
    tag = "billing",
    params(("id" = String, Path, description = "The invoice id (`inv_…`)")),
    request_body = VoidRequest,
    responses((status = 200, description = "Voided", body = InvoiceView), BadRequest, Unauthorized, Forbidden, NotFound,
        Conflict, Unprocessable, TooManyRequests),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn void_invoice(
    principal: Principal,
    identity: RequestIdentity,
    path: web::Path<String>,
    body: JsonObject<VoidRequest>,
    database: web::Data<Database>,
    metering: web::Data<Metering>,
) -> Result<HttpResponse, ApiError> {
    principal.require_operator().map_err(MeteringError::from)?;
    let raw = path.into_inner();
    let id = InvoiceId::parse(&raw).map_err(|_| MeteringError::InvoiceNotFound(raw.clone()))?;
    let request_id = identity.as_str().to_owned();
    let reason = body.into_inner().reason;
    let view = database
        .run(move |connection| {
            let voided = billing::void(
                connection,
                &principal,
                Some(&request_id),
                &id,
                &reason,
                caravan_core::db::now(),
            )?;
            let lines = invoices::lines(connection, &id)?;
            Ok::<_, MeteringError>(InvoiceView::new(voided, lines))
        })
        .await?;
    if let Some(stripe) = &metering.stripe {
        stripe.wake();
    }
    Ok(HttpResponse::Ok().json(view))
}
