//! problem+json answers for what actix-web refuses before a handler runs: malformed JSON,
//! wrong content types, bad query strings and path parameters, oversize bodies, unknown
//! routes and wrong methods.

use super::{ApiError, ErrorKind, PROBLEM_JSON, Problematic};
use actix_web::{
    HttpRequest, HttpResponse,
    body::EitherBody,
    dev::ServiceResponse,
    error::{JsonPayloadError, PathError, PayloadError, QueryPayloadError, UrlencodedError},
    http::{
        StatusCode,
        header::{ALLOW, CONTENT_TYPE, HeaderValue},
    },
    middleware::ErrorHandlerResponse,
    web,
};
use serde_json::{Map, Value};
use std::collections::HashMap;
use thiserror::Error;

/// The methods each route pattern answers (`/v1/keys/{key_id}` → `GET, POST`), for the
/// `Allow` header every 405 must carry. Registered as app data by the gateway.
#[derive(Debug, Default, Clone)]
pub struct AllowedMethods(pub HashMap<String, String>);

/// The `Allow` value for the route `req` matched, if known.
fn allow_header(req: &HttpRequest) -> Option<HeaderValue> {
    let methods = req.app_data::<web::Data<AllowedMethods>>()?;
    let allowed = methods.0.get(req.match_pattern()?.as_str())?;
    HeaderValue::from_str(allowed).ok()
}

/// A request refused by the framework's extractors or router.
#[derive(Debug, Error)]
pub enum RequestError {
    #[error("the request body is not valid JSON: {0}")]
    InvalidJson(String),
    #[error("the request body must be sent as {expected}")]
    UnsupportedMediaType { expected: &'static str },
    #[error("the request body is larger than the limit{}", limit.map(|bytes| format!(" of {bytes} bytes")).unwrap_or_default())]
    PayloadTooLarge { limit: Option<usize> },
    #[error("the request body could not be read: {0}")]
    UnreadableBody(String),
    #[error("the query string is invalid: {0}")]
    InvalidQuery(String),
    #[error("the form body is invalid: {0}")]
    InvalidForm(String),
    #[error("the path parameter is invalid: {0}")]
    InvalidPath(String),
    #[error("no route matches {method} {path}")]
    RouteNotFound { method: String, path: String },
    #[error("{method} is not allowed on {path}")]
    MethodNotAllowed { method: String, path: String },
    /// Any other refusal the framework produced without a body of ours.
    #[error("the request was refused: {reason}")]
    Refused { kind: ErrorKind, reason: &'static str },
}

impl Problematic for RequestError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::InvalidJson(_) | Self::UnreadableBody(_) => ErrorKind::BadRequest,
            Self::InvalidQuery(_) | Self::InvalidForm(_) | Self::InvalidPath(_) => ErrorKind::BadRequest,
            Self::UnsupportedMediaType { .. } => ErrorKind::UnsupportedMediaType,
            Self::PayloadTooLarge { .. } => ErrorKind::PayloadTooLarge,
            Self::RouteNotFound { .. } => ErrorKind::NotFound,
            Self::MethodNotAllowed { .. } => ErrorKind::MethodNotAllowed,
            Self::Refused { kind, .. } => *kind,
        }
    }

    fn slug(&self) -> &'static str {
        match self {
            Self::InvalidJson(_) => "invalid-json",
            Self::UnsupportedMediaType { .. } => "unsupported-media-type",
            Self::PayloadTooLarge { .. } => "payload-too-large",
            Self::UnreadableBody(_) => "unreadable-body",
            Self::InvalidQuery(_) => "invalid-query",
            Self::InvalidForm(_) => "invalid-form",
            Self::InvalidPath(_) => "invalid-path",
            Self::RouteNotFound { .. } => "route-not-found",
            Self::MethodNotAllowed { .. } => "method-not-allowed",
            Self::Refused { kind, .. } if kind.is_server_error() => "internal",
            Self::Refused { .. } => "request-refused",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            Self::InvalidJson(_) => "Malformed JSON body",
            Self::UnsupportedMediaType { .. } => "Unsupported media type",
            Self::PayloadTooLarge { .. } => "Request body too large",
            Self::UnreadableBody(_) => "Unreadable request body",
            Self::InvalidQuery(_) => "Invalid query string",
            Self::InvalidForm(_) => "Invalid form body",
            Self::InvalidPath(_) => "Invalid path parameter",
            Self::RouteNotFound { .. } => "Route not found",
            Self::MethodNotAllowed { .. } => "Method not allowed",
            Self::Refused { kind, .. } if kind.is_server_error() => "Internal error",
            Self::Refused { .. } => "Request refused",
        }
    }

    fn extensions(&self) -> Map<String, Value> {
        match self {
            Self::PayloadTooLarge { limit: Some(limit) } => {
                Map::from_iter([("limit".to_owned(), Value::from(*limit))])
            }
            _ => Map::new(),
        }
    }
}

