//! Webhooks for async executions, from a durable outbox (`webhook_deliveries`): each
//! delivery is POSTed with `Caravan-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of
//! "<t>.<body>">` — one `v1` per live secret of the tenant, so a receiver keeps verifying
//! while a secret is rotated — and retried with exponential backoff (1 s, 2 s, 4 s, …,
//! at most an hour apart) until a 2xx or until 24 hours have passed. The body's `id` is
//! the same on every attempt, so receivers drop repeats.

use crate::db::webhooks::{self, DeliveryRow};
use crate::error::MeteringError;
use caravan_core::Database;
use caravan_core::db::now;
use chrono::{NaiveDateTime, TimeDelta};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// How long a delivery keeps being retried.
pub const GIVE_UP_AFTER: TimeDelta = TimeDelta::hours(24);
/// How long one attempt may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// A fresh signing secret: `whsec_` and 32 random bytes in hex.
pub fn new_secret() -> String {
    let mut bytes = [0_u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("whsec_{}", hex::encode(bytes))
}

/// The `Caravan-Signature` header for `body` at unix time `timestamp`.
pub fn signature(body: &[u8], secrets: &[String], timestamp: i64) -> String {
    let mut header = format!("t={timestamp}");
    for secret in secrets {
        if let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
            mac.update(timestamp.to_string().as_bytes());
            mac.update(b".");
            mac.update(body);
            header.push_str(&format!(",v1={}", hex::encode(mac.finalize().into_bytes())));
        }
    }
    header
}

/// When to try again after `attempts` failed attempts of a delivery made at `created_at`;
/// `None` once it is past giving up.
pub fn next_attempt(attempts: i64, created_at: NaiveDateTime, now: NaiveDateTime) -> Option<NaiveDateTime> {
    let wait = TimeDelta::seconds(1_i64 << attempts.clamp(0, 12)).min(TimeDelta::hours(1));
    let next = now + wait;
    (next - created_at <= GIVE_UP_AFTER).then_some(next)
}

/// Delivers the outbox: on every wake-up and every second.
#[derive(Debug, Clone)]
pub struct Deliverer {
    database: Database,
    client: reqwest::Client,
    wake: Arc<Notify>,
}

impl Deliverer {
    pub fn new(database: Database, client: reqwest::Client) -> Self {
        Self { database, client, wake: Arc::new(Notify::new()) }
    }

    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub fn spawn(&self) {
        let deliverer = self.clone();
        actix_web::rt::spawn(async move {
            let mut ticks = actix_web::rt::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    _ = ticks.tick() => {}
                    () = deliverer.wake.notified() => {}
                }
                if let Err(error) = deliverer.deliver_due().await {
                    tracing::warn!(error = %error, "webhook deliveries could not run");
                }
            }
        });
    }

    /// Sends every delivery that is due; how many were attempted.
    pub async fn deliver_due(&self) -> Result<usize, MeteringError> {
        let due = self
            .database
            .run(|connection| Ok::<_, MeteringError>(webhooks::due(connection, now(), 50)?))
            .await?;
        let mut attempted = 0;
        for delivery in due {
            let id = delivery.id.clone();
            let seen = delivery.next_attempt_at.unwrap_or_default();
            let lease_until = now() + TimeDelta::seconds(60);
            let leased = self
                .database
                .run(move |connection| {
                    Ok::<_, MeteringError>(webhooks::lease(connection, &id, seen, lease_until)?)
                })
                .await?;
            if leased {
                self.attempt(delivery).await?;
                attempted += 1;
            }
        }
        Ok(attempted)
    }

    async fn attempt(&self, delivery: DeliveryRow) -> Result<(), MeteringError> {
        let tenant = delivery.tenant_id.clone();
        let secrets = self
            .database
            .run(move |connection| {
                Ok::<_, MeteringError>(webhooks::live_secrets(connection, &tenant, now())?)
            })
            .await?
            .into_iter()
            .map(|secret| secret.secret)
            .collect::<Vec<_>>();
        let header = signature(delivery.payload.as_bytes(), &secrets, chrono::Utc::now().timestamp());
        let sent = self
            .client
            .post(&delivery.url)
            .timeout(ATTEMPT_TIMEOUT)
            .header("Content-Type", "application/json")
            .header("Caravan-Signature", header)
            .header("Caravan-Event-Id", &delivery.event_id)
            .body(delivery.payload.clone())
            .send()
            .await;
        let (status, error) = match sent {
            Ok(response) if response.status().is_success() => {
                (Some(i64::from(response.status().as_u16())), None)
            }
            Ok(response) => {
                (Some(i64::from(response.status().as_u16())), Some(format!("answered {}", response.status())))
            }
            Err(error) => (None, Some(error.to_string())),
        };
        let at = now();
        let (delivered_at, next) = match &error {
            None => (Some(at), None),
            Some(_) => (None, next_attempt(delivery.attempts + 1, delivery.created_at, at)),
        };
        if error.is_some() && next.is_none() {
            tracing::warn!(delivery = %delivery.id, url = %delivery.url, "webhook given up after 24 hours");
        }
        self.database
            .run(move |connection| {
                Ok::<_, MeteringError>(webhooks::record_attempt(
                    connection,
                    &delivery.id,
                    status,
                    error.as_deref(),
                    delivered_at,
                    next,
                )?)
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_an_hour_and_gives_up_after_a_day() {
        let created = chrono::DateTime::from_timestamp(1_000_000, 0).expect("time").naive_utc();
        let seconds = |attempts: i64, at: NaiveDateTime| {
            next_attempt(attempts, created, at).map(|next| (next - at).num_seconds())
        };
        assert_eq!(seconds(1, created), Some(2));
        assert_eq!(seconds(5, created), Some(32));
        assert_eq!(seconds(30, created), Some(3600));
        assert_eq!(seconds(30, created + TimeDelta::hours(23) + TimeDelta::minutes(30)), None);
    }

    #[test]
    fn every_live_secret_signs() {
        let header = signature(b"{}", &["whsec_a".to_owned(), "whsec_b".to_owned()], 42);
        assert!(header.starts_with("t=42,v1="));
        assert_eq!(header.matches("v1=").count(), 2);
        // The same verification a receiver does, with the second secret.
        let mut mac = Hmac::<Sha256>::new_from_slice(b"whsec_b").expect("mac");
        mac.update(b"42.{}");
        assert!(header.contains(&hex::encode(mac.finalize().into_bytes())));
    }
}
