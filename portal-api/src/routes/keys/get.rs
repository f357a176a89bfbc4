//! `GET /v1/keys/{key_id}`

use crate::error::PortalError;
use crate::service::keys;
use crate::views::KeyView;
use actix_web::{HttpResponse, web};
use caravan_core::error::responses::{Forbidden, NotFound, TooManyRequests, Unauthorized};
use caravan_core::id::ApiKeyId;
use caravan_core::{ApiError, Database, Principal};

/// Get an API key
///
/// Needs `keys:manage`.
#[utoipa::path(
    get,
    path = "/v1/keys/{key_id}",
    operation_id = "get_key",
    tag = "keys",
    params(("key_id" = String, Path, description = "Key id, `key_…`")),
    responses((status = 200, description = "The key", body = KeyView), Unauthorized, Forbidden, NotFound, TooManyRequests),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn get_key(
    principal: Principal,
    path: web::Path<String>,
    database: web::Data<Database>,
) -> Result<HttpResponse, ApiError> {
    let id = super::super::path_id(&path, ApiKeyId::parse, PortalError::KeyNotFound)?;
    let (key, prefix) = database.run(move |connection| keys::get(connection, &principal, &id)).await?;
    Ok(HttpResponse::Ok().json(KeyView::new(key, prefix)))
}
