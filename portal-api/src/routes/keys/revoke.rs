//! `POST /v1/keys/{key_id}/revoke`

use crate::KeyStore;
use crate::error::PortalError;
use crate::views::KeyView;
use actix_web::{HttpResponse, web};
use caravan_core::error::responses::{Forbidden, NotFound, TooManyRequests, Unauthorized};
use caravan_core::id::ApiKeyId;
use caravan_core::{ApiError, Principal, RequestIdentity};

/// Revoke an API key
///
/// Needs `keys:manage`. Every secret of the key stops working on the next request.
/// Revoking a revoked key changes nothing.
#[utoipa::path(
    post,
    path = "/v1/keys/{key_id}/revoke",
    operation_id = "revoke_key",
    tag = "keys",
    params(("key_id" = String, Path, description = "Key id, `key_…`")),
    responses((status = 200, description = "The revoked key", body = KeyView), Unauthorized, Forbidden, NotFound,
        TooManyRequests),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn revoke_key(
    principal: Principal,
    identity: RequestIdentity,
    path: web::Path<String>,
    key_store: web::Data<KeyStore>,
) -> Result<HttpResponse, ApiError> {
    let id = super::super::path_id(&path, ApiKeyId::parse, PortalError::KeyNotFound)?;
    let context = super::super::context(&identity);
    let (key, prefix) = key_store.into_inner().revoke(principal, id, context).await?;
    Ok(HttpResponse::Ok().json(KeyView::new(key, prefix)))
}