/// JSON bodies up to `limit` bytes; every refusal is problem+json.
pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default().limit(limit).error_handler(move |error, _req| {
        let refusal = match error {
            JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
                RequestError::PayloadTooLarge { limit: Some(limit) }
            }
            JsonPayloadError::ContentType => {
                RequestError::UnsupportedMediaType { expected: "application/json" }
            }
            JsonPayloadError::Deserialize(cause) => RequestError::InvalidJson(cause.to_string()),
            JsonPayloadError::Payload(cause) => payload_refusal(cause, limit),
            other => RequestError::UnreadableBody(other.to_string()),
        };
        ApiError::from(refusal).into()
    })
}

/// Raw bodies (`Bytes`, `String`) up to `limit` bytes.
pub fn payload_config(limit: usize) -> web::PayloadConfig {
    web::PayloadConfig::new(limit)
}

/// Form bodies up to `limit` bytes.
pub fn form_config(limit: usize) -> web::FormConfig {
    web::FormConfig::default().limit(limit).error_handler(move |error, _req| {
        let refusal = match error {
            UrlencodedError::Overflow { .. } => RequestError::PayloadTooLarge { limit: Some(limit) },
            UrlencodedError::ContentType => {
                RequestError::UnsupportedMediaType { expected: "application/x-www-form-urlencoded" }
            }
            UrlencodedError::Payload(cause) => payload_refusal(cause, limit),
            other => RequestError::InvalidForm(other.to_string()),
        };
        ApiError::from(refusal).into()
    })
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|error, _req| {
        let QueryPayloadError::Deserialize(cause) = &error else {
            return ApiError::from(RequestError::InvalidQuery(error.to_string())).into();
        };
        ApiError::from(RequestError::InvalidQuery(cause.to_string())).into()
    })
}

pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|error, _req| {
        let PathError::Deserialize(cause) = &error else {
            return ApiError::from(RequestError::InvalidPath(error.to_string())).into();
        };
        ApiError::from(RequestError::InvalidPath(cause.to_string())).into()
    })
}

fn payload_refusal(cause: PayloadError, limit: usize) -> RequestError {
    match cause {
        PayloadError::Overflow => RequestError::PayloadTooLarge { limit: Some(limit) },
        other => RequestError::UnreadableBody(other.to_string()),
    }
}

/// The app's default service: an unknown route is a problem+json 404.
pub async fn route_not_found(req: HttpRequest) -> HttpResponse {
    let refusal =
        RequestError::RouteNotFound { method: req.method().to_string(), path: req.path().to_owned() };
    ApiError::from(refusal).problem().into_response()
}

/// Turns every error response that is not problem+json yet (actix's empty 405, the 413 of
/// a raw body extractor, …) into one, keeping its status where a problem kind has it (any
/// other becomes 400, or 500 for a server error); the portal's HTML error pages pass
/// through. The gateway's outermost middleware calls it on every error response, so
/// no API refusal reaches a client in another format.
pub fn as_problem<B>(res: ServiceResponse<B>) -> ServiceResponse<EitherBody<B>> {
    let already_answered = res.headers().get(CONTENT_TYPE).is_some_and(|value| {
        value.as_bytes() == PROBLEM_JSON.as_bytes() || value.as_bytes().starts_with(b"text/html")
    });
    if already_answered {
        return res.map_into_left_body();
    }
    let (req, response) = res.into_parts();
    let refusal = refusal_for_status(&req, response.status());
    let mut response = ApiError::from(refusal).problem().into_response();
    if response.status() == StatusCode::METHOD_NOT_ALLOWED
        && let Some(allow) = allow_header(&req)
    {
        response.headers_mut().insert(ALLOW, allow);
    }
    ServiceResponse::new(req, response).map_into_right_body()
}

