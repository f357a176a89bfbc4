//! Closing a billing period, pushing invoices to Stripe now, and publisher earnings.

use super::tenant_scope;
use crate::Metering;
use crate::billing;
use crate::domain::period::Period;
use crate::earnings::{self, EarningsReport};
use crate::error::MeteringError;
use crate::stripe::sync::SyncReport;
use crate::views::ClosedPeriodView;
use actix_web::{HttpResponse, web};
use caravan_core::db::schema::invoices;
use caravan_core::error::responses::{
    BadRequest, Conflict, Forbidden, NotFound, TooManyRequests, Unauthorized,
};
use caravan_core::id::TenantId;
use caravan_core::{ApiError, Database, Principal, RequestIdentity, Scope};
use diesel::prelude::*;
use serde::Deserialize;
use utoipa::IntoParams;

/// Close a billing period
///
/// Makes exactly one invoice per customer tenant for the period (`YYYY-MM`, UTC), from
/// its usage and plan, once the period has ended. Closing it again, or concurrently,
/// changes nothing and answers the same period (`closed_now: false`). Usage for a closed
/// period is refused from then on. The operator's admin only.
#[utoipa::path(
    post,
    path = "/v1/billing/periods/{period}/close",
    operation_id = "close_billing_period",
    tag = "billing",
    params(("period" = String, Path, description = "`YYYY-MM`", example = "2026-10")),
    responses((status = 200, description = "The period is closed", body = ClosedPeriodView), BadRequest, Unauthorized,
        Forbidden, Conflict, TooManyRequests),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn close_period(
    principal: Principal,
    identity: RequestIdentity,
    path: web::Path<String>,
    database: web::Data<Database>,
    metering: web::Data<Metering>,
) -> Result<HttpResponse, ApiError> {
    principal.require_operator().map_err(MeteringError::from)?;
    let period = Period::parse(&path.into_inner()).map_err(MeteringError::from)?;
    let request_id = identity.as_str().to_owned();
    let stripe_enabled = metering.stripe.is_some();
    let shared = metering.clone();
    let closed = database
        .run(move |connection| {
            billing::close_period(
                connection,
                &shared.meters,
                &shared.plans,
                &principal,
                Some(&request_id),
                period,
                stripe_enabled,
                caravan_core::db::now(),
            )
        })
        .await?;
    if let Some(stripe) = &metering.stripe {
        stripe.wake();
    }
    Ok(HttpResponse::Ok().json(ClosedPeriodView::from(closed)))
}

/// Sync invoices to Stripe now
///
/// Pushes every invoice waiting for Stripe, retrying those Stripe refused before, and
/// answers what happened. The operator's admin only.
#[utoipa::path(
    post,
    path = "/v1/billing/stripe/sync",
    operation_id = "sync_stripe",
    tag = "billing",
    responses((status = 200, description = "What the sync did", body = SyncReport), Unauthorized, Forbidden, Conflict,
        TooManyRequests),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn sync_stripe(
    principal: Principal,
    database: web::Data<Database>,
    metering: web::Data<Metering>,
) -> Result<HttpResponse, ApiError> {
    principal.require_operator().map_err(MeteringError::from)?;
    let stripe = metering.stripe.as_ref().ok_or(MeteringError::StripeNotConfigured)?;
    database
        .run(|connection| {
            diesel::update(invoices::table.filter(invoices::stripe_status.eq("failed")))
                .set(invoices::stripe_status.eq("pending"))
                .execute(connection)
                .map_err(MeteringError::from)
        })
        .await?;
    let report = stripe.run(&database).await?;
    Ok(HttpResponse::Ok().json(report))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EarningsQuery {
    /// `YYYY-MM`; the current period by default.
    pub period: Option<String>,
    /// Another tenant's namespaces (the operator's admin; without it, every publisher).
    pub tenant_id: Option<TenantId>,
}

/// Publisher earnings
///
/// What the caller's capsules earned at their per-execution prices in a period, per
/// namespace and capsule. Needs `billing:read`.
#[utoipa::path(
    get,
    path = "/v1/earnings",
    operation_id = "get_earnings",
    tag = "billing",
    params(EarningsQuery),
    responses((status = 200, description = "Earnings", body = EarningsReport), BadRequest, Unauthorized, Forbidden,
        NotFound, TooManyRequests),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn get_earnings(
    principal: Principal,
    query: web::Query<EarningsQuery>,
    database: web::Data<Database>,
    metering: web::Data<Metering>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::BillingRead)?;
    let query = query.into_inner();
    let period = match &query.period {
        Some(period) => Period::parse(period).map_err(MeteringError::from)?,
        None => Period::containing(caravan_core::db::now()),
    };
    let owner = tenant_scope(&principal, query.tenant_id)?;
    let report = database
        .run(move |connection| {
            earnings::report(connection, &metering.meters, metering.plans.currency(), owner.as_ref(), period)
        })
        .await?;
    Ok(HttpResponse::Ok().json(report))
}
