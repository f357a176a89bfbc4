//! Admission for every `/v1` request: authenticate the API key (`Authorization: Bearer …`
//! or `X-API-Key: …`) into a [`Principal`], then count the request against the key's and
//! the tenant's rate limits. Refusals are problem+json: 401 with `WWW-Authenticate`, 403,
//! or 429 with `Retry-After` and `violated-policies`. Every admitted response carries the
//! `RateLimit-Policy` and `RateLimit` fields.

use crate::rate_limit::{Decision, RateLimitHeaders, RateLimits};
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::{Error, HttpMessage, HttpResponse, ResponseError, web};
use caravan_core::{ApiError, AuthError, ErrorKind, Principal, Problematic};
use caravan_portal_api::KeyStore;
use futures_util::future::{LocalBoxFuture, Ready, ready};
use serde_json::{Map, Value};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");

/// The admission middleware of the `/v1` scope. Written out as a [`Transform`] rather than
/// with `from_fn`: a key found in the authentication cache is admitted without boxing a
/// future, which is most requests; only a cache miss awaits the database.
#[derive(Debug, Clone)]
pub struct Admission {
    key_store: web::Data<KeyStore>,
    limits: web::Data<RateLimits>,
}

impl Admission {
    pub fn new(key_store: web::Data<KeyStore>, limits: web::Data<RateLimits>) -> Self {
        Self { key_store, limits }
    }
}

impl<S, B> Transform<S, ServiceRequest> for Admission
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    S::Future: 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Transform = AdmissionService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(AdmissionService { service: Rc::new(service), admission: self.clone() }))
    }
}

pub struct AdmissionService<S> {
    service: Rc<S>,
    admission: Admission,
}

impl<S> std::fmt::Debug for AdmissionService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdmissionService").field("admission", &self.admission).finish_non_exhaustive()
    }
}

impl<S, B> Service<ServiceRequest> for AdmissionService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    S::Future: 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Future = Admitting<S::Future, B>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let cached = match presented_key(req.headers()) {
            Ok(presented) => self
                .admission
                .key_store
                .authenticate_cached(presented)
                .map(|outcome| outcome.map_err(ApiError::from)),
            Err(refusal) => Some(Err(ApiError::from(refusal))),
        };
        if let Some(outcome) = cached {
            return admit(&self.service, &self.admission.limits, req, outcome);
        }
        let (service, admission) = (Rc::clone(&self.service), self.admission.clone());
        Admitting::Authenticating {
            future: Box::pin(async move {
                let presented = presented_key(req.headers()).map(str::to_owned).unwrap_or_default();
                let outcome = admission.key_store.authenticate(&presented).await.map_err(ApiError::from);
                admit(&service, &admission.limits, req, outcome).await
            }),
        }
    }
}

/// Counts an authenticated request against its limits and forwards it, or refuses it.
fn admit<S, B>(
    service: &S,
    limits: &RateLimits,
    req: ServiceRequest,
    outcome: Result<Principal, ApiError>,
) -> Admitting<S::Future, B>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
{
    let principal = match outcome {
        Ok(principal) => principal,
        Err(refusal) => return Admitting::Refused { response: Some(refuse(req, refusal, None)) },
    };
    let headers = match limits.check(&principal) {
        None => None,
        Some(Decision::Allowed(headers)) => Some(headers),
        Some(Decision::Limited { headers, retry_after_s, violated }) => {
            let refusal = ApiError::from(RateLimited { violated, retry_after_s });
            let mut response = refuse(req, refusal, Some(&headers));
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_s));
            return Admitting::Refused { response: Some(response) };
        }
    };
    req.extensions_mut().insert(principal);
    Admitting::Forwarded { future: service.call(req), headers }
}

pin_project_lite::pin_project! {
    /// A request on its way through admission.
    #[project = AdmittingProjection]
    pub enum Admitting<F, B> {
        Refused { response: Option<ServiceResponse<EitherBody<B>>> },
        Forwarded { #[pin] future: F, headers: Option<RateLimitHeaders> },
        Authenticating { future: LocalBoxFuture<'static, Result<ServiceResponse<EitherBody<B>>, Error>> },
    }
}

impl<F, B> Future for Admitting<F, B>
where
    F: Future<Output = Result<ServiceResponse<B>, Error>>,
{
    type Output = Result<ServiceResponse<EitherBody<B>>, Error>;

    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            AdmittingProjection::Refused { response } => match response.take() {
                Some(response) => Poll::Ready(Ok(response)),
                // Polled again after it answered: there is nothing more to give.
                None => Poll::Pending,
            },
            AdmittingProjection::Forwarded { future, headers } => {
                let mut response = std::task::ready!(future.poll(context))?;
                if let Some(headers) = headers.take() {
                    insert_rate_limit_headers(response.headers_mut(), &headers);
                }
                Poll::Ready(Ok(response.map_into_left_body()))
            }
            AdmittingProjection::Authenticating { future } => future.as_mut().poll(context),
        }
    }
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