/// [`as_problem`] as the default handler of actix's `ErrorHandlers`, for apps without the
/// gateway's middleware.
pub fn problem_fallback<B>(res: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    Ok(ErrorHandlerResponse::Response(as_problem(res)))
}

fn refusal_for_status(req: &HttpRequest, status: StatusCode) -> RequestError {
    let method = req.method().to_string();
    let path = req.path().to_owned();
    let reason = status.canonical_reason().unwrap_or("unknown reason");
    match status {
        StatusCode::NOT_FOUND => RequestError::RouteNotFound { method, path },
        StatusCode::METHOD_NOT_ALLOWED => RequestError::MethodNotAllowed { method, path },
        StatusCode::PAYLOAD_TOO_LARGE => RequestError::PayloadTooLarge { limit: None },
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            RequestError::Refused { kind: ErrorKind::UnsupportedMediaType, reason }
        }
        StatusCode::UNAUTHORIZED => RequestError::Refused { kind: ErrorKind::Unauthorized, reason },
        StatusCode::FORBIDDEN => RequestError::Refused { kind: ErrorKind::Forbidden, reason },
        StatusCode::CONFLICT => RequestError::Refused { kind: ErrorKind::Conflict, reason },
        StatusCode::GONE => RequestError::Refused { kind: ErrorKind::Gone, reason },
        StatusCode::RANGE_NOT_SATISFIABLE => {
            RequestError::Refused { kind: ErrorKind::RangeNotSatisfiable, reason }
        }
        StatusCode::UNPROCESSABLE_ENTITY => RequestError::Refused { kind: ErrorKind::Unprocessable, reason },
        StatusCode::TOO_MANY_REQUESTS => RequestError::Refused { kind: ErrorKind::TooManyRequests, reason },
        StatusCode::SERVICE_UNAVAILABLE => RequestError::Refused { kind: ErrorKind::Unavailable, reason },
        StatusCode::BAD_GATEWAY => RequestError::Refused { kind: ErrorKind::BadGateway, reason },
        StatusCode::GATEWAY_TIMEOUT => RequestError::Refused { kind: ErrorKind::GatewayTimeout, reason },
        status if status.is_server_error() => RequestError::Refused { kind: ErrorKind::Internal, reason },
        _ => RequestError::Refused { kind: ErrorKind::BadRequest, reason },
    }
}

#[cfg(test)]
mod tests {
    //! The configurations the gateway installs, exercised through a real actix service.
    use super::*;
    use actix_web::middleware::ErrorHandlers;
    use actix_web::{App, test};
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    struct Greeting {
        #[allow(dead_code)]
        name: String,
    }

    #[derive(Debug, Deserialize)]
    struct Page {
        #[allow(dead_code)]
        limit: u32,
    }

    async fn accept_json(_: web::Json<Greeting>) -> HttpResponse {
        HttpResponse::Ok().finish()
    }

    async fn accept_bytes(_: web::Bytes) -> HttpResponse {
        HttpResponse::Ok().finish()
    }

    async fn accept_query(_: web::Query<Page>) -> HttpResponse {
        HttpResponse::Ok().finish()
    }

    async fn accept_path(_: web::Path<u32>) -> HttpResponse {
        HttpResponse::Ok().finish()
    }

    async fn answer_bare(code: web::Path<u16>) -> HttpResponse {
        HttpResponse::new(StatusCode::from_u16(code.into_inner()).unwrap_or(StatusCode::OK))
    }

