//! Metering and billing: the usage ledger and meters, usage queries, plans and pricing,
//! closing periods into invoices, Stripe sync and webhooks, publisher earnings, and the
//! executions of capsules on worker backends that feed the ledger.

pub mod billing;
pub mod db;
pub mod domain;
pub mod earnings;
pub mod error;
pub mod executions;
pub mod ingest;
pub mod quota;
mod routes;
pub mod stripe;
pub mod usage;
pub mod views;

pub use error::MeteringError;
pub use routes::{ApiDoc, configure, configure_public};

use caravan_core::plans::PlanCatalog;
use domain::meter::MeterCatalog;
use stripe::StripeSync;

/// What metering's handlers share.
#[derive(Debug, Clone)]
pub struct Metering {
    pub meters: MeterCatalog,
    pub plans: PlanCatalog,
    /// Present when Stripe is configured.
    pub stripe: Option<StripeSync>,
    /// Stripe's webhook signing secrets; the webhook answers 404 without one.
    pub webhook_secrets: Vec<String>,
    /// Runs capsules on the worker pool.
    pub executions: executions::dispatch::Dispatcher,
}
