//! Reading the catalog: a capsule, its versions, one version, and version resolution.
//! Any key with `registry:read` may read every capsule.

use super::VersionPath;
use crate::service;
use crate::views::{CapsuleView, VersionList, VersionSummary, VersionView};
use actix_web::{HttpResponse, web};
use caravan_core::error::responses::{BadRequest, Forbidden, NotFound, TooManyRequests, Unauthorized};
use caravan_core::{ApiError, Database, Principal, Scope};
use serde::Deserialize;
use utoipa::IntoParams;

#[derive(Debug, Deserialize)]
pub struct CapsulePath {
    publisher: String,
    name: String,
}

impl CapsulePath {
    pub(super) fn capsule(&self) -> String {
        format!("{}/{}", self.publisher, self.name)
    }
}

/// Get a capsule
///
/// Needs `registry:read`.
#[utoipa::path(
    get,
    path = "/v1/capsules/{publisher}/{name}",
    operation_id = "get_capsule",
    tag = "registry",
    params(("publisher" = String, Path), ("name" = String, Path)),
    responses((status = 200, description = "The capsule", body = CapsuleView), Unauthorized, Forbidden, NotFound,
        TooManyRequests),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn get_capsule(
    principal: Principal,
    path: web::Path<CapsulePath>,
    database: web::Data<Database>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::RegistryRead)?;
    let name = path.capsule();
    let (capsule, versions) = database.run(move |connection| service::capsule(connection, &name)).await?;
    Ok(HttpResponse::Ok().json(CapsuleView::new(capsule, &versions)))
}

/// List a capsule's versions
///
/// Needs `registry:read`. Newest first; yanked and revoked versions are listed with
/// their status.
#[utoipa::path(
    get,
    path = "/v1/capsules/{publisher}/{name}/versions",
    operation_id = "list_capsule_versions",
    tag = "registry",
    params(("publisher" = String, Path), ("name" = String, Path)),
    responses((status = 200, description = "The versions", body = VersionList), Unauthorized, Forbidden, NotFound,
        TooManyRequests),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn list_versions(
    principal: Principal,
    path: web::Path<CapsulePath>,
    database: web::Data<Database>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::RegistryRead)?;
    let name = path.capsule();
    let lookup = name.clone();
    let (_, versions) = database.run(move |connection| service::capsule(connection, &lookup)).await?;
    let versions = service::newest_first(versions).iter().map(VersionSummary::from).collect();
    Ok(HttpResponse::Ok().json(VersionList { capsule: name, versions }))
}

/// Get a version
///
/// Needs `registry:read`. Shows the manifest, digest, size, signer, SBOM summary,
/// admission decision and status; a revoked version shows its reason.
#[utoipa::path(
    get,
    path = "/v1/capsules/{publisher}/{name}/versions/{version}",
    operation_id = "get_capsule_version",
    tag = "registry",
    params(("publisher" = String, Path), ("name" = String, Path), ("version" = String, Path)),
    responses((status = 200, description = "The version", body = VersionView), Unauthorized, Forbidden, NotFound,
        TooManyRequests),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn get_version(
    principal: Principal,
    path: web::Path<VersionPath>,
    database: web::Data<Database>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::RegistryRead)?;
    let path = path.into_inner();
    let row =
        database.run(move |connection| service::version(connection, &path.capsule(), &path.version)).await?;
    Ok(HttpResponse::Ok().json(VersionView::from(row)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ResolveQuery {
    /// A semver requirement such as `^1.2`, `~0.3.1`, `>=1, <3` or `*`.
    #[param(example = "^1.2")]
    req: String,
}

/// Resolve a version requirement
///
/// Needs `registry:read`. Answers the newest version matching the requirement that is
/// neither yanked nor revoked.
#[utoipa::path(
    get,
    path = "/v1/capsules/{publisher}/{name}/resolve",
    operation_id = "resolve_capsule_version",
    tag = "registry",
    params(("publisher" = String, Path), ("name" = String, Path), ResolveQuery),
    responses((status = 200, description = "The matching version", body = VersionView), BadRequest, Unauthorized,
        Forbidden, NotFound, TooManyRequests),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn resolve_version(
    principal: Principal,
    path: web::Path<CapsulePath>,
    query: web::Query<ResolveQuery>,
    database: web::Data<Database>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::RegistryRead)?;
    let name = path.capsule();
    let requirement = query.into_inner().req;
    let row = database.run(move |connection| service::resolve(connection, &name, &requirement)).await?;
    Ok(HttpResponse::Ok().json(VersionView::from(row)))
}
