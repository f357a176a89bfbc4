//! Middleware every request passes through, outermost first: [`observe`] (request id,
//! tracing span, metrics, access log), then the problem+json fallback for refusals the
//! framework makes without a body of ours (installed in `startup.rs`).

mod observe;
mod request_id;

pub use observe::observe;
pub use request_id::{RequestIdentity, X_REQUEST_ID};
