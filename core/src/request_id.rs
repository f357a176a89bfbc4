//! Request ids: the caller's `X-Request-Id` when it is a sane token, a fresh `req_…` ULID
//! otherwise. Echoed in the response and carried by the request's tracing span, so a
//! client's report leads straight to the log lines.

use crate::id::{RequestId, Ulid, prefixed_ulid};
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload};
use std::future::{Ready, ready};

pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The id of the request being served, available to handlers through extensions.
#[derive(Debug, Clone)]
pub struct RequestIdentity(pub HeaderValue);

impl RequestIdentity {
    /// Takes the caller's id when acceptable, or makes one.
    pub fn of(headers: &HeaderMap) -> Self {
        let given = headers.get(X_REQUEST_ID).filter(|value| is_acceptable(value.as_bytes()));
        match given {
            Some(id) => Self(id.clone()),
            None => Self::fresh(),
        }
    }

    /// A new `req_…` id, whose string becomes the header value without being copied.
    fn fresh() -> Self {
        let id = prefixed_ulid(RequestId::PREFIX, Ulid::new());
        // A ULID is ASCII and always a valid header value; the fallback is unreachable.
        Self(HeaderValue::try_from(id).unwrap_or(HeaderValue::from_static("req_unknown")))
    }

    pub fn as_str(&self) -> &str {
        // Only visible ASCII is ever accepted or generated.
        self.0.to_str().unwrap_or_default()
    }
}

/// Handlers receive the id the gateway gave the request (for audit entries).
impl FromRequest for RequestIdentity {
    type Error = std::convert::Infallible;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let identity = req.extensions().get::<RequestIdentity>().cloned();
        ready(Ok(identity.unwrap_or_else(|| RequestIdentity::of(req.headers()))))
    }
}

/// Up to 128 characters of `[A-Za-z0-9._:-]`: enough for ULIDs, UUIDs and trace ids,
/// nothing that could forge a log line.
fn is_acceptable(value: &[u8]) -> bool {
    (1..=128).contains(&value.len())
        && value.iter().all(|byte| byte.is_ascii_alphanumeric() || b"._:-".contains(byte))
}

#[cfg(test)]
mod tests {
    use super::{RequestIdentity, X_REQUEST_ID, is_acceptable};
    use crate::id::RequestId;
    use actix_web::http::header::{HeaderMap, HeaderValue};

    #[test]
    fn a_request_without_an_id_gets_a_fresh_request_id() {
        let first = RequestIdentity::of(&HeaderMap::new());
        let second = RequestIdentity::of(&HeaderMap::new());
        assert_eq!(
            RequestId::parse(first.as_str()).map(|id| id.as_str().to_owned()),
            Ok(first.as_str().to_owned())
        );
        assert!(RequestId::parse(second.as_str()).is_ok());
        assert_ne!(first.as_str(), second.as_str());
    }

    #[test]
    fn the_callers_id_is_kept_when_acceptable() {
        let mut headers = HeaderMap::new();
        headers.insert(X_REQUEST_ID, HeaderValue::from_static("trace-42"));
        assert_eq!(RequestIdentity::of(&headers).as_str(), "trace-42");
        headers.insert(X_REQUEST_ID, HeaderValue::from_static("two words"));
        assert!(RequestIdentity::of(&headers).as_str().starts_with("req_"));
    }

    #[test]
    fn accepts_common_trace_ids_and_refuses_the_rest() {
        assert!(is_acceptable(b"req_01JD8X3ZQK9V6R2N4T7W5YB1CM"));
        assert!(is_acceptable(b"7f1c2f9e-53a4-4d3c-9b0e-6f5f2b9f3a11"));
        assert!(!is_acceptable(b""));
        assert!(!is_acceptable(b"two words"));
        assert!(!is_acceptable(b"line\nbreak"));
        assert!(!is_acceptable(&[b'a'; 129]));
    }
}
