//! `POST /v1/tenants`

use crate::service::tenants::{self, NewTenant};
use crate::views::TenantView;
use actix_web::{HttpResponse, web};
use caravan_core::error::responses::{BadRequest, Forbidden, TooManyRequests, Unauthorized, Unprocessable};
use caravan_core::plans::PlanCatalog;
use caravan_core::{ApiError, Database, JsonObject, Principal, RequestIdentity};
use serde::Deserialize;
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({ "name": "Acme Inc", "plan": "pro" }))]
pub struct CreateTenantRequest {
    /// 1 to 100 characters.
    pub name: String,
    /// A plan id from the plan catalog: `free`, `pro` or `team` by default.
    pub plan: String,
}

/// Create a tenant
///
/// Operator only (`admin` on the operator tenant).
#[utoipa::path(
    post,
    path = "/v1/tenants",
    operation_id = "create_tenant",
    tag = "tenants",
    request_body = CreateTenantRequest,
    responses((status = 201, description = "Created", body = TenantView), BadRequest, Unauthorized, Forbidden,
        Unprocessable, TooManyRequests),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn create_tenant(
    principal: Principal,
    identity: RequestIdentity,
    database: web::Data<Database>,
    plans: web::Data<PlanCatalog>,
    body: JsonObject<CreateTenantRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let context = super::super::context(&identity);
    let plans = plans.into_inner();
    let tenant = database
        .run(move |connection| {
            tenants::create(
                connection,
                &principal,
                &plans,
                NewTenant { name: body.name, plan: body.plan },
                &context,
            )
        })
        .await
        .map_err(ApiError::from)?;
    Ok(HttpResponse::Created().json(TenantView::from(tenant)))
}
