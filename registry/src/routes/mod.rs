//! HTTP handlers of the registry, one file per concern, mounted under `/v1`.

mod download;
mod lifecycle;
mod publish;
mod read;
mod search;

use actix_web::web;
use serde::Deserialize;
use utoipa::OpenApi;

#[derive(Debug, OpenApi)]
#[openapi(
    paths(
        publish::publish_capsule,
        read::get_capsule,
        read::list_versions,
        read::get_version,
        read::resolve_version,
        download::download_bundle,
        download::download_signature,
        download::download_sbom,
        lifecycle::yank_version,
        lifecycle::unyank_version,
        lifecycle::revoke_version,
        lifecycle::deprecate_version,
        lifecycle::undeprecate_version,
        search::search_capsules,
        search::suggest_capsules,
        search::capsule_stats,
    ),
    components(schemas(crate::search::query::Sort)),
    tags(
        (name = "registry", description = "Signed capsules: publish, read, download, yank, revoke, deprecate"),
        (name = "search", description = "Typo-tolerant search with facets, and ranking by measured performance"),
    )
)]
pub struct ApiDoc;

/// Mounts the registry API; the gateway calls it inside its authenticated `/v1` scope.
pub fn configure(config: &mut web::ServiceConfig) {
    const VERSION: &str = "/capsules/{publisher}/{name}/versions/{version}";
    config
        .service(web::resource("/capsules").route(web::post().to(publish::publish_capsule)))
        .service(web::resource("/search").route(web::get().to(search::search_capsules)))
        .service(web::resource("/search/suggest").route(web::get().to(search::suggest_capsules)))
        .service(
            web::resource("/capsules/{publisher}/{name}/stats").route(web::get().to(search::capsule_stats)),
        )
        .service(web::resource("/capsules/{publisher}/{name}").route(web::get().to(read::get_capsule)))
        .service(
            web::resource("/capsules/{publisher}/{name}/versions").route(web::get().to(read::list_versions)),
        )
        .service(
            web::resource("/capsules/{publisher}/{name}/resolve").route(web::get().to(read::resolve_version)),
        )
        .service(web::resource(VERSION).route(web::get().to(read::get_version)))
        .service(web::resource(format!("{VERSION}/download")).route(web::get().to(download::download_bundle)))
        .service(
            web::resource(format!("{VERSION}/signature")).route(web::get().to(download::download_signature)),
        )
        .service(web::resource(format!("{VERSION}/sbom")).route(web::get().to(download::download_sbom)))
        .service(web::resource(format!("{VERSION}/yank")).route(web::post().to(lifecycle::yank_version)))
        .service(web::resource(format!("{VERSION}/unyank")).route(web::post().to(lifecycle::unyank_version)))
        .service(web::resource(format!("{VERSION}/revoke")).route(web::post().to(lifecycle::revoke_version)))
        .service(
            web::resource(format!("{VERSION}/deprecate")).route(web::post().to(lifecycle::deprecate_version)),
        )
        .service(
            web::resource(format!("{VERSION}/undeprecate"))
                .route(web::post().to(lifecycle::undeprecate_version)),
        );
}

/// `/capsules/{publisher}/{name}/versions/{version}`
#[derive(Debug, Deserialize)]
pub struct VersionPath {
    publisher: String,
    name: String,
    version: String,
}

impl VersionPath {
    fn capsule(&self) -> String {
        format!("{}/{}", self.publisher, self.name)
    }
}
