//! `GET /v1/namespaces/{namespace}/keys`

use crate::service::publisher_keys;
use crate::views::{PublisherKeyList, PublisherKeyView};
use actix_web::{HttpResponse, web};
use caravan_core::error::responses::{Forbidden, NotFound, TooManyRequests, Unauthorized};
use caravan_core::{ApiError, Database, Principal};

/// List signing keys
///
/// Needs `registry:read` or `registry:publish`; only the owning tenant sees a namespace.
#[utoipa::path(
    get,
    path = "/v1/namespaces/{namespace}/keys",
    operation_id = "list_publisher_keys",
    tag = "publishers",
    params(("namespace" = String, Path, description = "The publisher part of capsule names")),
    responses((status = 200, description = "The namespace's keys, oldest first", body = PublisherKeyList), Unauthorized,
        Forbidden, NotFound, TooManyRequests),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn list_publisher_keys(
    principal: Principal,
    path: web::Path<String>,
    database: web::Data<Database>,
) -> Result<HttpResponse, ApiError> {
    let namespace = path.into_inner();
    let keys =
        database.run(move |connection| publisher_keys::list(connection, &principal, &namespace)).await?;
    Ok(HttpResponse::Ok()
        .json(PublisherKeyList { data: keys.into_iter().map(PublisherKeyView::from).collect() }))
}
