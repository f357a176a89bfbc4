//! The worker pool: backends of a tier (or of every tier), from the settings or registered
//! through the API. A run goes to the healthy backend of its tier with the fewest runs
//! outstanding. Active health checks (`GET /healthz`) mark backends up or down; a circuit
//! breaker opens after consecutive failures and lets one trial through after a cooldown.
//! One shared HTTP client keeps connections pooled.

use caravan_core::id::WorkerId;
use serde::Serialize;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use utoipa::ToSchema;

/// Consecutive failures that open a backend's breaker.
const TRIP_AFTER: u32 = 3;
/// How long an open breaker refuses before one trial run.
const COOLDOWN: Duration = Duration::from_secs(10);

/// `fast`, `balanced` or `flagship`.
pub const TIERS: [&str; 3] = ["fast", "balanced", "flagship"];

/// One worker backend.
#[derive(Debug)]
pub struct Backend {
    pub id: String,
    pub url: String,
    /// `None`: every tier (the embedded local worker).
    pub tier: Option<String>,
    /// Registered through the API (and so removable through it).
    pub registered: bool,
    outstanding: AtomicUsize,
    healthy: AtomicBool,
    breaker: Mutex<Breaker>,
}

#[derive(Debug, Default)]
struct Breaker {
    failures: u32,
    open_until: Option<Instant>,
}

/// What `GET /v1/workers` shows of a backend.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BackendView {
    pub id: String,
    pub url: String,
    /// Absent for a backend that takes every tier.
    pub tier: Option<String>,
    pub registered: bool,
    pub healthy: bool,
    /// `closed` (taking runs), `open` (refusing after failures) or `half_open`.
    pub breaker: String,
    pub outstanding: usize,
}

impl Backend {
    pub fn new(id: String, url: String, tier: Option<String>, registered: bool) -> Self {
        Self {
            id,
            url: url.trim_end_matches('/').to_owned(),
            tier,
            registered,
            outstanding: AtomicUsize::new(0),
            healthy: AtomicBool::new(true),
            breaker: Mutex::new(Breaker::default()),
        }
    }

    fn serves(&self, tier: &str) -> bool {
        self.tier.as_deref().is_none_or(|own| own == tier)
    }

    /// Closed, or open past its cooldown (half open: one trial goes through).
    fn admits(&self, now: Instant) -> bool {
        self.breaker
            .lock()
            .map(|breaker| breaker.open_until.is_none_or(|until| now >= until))
            .unwrap_or(false)
    }

    pub fn record_success(&self) {
        if let Ok(mut breaker) = self.breaker.lock() {
            *breaker = Breaker::default();
        }
    }

    /// A failed call: after `TRIP_AFTER` in a row, the breaker opens for `COOLDOWN`.
    pub fn record_failure(&self) {
        if let Ok(mut breaker) = self.breaker.lock() {
            breaker.failures += 1;
            if breaker.failures >= TRIP_AFTER {
                breaker.open_until = Some(Instant::now() + COOLDOWN);
                tracing::warn!(worker = %self.url, "worker circuit breaker opened");
            }
        }
    }

    fn view(&self) -> BackendView {
        let now = Instant::now();
        let breaker = match self.breaker.lock().ok().and_then(|breaker| breaker.open_until) {
            None => "closed",
            Some(until) if now < until => "open",
            Some(_) => "half_open",
        };
        BackendView {
            id: self.id.clone(),
            url: self.url.clone(),
            tier: self.tier.clone(),
            registered: self.registered,
            healthy: self.healthy.load(Ordering::Relaxed),
            breaker: breaker.to_owned(),
            outstanding: self.outstanding.load(Ordering::Relaxed),
        }
    }
}

/// A backend chosen for one run; dropping it gives the slot back.
#[derive(Debug)]
pub struct Lease {
    pub backend: Arc<Backend>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.backend.outstanding.fetch_sub(1, Ordering::Relaxed);
    }
}

#[derive(Debug)]
pub struct WorkerPool {
    pub client: reqwest::Client,
    /// The worker token: presented to workers, and expected from them on bundle downloads.
    pub token: String,
    backends: RwLock<Vec<Arc<Backend>>>,
}

impl WorkerPool {
    pub fn new(client: reqwest::Client, token: String, backends: Vec<Backend>) -> Self {
        Self { client, token, backends: RwLock::new(backends.into_iter().map(Arc::new).collect()) }
    }

