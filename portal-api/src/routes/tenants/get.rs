//! `GET /v1/tenants/{tenant_id}`

use crate::error::PortalError;
use crate::service::tenants;
use crate::views::TenantView;
use actix_web::{HttpResponse, web};
use caravan_core::error::responses::{NotFound, TooManyRequests, Unauthorized};
use caravan_core::id::TenantId;
use caravan_core::{ApiError, Database, Principal};

/// Get a tenant
///
/// Any key may read its own tenant; the operator reads every tenant.
#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant_id}",
    operation_id = "get_tenant",
    tag = "tenants",
    params(("tenant_id" = String, Path, description = "Tenant id, `ten_…`")),
    responses((status = 200, description = "The tenant", body = TenantView), Unauthorized, NotFound, TooManyRequests),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn get_tenant(
    principal: Principal,
    path: web::Path<String>,
    database: web::Data<Database>,
) -> Result<HttpResponse, ApiError> {
    let id = super::super::path_id(&path, TenantId::parse, PortalError::TenantNotFound)?;
    let tenant = database.run(move |connection| tenants::get(connection, &principal, &id)).await?;
    Ok(HttpResponse::Ok().json(TenantView::from(tenant)))
}