    async fn call(request: test::TestRequest) -> (u16, Option<String>, Value) {
        let app = test::init_service(
            App::new()
                .wrap(ErrorHandlers::new().default_handler(problem_fallback))
                .app_data(json_config(64))
                .app_data(payload_config(64))
                .app_data(query_config())
                .app_data(path_config())
                .service(web::resource("/json").route(web::post().to(accept_json)))
                .service(web::resource("/bytes").route(web::post().to(accept_bytes)))
                .service(web::resource("/query").route(web::get().to(accept_query)))
                .service(web::resource("/items/{id}").route(web::get().to(accept_path)))
                .service(web::resource("/bare/{status}").route(web::get().to(answer_bare)))
                .default_service(web::to(route_not_found)),
        )
        .await;
        let response = test::call_service(&app, request.to_request()).await;
        let status = response.status().as_u16();
        let content_type =
            response.headers().get(CONTENT_TYPE).and_then(|value| value.to_str().ok()).map(str::to_owned);
        let body = test::read_body(response).await;
        (status, content_type, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    fn assert_problem((status, content_type, body): (u16, Option<String>, Value), expected: u16, slug: &str) {
        assert_eq!(status, expected, "{body}");
        assert_eq!(content_type.as_deref(), Some(PROBLEM_JSON));
        assert_eq!(body["type"], format!("/problems/{slug}"), "{body}");
        assert_eq!(body["status"], expected);
    }

    fn post_json(body: &str) -> test::TestRequest {
        test::TestRequest::post()
            .uri("/json")
            .insert_header((CONTENT_TYPE, "application/json"))
            .set_payload(body.to_owned())
    }

    #[actix_web::test]
    async fn malformed_json_is_a_400_that_says_where() {
        let answer = call(post_json(r#"{"name": "#)).await;
        assert!(answer.2["detail"].as_str().unwrap_or_default().contains("line 1"), "{}", answer.2);
        assert_problem(answer, 400, "invalid-json");
    }

    #[actix_web::test]
    async fn json_of_the_wrong_shape_is_a_400() {
        assert_problem(call(post_json(r#"{"nom": "x"}"#)).await, 400, "invalid-json");
    }

    #[actix_web::test]
    async fn a_wrong_content_type_is_a_415() {
        let request = test::TestRequest::post()
            .uri("/json")
            .insert_header((CONTENT_TYPE, "text/plain"))
            .set_payload(r#"{"name":"x"}"#);
        assert_problem(call(request).await, 415, "unsupported-media-type");
    }

    #[actix_web::test]
    async fn an_oversize_json_body_is_a_413_with_the_limit() {
        let answer = call(post_json(&format!(r#"{{"name":"{}"}}"#, "x".repeat(100)))).await;
        assert_eq!(answer.2["limit"], 64);
        assert_problem(answer, 413, "payload-too-large");
    }

    #[actix_web::test]
    async fn an_oversize_raw_body_is_a_413() {
        let request = test::TestRequest::post().uri("/bytes").set_payload(vec![0_u8; 100]);
        assert_problem(call(request).await, 413, "payload-too-large");
    }

    #[actix_web::test]
    async fn a_bad_query_string_is_a_400() {
        let request = test::TestRequest::get().uri("/query?limit=many");
        assert_problem(call(request).await, 400, "invalid-query");
    }

    #[actix_web::test]
    async fn a_bad_path_parameter_is_a_400() {
        assert_problem(call(test::TestRequest::get().uri("/items/abc")).await, 400, "invalid-path");
    }

    #[actix_web::test]
    async fn unknown_routes_and_wrong_methods_are_problems() {
        assert_problem(call(test::TestRequest::get().uri("/nowhere")).await, 404, "route-not-found");
        assert_problem(call(test::TestRequest::delete().uri("/json")).await, 405, "method-not-allowed");
    }

    #[actix_web::test]
    async fn a_bodiless_refusal_keeps_its_status_when_a_problem_kind_has_it() {
        for (status, slug) in
            [(410, "request-refused"), (416, "request-refused"), (502, "internal"), (504, "internal")]
        {
            let answer = call(test::TestRequest::get().uri(&format!("/bare/{status}"))).await;
            assert_problem(answer, status, slug);
        }
        assert_problem(call(test::TestRequest::get().uri("/bare/418")).await, 400, "request-refused");
        assert_problem(call(test::TestRequest::get().uri("/bare/501")).await, 500, "internal");
    }
}
