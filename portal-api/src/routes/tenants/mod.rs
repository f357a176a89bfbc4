//! `/v1/tenants`: the operator manages the organisations using the installation.

pub mod create;
pub mod get;
pub mod list;
pub mod update;
