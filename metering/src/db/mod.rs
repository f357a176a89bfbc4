//! The metering tables: the usage ledger and its rollups, invoices and periods, Stripe
//! sync state, executions and their webhooks, registered workers.

pub mod events;
pub mod executions;
pub mod invoices;
pub mod rollups;
pub mod stripe;
pub mod webhooks;
pub mod workers;
