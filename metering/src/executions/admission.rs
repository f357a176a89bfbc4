//! Admission, before anything is dispatched: the scope, the version the requirement
//! resolves to (never a revoked one), the input against the capsule's `input_schema`, the
//! price's currency, and the tenant's monthly quota. (The gateway's middleware already
//! applied the rate limits.)
//!
//! What a version's manifest says about running it — the compiled input validator, the
//! price, the timeout — is read once per version digest and kept in [`RunTermsCache`]: a
//! published version never changes, and compiling the schema cost more than the rest of
//! admission together.

use super::RunAsked;
use crate::error::MeteringError;
use crate::quota;
use caravan_core::db::DbConnection;
use caravan_core::money::Decimal;
use caravan_core::plans::PlanCatalog;
use caravan_core::{Principal, Scope};
use caravan_registry::db::capsules::{self, RunnableVersion};
use caravan_registry::db::signers;
use caravan_registry::service;
use chrono::NaiveDateTime;
use serde_json::Value;
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

/// The most validation errors reported for one input.
const MAX_INPUT_ERRORS: usize = 20;

/// The most versions whose terms are kept; past it the cache starts over.
const MAX_CACHED_TERMS: usize = 4096;

/// Everything a run needs from the registry.
#[derive(Debug, Clone)]
pub struct RunPlan {
    pub version: RunnableVersion,
    pub public_key_pem: String,
    pub tier: String,
    pub timeout_ms: u64,
    /// The capsule's per-execution price, charged when a run succeeds.
    pub unit_price: Option<Decimal>,
}

/// What a version's manifest says about running it.
#[derive(Debug)]
struct RunTerms {
    /// `None` without an `input_schema`; `Err` with the reason when it no longer compiles,
    /// which refuses every input.
    validator: Option<Result<jsonschema::Validator, String>>,
    /// The price's currency and amount per execution.
    pricing: Option<(String, Decimal)>,
    timeout_ms: u64,
}

impl RunTerms {
    fn read(manifest: &str) -> Self {
        let manifest: Value = serde_json::from_str(manifest).unwrap_or(Value::Null);
        let validator = manifest
            .get("input_schema")
            .filter(|schema| !schema.is_null())
            .map(|schema| jsonschema::validator_for(schema).map_err(|error| error.to_string()));
        let pricing = manifest.get("pricing").filter(|pricing| !pricing.is_null()).map(|pricing| {
            let currency = pricing["currency"].as_str().unwrap_or_default().to_owned();
            let amount =
                Decimal::from_str(pricing["per_execution"].as_str().unwrap_or("0")).unwrap_or_default();
            (currency, amount)
        });
        let timeout_s = manifest["runtime"]["timeout_s"].as_u64().unwrap_or(30);
        Self { validator, pricing, timeout_ms: timeout_s.saturating_mul(1000) }
    }
}

/// Run terms by version digest, shared by every admission.
#[derive(Debug, Clone, Default)]
pub struct RunTermsCache {
    by_digest: Arc<Mutex<HashMap<String, Arc<RunTerms>>>>,
}

impl RunTermsCache {
    /// The terms of the version with this digest; its manifest is read only when they are
    /// not known yet.
    fn terms_of<E>(
        &self,
        digest: &str,
        manifest: impl FnOnce() -> Result<String, E>,
    ) -> Result<Arc<RunTerms>, E> {
        let cached = self.by_digest.lock().ok().and_then(|terms| terms.get(digest).cloned());
        if let Some(terms) = cached {
            return Ok(terms);
        }
        let terms = Arc::new(RunTerms::read(&manifest()?));
        if let Ok(mut by_digest) = self.by_digest.lock() {
            if by_digest.len() >= MAX_CACHED_TERMS {
                by_digest.clear();
            }
            by_digest.insert(digest.to_owned(), Arc::clone(&terms));
        }
        Ok(terms)
    }
}

/// Checks a run request; the plan to run it, or the refusal.
pub fn admit(
    connection: &mut DbConnection,
    plans: &PlanCatalog,
    terms: &RunTermsCache,
    principal: &Principal,
    asked: &RunAsked,
    now: NaiveDateTime,
) -> Result<RunPlan, MeteringError> {
    principal.require(Scope::ExecutionsRun)?;
    let version = service::resolve_for_run(connection, &asked.capsule, &asked.requirement)?;
    let terms = terms.terms_of(&version.digest, || capsules::manifest(connection, &version.id))?;
    match &terms.validator {
        Some(Ok(validator)) => check_input(validator, &asked.input)?,
        // The schema compiled at publish time; one that no longer does refuses every input.
        Some(Err(reason)) => {
            return Err(MeteringError::InvalidInput {
                errors: vec![format!("the capsule's input_schema: {reason}")],
            });
        }
        None => {}
    }
    let unit_price = match &terms.pricing {
        Some((currency, amount)) => {
            if currency != plans.currency().as_str() {
                return Err(MeteringError::CurrencyMismatch {
                    capsule: currency.clone(),
                    billing: plans.currency().to_string(),
                });
            }
            Some(*amount)
        }
        None => None,
    };
    quota::check_executions(connection, plans, &principal.tenant_id, &principal.plan, now)?;
    let public_key_pem = signers::public_key(connection, &version.signer_key_id)?;
    Ok(RunPlan {
        tier: version.tier.clone(),
        timeout_ms: terms.timeout_ms,
        unit_price,
        public_key_pem,
        version,
    })
}

/// The input against the schema: every failing path, or nothing.
fn check_input(validator: &jsonschema::Validator, input: &Value) -> Result<(), MeteringError> {
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
    use std::convert::Infallible;

    #[test]
    fn every_failing_path_is_named() {
        let schema = json!({ "type": "object", "required": ["text"],
            "properties": { "text": { "type": "string" }, "n": { "type": "integer", "minimum": 1 } } });
        let validator = jsonschema::validator_for(&schema).expect("a valid schema");
        assert!(check_input(&validator, &json!({ "text": "hi", "n": 2 })).is_ok());
        let Err(MeteringError::InvalidInput { errors }) = check_input(&validator, &json!({ "n": 0 })) else {
            panic!("refused");
        };
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors.iter().any(|error| error.starts_with("/n:")), "{errors:?}");
        assert!(errors.iter().any(|error| error.starts_with("/:") && error.contains("text")), "{errors:?}");
    }

    #[test]
    fn a_versions_terms_are_read_once_and_a_schema_that_does_not_compile_refuses() {
        let cache = RunTermsCache::default();
        let manifest = json!({ "input_schema": { "type": "object" }, "runtime": { "timeout_s": 5 },
            "pricing": { "currency": "USD", "per_execution": "0.002" } })
        .to_string();

        let read = |manifest: String| move || Ok::<_, Infallible>(manifest);

        let first = cache.terms_of("sha256:a", read(manifest.clone())).expect("read");
        let again = cache.terms_of("sha256:a", || Err("the manifest is not read again")).expect("cached");
        let broken = cache
            .terms_of("sha256:b", read(json!({ "input_schema": { "type": 12 } }).to_string()))
            .expect("read");

        assert!(Arc::ptr_eq(&first, &again), "read once per digest");
        assert_eq!(first.timeout_ms, 5000);
        assert_eq!(first.pricing, Some(("USD".to_owned(), Decimal::from_str("0.002").expect("decimal"))));
        assert!(matches!(first.validator, Some(Ok(_))));
        assert!(matches!(broken.validator, Some(Err(_))), "{broken:?}");
        assert_eq!(broken.timeout_ms, 30_000, "the default timeout");
    }
}
