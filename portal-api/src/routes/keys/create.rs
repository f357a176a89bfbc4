//! `POST /v1/keys`

use crate::domain::Environment;
use crate::service::keys::{self, NewKey};
use crate::views::{CreatedKey, KeyView};
use actix_web::{HttpResponse, web};
use caravan_core::error::responses::{
    BadRequest, Forbidden, NotFound, TooManyRequests, Unauthorized, Unprocessable,
};
use caravan_core::id::TenantId;
use caravan_core::{ApiError, Database, JsonObject, Principal, RequestIdentity, Scope};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({ "name": "ci publisher", "scopes": ["registry:read", "registry:publish"],
    "capsule_patterns": ["acme/*"], "expires_at": "2027-01-01T00:00:00Z" }))]
pub struct CreateKeyRequest {
    /// 1 to 100 characters, to recognise the key in lists.
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// At least one; never more than the calling key holds.
    #[schema(min_items = 1)]
    pub scopes: Vec<Scope>,
    /// `live` (default) or `test`.
    #[serde(default)]
    pub environment: Environment,
    /// When the key stops working; never, if absent.
    pub expires_at: Option<DateTime<Utc>>,
    /// Restrict `registry:publish`/`registry:yank` to capsules matching `publisher/*` or
    /// `publisher/name`.
    #[serde(default)]
    pub capsule_patterns: Vec<String>,
    /// Create the key for another tenant (operator only).
    pub tenant_id: Option<TenantId>,
}

/// Create an API key
///
/// Needs `keys:manage`. The secret is in this response only: Caravan stores its hash.
#[utoipa::path(
    post,
    path = "/v1/keys",
    operation_id = "create_key",
    tag = "keys",
    request_body = CreateKeyRequest,
    responses((status = 201, description = "Created; the secret is shown once", body = CreatedKey), BadRequest,
        Unauthorized, Forbidden, NotFound, Unprocessable, TooManyRequests),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn create_key(
    principal: Principal,
    identity: RequestIdentity,
    database: web::Data<Database>,
    body: JsonObject<CreateKeyRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let context = super::super::context(&identity);
    let request = NewKey {
        name: body.name,
        scopes: body.scopes,
        environment: body.environment,
        expires_at: body.expires_at,
        capsule_patterns: body.capsule_patterns,
        tenant_id: body.tenant_id,
    };
    let issued =
        database.run(move |connection| keys::create(connection, &principal, request, &context)).await?;
    let secret = issued.secret.reveal().to_owned();
    Ok(HttpResponse::Created().json(CreatedKey { key: KeyView::new(issued.key, issued.prefix), secret }))
}
