//! Admission for every `/v1` request: authenticate the API key (`Authorization: Bearer …`
//! or `X-API-Key: …`) into a [`Principal`], then count the request against the key's and
//! the tenant's rate limits. Refusals are problem+json: 401 with `WWW-Authenticate`, 403,
//! or 429 with `Retry-After` and `violated-policies`. Every admitted response carries the
//! `RateLimit-Policy` and `RateLimit` fields.

use crate::rate_limit::{Decision, RateLimitHeaders, RateLimits};
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, HttpResponse, ResponseError, web};
use caravan_core::{ApiError, AuthError, ErrorKind, Problematic};
use caravan_portal_api::KeyStore;
use serde_json::{Map, Value};

const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");

pub async fn admission(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let (Some(key_store), Some(limits)) =
        (req.app_data::<web::Data<KeyStore>>().cloned(), req.app_data::<web::Data<RateLimits>>().cloned())
    else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    let cached = match presented_key(req.headers()) {
        Ok(presented) => {
            key_store.authenticate_cached(presented).map(|outcome| outcome.map_err(ApiError::from))
        }
        Err(refusal) => Some(Err(ApiError::from(refusal))),
    };
    let outcome = match cached {
        Some(outcome) => outcome,
        None => {
            let presented = presented_key(req.headers()).map(str::to_owned).unwrap_or_default();
            key_store.authenticate(&presented).await.map_err(ApiError::from)
        }
    };
    let principal = match outcome {
        Ok(principal) => principal,
        Err(refusal) => return Ok(refuse(req, refusal, None)),
    };
    let headers = match limits.check(&principal) {
        None => None,
        Some(Decision::Allowed(headers)) => Some(headers),
        Some(Decision::Limited { headers, retry_after_s, violated }) => {
            let refusal = ApiError::from(RateLimited { violated, retry_after_s });
            let mut response = refuse(req, refusal, Some(&headers));
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_s));
            return Ok(response);
        }
    };
    req.extensions_mut().insert(principal);
    let mut response = next.call(req).await?;
    if let Some(headers) = &headers {
        insert_rate_limit_headers(response.headers_mut(), headers);
    }
    Ok(response.map_into_left_body())
}

/// The key from `Authorization: Bearer …` or `X-API-Key`; never logged.
fn presented_key(headers: &HeaderMap) -> Result<&str, AuthError> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let text = value.to_str().map_err(|_| AuthError::MalformedKey)?;
        let (scheme, token) = text.split_once(' ').ok_or(AuthError::MalformedKey)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(AuthError::MalformedKey);
        }
        return Ok(token.trim());
    }
    match headers.get(X_API_KEY) {
        Some(value) => value.to_str().map(str::trim).map_err(|_| AuthError::MalformedKey),
        None => Err(AuthError::MissingKey),
    }
}

fn refuse<B>(
    req: ServiceRequest,
    error: ApiError,
    headers: Option<&RateLimitHeaders>,
) -> ServiceResponse<EitherBody<B>> {
    let mut response: HttpResponse = error.error_response();
    if error.kind() == ErrorKind::Unauthorized {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"caravan\""));
    }
    if let Some(headers) = headers {
        insert_rate_limit_headers(response.headers_mut(), headers);
    }
    req.into_response(response).map_into_right_body()
}

fn insert_rate_limit_headers(target: &mut HeaderMap, headers: &RateLimitHeaders) {
    target.insert(RATELIMIT_POLICY, headers.policy.clone());
    target.insert(RATELIMIT, headers.current.clone());
}

/// A request over the key's or the tenant's rate.
#[derive(Debug, thiserror::Error)]
#[error("rate limit exceeded for the {} policy; retry in {retry_after_s} s", violated.join(" and "))]
struct RateLimited {
    violated: Vec<&'static str>,
    retry_after_s: u64,
}

impl Problematic for RateLimited {
    fn kind(&self) -> ErrorKind {
        ErrorKind::TooManyRequests
    }
    fn slug(&self) -> &'static str {
        "rate-limited"
    }
    fn title(&self) -> &'static str {
        "Rate limit exceeded"
    }
    fn extensions(&self) -> Map<String, Value> {
        Map::from_iter([("violated-policies".to_owned(), Value::from(self.violated.clone()))])
    }
}
