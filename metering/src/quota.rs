//! The monthly execution quota of a tenant's plan (free: 50), checked before an execution
//! is dispatched. Counted from the month's rollups, so the check is one small read.

use crate::db::rollups;
use crate::domain::period::Period;
use crate::error::MeteringError;
use caravan_core::db::DbConnection;
use caravan_core::id::TenantId;
use caravan_core::plans::PlanCatalog;
use chrono::NaiveDateTime;

/// The plan's monthly execution quota, if it has one.
pub fn execution_quota(plans: &PlanCatalog, plan: &str) -> Option<u64> {
    plans.get(plan).and_then(|plan| plan.monthly_execution_quota)
}

/// Executions recorded this month, and the plan's quota if it has one.
pub fn executions_this_month(
    connection: &mut DbConnection,
    plans: &PlanCatalog,
    tenant: &TenantId,
    plan: &str,
    now: NaiveDateTime,
) -> Result<(u64, Option<u64>), MeteringError> {
    let period = Period::containing(now);
    let micros = rollups::monthly_total(connection, tenant, "executions", period.start())?;
    let used = u64::try_from(micros / 1_000_000).unwrap_or(0);
    Ok((used, execution_quota(plans, plan)))
}

/// Refuses with 429 `quota-exceeded` when the tenant's plan allows no more executions
/// this month.
pub fn check_executions(
    connection: &mut DbConnection,
    plans: &PlanCatalog,
    tenant: &TenantId,
    plan: &str,
    now: NaiveDateTime,
) -> Result<(), MeteringError> {
    match executions_this_month(connection, plans, tenant, plan, now)? {
        (used, Some(quota)) if used >= quota => {
            Err(MeteringError::QuotaExceeded { quota, used, period: Period::containing(now).to_string() })
        }
        _ => Ok(()),
    }
}
