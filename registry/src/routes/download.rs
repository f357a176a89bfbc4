//! Downloads: a version's bundle (with `Digest`, `Repr-Digest` and `ETag`, conditional
//! and single-range requests), its signature and its SBOM. Yanked versions download;
//! revoked ones answer 410 with the reason.

use super::VersionPath;
use crate::Registry;
use crate::db::capsules::VersionRow;
use crate::error::RegistryError;
use crate::service;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use caravan_core::error::responses::{
    Forbidden, Gone, NotFound, RangeNotSatisfiable, TooManyRequests, Unauthorized,
};
use caravan_core::{ApiError, Database, Principal, Scope};
use std::ops::Range;
use utoipa::ToSchema;

/// A bundle's bytes: a gzip-compressed tar archive, exactly as signed.
#[derive(Debug, ToSchema)]
#[schema(value_type = String, format = Binary)]
#[allow(dead_code)] // describes the response body only
pub struct BundleBytes(Vec<u8>);

/// Download a version's bundle
///
/// Needs `registry:read`. The body is the exact bytes that were signed; `Digest`,
/// `Repr-Digest` and the strong `ETag` carry their SHA-256. Supports `If-None-Match` and
/// a single `Range`. A revoked version answers 410 with its reason.
#[utoipa::path(
    get,
    path = "/v1/capsules/{publisher}/{name}/versions/{version}/download",
    operation_id = "download_capsule_version",
    tag = "registry",
    params(("publisher" = String, Path), ("name" = String, Path), ("version" = String, Path),
        ("Range" = Option<String>, Header, description = "One byte range, e.g. `bytes=0-1023`")),
    responses(
        (status = 200, description = "The bundle", content_type = "application/gzip", body = BundleBytes),
        (status = 206, description = "The requested range", content_type = "application/gzip", body = BundleBytes),
        (status = 304, description = "Not modified (If-None-Match)"),
        Unauthorized, Forbidden, NotFound, Gone, RangeNotSatisfiable, TooManyRequests),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn download_bundle(
    principal: Principal,
    request: HttpRequest,
    path: web::Path<VersionPath>,
    registry: web::Data<Registry>,
    database: web::Data<Database>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::RegistryRead)?;
    let version = find(&database, path.into_inner()).await?;
    if version.revoked_at.is_some() {
        return Err(RegistryError::Revoked {
            capsule: version.capsule_name,
            version: version.version,
            reason: version.revoked_reason.unwrap_or_default(),
        }
        .into());
    }
    let etag = format!("\"{}\"", version.digest);
    if if_none_match(&request, &etag) {
        return Ok(HttpResponse::NotModified().insert_header((header::ETAG, etag)).finish());
    }
    let mut response = HttpResponse::Ok();
    response
        .content_type("application/gzip")
        .insert_header((header::ETAG, etag))
        .insert_header((header::ACCEPT_RANGES, "bytes"))
        .insert_header(("Digest", format!("sha-256={}", digest_base64(&version.digest))))
        .insert_header(("Repr-Digest", format!("sha-256=:{}:", digest_base64(&version.digest))))
        .insert_header((header::CONTENT_DISPOSITION, attachment_name(&version)));
    let size = u64::try_from(version.size_bytes).unwrap_or_default();
    match requested_range(&request, size) {
        Some(Ok(range)) => {
            let bytes = registry
                .blobs
                .get_range(&version.digest, range.clone())
                .await
                .map_err(RegistryError::from)?;
            let content_range = format!("bytes {}-{}/{size}", range.start, range.end - 1);
            Ok(response
                .status(actix_web::http::StatusCode::PARTIAL_CONTENT)
                .insert_header((header::CONTENT_RANGE, content_range))
                .body(bytes))
        }
        Some(Err(raw)) => {
            Err(RegistryError::RangeNotSatisfiable { range: raw, size: version.size_bytes }.into())
        }
        None => {
            let stream = registry.blobs.stream(&version.digest).await.map_err(RegistryError::from)?;
            response.no_chunking(size);
            Ok(response.streaming(stream))
        }
    }
}

