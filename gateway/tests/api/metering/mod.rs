//! Metering and billing over HTTP: ingestion, usage, invoices, Stripe and crash safety.

mod billing;
mod crash;
mod ingest;
mod stripe;
#[cfg(feature = "stripe-live")]
mod stripe_live;
pub mod support;
mod usage;
