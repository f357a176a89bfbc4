//! Stripe: the client (`async-stripe`, base URL configurable), the exactly-once invoice
//! sync and its background runner, and signed webhooks.

pub mod client;
pub mod signature;
pub mod sync;
pub mod webhook;

use caravan_core::Database;
use client::{StripeApi, StripeFailure};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, Notify};

/// The `[stripe]` settings. Without `api_key`, invoices are not pushed anywhere.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct StripeSettings {
    /// The secret API key (`sk_live_…`, `sk_test_…`).
    #[serde(skip_serializing)]
    pub api_key: Option<SecretString>,
    /// Stripe's API, or a compatible server's.
    pub base_url: String,
    /// The webhook endpoint's signing secrets (`whsec_…`); several while one is rolled.
    #[serde(skip_serializing)]
    pub webhook_secrets: Vec<SecretString>,
    /// How often pending invoices are pushed, besides right after a close.
    pub sync_interval_s: u64,
}

impl Default for StripeSettings {
    fn default() -> Self {
        Self {
            api_key: None,
            base_url: "https://api.stripe.com/".to_owned(),
            webhook_secrets: Vec::new(),
            sync_interval_s: 60,
        }
    }
}

impl StripeSettings {
    pub fn webhook_secrets(&self) -> Vec<String> {
        self.webhook_secrets.iter().map(|secret| secret.expose_secret().to_owned()).collect()
    }
}

/// The sync, when Stripe is configured: the API, a way to wake the runner, and a lock so
/// that one sync runs at a time in this process. (Replicas may sync at once: the
/// idempotency keys make that safe, and Stripe's "key in use" answer is retried.)
#[derive(Debug, Clone)]
pub struct StripeSync {
    pub api: StripeApi,
    wake: Arc<Notify>,
    running: Arc<Mutex<()>>,
    interval: Duration,
}

impl StripeSync {
    pub fn from_settings(settings: &StripeSettings) -> Result<Option<Self>, StripeFailure> {
        let Some(key) = &settings.api_key else { return Ok(None) };
        Ok(Some(Self {
            api: StripeApi::new(&settings.base_url, key.expose_secret())?,
            wake: Arc::new(Notify::new()),
            running: Arc::new(Mutex::new(())),
            interval: Duration::from_secs(settings.sync_interval_s.max(1)),
        }))
    }

    /// Asks the runner to sync now (after a close or a void).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Syncs every pending invoice now, after any sync already running.
    pub async fn run(&self, database: &Database) -> Result<sync::SyncReport, crate::MeteringError> {
        let _running = self.running.lock().await;
        sync::sync_pending(&self.api, database).await
    }

    /// Runs the sync on every tick and every wake-up, until the runtime stops.
    pub fn spawn(&self, database: Database) {
        let sync = self.clone();
        actix_web::rt::spawn(async move {
            let mut ticks = actix_web::rt::time::interval(sync.interval);
            loop {
                tokio::select! {
                    _ = ticks.tick() => {}
                    () = sync.wake.notified() => {}
                }
                match sync.run(&database).await {
                    Ok(report) if report != sync::SyncReport::default() => {
                        tracing::info!(
                            synced = report.synced,
                            failed = report.failed,
                            retrying = report.retrying,
                            "Stripe sync"
                        );
                    }
                    Ok(_) => {}
                    Err(error) => tracing::warn!(error = %error, "Stripe sync could not run"),
                }
            }
        });
    }
}
