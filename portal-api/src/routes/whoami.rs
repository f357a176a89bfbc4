//! `GET /v1/whoami`: the tenant, key and scopes the gateway authenticated.

use crate::views::Whoami;
use actix_web::HttpResponse;
use actix_web::http::header::{self, HeaderValue};
use actix_web::web::Bytes;
use caravan_core::error::responses::{TooManyRequests, Unauthorized};
use caravan_core::{ApiError, Principal};

/// Who am I
///
/// The tenant, key id, scopes and plan of the calling key. Needs no scope.
#[utoipa::path(
    get,
    path = "/v1/whoami",
    operation_id = "show_whoami",
    tag = "identity",
    responses((status = 200, description = "The caller", body = Whoami), Unauthorized, TooManyRequests),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn show_whoami(principal: Principal) -> Result<HttpResponse, ApiError> {
    let key_id = principal.require_key()?;
    // The same key always gets the same answer: it is serialized once per principal.
    let body = principal.description(|details| {
        let whoami = Whoami {
            tenant_id: &details.tenant_id,
            key_id,
            scopes: details.scopes,
            capsule_patterns: &details.capsule_patterns,
            plan: &details.plan,
            operator: details.operator,
        };
        // Strings, booleans and a list of names always serialize.
        serde_json::to_vec(&whoami).map(Bytes::from).unwrap_or_default()
    });
    Ok(HttpResponse::Ok().insert_header((header::CONTENT_TYPE, APPLICATION_JSON)).body(body))
}

const APPLICATION_JSON: HeaderValue = HeaderValue::from_static("application/json");
