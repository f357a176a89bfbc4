//! Rate limits: one GCRA limiter per key and one per tenant (governor), with the rates of
//! the tenant's plan, and the IETF `RateLimit-Policy` / `RateLimit` response fields in
//! the structured-field syntax of draft-ietf-httpapi-ratelimit-headers-10.
//!
//! A policy with rate `n` per minute and burst `b` is advertised as quota `q = b` over
//! window `w` = the time to earn `b` requests back. `RateLimit` reports the remaining
//! burst `r` and `t`, the seconds until the burst is whole again. Limiter state of keys
//! and tenants that went quiet is purged on a schedule ([`RateLimits::purge`]).

use actix_web::http::header::HeaderValue;
use caravan_core::Principal;
use caravan_core::plans::{Plan, PlanCatalog};
use caravan_core::random_keys::RandomKeys;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use std::hash::Hash;
use std::num::NonZeroU32;
use std::time::Duration;

type KeyedLimiter<K> =
    RateLimiter<K, DefaultKeyedStateStore<K, RandomKeys>, DefaultClock, StateInformationMiddleware>;

/// Every plan's limiters, by plan id. A catalog holds a handful of plans: comparing their
/// ids costs less than hashing the one looked up, on every request.
#[derive(Debug)]
pub struct RateLimits {
    plans: Vec<(String, PlanLimiters)>,
}

/// Limiters are keyed by the 128-bit ULID of the key or tenant id: no heap allocation
/// per entry, so purging idle state gives the memory back.
#[derive(Debug)]
struct PlanLimiters {
    per_key: Limited<u128>,
    per_tenant: Limited<u128>,
    /// The `RateLimit-Policy` value, the same for every response of the plan.
    policy_header: HeaderValue,
}

#[derive(Debug)]
struct Limited<K: Hash + Eq + Clone> {
    limiter: KeyedLimiter<K>,
    policy: Policy,
}

/// What a policy promises, for the headers.
#[derive(Debug, Clone, Copy)]
struct Policy {
    name: &'static str,
    burst: u32,
    /// Time to earn one request back.
    period: Duration,
}

/// The outcome of one check, with the header values to send either way.
#[derive(Debug)]
pub enum Decision {
    Allowed(RateLimitHeaders),
    Limited { headers: RateLimitHeaders, retry_after_s: u64, violated: Vec<&'static str> },
}

#[derive(Debug, Clone)]
pub struct RateLimitHeaders {
    /// `RateLimit-Policy`
    pub policy: HeaderValue,
    /// `RateLimit`
    pub current: HeaderValue,
}

impl RateLimits {
    pub fn new(plans: &PlanCatalog) -> Self {
        let plans = plans
            .ids()
            .filter_map(|id| plans.get(id).map(|plan| (id.to_owned(), PlanLimiters::new(plan))))
            .collect();
        Self { plans }
    }

    /// Counts one request of `principal` against its key's and its tenant's limits. A plan
    /// missing from the catalog (it was removed while tenants still use it) is not limited.
    pub fn check(&self, principal: &Principal) -> Option<Decision> {
        let (_, limiters) = self.plans.iter().find(|(plan, _)| *plan == principal.plan)?;
        let (key_ulid, tenant_ulid) = principal.limiter_keys();
        let key = limiters.per_key.check(&key_ulid);
        // A request the key's limit refuses must not spend the tenant's budget too, or one
        // runaway key would starve its tenant's other keys.
        let tenant = key.retry_after.is_none().then(|| limiters.per_tenant.check(&tenant_ulid));
        let mut current = String::with_capacity(64);
        key.describe(&mut current);
        if let Some(tenant) = &tenant {
            current.push_str(", ");
            tenant.describe(&mut current);
        }
        let headers = RateLimitHeaders {
            policy: limiters.policy_header.clone(),
            // Policy names and numbers are ASCII: always a valid header value.
            current: HeaderValue::from_str(&current).unwrap_or(HeaderValue::from_static("")),
        };
        let refusal = match &tenant {
            None => Some(&key),
            Some(tenant) if tenant.retry_after.is_some() => Some(tenant),
            Some(_) => None,
        };
        let Some(refusal) = refusal else {
            return Some(Decision::Allowed(headers));
        };
        let wait = refusal.retry_after.unwrap_or_default();
        let retry_after_s = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
        Some(Decision::Limited { headers, retry_after_s, violated: vec![refusal.policy.name] })
    }

    /// Drops the state of keys and tenants whose limits are whole again, and returns how
    /// many entries remain. Run on a schedule so memory follows the active keys only.
    pub fn purge(&self) -> usize {
        self.plans
            .iter()
            .map(|(_, limiters)| {
                limiters.per_key.limiter.retain_recent();
                limiters.per_key.limiter.shrink_to_fit();
                limiters.per_tenant.limiter.retain_recent();
                limiters.per_tenant.limiter.shrink_to_fit();
                limiters.per_key.limiter.len() + limiters.per_tenant.limiter.len()
            })
            .sum()
    }
}

impl PlanLimiters {
    fn new(plan: &Plan) -> Self {
        let per_key = Limited::new("key", plan.key_requests_per_minute, plan.key_burst);
        let per_tenant = Limited::new("tenant", plan.tenant_requests_per_minute, plan.tenant_burst);
        let policy = format!("{}, {}", per_key.policy.describe(), per_tenant.policy.describe());
        let policy_header = HeaderValue::from_str(&policy).unwrap_or(HeaderValue::from_static(""));
        Self { per_key, per_tenant, policy_header }
    }
}

/// One limiter's view of one request.
#[derive(Debug)]
struct PolicyState {
    policy: Policy,
    remaining: u32,
    retry_after: Option<Duration>,
}

impl<K: Hash + Eq + Clone> Limited<K> {
    fn new(name: &'static str, per_minute: NonZeroU32, burst: NonZeroU32) -> Self {
        let quota = Quota::per_minute(per_minute).allow_burst(burst);
        let policy = Policy { name, burst: burst.get(), period: quota.replenish_interval() };
        let limiter = RateLimiter::dashmap_with_hasher(quota, RandomKeys::default());
        Self { limiter: limiter.with_middleware::<StateInformationMiddleware>(), policy }
    }

