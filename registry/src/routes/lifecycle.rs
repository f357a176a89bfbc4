//! Changing a published version's standing: yank, unyank, revoke, deprecate and
//! undeprecate. Each needs `registry:yank` and answers the version as it now stands.

use super::VersionPath;
use crate::Registry;
use crate::service::{self, Lifecycle};
use crate::views::VersionView;
use actix_web::{HttpResponse, web};
use caravan_core::error::responses::{
    BadRequest, Forbidden, NotFound, TooManyRequests, Unauthorized, Unprocessable,
};
use caravan_core::{ApiError, Database, JsonObject, Principal, RequestIdentity};
use serde::Deserialize;
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({ "reason": "CVE-2026-1234: leaks the input to a third party" }))]
pub struct RevokeRequest {
    /// Shown to everyone who tries to download or run the version (1 to 1000 characters).
    pub reason: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({ "message": "use acme/echo 2.x" }))]
pub struct DeprecateRequest {
    /// Shown with the version (1 to 1000 characters).
    pub message: String,
}

async fn apply(
    principal: Principal,
    identity: RequestIdentity,
    path: VersionPath,
    database: &Database,
    registry: &Registry,
    change: Lifecycle,
) -> Result<HttpResponse, ApiError> {
    let request_id = Some(identity.as_str().to_owned());
    let row = service::change_version(
        database,
        &registry.runs,
        principal,
        request_id,
        path.capsule(),
        path.version,
        change,
    )
    .await?;
    Ok(HttpResponse::Ok().json(VersionView::from(row)))
}

/// Yank a version
///
/// Hides the version from resolution; exact downloads keep working. Needs
/// `registry:yank` on the owning tenant.
#[utoipa::path(
    post,
    path = "/v1/capsules/{publisher}/{name}/versions/{version}/yank",
    operation_id = "yank_capsule_version",
    tag = "registry",
    params(("publisher" = String, Path), ("name" = String, Path), ("version" = String, Path)),
    responses((status = 200, description = "Yanked", body = VersionView), Unauthorized, Forbidden, NotFound,
        Unprocessable, TooManyRequests),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn yank_version(
    principal: Principal,
    identity: RequestIdentity,
    path: web::Path<VersionPath>,
    database: web::Data<Database>,
    registry: web::Data<Registry>,
) -> Result<HttpResponse, ApiError> {
    apply(principal, identity, path.into_inner(), &database, &registry, Lifecycle::Yank).await
}

/// Unyank a version
///
/// Makes a yanked version resolvable again. Needs `registry:yank` on the owning tenant.
#[utoipa::path(
    post,
    path = "/v1/capsules/{publisher}/{name}/versions/{version}/unyank",
    operation_id = "unyank_capsule_version",
    tag = "registry",
    params(("publisher" = String, Path), ("name" = String, Path), ("version" = String, Path)),
    responses((status = 200, description = "Unyanked", body = VersionView), Unauthorized, Forbidden, NotFound,
        Unprocessable, TooManyRequests),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn unyank_version(
    principal: Principal,
    identity: RequestIdentity,
    path: web::Path<VersionPath>,
    database: web::Data<Database>,
    registry: web::Data<Registry>,
) -> Result<HttpResponse, ApiError> {
    apply(principal, identity, path.into_inner(), &database, &registry, Lifecycle::Unyank).await
}

/// Revoke a version
///
/// For security problems: download and execution are refused from now on, with the
/// reason. Cannot be undone. Needs `registry:yank` on the owning tenant, or the
/// operator's admin.
#[utoipa::path(
    post,
    path = "/v1/capsules/{publisher}/{name}/versions/{version}/revoke",
    operation_id = "revoke_capsule_version",
    tag = "registry",
    params(("publisher" = String, Path), ("name" = String, Path), ("version" = String, Path)),
    request_body = RevokeRequest,
    responses((status = 200, description = "Revoked", body = VersionView), BadRequest, Unauthorized, Forbidden,
        NotFound, Unprocessable, TooManyRequests),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn revoke_version(
    principal: Principal,
    identity: RequestIdentity,
    path: web::Path<VersionPath>,
    database: web::Data<Database>,
    registry: web::Data<Registry>,
    body: JsonObject<RevokeRequest>,
) -> Result<HttpResponse, ApiError> {
    let change = Lifecycle::Revoke { reason: body.into_inner().reason };
    apply(principal, identity, path.into_inner(), &database, &registry, change).await
}

/// Deprecate a version
///
/// Attaches a message (what to use instead); the version stays resolvable. Needs
/// `registry:yank` on the owning tenant.
#[utoipa::path(
    post,
    path = "/v1/capsules/{publisher}/{name}/versions/{version}/deprecate",
    operation_id = "deprecate_capsule_version",
    tag = "registry",
    params(("publisher" = String, Path), ("name" = String, Path), ("version" = String, Path)),
    request_body = DeprecateRequest,
    responses((status = 200, description = "Deprecated", body = VersionView), BadRequest, Unauthorized, Forbidden,
        NotFound, Unprocessable, TooManyRequests),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn deprecate_version(
    principal: Principal,
    identity: RequestIdentity,
    path: web::Path<VersionPath>,
    database: web::Data<Database>,
    registry: web::Data<Registry>,
    body: JsonObject<DeprecateRequest>,
) -> Result<HttpResponse, ApiError> {
    let change = Lifecycle::Deprecate { message: body.into_inner().message };
    apply(principal, identity, path.into_inner(), &database, &registry, change).await
}

/// Undeprecate a version
///
/// Removes the deprecation message. Needs `registry:yank` on the owning tenant.
#[utoipa::path(
    post,
    path = "/v1/capsules/{publisher}/{name}/versions/{version}/undeprecate",
    operation_id = "undeprecate_capsule_version",
    tag = "registry",
    params(("publisher" = String, Path), ("name" = String, Path), ("version" = String, Path)),
    responses((status = 200, description = "Undeprecated", body = VersionView), Unauthorized, Forbidden, NotFound,
        TooManyRequests),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn undeprecate_version(
    principal: Principal,
    identity: RequestIdentity,
    path: web::Path<VersionPath>,
    database: web::Data<Database>,
    registry: web::Data<Registry>,
) -> Result<HttpResponse, ApiError> {
    apply(principal, identity, path.into_inner(), &database, &registry, Lifecycle::Undeprecate).await
}
