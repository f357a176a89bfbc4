//! `GET /v1/tenants`

use crate::service::pagination::{PageQuery, next_cursor};
use crate::service::tenants;
use crate::views::{TenantPage, TenantView};
use actix_web::{HttpResponse, web};
use caravan_core::error::responses::{BadRequest, Forbidden, TooManyRequests, Unauthorized};
use caravan_core::id::TenantId;
use caravan_core::{ApiError, Database, Principal};

/// List tenants
///
/// Operator only. Oldest first.
#[utoipa::path(
    get,
    path = "/v1/tenants",
    operation_id = "list_tenants",
    tag = "tenants",
    params(PageQuery),
    responses((status = 200, description = "A page of tenants", body = TenantPage), BadRequest, Unauthorized, Forbidden,
        TooManyRequests),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn list_tenants(
    principal: Principal,
    query: web::Query<PageQuery>,
    database: web::Data<Database>,
) -> Result<HttpResponse, ApiError> {
    let limit = query.limit()?;
    let cursor = query.cursor(TenantId::parse)?;
    let found =
        database.run(move |connection| tenants::list(connection, &principal, cursor.as_ref(), limit)).await?;
    let next_cursor = next_cursor(&found, limit, |tenant| tenant.id.to_string());
    let data = found.into_iter().map(TenantView::from).collect();
    Ok(HttpResponse::Ok().json(TenantPage { data, next_cursor }))
}
