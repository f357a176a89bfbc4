//! `GET /v1/whoami`: the tenant, key and scopes the gateway authenticated.

use crate::views::Whoami;
use actix_web::HttpResponse;
use caravan_core::error::responses::{TooManyRequests, Unauthorized};
use caravan_core::{ApiError, Principal};

/// Who am I
///
/// The tenant, key id, scopes and plan of the calling key. Needs no scope.
#[utoipa::path(
    get,
    path = "/v1/whoami",
    operation_id = "show_whoami",
    tag = "identity",
    responses((status = 200, description = "The caller", body = Whoami), Unauthorized, TooManyRequests),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn show_whoami(principal: Principal) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(Whoami {
        tenant_id: &principal.tenant_id,
        key_id: principal.require_key()?,
        scopes: principal.scopes,
        capsule_patterns: &principal.capsule_patterns,
        plan: &principal.plan,
        operator: principal.operator,
    }))
}
