//! HTTP handlers of the portal API, one file per action, mounted under `/v1`.

mod audit;
mod invitations;
mod keys;
mod publisher_keys;
mod tenants;
mod whoami;

use actix_web::web;
use utoipa::OpenApi;

#[derive(Debug, OpenApi)]
#[openapi(
    paths(
        whoami::show_whoami,
        tenants::create::create_tenant,
        tenants::list::list_tenants,
        tenants::get::get_tenant,
        tenants::update::update_tenant,
        keys::create::create_key,
        keys::list::list_keys,
        keys::get::get_key,
        keys::rotate::rotate_key,
        keys::revoke::revoke_key,
        audit::list_audit_events,
        publisher_keys::register::register_publisher_key,
        publisher_keys::list::list_publisher_keys,
        publisher_keys::retire::retire_publisher_key,
        invitations::create_invitation,
    ),
    tags(
        (name = "identity", description = "Who the caller is"),
        (name = "tenants", description = "Organisations using this installation (operator only)"),
        (name = "keys", description = "API keys: scopes, expiry, rotation, revocation"),
        (name = "audit", description = "The tamper-evident log of every change"),
        (name = "publishers", description = "Namespaces and the public keys that sign their capsules"),
        (name = "members", description = "People who sign in to the web portal at /portal"),
    )
)]
pub struct ApiDoc;

/// Mounts the portal API; the gateway calls it inside its authenticated `/v1` scope.
pub fn configure(config: &mut web::ServiceConfig) {
    config
        .service(web::resource("/whoami").route(web::get().to(whoami::show_whoami)))
        .service(
            web::resource("/tenants")
                .route(web::post().to(tenants::create::create_tenant))
                .route(web::get().to(tenants::list::list_tenants)),
        )
        .service(
            web::resource("/tenants/{tenant_id}")
                .route(web::get().to(tenants::get::get_tenant))
                .route(web::patch().to(tenants::update::update_tenant)),
        )
        .service(
            web::resource("/keys")
                .route(web::post().to(keys::create::create_key))
                .route(web::get().to(keys::list::list_keys)),
        )
        .service(web::resource("/keys/{key_id}").route(web::get().to(keys::get::get_key)))
        .service(web::resource("/keys/{key_id}/rotate").route(web::post().to(keys::rotate::rotate_key)))
        .service(web::resource("/keys/{key_id}/revoke").route(web::post().to(keys::revoke::revoke_key)))
        .service(web::resource("/audit").route(web::get().to(audit::list_audit_events)))
        .service(web::resource("/invitations").route(web::post().to(invitations::create_invitation)))
        .service(
            web::resource("/namespaces/{namespace}/keys")
                .route(web::post().to(publisher_keys::register::register_publisher_key))
                .route(web::get().to(publisher_keys::list::list_publisher_keys)),
        )
        .service(
            web::resource("/namespaces/{namespace}/keys/{key_id}/retire")
                .route(web::post().to(publisher_keys::retire::retire_publisher_key)),
        );
}

/// Parses a path id or answers 404: a malformed id names no object.
fn path_id<T>(
    raw: &str,
    parse: impl FnOnce(&str) -> Result<T, caravan_core::id::IdError>,
    not_found: impl FnOnce(String) -> crate::error::PortalError,
) -> Result<T, crate::error::PortalError> {
    parse(raw).map_err(|_| not_found(raw.to_owned()))
}

fn context(identity: &caravan_core::RequestIdentity) -> crate::service::RequestContext {
    crate::service::RequestContext { request_id: Some(identity.as_str().to_owned()) }
}
