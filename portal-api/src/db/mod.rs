//! Diesel models and queries of tenants, members, API keys and publisher keys. Every query that takes a tenant is
//! scoped by it; callers decide who may name which tenant.

pub mod keys;
pub mod members;
pub mod publisher_keys;
pub mod tenants;