    fn check(&self, key: &K) -> PolicyState {
        match self.limiter.check_key(key) {
            Ok(snapshot) => PolicyState {
                policy: self.policy,
                remaining: snapshot.remaining_burst_capacity(),
                retry_after: None,
            },
            Err(not_until) => PolicyState {
                policy: self.policy,
                remaining: 0,
                retry_after: Some(not_until.wait_time_from(self.limiter.clock().now())),
            },
        }
    }
}

impl Policy {
    fn window_s(&self) -> u64 {
        ceil_seconds(self.period * self.burst)
    }

    fn describe(&self) -> String {
        format!("\"{}\";q={};w={}", self.name, self.burst, self.window_s())
    }
}

impl PolicyState {
    /// `"name";r=…;t=…`, written without the formatting machinery: once or twice per request.
    fn describe(&self, out: &mut String) {
        let missing = self.policy.burst.saturating_sub(self.remaining);
        let reset = ceil_seconds(self.policy.period * missing);
        let mut number = itoa::Buffer::new();
        out.push('"');
        out.push_str(self.policy.name);
        out.push_str("\";r=");
        out.push_str(number.format(self.remaining));
        out.push_str(";t=");
        out.push_str(number.format(reset));
    }
}

fn ceil_seconds(duration: Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use caravan_core::id::{ApiKeyId, TenantId};
    use caravan_core::{Actor, PrincipalDetails};

    fn catalog() -> PlanCatalog {
        PlanCatalog::parse(
            "[plans.tiny]\nname='Tiny'\nkey_requests_per_minute=60\nkey_burst=2\ntenant_requests_per_minute=600\ntenant_burst=100\n",
        )
        .expect("plans")
    }

    fn principal() -> Principal {
        Principal::new(PrincipalDetails {
            tenant_id: TenantId::new(),
            actor: Actor::Key(ApiKeyId::new()),
            scopes: Default::default(),
            capsule_patterns: Vec::new(),
            plan: "tiny".to_owned(),
            operator: false,
            expires_at: None,
            test_environment: false,
        })
    }

    #[test]
    fn the_burst_passes_then_the_key_policy_refuses() {
        let limits = RateLimits::new(&catalog());
        let caller = principal();

        let first = limits.check(&caller);
        let second = limits.check(&caller);
        let third = limits.check(&caller);

        let Some(Decision::Allowed(headers)) = first else { panic!("first request allowed") };
        assert_eq!(headers.policy, r#""key";q=2;w=2, "tenant";q=100;w=10"#);
        assert_eq!(headers.current, r#""key";r=1;t=1, "tenant";r=99;t=1"#);
        assert!(matches!(second, Some(Decision::Allowed(_))));
        let Some(Decision::Limited { retry_after_s, violated, headers }) = third else {
            panic!("third refused")
        };
        assert_eq!(violated, ["key"]);
        assert_eq!(retry_after_s, 1);
        assert_eq!(
            headers.current, r#""key";r=0;t=2"#,
            "a refused request spends nothing of the tenant's budget"
        );
    }

    #[test]
    fn each_key_has_its_own_limiter_and_purge_forgets_idle_ones() {
        // One request is earned back every 100 ms per key and every 10 ms per tenant.
        let fast = PlanCatalog::parse(
            "[plans.tiny]\nname='Tiny'\nkey_requests_per_minute=600\nkey_burst=1\ntenant_requests_per_minute=6000\ntenant_burst=1\n",
        )
        .expect("plans");
        let limits = RateLimits::new(&fast);
        for _ in 0..50 {
            assert!(matches!(limits.check(&principal()), Some(Decision::Allowed(_))));
        }
        assert_eq!(limits.purge(), 100, "fresh state is kept");
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(limits.purge(), 0, "state that is whole again is dropped");
    }

    #[test]
    fn a_runaway_key_does_not_spend_its_tenants_budget() {
        let plans = PlanCatalog::parse(
            "[plans.tiny]\nname='Tiny'\nkey_requests_per_minute=1\nkey_burst=1\ntenant_requests_per_minute=1\ntenant_burst=2\n",
        )
        .expect("plans");
        let limits = RateLimits::new(&plans);
        let runaway = principal();
        let sibling =
            Principal::new(PrincipalDetails { actor: Actor::Key(ApiKeyId::new()), ..(*runaway).clone() });

        assert!(matches!(limits.check(&runaway), Some(Decision::Allowed(_))));
        for _ in 0..5 {
            assert!(matches!(limits.check(&runaway), Some(Decision::Limited { .. })));
        }

        assert!(matches!(limits.check(&sibling), Some(Decision::Allowed(_))), "the tenant still has budget");
    }

    #[test]
    fn an_unknown_plan_is_not_limited() {
        let limits = RateLimits::new(&catalog());
        let mut caller = (*principal()).clone();
        caller.plan = "retired".to_owned();
        assert!(limits.check(&Principal::new(caller)).is_none());
    }
}
