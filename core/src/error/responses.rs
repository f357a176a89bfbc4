//! The problem+json responses operations share, for their `#[utoipa::path]` lists.

use super::Problem;
use utoipa::IntoResponses;

/// 400: a malformed request (bad JSON, query, path or cursor).
#[derive(Debug, IntoResponses)]
#[response(status = 400, description = "Malformed request", content_type = "application/problem+json")]
pub struct BadRequest(pub Problem);

/// 401: the API key is missing, malformed, unknown, expired or revoked.
#[derive(Debug, IntoResponses)]
#[response(
    status = 401,
    description = "Missing, malformed, unknown, expired or revoked API key",
    content_type = "application/problem+json"
)]
pub struct Unauthorized(pub Problem);

/// 403: the key lacks a scope (named in `required-scope`) or its tenant is suspended.
#[derive(Debug, IntoResponses)]
#[response(
    status = 403,
    description = "The key lacks the scope, or its tenant is suspended",
    content_type = "application/problem+json"
)]
pub struct Forbidden(pub Problem);

/// 404: no such object, or it belongs to another tenant.
#[derive(Debug, IntoResponses)]
#[response(
    status = 404,
    description = "Not found, or another tenant's",
    content_type = "application/problem+json"
)]
pub struct NotFound(pub Problem);

/// 409: the request conflicts with the object's state.
#[derive(Debug, IntoResponses)]
#[response(
    status = 409,
    description = "Conflicts with the current state",
    content_type = "application/problem+json"
)]
pub struct Conflict(pub Problem);

/// 422: well-formed but refused content; `detail` says why.
#[derive(Debug, IntoResponses)]
#[response(status = 422, description = "Refused content", content_type = "application/problem+json")]
pub struct Unprocessable(pub Problem);

/// 429: a rate limit is exhausted; `violated-policies` names it and `Retry-After` says
/// when to come back.
#[derive(Debug, IntoResponses)]
#[response(
    status = 429,
    description = "Rate limited; see Retry-After and violated-policies",
    content_type = "application/problem+json"
)]
pub struct TooManyRequests(pub Problem);

/// 410: the object was withdrawn for good; `reason` says why.
#[derive(Debug, IntoResponses)]
#[response(status = 410, description = "Withdrawn (revoked)", content_type = "application/problem+json")]
pub struct Gone(pub Problem);

/// 413: the body, or a part of it, is larger than the limit.
#[derive(Debug, IntoResponses)]
#[response(status = 413, description = "Too large", content_type = "application/problem+json")]
pub struct PayloadTooLarge(pub Problem);

/// 416: the requested byte range lies outside the object.
#[derive(Debug, IntoResponses)]
#[response(status = 416, description = "Range not satisfiable", content_type = "application/problem+json")]
pub struct RangeNotSatisfiable(pub Problem);
