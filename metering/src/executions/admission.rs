//! Admission, before anything is dispatched: the scope, the version the requirement
//! resolves to (never a revoked one), the input against the capsule's `input_schema`, the
//! price's currency, and the tenant's monthly quota. (The gateway's middleware already
//! applied the rate limits.)
//!
//! Admission reads through caches ([`AdmissionCaches`]): the capsule's versions and its
//! signer's public key from the registry's [`RunCache`], and what a version's manifest
//! says about running it — the compiled input validator, the price, the timeout — once
//! per version digest ([`RunTermsCache`]): a published version never changes, and compiling
//! the schema cost more than the rest of admission together. A run without an
//! Idempotency-Key whose plan has no monthly quota is admitted on the request's thread
//! from the caches alone ([`CachesOnly`]); at the first miss, and for the other runs,
//! admission runs on the blocking pool with a connection, which fills the caches on the
//! way.

use super::RunAsked;
use crate::error::MeteringError;
use crate::quota;
use caravan_core::db::DbConnection;
use caravan_core::money::Decimal;
use caravan_core::plans::PlanCatalog;
use caravan_core::{Principal, Scope};
use caravan_registry::db::capsules::{self, RunnableVersion};
use caravan_registry::runnable::RunCache;
use caravan_registry::service;
use chrono::NaiveDateTime;
use serde_json::Value;
use std::collections::HashMap;
use std::convert::Infallible;
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
    pub public_key_pem: Arc<str>,
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
    /// The terms of the version with this digest, if they were read before.
    fn get(&self, digest: &str) -> Option<Arc<RunTerms>> {
        self.by_digest.lock().ok().and_then(|terms| terms.get(digest).cloned())
    }

    /// Reads the terms from the version's manifest (JSON) and keeps them.
    fn read(&self, digest: &str, manifest: &str) -> Arc<RunTerms> {
        let terms = Arc::new(RunTerms::read(manifest));
        if let Ok(mut by_digest) = self.by_digest.lock() {
            if by_digest.len() >= MAX_CACHED_TERMS {
                by_digest.clear();
            }
            by_digest.insert(digest.to_owned(), Arc::clone(&terms));
        }
        terms
    }
}

/// What admission keeps between runs.
#[derive(Debug, Clone, Default)]
pub struct AdmissionCaches {
    /// Capsules' versions and signers' public keys, shared with the registry's routes,
    /// which evict what they change.
    pub registry: RunCache,
    pub terms: RunTermsCache,
}

/// Where admission reads what its caches do not hold.
pub trait Reads {
    /// What a read that cannot be made here gives instead.
    type Miss;

    fn read<T, E>(
        &mut self,
        read: impl FnOnce(&mut DbConnection) -> Result<T, E>,
    ) -> Result<Result<T, Self::Miss>, E>;
}

/// No database: admission on the request's thread, from the caches alone.
#[derive(Debug, Clone, Copy)]
pub struct CachesOnly;

/// Admission from [`CachesOnly`] needed a read: run it again with a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeedsDatabase;

impl Reads for CachesOnly {
    type Miss = NeedsDatabase;

    fn read<T, E>(
        &mut self,
        _: impl FnOnce(&mut DbConnection) -> Result<T, E>,
    ) -> Result<Result<T, NeedsDatabase>, E> {
        Ok(Err(NeedsDatabase))
    }
}

impl Reads for &mut DbConnection {
    type Miss = Infallible;

    fn read<T, E>(
        &mut self,
        read: impl FnOnce(&mut DbConnection) -> Result<T, E>,
    ) -> Result<Result<T, Infallible>, E> {
        read(self).map(Ok)
    }
}

/// The cached value, or else what `reads` reads.
fn cached_or<R: Reads, T, E>(
    cached: Option<T>,
    reads: &mut R,
    read: impl FnOnce(&mut DbConnection) -> Result<T, E>,
) -> Result<Result<T, R::Miss>, E> {
    match cached {
        Some(value) => Ok(Ok(value)),
        None => reads.read(read),
    }
}

/// Checks a run request: the plan to run it, or the refusal; `Ok(Err(miss))` when `reads`
/// could not read what the caches lack.
pub fn admit<R: Reads>(
    reads: &mut R,
    caches: &AdmissionCaches,
    plans: &PlanCatalog,
    principal: &Principal,
    asked: &RunAsked,
    now: NaiveDateTime,
) -> Result<Result<RunPlan, R::Miss>, MeteringError> {
    principal.require(Scope::ExecutionsRun)?;
    let registry = &caches.registry;
    let versions = match cached_or(registry.versions(&asked.capsule), reads, |connection| {
        registry.load_versions(connection, &asked.capsule)
    })? {
        Ok(versions) => versions,
        Err(miss) => return Ok(Err(miss)),
    };
    let version = service::resolve_among(&asked.capsule, &versions, &asked.requirement)?;
    let terms = match cached_or(caches.terms.get(&version.digest), reads, |connection| {
        let manifest = capsules::manifest(connection, &version.id)?;
        Ok::<_, MeteringError>(caches.terms.read(&version.digest, &manifest))
    })? {
        Ok(terms) => terms,
        Err(miss) => return Ok(Err(miss)),
    };
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
    // Only a plan with a quota needs this month's count, which is never cached.
    if quota::execution_quota(plans, &principal.plan).is_some() {
        let checked = reads.read(|connection| {
            quota::check_executions(connection, plans, &principal.tenant_id, &principal.plan, now)
        })?;
        if let Err(miss) = checked {
            return Ok(Err(miss));
        }
    }
    let public_key_pem = match cached_or(registry.public_key(&version.signer_key_id), reads, |connection| {
        registry.load_public_key(connection, &version.signer_key_id)
    })? {
        Ok(key) => key,
        Err(miss) => return Ok(Err(miss)),
    };
    Ok(Ok(RunPlan {
        tier: version.tier.clone(),
        timeout_ms: terms.timeout_ms,
        unit_price,
        public_key_pem,
        version,
    }))
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
    fn a_versions_terms_are_kept_by_digest_and_a_schema_that_does_not_compile_refuses() {
        let cache = RunTermsCache::default();
        let manifest = json!({ "input_schema": { "type": "object" }, "runtime": { "timeout_s": 5 },
            "pricing": { "currency": "USD", "per_execution": "0.002" } })
        .to_string();

        assert!(cache.get("sha256:a").is_none(), "nothing read yet");
        let first = cache.read("sha256:a", &manifest);
        let again = cache.get("sha256:a").expect("kept");
        let broken = cache.read("sha256:b", &json!({ "input_schema": { "type": 12 } }).to_string());

        assert!(Arc::ptr_eq(&first, &again), "kept by digest");
        assert_eq!(first.timeout_ms, 5000);
        assert_eq!(first.pricing, Some(("USD".to_owned(), Decimal::from_str("0.002").expect("decimal"))));
        assert!(matches!(first.validator, Some(Ok(_))));
        assert!(matches!(broken.validator, Some(Err(_))), "{broken:?}");
        assert_eq!(broken.timeout_ms, 30_000, "the default timeout");
    }
}
