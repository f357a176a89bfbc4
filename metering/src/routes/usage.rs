//! `GET /v1/usage` and `GET /v1/meters`.

use super::tenant_scope;
use crate::Metering;
use crate::domain::period::Period;
use crate::error::MeteringError;
use crate::usage::{self, UsageQuery, UsageReport, Window};
use crate::views::MeterView;
use actix_web::{HttpResponse, web};
use caravan_core::error::responses::{BadRequest, Forbidden, NotFound, TooManyRequests, Unauthorized};
use caravan_core::id::TenantId;
use caravan_core::{ApiError, Database, Principal, Scope};
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde::Deserialize;
use utoipa::IntoParams;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsageParams {
    /// The meter's slug (`GET /v1/meters` lists them).
    pub meter: String,
    /// Start, on a whole hour (UTC); the start of the current period by default.
    pub from: Option<DateTime<Utc>>,
    /// End (exclusive), on a whole hour; the end of the current hour by default.
    pub to: Option<DateTime<Utc>>,
    /// `hour`, `day` or `month`; one total for the whole range when absent.
    pub window: Option<Window>,
    /// Comma-separated: `capsule`, `key`, the meter's own group-by fields, and `tenant`
    /// (the operator, across tenants).
    pub group_by: Option<String>,
    /// Another tenant (the operator's admin; without it the operator sees every tenant).
    pub tenant_id: Option<TenantId>,
}

/// Query usage
///
/// A meter's quantity over a range, by window and group. Quantities are exact decimals
/// (as strings). Needs `usage:read`; a tenant sees its own usage.
#[utoipa::path(
    get,
    path = "/v1/usage",
    operation_id = "query_usage",
    tag = "metering",
    params(UsageParams),
    responses((status = 200, description = "The usage", body = UsageReport,
        example = json!({ "meter": "tokens_in", "aggregation": "sum", "from": "2026-11-01T00:00:00",
            "to": "2026-11-23T00:00:00", "window": "day", "group_by": ["capsule"], "data": [
            { "from": "2026-11-22T00:00:00", "to": "2026-11-23T00:00:00", "quantity": "1200",
              "groups": { "capsule": "acme/echo" } }] })),
        BadRequest, Unauthorized, Forbidden, NotFound, TooManyRequests),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn query_usage(
    principal: Principal,
    params: web::Query<UsageParams>,
    database: web::Data<Database>,
    metering: web::Data<Metering>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::UsageRead)?;
    let params = params.into_inner();
    let now = caravan_core::db::now();
    let end_of_hour = now.duration_trunc(TimeDelta::hours(1)).unwrap_or(now) + TimeDelta::hours(1);
    let query = UsageQuery {
        meter: params.meter,
        from: params.from.map_or_else(|| Period::containing(now).start(), |time| time.naive_utc()),
        to: params.to.map_or(end_of_hour, |time| time.naive_utc()),
        window: params.window,
        group_by: params
            .group_by
            .as_deref()
            .map(|names| {
                names.split(',').map(str::trim).filter(|name| !name.is_empty()).map(str::to_owned).collect()
            })
            .unwrap_or_default(),
        tenant: tenant_scope(&principal, params.tenant_id)?,
    };
    query.check(&metering.meters)?;
    let report = database.run(move |connection| usage::query(connection, &metering.meters, &query)).await?;
    Ok(HttpResponse::Ok().json(report))
}

/// List meters
///
/// The built-in meters and the operator's. Needs `usage:read`.
#[utoipa::path(
    get,
    path = "/v1/meters",
    operation_id = "list_meters",
    tag = "metering",
    responses((status = 200, description = "Every meter", body = Vec<MeterView>), Unauthorized, Forbidden,
        TooManyRequests),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn list_meters(
    principal: Principal,
    metering: web::Data<Metering>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::UsageRead).map_err(MeteringError::from)?;
    let meters: Vec<MeterView> = metering.meters.iter().map(MeterView::from).collect();
    Ok(HttpResponse::Ok().json(meters))
}
