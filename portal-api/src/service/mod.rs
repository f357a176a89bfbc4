//! The portal's operations, shared by the JSON API and the web pages. Each takes the
//! acting [`caravan_core::Principal`], checks what it may do, makes the change and its
//! audit entry in one write transaction, and returns database rows for the caller to
//! render.

pub mod keys;
pub mod pagination;
pub mod publisher_keys;
pub mod tenants;

/// Facts about the request that the audit log records.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    pub request_id: Option<String>,
}
