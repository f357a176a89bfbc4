//! Diesel models and queries of tenants and API keys. Every query that takes a tenant is
//! scoped by it; callers decide who may name which tenant.

pub mod keys;
pub mod publisher_keys;
pub mod tenants;
