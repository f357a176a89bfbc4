//! `POST /v1/keys/{key_id}/revoke`

use crate::KeyStore;
use crate::error::PortalError;
use crate::service::keys;
use crate::views::KeyView;
use actix_web::{HttpResponse, web};
use caravan_core::error::responses::{Forbidden, NotFound, TooManyRequests, Unauthorized};
use caravan_core::id::ApiKeyId;
use caravan_core::{ApiError, Database, Principal, RequestIdentity};

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
    database: web::Data<Database>,
    key_store: web::Data<KeyStore>,
) -> Result<HttpResponse, ApiError> {
    let id = super::super::path_id(&path, ApiKeyId::parse, PortalError::KeyNotFound)?;
    let context = super::super::context(&identity);
    // Evict in the same blocking task as the commit: a client that disconnects cannot
    // leave the revocation committed and the cache stale.
    let store = key_store.into_inner();
    let (key, prefix) = database
        .run(move |connection| {
            let revoked = keys::revoke(connection, &principal, &id, &context)?;
            store.forget_key(&id);
            Ok::<_, PortalError>(revoked)
        })
        .await?;
    Ok(HttpResponse::Ok().json(KeyView::new(key, prefix)))
}