/// Get a version's signature
///
/// Needs `registry:read`. The base64 signature over the bundle's bytes, as sent at
/// publish time; check it with the signer key's PEM (`caravan verify`).
#[utoipa::path(
    get,
    path = "/v1/capsules/{publisher}/{name}/versions/{version}/signature",
    operation_id = "get_capsule_signature",
    tag = "registry",
    params(("publisher" = String, Path), ("name" = String, Path), ("version" = String, Path)),
    responses((status = 200, description = "The signature", content_type = "text/plain", body = String),
        Unauthorized, Forbidden, NotFound, TooManyRequests),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn download_signature(
    principal: Principal,
    path: web::Path<VersionPath>,
    database: web::Data<Database>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::RegistryRead)?;
    let version = find(&database, path.into_inner()).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .insert_header(("X-Signer-Key-Id", version.signer_key_id.to_string()))
        .body(format!("{}\n", version.signature)))
}

/// Get a version's SBOM
///
/// Needs `registry:read`. The CycloneDX JSON document sent at publish time.
#[utoipa::path(
    get,
    path = "/v1/capsules/{publisher}/{name}/versions/{version}/sbom",
    operation_id = "get_capsule_sbom",
    tag = "registry",
    params(("publisher" = String, Path), ("name" = String, Path), ("version" = String, Path)),
    responses((status = 200, description = "The SBOM", content_type = "application/vnd.cyclonedx+json", body = Object),
        Unauthorized, Forbidden, NotFound, TooManyRequests),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn download_sbom(
    principal: Principal,
    path: web::Path<VersionPath>,
    registry: web::Data<Registry>,
    database: web::Data<Database>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::RegistryRead)?;
    let version = find(&database, path.into_inner()).await?;
    let digest = version
        .sbom_digest
        .ok_or_else(|| RegistryError::NoSbom(format!("{} {}", version.capsule_name, version.version)))?;
    let bytes = registry.blobs.get(&digest).await.map_err(RegistryError::from)?;
    Ok(HttpResponse::Ok()
        .content_type("application/vnd.cyclonedx+json")
        .insert_header((header::ETAG, format!("\"{digest}\"")))
        .body(bytes))
}

async fn find(database: &Database, path: VersionPath) -> Result<VersionRow, RegistryError> {
    database.run(move |connection| service::version(connection, &path.capsule(), &path.version)).await
}

fn if_none_match(request: &HttpRequest, etag: &str) -> bool {
    request.headers().get(header::IF_NONE_MATCH).and_then(|value| value.to_str().ok()).is_some_and(|value| {
        value.split(',').map(str::trim).any(|candidate| candidate == etag || candidate == "*")
    })
}

/// The one byte range asked for: `None` when there is no usable `Range` header (a
/// malformed or multi-range header is ignored and the whole bundle sent, as RFC 9110
/// allows), `Some(Err)` when the range lies outside the bundle.
fn requested_range(request: &HttpRequest, size: u64) -> Option<Result<Range<u64>, String>> {
    let raw = request.headers().get(header::RANGE)?.to_str().ok()?.trim();
    let spec = raw.strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (start, end) = spec.split_once('-')?;
    let range = match (start.trim(), end.trim()) {
        ("", suffix) => {
            let length: u64 = suffix.parse().ok()?;
            (size.saturating_sub(length))..size
        }
        (start, "") => start.parse().ok()?..size,
        (start, end) => {
            let (start, end): (u64, u64) = (start.parse().ok()?, end.parse().ok()?);
            if end < start {
                return None;
            }
            start..end.saturating_add(1).min(size)
        }
    };
    if range.start >= size || range.is_empty() { Some(Err(raw.to_owned())) } else { Some(Ok(range)) }
}

fn digest_base64(digest: &str) -> String {
    let hex = digest.trim_start_matches("sha256:");
    let bytes = hex::decode(hex).unwrap_or_default();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn attachment_name(version: &VersionRow) -> String {
    let short_name = version.capsule_name.rsplit('/').next().unwrap_or(&version.capsule_name);
    format!("attachment; filename=\"{short_name}-{}.capsule\"", version.version)
}
