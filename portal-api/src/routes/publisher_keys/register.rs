//! `POST /v1/namespaces/{namespace}/keys`

use crate::service::publisher_keys::{self, NewPublisherKey};
use crate::views::PublisherKeyView;
use actix_web::{HttpResponse, web};
use caravan_core::error::responses::{
    BadRequest, Conflict, Forbidden, TooManyRequests, Unauthorized, Unprocessable,
};
use caravan_core::{ApiError, Database, JsonObject, Principal, RequestIdentity};
use serde::Deserialize;
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({ "name": "release signing", "public_key_pem": "-----BEGIN PUBLIC KEY-----\n…\n-----END PUBLIC KEY-----\n" }))]
pub struct RegisterPublisherKeyRequest {
    /// 1 to 100 characters, to recognise the key.
    pub name: String,
    /// An ECDSA P-256 public key in PEM (`caravan keygen`, `cosign generate-key-pair` or
    /// `openssl pkey -pubout` make one).
    pub public_key_pem: String,
}

/// Register a signing key
///
/// Needs `registry:publish`. The first key registered for a namespace claims it for the
/// caller's tenant; a namespace another tenant owns answers 409.
#[utoipa::path(
    post,
    path = "/v1/namespaces/{namespace}/keys",
    operation_id = "register_publisher_key",
    tag = "publishers",
    params(("namespace" = String, Path, description = "The publisher part of capsule names, e.g. `acme`")),
    request_body = RegisterPublisherKeyRequest,
    responses((status = 201, description = "Registered", body = PublisherKeyView), BadRequest, Unauthorized, Forbidden,
        Conflict, Unprocessable, TooManyRequests),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn register_publisher_key(
    principal: Principal,
    identity: RequestIdentity,
    path: web::Path<String>,
    database: web::Data<Database>,
    body: JsonObject<RegisterPublisherKeyRequest>,
) -> Result<HttpResponse, ApiError> {
    let namespace = path.into_inner();
    let body = body.into_inner();
    let context = super::super::context(&identity);
    let request = NewPublisherKey { name: body.name, public_key_pem: body.public_key_pem };
    let key = database
        .run(move |connection| {
            publisher_keys::register(connection, &principal, &namespace, request, &context)
        })
        .await?;
    Ok(HttpResponse::Created().json(PublisherKeyView::from(key)))
}
