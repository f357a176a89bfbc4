//! The closed set of error categories and the only place they become HTTP statuses.

use actix_web::http::StatusCode;

/// What went wrong, in the few categories a client can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request is malformed: bad JSON, bad query string, bad path parameter.
    BadRequest,
    /// No credentials, or credentials that are not valid.
    Unauthorized,
    /// Valid credentials without the right to do this.
    Forbidden,
    /// The object does not exist, or belongs to someone else.
    NotFound,
    /// The route exists but not with this method.
    MethodNotAllowed,
    /// The request conflicts with the current state (duplicate version, concurrent change).
    Conflict,
    /// The object existed and was withdrawn for good (a revoked capsule version).
    Gone,
    /// The body is larger than the configured limit.
    PayloadTooLarge,
    /// The requested byte range lies outside the object.
    RangeNotSatisfiable,
    /// The body has a media type the endpoint does not accept.
    UnsupportedMediaType,
    /// The request is well-formed but its content is refused (validation, policy).
    Unprocessable,
    /// A rate limit or quota is exhausted.
    TooManyRequests,
    /// A dependency is down or overloaded; retrying later may work.
    Unavailable,
    /// An upstream service (a worker running a capsule) failed the request.
    BadGateway,
    /// An upstream service did not finish in time.
    GatewayTimeout,
    /// A bug or an unexpected failure; the cause is logged, never shown.
    Internal,
}

impl ErrorKind {
    pub fn status(self) -> StatusCode {
        match self {
            Self::BadRequest => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict => StatusCode::CONFLICT,
            Self::Gone => StatusCode::GONE,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RangeNotSatisfiable => StatusCode::RANGE_NOT_SATISFIABLE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::BadGateway => StatusCode::BAD_GATEWAY,
            Self::GatewayTimeout => StatusCode::GATEWAY_TIMEOUT,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn is_server_error(self) -> bool {
        self.status().is_server_error()
    }
}
