//! Admission, before anything is dispatched: the scope, the version the requirement
//! resolves to (never a revoked one), the input against the capsule's `input_schema`, the
//! price's currency, and the tenant's monthly quota. (The gateway's middleware already
//! applied the rate limits.)

use crate::error::MeteringError;
use crate::quota;
use caravan_core::db::DbConnection;
use caravan_core::money::Decimal;
use caravan_core::plans::PlanCatalog;
use caravan_core::{Principal, Scope};
use caravan_registry::db::capsules::VersionRow;
use caravan_registry::db::signers;
use caravan_registry::service;
use chrono::NaiveDateTime;
use serde_json::Value;
use std::str::FromStr;

/// The most validation errors reported for one input.
const MAX_INPUT_ERRORS: usize = 20;

/// Everything a run needs from the registry.
#[derive(Debug, Clone)]
pub struct RunPlan {
    pub version: VersionRow,
    pub public_key_pem: String,
    pub tier: String,
    pub timeout_ms: u64,
    /// The capsule's per-execution price, charged when a run succeeds.
    pub unit_price: Option<Decimal>,
}

/// Checks a run request; the plan to run it, or the refusal.
pub fn admit(
    connection: &mut DbConnection,
    plans: &PlanCatalog,
    principal: &Principal,
    capsule: &str,
    requirement: &str,
    input: &Value,
    now: NaiveDateTime,
) -> Result<RunPlan, MeteringError> {
    principal.require(Scope::ExecutionsRun)?;
    let version = service::resolve_for_run(connection, capsule, requirement)?;
    let manifest: Value = serde_json::from_str(&version.manifest).unwrap_or(Value::Null);
    if let Some(schema) = manifest.get("input_schema").filter(|schema| !schema.is_null()) {
        check_input(schema, input)?;
    }
    let unit_price = match manifest.get("pricing").filter(|pricing| !pricing.is_null()) {
        Some(pricing) => {
            let currency = pricing["currency"].as_str().unwrap_or_default();
            if currency != plans.currency().as_str() {
                return Err(MeteringError::CurrencyMismatch {
                    capsule: currency.to_owned(),
                    billing: plans.currency().to_string(),
                });
            }
            Some(Decimal::from_str(pricing["per_execution"].as_str().unwrap_or("0")).unwrap_or_default())
        }
        None => None,
    };
    quota::check_executions(connection, plans, &principal.tenant_id, &principal.plan, now)?;
    let public_key_pem = signers::public_key(connection, &version.signer_key_id)?;
    let timeout_s = manifest["runtime"]["timeout_s"].as_u64().unwrap_or(30);
    Ok(RunPlan {
        tier: version.tier.clone(),
        timeout_ms: timeout_s.saturating_mul(1000),
        unit_price,
        public_key_pem,
        version,
    })
}

/// The input against the schema: every failing path, or nothing.
fn check_input(schema: &Value, input: &Value) -> Result<(), MeteringError> {
    // The schema compiled at publish time; one that no longer does refuses every input.
    let validator = jsonschema::validator_for(schema).map_err(|error| MeteringError::InvalidInput {
        errors: vec![format!("the capsule's input_schema: {error}")],
    })?;
    let errors: Vec<String> = validator
        .iter_errors(input)
        .take(MAX_INPUT_ERRORS)
        .map(|error| {
            let path = error.instance_path().to_string();
            let path = if path.is_empty() { "/".to_owned() } else { path };
            format!("{path}: {error}")
        })
        .collect();
    if errors.is_empty() { Ok(()) } else { Err(MeteringError::InvalidInput { errors }) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_failing_path_is_named() {
        let schema = json!({ "type": "object", "required": ["text"],
            "properties": { "text": { "type": "string" }, "n": { "type": "integer", "minimum": 1 } } });
        assert!(check_input(&schema, &json!({ "text": "hi", "n": 2 })).is_ok());
        let Err(MeteringError::InvalidInput { errors }) = check_input(&schema, &json!({ "n": 0 })) else {
            panic!("refused");
        };
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors.iter().any(|error| error.starts_with("/n:")), "{errors:?}");
        assert!(errors.iter().any(|error| error.starts_with("/:") && error.contains("text")), "{errors:?}");
    }
}
