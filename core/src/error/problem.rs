//! The RFC 9457 problem details body.

use actix_web::{HttpResponse, http::StatusCode, http::header::CONTENT_TYPE};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An RFC 9457 problem details object.
///
/// `type` is a stable, relative URI `/problems/<slug>` that clients can match on; `title`
/// is the same for every occurrence of a type; `detail` explains this occurrence.
/// Problem types may add extension members (for example `violated-policies` on 429).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "type": "/problems/invalid-json",
    "title": "Malformed JSON body",
    "status": 400,
    "detail": "expected `,` or `}` at line 1 column 12"
}))]
pub struct Problem {
    /// Identifies the problem type; stable across releases.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// Short summary of the problem type.
    pub title: String,
    /// The HTTP status code, repeated for convenience.
    pub status: u16,
    /// What went wrong in this occurrence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Members specific to the problem type.
    #[serde(flatten)]
    #[schema(additional_properties)]
    pub extensions: Map<String, Value>,
}

impl Problem {
    pub fn into_response(self) -> HttpResponse {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        // Serializing a map of strings and numbers cannot fail; an empty body is the
        // conservative answer if it ever did.
        let body = serde_json::to_vec(&self).unwrap_or_default();
        HttpResponse::build(status).insert_header((CONTENT_TYPE, PROBLEM_JSON)).body(body)
    }
}
