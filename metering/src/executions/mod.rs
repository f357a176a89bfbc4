//! Executions: tenants run capsules through the gateway on worker backends, in three
//! modes (sync, stream, async); every run is admitted before dispatch, recorded as
//! `running` before it is sent unless it is a plain sync run (see [`Recording`]), and its
//! end — record, usage in the ledger, webhook — is written in one transaction.

pub mod admission;
pub mod dispatch;
pub mod ends;
pub mod pool;
pub mod record;
#[cfg(test)]
mod test_runs;
pub mod webhooks;

use crate::db::executions::{self, ExecutionRow};
use crate::error::MeteringError;
use crate::quota;
use admission::{CachesOnly, NeedsDatabase, RunPlan};
use caravan_core::Principal;
use caravan_core::db::now;
use caravan_core::id::ExecutionId;
use caravan_core::plans::PlanCatalog;
use caravan_worker::protocol::RunRequest;
use dispatch::{Dispatcher, Progress};
use record::{End, Outcome};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::time::Duration;
use tokio::sync::mpsc;
use utoipa::ToSchema;

/// How the caller waits for a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// The answer is the result.
    #[default]
    Sync,
    /// The answer is a server-sent event stream of the run's events.
    Stream,
    /// The answer is 202 at once; poll, or take the webhook.
    Async,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sync => "sync",
            Self::Stream => "stream",
            Self::Async => "async",
        }
    }
}

/// A run as asked for.
#[derive(Debug, Clone)]
pub struct RunAsked {
    pub capsule: String,
    pub requirement: String,
    pub input: Value,
    pub mode: Mode,
    pub webhook_url: Option<String>,
    pub idempotency_key: Option<String>,
}

impl RunAsked {
    /// What makes two requests with one Idempotency-Key the same request.
    fn hash(&self) -> String {
        let mut hasher = Sha256::new();
        for part in [self.capsule.as_str(), self.requirement.as_str(), &self.input.to_string()] {
            hasher.update((part.len() as u64).to_be_bytes());
            hasher.update(part.as_bytes());
        }
        hex::encode(hasher.finalize())
    }
}

/// How a request for a run was answered.
#[derive(Debug)]
pub enum Started {
    /// The Idempotency-Key named an execution made before: that one.
    Existing(Box<ExecutionRow>),
    /// A new run, under way.
    New(Box<ExecutionRow>, mpsc::Receiver<Progress>),
}

/// Admits, records and dispatches a run.
pub async fn start(
    dispatcher: &Dispatcher,
    plans: &PlanCatalog,
    principal: Principal,
    asked: RunAsked,
) -> Result<Started, MeteringError> {
    if let Some(url) = &asked.webhook_url {
        check_webhook_url(url)?;
    }
    if asked.webhook_url.is_some() && asked.mode != Mode::Async {
        return Err(MeteringError::InvalidExecution("`webhook_url` is for `async` runs".to_owned()));
    }
    if let Some(key) = &asked.idempotency_key
        && (key.is_empty() || key.len() > 255)
    {
        return Err(MeteringError::InvalidExecution(
            "Idempotency-Key must have 1 to 255 characters".to_owned(),
        ));
    }
    let hash = asked.hash();
    // The key's execution, if any, and this month's count against a quota are in the
    // database; everything else admission reads may be cached.
    let needs_database =
        asked.idempotency_key.is_some() || quota::execution_quota(plans, &principal.plan).is_some();
    let admitted = if needs_database {
        Err(NeedsDatabase)
    } else {
        admission::admit(&mut CachesOnly, &dispatcher.caches, plans, &principal, &asked, now())?
    };
    let plan = match admitted {
        Ok(plan) => plan,
        Err(NeedsDatabase) => {
            match admit_with_database(dispatcher, plans, &principal, &asked, &hash).await? {
                Ok(plan) => plan,
                Err(existing) => return Ok(Started::Existing(Box::new(existing))),
            }
        }
    };
    let lease = dispatcher.pool.pick(&plan.tier).ok_or_else(|| MeteringError::NoWorker(plan.tier.clone()))?;
    let row = running_row(&principal, &asked, &plan, hash.clone(), lease.backend.id.clone())?;
    let recording = Recording::of(&asked);
    if recording == Recording::FromTheStart {
        let inserted = row.clone();
        let recorded = dispatcher
            .database
            .write(move |connection| {
                match record::start(connection, &inserted) {
                    Ok(()) => Ok(None),
                    // Another request with the same key got there first: answer with its execution.
                    Err(error) => match &inserted.idempotency_key {
                        Some(key) => match executions::find_by_key(connection, &inserted.tenant_id, key)? {
                            Some(existing) => existing_for(existing, &inserted.request_hash).map(Some),
                            None => Err(error),
                        },
                        None => Err(error),
                    },
                }
            })
            .await?;
        if let Some(existing) = recorded {
            return Ok(Started::Existing(Box::new(existing)));
        }
    }
    let request = RunRequest {
        execution_id: row.id.to_string(),
        capsule: row.capsule.clone(),
        version: row.version.clone(),
        digest: row.digest.clone(),
        bundle_url: dispatcher.bundle_url(&row.digest),
        signature: plan.version.signature.clone(),
        public_key_pem: plan.public_key_pem.to_string(),
        input: asked.input.clone(),
        timeout_ms: plan.timeout_ms,
    };
    let progress = dispatcher.spawn(row.clone(), recording, request, lease);
    Ok(Started::New(Box::new(row), progress))
}

