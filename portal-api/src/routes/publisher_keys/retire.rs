//! `POST /v1/namespaces/{namespace}/keys/{key_id}/retire`

use crate::error::PortalError;
use crate::service::publisher_keys;
use crate::views::PublisherKeyView;
use actix_web::{HttpResponse, web};
use caravan_core::error::responses::{Forbidden, NotFound, TooManyRequests, Unauthorized, Unprocessable};
use caravan_core::id::PublisherKeyId;
use caravan_core::{ApiError, Database, Principal, RequestIdentity};

/// Retire a signing key
///
/// Needs `registry:publish`. The key signs no new version; versions it signed stay valid.
#[utoipa::path(
    post,
    path = "/v1/namespaces/{namespace}/keys/{key_id}/retire",
    operation_id = "retire_publisher_key",
    tag = "publishers",
    params(
        ("namespace" = String, Path, description = "The publisher part of capsule names"),
        ("key_id" = String, Path, description = "Publisher key id, `pkey_…`"),
    ),
    responses((status = 200, description = "The retired key", body = PublisherKeyView), Unauthorized, Forbidden, NotFound,
        Unprocessable, TooManyRequests),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn retire_publisher_key(
    principal: Principal,
    identity: RequestIdentity,
    path: web::Path<(String, String)>,
    database: web::Data<Database>,
) -> Result<HttpResponse, ApiError> {
    let (namespace, raw_id) = path.into_inner();
    let id = super::super::path_id(&raw_id, PublisherKeyId::parse, PortalError::PublisherKeyNotFound)?;
    let context = super::super::context(&identity);
    let key = database
        .run(move |connection| publisher_keys::retire(connection, &principal, &namespace, &id, &context))
        .await?;
    Ok(HttpResponse::Ok().json(PublisherKeyView::from(key)))
}
