//! The portal's operations, shared by the JSON API and the web pages. Each takes the
//! acting [`caravan_core::Principal`], checks what it may do, makes the change and its
//! audit entry in one write transaction, and returns database rows for the caller to
//! render.

pub mod keys;
pub mod members;
pub mod pagination;
pub mod publisher_keys;
pub mod tenants;

use crate::error::PortalError;
use caravan_core::Principal;
use caravan_core::audit::{self, AuditRecord};
use caravan_core::db::DbConnection;
use caravan_core::id::TenantId;

/// Facts about the request that the audit log records.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    pub request_id: Option<String>,
}

impl RequestContext {
    /// Appends the audit entry for a change `actor` made to `target` in `tenant`, with this
    /// request's id. Call it inside the change's write transaction.
    pub fn audit(
        &self,
        connection: &mut DbConnection,
        actor: &Principal,
        tenant: &TenantId,
        action: &str,
        target: &str,
        details: serde_json::Value,
    ) -> Result<(), PortalError> {
        audit::append(
            connection,
            AuditRecord {
                tenant_id: Some(tenant),
                actor: actor.actor_id(),
                action,
                target,
                details,
                request_id: self.request_id.as_deref(),
            },
        )?;
        Ok(())
    }
}