/// Admission on the blocking pool, with a connection: for a run with an Idempotency-Key
/// (`Err` with the execution the key named before, asked the same way), and for one whose
/// admission needs what the caches lack.
async fn admit_with_database(
    dispatcher: &Dispatcher,
    plans: &PlanCatalog,
    principal: &Principal,
    asked: &RunAsked,
    hash: &str,
) -> Result<Result<RunPlan, ExecutionRow>, MeteringError> {
    let (caches, plans) = (dispatcher.caches.clone(), plans.clone());
    let (principal, asked, hash) = (principal.clone(), asked.clone(), hash.to_owned());
    dispatcher
        .database
        .run(move |mut connection| {
            if let Some(key) = &asked.idempotency_key
                && let Some(existing) = executions::find_by_key(connection, &principal.tenant_id, key)?
            {
                return existing_for(existing, &hash).map(Err);
            }
            let Ok(plan) = admission::admit(&mut connection, &caches, &plans, &principal, &asked, now())?;
            Ok(Ok(plan))
        })
        .await
}

/// When a run is first written down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recording {
    /// A `running` row before the run is sent, then its end: the run can be listed,
    /// polled and cancelled while it runs.
    FromTheStart,
    /// Once, when it has ended: the record with its usage, in one durable commit before
    /// the caller hears anything.
    AtTheEnd,
}

impl Recording {
    /// A sync run without an Idempotency-Key is recorded at its end only: its caller
    /// learns its id from the answer that reports the end, so no one can poll or cancel
    /// it before. A crash of the gateway before the end leaves no trace of such a run:
    /// its caller got no answer, and it is neither listed nor counted (a `running` row
    /// would have been ended as lost, counting one execution at no price). An async or
    /// streamed run answers with its id at once, and an Idempotency-Key promises the same
    /// execution to a retry after a crash: their rows are on disk before the run is sent.
    pub fn of(asked: &RunAsked) -> Self {
        match (asked.mode, &asked.idempotency_key) {
            (Mode::Sync, None) => Self::AtTheEnd,
            _ => Self::FromTheStart,
        }
    }
}

/// The execution an Idempotency-Key named before, if it was asked the same way.
fn existing_for(existing: ExecutionRow, hash: &str) -> Result<ExecutionRow, MeteringError> {
    if existing.request_hash == hash { Ok(existing) } else { Err(MeteringError::IdempotencyKeyReused) }
}

fn running_row(
    principal: &Principal,
    asked: &RunAsked,
    plan: &RunPlan,
    hash: String,
    worker: String,
) -> Result<ExecutionRow, MeteringError> {
    Ok(ExecutionRow {
        id: ExecutionId::new(),
        tenant_id: principal.tenant_id.clone(),
        api_key_id: principal.require_key()?.clone(),
        capsule: asked.capsule.clone(),
        version: plan.version.version.clone(),
        digest: plan.version.digest.clone(),
        tier: plan.tier.clone(),
        mode: asked.mode.as_str().to_owned(),
        status: "running".to_owned(),
        idempotency_key: asked.idempotency_key.clone(),
        request_hash: hash,
        input: asked.input.to_string(),
        output: None,
        error: None,
        worker_id: Some(worker),
        webhook_url: asked.webhook_url.clone(),
        unit_price: plan.unit_price.map(|price| price.normalize().to_string()),
        tokens_in: 0,
        tokens_out: 0,
        tool_calls: 0,
        job_micros: 0,
        created_at: now(),
        finished_at: None,
        duration_ms: None,
    })
}

