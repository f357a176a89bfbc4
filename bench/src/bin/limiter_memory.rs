//! Limiter memory under key churn: 1,000,000 distinct keys (of 10,000 tenants) each make
//! one request and go quiet; then the scheduled purge runs. Prints the process's resident
//! memory before, at the peak, and after the purge.
//!
//!   cargo run --release -p caravan-bench --bin limiter-memory [-- KEYS]

// A report printed for a person is this program's whole output.
#![allow(clippy::print_stdout)]

use caravan_core::id::{ApiKeyId, TenantId};
use caravan_core::plans::PlanCatalog;
use caravan_core::{Actor, Principal, PrincipalDetails, ScopeSet};
use caravan_gateway::rate_limit::{Decision, RateLimits};
use std::time::{Duration, Instant};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let keys: usize = std::env::args().nth(1).map(|arg| arg.parse()).transpose()?.unwrap_or(1_000_000);
    let plans = PlanCatalog::built_in()?;
    let limits = RateLimits::new(&plans);
    let tenants: Vec<TenantId> = (0..10_000).map(|_| TenantId::new()).collect();
    let before = resident_mib()?;

    let started = Instant::now();
    let mut refused = 0_usize;
    for index in 0..keys {
        let principal = Principal::new(PrincipalDetails {
            tenant_id: tenants[index % tenants.len()].clone(),
            actor: Actor::Key(ApiKeyId::new()),
            scopes: ScopeSet::default(),
            capsule_patterns: Vec::new(),
            plan: "pro".to_owned(),
            operator: false,
            expires_at: None,
            test_environment: false,
        });
        if matches!(limits.check(&principal), Some(Decision::Limited { .. })) {
            refused += 1;
        }
    }
    let elapsed = started.elapsed();
    let peak = resident_mib()?;
    // The pro plan earns a key's request back in 50 ms; after twice that the state is
    // indistinguishable from fresh and the purge drops it.
    std::thread::sleep(Duration::from_millis(500));
    let purge_started = Instant::now();
    let live_after_purge = limits.purge();
    let purge_time = purge_started.elapsed();
    let after = resident_mib()?;

    println!("keys: {keys} distinct, one request each ({refused} refused) in {:.2} s", elapsed.as_secs_f64());
    println!("limiter entries left after the purge: {live_after_purge}");
    println!("resident memory: before {before:.1} MiB, peak {peak:.1} MiB, after purge {after:.1} MiB");
    println!("after purge - before: {:+.1} MiB (purge took {} ms)", after - before, purge_time.as_millis());
    Ok(())
}

fn resident_mib() -> Result<f64, Box<dyn std::error::Error>> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .ok_or("no VmRSS")?
        .parse()?;
    Ok(kib / 1024.0)
}
