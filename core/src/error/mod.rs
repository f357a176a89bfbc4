//! The one place where errors become HTTP responses.
//!
//! Every crate has its own `thiserror` enum and implements [`Problematic`] for it: a closed
//! [`ErrorKind`] (which alone decides the HTTP status), a stable problem type slug and a
//! title. [`ApiError`] wraps any of them and renders an RFC 9457 `application/problem+json`
//! body. Server errors carry their whole cause chain to the request logger as an
//! [`ErrorCause`] response extension; the body of an internal
//! error reveals nothing and points to the `X-Request-Id` the client can quote. Bodies
//! never include an error's sources, only its own message.

mod extractors;
mod kind;
mod problem;
pub mod responses;

pub use extractors::{
    AllowedMethods, RequestError, as_problem, form_config, json_config, path_config, payload_config,
    problem_fallback, query_config, route_not_found,
};
pub use kind::ErrorKind;
pub use problem::{PROBLEM_JSON, Problem};

use actix_web::{HttpResponse, ResponseError, http::StatusCode};
use serde_json::{Map, Value};
use std::fmt;

/// An error that knows how it should look to an API client.
pub trait Problematic: std::error::Error + Send + Sync + 'static {
    /// The closed category that decides the HTTP status.
    fn kind(&self) -> ErrorKind;

    /// The stable slug of the problem type, e.g. `invalid-json`; the `type` member becomes
    /// `/problems/<slug>`. Clients match on it, so never change an existing slug.
    fn slug(&self) -> &'static str;

    /// A short summary that is the same for every occurrence of this problem type.
    fn title(&self) -> &'static str;

    /// Extension members added to the body beside the standard ones.
    fn extensions(&self) -> Map<String, Value> {
        Map::new()
    }
}

/// Any [`Problematic`] error, ready to become a problem+json response.
pub struct ApiError {
    inner: Box<dyn Problematic>,
}

impl ApiError {
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind()
    }

    /// The body a client receives. Internal errors keep their cause to themselves; the
    /// message of an `Unavailable` error is written to be shown (what is down, when to retry).
    pub fn problem(&self) -> Problem {
        let kind = self.inner.kind();
        let hide = kind == ErrorKind::Internal;
        let detail = if hide {
            "the server could not complete the request; quote the X-Request-Id header when reporting it"
                .to_owned()
        } else {
            self.inner.to_string()
        };
        Problem {
            problem_type: format!("/problems/{}", self.inner.slug()),
            title: self.inner.title().to_owned(),
            status: kind.status().as_u16(),
            detail: Some(detail),
            extensions: if hide { Map::new() } else { self.inner.extensions() },
        }
    }
}

impl<E: Problematic> From<E> for ApiError {
    fn from(error: E) -> Self {
        Self { inner: Box::new(error) }
    }
}

impl fmt::Debug for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiError")
            .field("kind", &self.inner.kind())
            .field("slug", &self.inner.slug())
            .field("error", &self.inner.to_string())
            .finish()
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.inner, f)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.inner.kind().status()
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = self.problem().into_response();
        if self.inner.kind().is_server_error() {
            response.extensions_mut().insert(ErrorCause(ErrorChain(&*self.inner).to_string()));
        }
        response
    }
}

/// The full cause chain of a server error, attached to its response for the request
/// logger, which writes it beside the request id. Never sent to the client.
#[derive(Debug, Clone)]
pub struct ErrorCause(pub String);

/// Displays an error with all its sources, `outer: inner: innermost`, for logs only.
struct ErrorChain<'a>(&'a dyn std::error::Error);

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use thiserror::Error;

    #[derive(Debug, Error)]
    #[error("disk on fire at /var/lib/secret")]
    struct Meltdown;

    impl Problematic for Meltdown {
        fn kind(&self) -> ErrorKind {
            ErrorKind::Internal
        }
        fn slug(&self) -> &'static str {
            "internal"
        }
        fn title(&self) -> &'static str {
            "Internal error"
        }
        fn extensions(&self) -> Map<String, Value> {
            Map::from_iter([("path".to_owned(), Value::from("/var/lib/secret"))])
        }
    }

    #[derive(Debug, Error)]
    #[error("version 1.0.0 of acme/echo exists already")]
    struct Duplicate;

    impl Problematic for Duplicate {
        fn kind(&self) -> ErrorKind {
            ErrorKind::Conflict
        }
        fn slug(&self) -> &'static str {
            "version-exists"
        }
        fn title(&self) -> &'static str {
            "Version already published"
        }
        fn extensions(&self) -> Map<String, Value> {
            Map::from_iter([("version".to_owned(), Value::from("1.0.0"))])
        }
    }

    #[test]
    fn client_errors_explain_themselves() {
        let problem = ApiError::from(Duplicate).problem();
        assert_eq!(problem.status, 409);
        assert_eq!(problem.problem_type, "/problems/version-exists");
        assert_eq!(problem.detail.as_deref(), Some("version 1.0.0 of acme/echo exists already"));
        assert_eq!(problem.extensions.get("version"), Some(&Value::from("1.0.0")));
    }

    #[test]
    fn server_errors_reveal_nothing_internal() {
        let problem = ApiError::from(Meltdown).problem();
        let body = serde_json::to_string(&problem).unwrap_or_default();
        assert_eq!(problem.status, 500);
        assert!(!body.contains("secret"), "{body}");
        assert!(!body.contains("fire"), "{body}");
    }
}
