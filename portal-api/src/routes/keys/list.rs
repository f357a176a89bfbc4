//! `GET /v1/keys`

use crate::error::PortalError;
use crate::service::keys;
use crate::service::pagination::{PageQuery, next_cursor};
use crate::views::{KeyPage, KeyView};
use actix_web::{HttpResponse, web};
use caravan_core::error::responses::{BadRequest, Forbidden, NotFound, TooManyRequests, Unauthorized};
use caravan_core::id::{ApiKeyId, TenantId};
use caravan_core::{ApiError, Database, Principal};
use serde::Deserialize;
use utoipa::IntoParams;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct KeyListQuery {
    /// Another tenant's keys (operator only).
    pub tenant_id: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Items per page, 1 to 200; 50 by default.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

/// List API keys
///
/// Needs `keys:manage`. Oldest first; secrets are never listed.
#[utoipa::path(
    get,
    path = "/v1/keys",
    operation_id = "list_keys",
    tag = "keys",
    params(KeyListQuery),
    responses((status = 200, description = "A page of keys", body = KeyPage), BadRequest, Unauthorized, Forbidden,
        NotFound, TooManyRequests),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn list_keys(
    principal: Principal,
    query: web::Query<KeyListQuery>,
    database: web::Data<Database>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let page = PageQuery { cursor: query.cursor, limit: query.limit };
    let limit = page.limit()?;
    let cursor = page.cursor(ApiKeyId::parse)?;
    let tenant = match query.tenant_id.as_deref() {
        Some(raw) => Some(TenantId::parse(raw).map_err(|_| PortalError::TenantNotFound(raw.to_owned()))?),
        None => None,
    };
    let found = database
        .run(move |connection| keys::list(connection, &principal, tenant.as_ref(), cursor.as_ref(), limit))
        .await?;
    let next_cursor = next_cursor(&found, limit, |(key, _)| key.id.to_string());
    let data = found.into_iter().map(|(key, prefix)| KeyView::new(key, prefix)).collect();
    Ok(HttpResponse::Ok().json(KeyPage { data, next_cursor }))
}
