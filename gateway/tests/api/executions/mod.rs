//! Executions over HTTP: the three modes, idempotency, cancel, webhooks, containment and
//! failure of workers, admission.

mod admission;
mod containment;
mod crash;
mod modes;
pub mod support;
mod webhooks;
