//! `/v1/keys`: API keys of the caller's tenant (or any tenant, for the operator).

pub mod create;
pub mod get;
pub mod list;
pub mod revoke;
pub mod rotate;
