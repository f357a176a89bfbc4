//! Middleware every request passes through, outermost first: request id and tracing span,
//! then metrics and access log, then the problem+json fallback for framework refusals.

mod observe;
mod request_id;

pub use observe::observe;
pub use request_id::{RequestIdentity, request_id};
