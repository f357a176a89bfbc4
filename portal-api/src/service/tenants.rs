//! Creating, reading and changing tenants. Only the operator's admin creates, lists and
//! changes tenants; any key may read its own tenant.

use super::RequestContext;
use crate::db::tenants::{self, Tenant, TenantInsertForm, TenantUpdateForm};
use crate::domain::{TenantKind, TenantName, TenantStatus};
use crate::error::PortalError;
use caravan_core::Principal;
use caravan_core::db::{DbConnection, write_transaction};
use caravan_core::id::TenantId;
use caravan_core::plans::PlanCatalog;
use chrono::Utc;
use serde_json::json;

#[derive(Debug)]
pub struct NewTenant {
    pub name: String,
    pub plan: String,
}

#[derive(Debug, Default)]
pub struct TenantChanges {
    pub plan: Option<String>,
    pub status: Option<TenantStatus>,
}

pub fn create(
    connection: &mut DbConnection,
    actor: &Principal,
    plans: &PlanCatalog,
    request: NewTenant,
    context: &RequestContext,
) -> Result<Tenant, PortalError> {
    actor.require_operator()?;
    let name = TenantName::parse(&request.name).map_err(PortalError::InvalidTenantName)?;
    check_plan(plans, &request.plan)?;
    write_transaction(connection, |connection| {
        let now = Utc::now().naive_utc();
        let id = TenantId::new();
        let tenant = tenants::insert(
            connection,
            &TenantInsertForm {
                id: &id,
                name: name.as_str(),
                kind: TenantKind::Customer.as_str(),
                plan: &request.plan,
                status: TenantStatus::Active.as_str(),
                created_at: now,
                updated_at: now,
            },
        )?;
        context.audit(
            connection,
            actor,
            &id,
            "tenant.create",
            id.as_str(),
            json!({ "name": tenant.name, "plan": tenant.plan }),
        )?;
        Ok(tenant)
    })
}

pub fn list(
    connection: &mut DbConnection,
    actor: &Principal,
    cursor: Option<&TenantId>,
    limit: i64,
) -> Result<Vec<Tenant>, PortalError> {
    actor.require_operator()?;
    Ok(tenants::list(connection, cursor, limit)?)
}

/// A tenant the actor may see; anyone else's is reported as not found.
pub fn get(connection: &mut DbConnection, actor: &Principal, id: &TenantId) -> Result<Tenant, PortalError> {
    if !actor.can_access_tenant(id) {
        return Err(PortalError::TenantNotFound(id.to_string()));
    }
    tenants::find(connection, id)?.ok_or_else(|| PortalError::TenantNotFound(id.to_string()))
}

/// Changes plan and/or status; each change is its own audit entry. The caller evicts the
/// tenant's cached keys afterwards so limits and suspension apply to the next request.
pub fn update(
    connection: &mut DbConnection,
    actor: &Principal,
    plans: &PlanCatalog,
    id: &TenantId,
    changes: TenantChanges,
    context: &RequestContext,
) -> Result<Tenant, PortalError> {
    actor.require_operator()?;
    if let Some(plan) = &changes.plan {
        check_plan(plans, plan)?;
    }
    write_transaction(connection, |connection| {
        let before =
            tenants::find(connection, id)?.ok_or_else(|| PortalError::TenantNotFound(id.to_string()))?;
        if TenantKind::from_stored(&before.kind) == TenantKind::Operator
            && changes.status == Some(TenantStatus::Suspended)
        {
            return Err(PortalError::OperatorProtected);
        }
        let same_plan = changes.plan.as_ref().is_none_or(|plan| *plan == before.plan);
        let same_status = changes.status.is_none_or(|status| status.as_str() == before.status);
        if same_plan && same_status {
            return Ok(before);
        }
        let form = TenantUpdateForm {
            plan: changes.plan.as_deref(),
            status: changes.status.map(TenantStatus::as_str),
            updated_at: Some(Utc::now().naive_utc()),
        };
        let after = tenants::update(connection, id, &form)?;
        let mut record = |action: &str, details: serde_json::Value| {
            context.audit(connection, actor, id, action, id.as_str(), details)
        };
        if before.plan != after.plan {
            record("tenant.plan.change", json!({ "from": before.plan, "to": after.plan }))?;
        }
        if before.status != after.status {
            let action = if after.status == TenantStatus::Suspended.as_str() {
                "tenant.suspend"
            } else {
                "tenant.reactivate"
            };
            record(action, json!({ "from": before.status, "to": after.status }))?;
        }
        Ok(after)
    })
}

fn check_plan(plans: &PlanCatalog, plan: &str) -> Result<(), PortalError> {
    if plans.contains(plan) {
        return Ok(());
    }
    Err(PortalError::UnknownPlan { plan: plan.to_owned(), known: plans.ids().collect::<Vec<_>>().join(", ") })
}