    /// The healthy, admitting backend of `tier` with the fewest outstanding runs.
    pub fn pick(&self, tier: &str) -> Option<Lease> {
        let now = Instant::now();
        let backends = self.backends.read().ok()?;
        let chosen = backends
            .iter()
            .filter(|backend| {
                backend.serves(tier) && backend.healthy.load(Ordering::Relaxed) && backend.admits(now)
            })
            .min_by_key(|backend| backend.outstanding.load(Ordering::Relaxed))?
            .clone();
        chosen.outstanding.fetch_add(1, Ordering::Relaxed);
        Some(Lease { backend: chosen })
    }

    pub fn find(&self, id: &str) -> Option<Arc<Backend>> {
        self.backends.read().ok()?.iter().find(|backend| backend.id == id).cloned()
    }

    pub fn add(&self, backend: Backend) {
        if let Ok(mut backends) = self.backends.write() {
            backends.retain(|known| known.id != backend.id);
            backends.push(Arc::new(backend));
        }
    }

    pub fn remove(&self, id: &str) {
        if let Ok(mut backends) = self.backends.write() {
            backends.retain(|backend| backend.id != id);
        }
    }

    pub fn views(&self) -> Vec<BackendView> {
        self.backends
            .read()
            .map(|backends| backends.iter().map(|backend| backend.view()).collect())
            .unwrap_or_default()
    }

    /// Asks every backend `GET /healthz` and marks it up or down. A check that fails is
    /// asked once more on a fresh connection before the backend is marked down, so one
    /// dropped connection does not take a worker out of the pool.
    pub async fn check_health(&self) {
        let backends: Vec<Arc<Backend>> =
            self.backends.read().map(|backends| backends.clone()).unwrap_or_default();
        for backend in backends {
            let healthy = self.answers_health(&backend).await || self.answers_health(&backend).await;
            let was = backend.healthy.swap(healthy, Ordering::Relaxed);
            if was != healthy {
                tracing::warn!(worker = %backend.url, healthy, "worker health changed");
            }
        }
    }

    async fn answers_health(&self, backend: &Backend) -> bool {
        let answer =
            self.client.get(format!("{}/healthz", backend.url)).timeout(Duration::from_secs(2)).send().await;
        answer.is_ok_and(|response| response.status().is_success())
    }

    /// Checks health every `interval` until the runtime stops.
    pub fn spawn_health_checks(self: &Arc<Self>, interval: Duration) {
        let pool = self.clone();
        actix_web::rt::spawn(async move {
            let mut ticks = actix_web::rt::time::interval(interval);
            loop {
                ticks.tick().await;
                pool.check_health().await;
            }
        });
    }
}

/// A new id for a backend from the settings (stable within the process).
pub fn configured_id(index: usize) -> String {
    format!("configured-{index}")
}

/// A new id for a registered backend.
pub fn registered_id() -> String {
    WorkerId::new().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool() -> WorkerPool {
        WorkerPool::new(
            reqwest::Client::new(),
            "t".to_owned(),
            vec![
                Backend::new("a".into(), "http://a".into(), Some("fast".into()), false),
                Backend::new("b".into(), "http://b".into(), Some("fast".into()), false),
                Backend::new("c".into(), "http://c".into(), Some("flagship".into()), false),
            ],
        )
    }

    #[test]
    fn runs_go_to_the_backend_of_the_tier_with_the_fewest_outstanding() {
        let pool = pool();
        let first = pool.pick("fast").expect("a fast backend");
        let second = pool.pick("fast").expect("another fast backend");
        assert_ne!(first.backend.id, second.backend.id);
        drop(first);
        let third = pool.pick("fast").expect("a fast backend");
        assert_ne!(third.backend.id, second.backend.id, "the one with nothing outstanding");
        assert_eq!(pool.pick("flagship").map(|lease| lease.backend.id.clone()), Some("c".to_owned()));
        assert!(pool.pick("balanced").is_none());
    }

    #[test]
    fn a_breaker_opens_after_three_failures_and_skips_the_backend() {
        let pool = pool();
        let c = pool.find("c").expect("c");
        for _ in 0..3 {
            c.record_failure();
        }
        assert!(pool.pick("flagship").is_none());
        assert_eq!(
            pool.views().iter().find(|view| view.id == "c").map(|view| view.breaker.clone()),
            Some("open".to_owned())
        );
        c.record_success();
        assert!(pool.pick("flagship").is_some());
    }
}
