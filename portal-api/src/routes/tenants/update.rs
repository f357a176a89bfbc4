//! `PATCH /v1/tenants/{tenant_id}`: change the plan, suspend or reactivate.

use crate::KeyStore;
use crate::domain::TenantStatus;
use crate::error::PortalError;
use crate::service::tenants::{self, TenantChanges};
use crate::views::TenantView;
use actix_web::{HttpResponse, web};
use caravan_core::error::responses::{
    BadRequest, Conflict, Forbidden, NotFound, TooManyRequests, Unauthorized, Unprocessable,
};
use caravan_core::id::TenantId;
use caravan_core::plans::PlanCatalog;
use caravan_core::{ApiError, Database, JsonObject, Principal, RequestIdentity};
use serde::Deserialize;
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({ "status": "suspended" }))]
pub struct UpdateTenantRequest {
    /// A new plan id.
    pub plan: Option<String>,
    /// `suspended` refuses every key of the tenant with 403; `active` restores them.
    pub status: Option<TenantStatus>,
}

/// Update a tenant
///
/// Operator only. Takes effect on the tenant's next request. The operator tenant itself
/// cannot be suspended (409 `operator-tenant-protected`).
#[utoipa::path(
    patch,
    path = "/v1/tenants/{tenant_id}",
    operation_id = "update_tenant",
    tag = "tenants",
    params(("tenant_id" = String, Path, description = "Tenant id, `ten_…`")),
    request_body = UpdateTenantRequest,
    responses((status = 200, description = "The updated tenant", body = TenantView), BadRequest, Unauthorized, Forbidden,
        NotFound, Conflict, Unprocessable, TooManyRequests),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn update_tenant(
    principal: Principal,
    identity: RequestIdentity,
    path: web::Path<String>,
    database: web::Data<Database>,
    plans: web::Data<PlanCatalog>,
    key_store: web::Data<KeyStore>,
    body: JsonObject<UpdateTenantRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = super::super::path_id(&path, TenantId::parse, PortalError::TenantNotFound)?;
    let body = body.into_inner();
    let context = super::super::context(&identity);
    let plans = plans.into_inner();
    let store = key_store.into_inner();
    let tenant = database
        .run(move |connection| {
            let changes = TenantChanges { plan: body.plan, status: body.status };
            let updated = tenants::update(connection, &principal, &plans, &id, changes, &context)?;
            store.forget_tenant(&id);
            Ok::<_, PortalError>(updated)
        })
        .await?;
    Ok(HttpResponse::Ok().json(TenantView::from(tenant)))
}
