//! Executions over HTTP: the three modes, idempotency, cancel, webhooks, containment and
//! failure of workers, admission, and how runs are recorded.

mod admission;
mod containment;
mod crash;
mod modes;
mod recording;
pub mod support;
mod webhooks;