/// An http(s) URL of at most 2000 characters.
fn check_webhook_url(url: &str) -> Result<(), MeteringError> {
    let parsed = url::Url::parse(url)
        .map_err(|_| MeteringError::InvalidExecution(format!("`webhook_url` `{url}` is not a URL")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() || url.len() > 2000 {
        return Err(MeteringError::InvalidExecution("`webhook_url` must be an http(s) URL".to_owned()));
    }
    Ok(())
}

/// Asks the worker of a running execution to kill it. The run's end (`cancelled`) is
/// recorded by its dispatch; when the worker no longer knows the run, it is recorded here.
pub async fn cancel(dispatcher: &Dispatcher, execution: &ExecutionRow) -> Result<(), MeteringError> {
    let backend = execution.worker_id.as_deref().and_then(|id| dispatcher.pool.find(id));
    let known = match backend {
        Some(backend) => dispatcher
            .pool
            .client
            .delete(format!("{}/runs/{}", backend.url, execution.id))
            .bearer_auth(&dispatcher.pool.token)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .is_ok_and(|response| response.status().is_success()),
        None => false,
    };
    if !known {
        end_lost(dispatcher, execution.clone(), "cancelled; its worker no longer ran it").await?;
    }
    Ok(())
}

async fn end_lost(
    dispatcher: &Dispatcher,
    execution: ExecutionRow,
    reason: &str,
) -> Result<ExecutionRow, MeteringError> {
    let mut outcome = Outcome::lost(reason);
    if reason.starts_with("cancelled") {
        outcome.status = caravan_worker::protocol::RunStatus::Cancelled;
    }
    let ended =
        dispatcher.ends.record(End { execution, recording: Recording::FromTheStart, outcome }).await?;
    if ended.webhook_url.is_some() {
        dispatcher.deliverer.wake();
    }
    Ok(ended)
}

/// Every `interval`, executions marked running for longer than `after` are checked with
/// their workers; one its worker does not run (the gateway that dispatched it stopped, or
/// the worker went away) is recorded as failed, so every execution ends in a definite
/// state.
pub fn spawn_sweeper(dispatcher: Dispatcher, interval: Duration, after: chrono::TimeDelta) {
    actix_web::rt::spawn(async move {
        let mut ticks = actix_web::rt::time::interval(interval);
        loop {
            ticks.tick().await;
            if let Err(error) = sweep(&dispatcher, after).await {
                tracing::warn!(error = %error, "the execution sweeper could not run");
            }
        }
    });
}

/// One sweep; how many executions it ended.
pub async fn sweep(dispatcher: &Dispatcher, after: chrono::TimeDelta) -> Result<usize, MeteringError> {
    let cutoff = now() - after;
    let stale = dispatcher
        .database
        .run(move |connection| Ok::<_, MeteringError>(executions::running_since(connection, cutoff)?))
        .await?;
    let mut ended = 0;
    for execution in stale {
        let backend = execution.worker_id.as_deref().and_then(|id| dispatcher.pool.find(id));
        let still_running = match backend {
            Some(backend) => {
                let answer = dispatcher
                    .pool
                    .client
                    .get(format!("{}/runs/{}", backend.url, execution.id))
                    .bearer_auth(&dispatcher.pool.token)
                    .timeout(Duration::from_secs(5))
                    .send()
                    .await;
                match answer {
                    Ok(response) => response.status().is_success(),
                    // Unreachable: ask again next time, unless it is a day old.
                    Err(_) => now() - execution.created_at < chrono::TimeDelta::hours(24),
                }
            }
            None => false,
        };
        if !still_running {
            end_lost(
                dispatcher,
                execution,
                "the run was lost: the gateway or its worker stopped while it ran",
            )
            .await?;
            ended += 1;
        }
    }
    Ok(ended)
}
