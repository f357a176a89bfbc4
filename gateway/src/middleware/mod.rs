//! Middleware, outermost first: [`Observe`] (request id, the problem+json fallback for
//! refusals the framework makes without a body of ours, metrics, logs) wraps every
//! request; [`Admission`] (API key, rate limits) wraps the `/v1` scope.

mod admission;
mod observe;

pub use admission::Admission;
pub use observe::Observe;
