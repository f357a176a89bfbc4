//! `GET /v1/audit`: the audit log, oldest first. The operator's admin sees every tenant's
//! entries (or one tenant's with `tenant_id`); a tenant's admin sees its own.

use crate::error::PortalError;
use crate::service::pagination::{PageQuery, next_cursor};
use crate::views::AuditPage;
use actix_web::{HttpResponse, web};
use caravan_core::error::responses::{BadRequest, Forbidden, NotFound, TooManyRequests, Unauthorized};
use caravan_core::id::TenantId;
use caravan_core::{ApiError, Database, Principal, Scope, audit};
use serde::Deserialize;
use utoipa::IntoParams;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only this tenant's entries (operator only; others always see their own).
    pub tenant_id: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Items per page, 1 to 200; 50 by default.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

/// List audit entries
///
/// Needs `admin`. Entries are ordered by `sequence`; the cursor is a sequence number.
#[utoipa::path(
    get,
    path = "/v1/audit",
    operation_id = "list_audit_events",
    tag = "audit",
    params(AuditQuery),
    responses((status = 200, description = "A page of entries", body = AuditPage), BadRequest, Unauthorized, Forbidden,
        NotFound, TooManyRequests),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn list_audit_events(
    principal: Principal,
    query: web::Query<AuditQuery>,
    database: web::Data<Database>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::Admin).map_err(PortalError::from)?;
    let query = query.into_inner();
    let page = PageQuery { cursor: query.cursor, limit: query.limit };
    let limit = page.limit()?;
    let after = match page.cursor.as_deref() {
        None => 0,
        Some(cursor) => cursor.parse::<i64>().map_err(|_| PortalError::InvalidCursor)?,
    };
    let tenant = match (principal.is_operator_admin(), query.tenant_id.as_deref()) {
        (true, None) => None,
        (true, Some(raw)) => {
            Some(TenantId::parse(raw).map_err(|_| PortalError::TenantNotFound(raw.to_owned()))?)
        }
        (false, Some(raw)) if raw != principal.tenant_id.as_str() => {
            return Err(PortalError::TenantNotFound(raw.to_owned()).into());
        }
        (false, _) => Some(principal.tenant_id.clone()),
    };
    let events = database
        .run(move |connection| {
            audit::list(connection, tenant.as_ref(), after, limit).map_err(PortalError::from)
        })
        .await?;
    let next_cursor = next_cursor(&events, limit, |event| event.sequence.to_string());
    Ok(HttpResponse::Ok().json(AuditPage { data: events, next_cursor }))
}
