//! `POST /v1/keys/{key_id}/rotate`

use crate::KeyStore;
use crate::error::PortalError;
use crate::views::{CreatedKey, KeyView};
use actix_web::{HttpResponse, web};
use caravan_core::error::responses::{
    BadRequest, Conflict, Forbidden, NotFound, TooManyRequests, Unauthorized, Unprocessable,
};
use caravan_core::id::ApiKeyId;
use caravan_core::{ApiError, JsonObject, Principal, RequestIdentity};
use serde::Deserialize;
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({ "grace_period_s": 3600 }))]
pub struct RotateKeyRequest {
    /// How long the current secret keeps working, 0 to 604800 seconds (a week).
    #[serde(default)]
    #[schema(maximum = 604800)]
    pub grace_period_s: u32,
}

/// Rotate an API key
///
/// Needs `keys:manage`. Issues a new secret for the same key id (scopes, name and history
/// stay); the current secret keeps working for `grace_period_s`, then stops.
#[utoipa::path(
    post,
    path = "/v1/keys/{key_id}/rotate",
    operation_id = "rotate_key",
    tag = "keys",
    params(("key_id" = String, Path, description = "Key id, `key_…`")),
    request_body = RotateKeyRequest,
    responses((status = 200, description = "The new secret, shown once", body = CreatedKey), BadRequest, Unauthorized,
        Forbidden, NotFound, Conflict, Unprocessable, TooManyRequests),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn rotate_key(
    principal: Principal,
    identity: RequestIdentity,
    path: web::Path<String>,
    key_store: web::Data<KeyStore>,
    body: JsonObject<RotateKeyRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = super::super::path_id(&path, ApiKeyId::parse, PortalError::KeyNotFound)?;
    let context = super::super::context(&identity);
    let issued = key_store.into_inner().rotate(principal, id, body.grace_period_s, context).await?;
    let secret = issued.secret.reveal().to_owned();
    Ok(HttpResponse::Ok().json(CreatedKey { key: KeyView::new(issued.key, issued.prefix), secret }))
}
