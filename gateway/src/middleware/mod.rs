//! Middleware, outermost first: [`Observe`] (request id, metrics, logs) and the
//! problem+json fallback for refusals the framework makes without a body of ours wrap
//! every request; [`Admission`] (API key, rate limits) wraps the `/v1` scope.

mod admission;
mod observe;

pub use admission::Admission;
pub use observe::Observe;
