//! Dispatch: a recorded execution goes to the chosen worker, whose events are passed on
//! as they arrive and added up into the run's outcome; when the run ends — or the worker
//! stops answering — the end is recorded. The run belongs to a task of its own, so it is
//! recorded even when the caller stops listening.
//!
//! Work is never replayed on another worker once one may have started it: only a worker
//! that could not be connected to is skipped for the next.

use super::Recording;
use super::admission::AdmissionCaches;
use super::ends::EndRecorder;
use super::pool::{Lease, WorkerPool};
use super::record::{End, Outcome};
use super::webhooks::Deliverer;
use crate::db::executions::ExecutionRow;
use crate::domain::meter::MeterCatalog;
use caravan_core::Database;
use caravan_core::money::Decimal;
use caravan_worker::protocol::{RunEvent, RunRequest, RunStatus};
use futures_util::StreamExt;
use std::str::FromStr;
use std::sync::Arc;
use tokio::sync::mpsc;

/// What a handler hears of a run.
#[derive(Debug, Clone)]
pub enum Progress {
    Event(RunEvent),
    /// The run is over and recorded.
    Finished(Box<ExecutionRow>),
}

/// What every run needs.
#[derive(Debug, Clone)]
pub struct Dispatcher {
    pub database: Database,
    pub meters: MeterCatalog,
    pub pool: Arc<WorkerPool>,
    /// Where workers download bundles: `<gateway_url>/internal/bundles/<digest>`.
    pub gateway_url: String,
    /// Woken when an ended run has a webhook to deliver.
    pub deliverer: Deliverer,
    /// What admission read of the registry for runs before.
    pub caches: AdmissionCaches,
    /// Records the ends of runs, many in one transaction.
    pub ends: EndRecorder,
}

impl Dispatcher {
    /// Runs `execution` on the leased worker; its progress, ending with `Finished`.
    pub fn spawn(
        &self,
        execution: ExecutionRow,
        recording: Recording,
        request: RunRequest,
        lease: Lease,
    ) -> mpsc::Receiver<Progress> {
        let (progress, receiver) = mpsc::channel(64);
        let dispatcher = self.clone();
        actix_web::rt::spawn(async move {
            let outcome = dispatcher.run(&request, &lease, &progress).await;
            drop(lease);
            let ended = dispatcher.ends.record(End { execution, recording, outcome }).await;
            match ended {
                Ok(row) => {
                    if row.webhook_url.is_some() {
                        dispatcher.deliverer.wake();
                    }
                    let _ = progress.send(Progress::Finished(Box::new(row))).await;
                }
                Err(error) => tracing::error!(error = %error, "an execution's end could not be recorded"),
            }
        });
        receiver
    }

    /// The bundle URL for a digest.
    pub fn bundle_url(&self, digest: &str) -> String {
        format!("{}/internal/bundles/{digest}", self.gateway_url.trim_end_matches('/'))
    }

    async fn run(&self, request: &RunRequest, lease: &Lease, progress: &mpsc::Sender<Progress>) -> Outcome {
        let backend = &lease.backend;
        let sent = self
            .pool
            .client
            .post(format!("{}/runs", backend.url))
            .bearer_auth(&self.pool.token)
            .json(request)
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(error) => {
                backend.record_failure();
                // Once connected, the worker may have started the run before it died.
                let reason = if error.is_connect() {
                    format!("the worker could not be reached: {error}")
                } else {
                    format!("the worker stopped answering before the run ended: {error}")
                };
                return Outcome::lost(&reason);
            }
        };
        if !response.status().is_success() {
            let status = response.status();
            if status.is_server_error() {
                backend.record_failure();
            }
            let problem: serde_json::Value = response.json().await.unwrap_or_default();
            let detail = problem["detail"].as_str().unwrap_or("no detail").to_owned();
            return Outcome::lost(&format!("the worker refused the run ({status}): {detail}"));
        }
        let mut outcome = Totals::default();
        let mut lines = response.bytes_stream();
        let mut buffer: Vec<u8> = Vec::new();
        while let Some(chunk) = lines.next().await {
            let Ok(chunk) = chunk else { break };
            buffer.extend_from_slice(&chunk);
            while let Some(end) = buffer.iter().position(|byte| *byte == b'\n') {
                let line: Vec<u8> = buffer.drain(..=end).collect();
                let Ok(event) = serde_json::from_slice::<RunEvent>(&line) else { continue };
                if let RunEvent::Exit { status, reason, job_seconds, .. } = &event {
                    backend.record_success();
                    let _ = progress.send(Progress::Event(event.clone())).await;
                    return outcome.into_outcome(*status, reason.clone(), job_seconds);
                }
                outcome.add(&event);
                // A caller that stopped listening does not stop the run.
                let _ = progress.send(Progress::Event(event)).await;
            }
        }
        backend.record_failure();
        let mut lost = outcome.into_outcome(RunStatus::Failed, None, "0");
        lost.reason = Some("the worker stopped answering before the run ended".to_owned());
        lost
    }
}

/// The run's events added up.
#[derive(Debug, Default)]
struct Totals {
    output: Option<serde_json::Value>,
    tokens_in: u64,
    tokens_out: u64,
    tool_calls: u64,
}

impl Totals {
    fn add(&mut self, event: &RunEvent) {
        match event {
            RunEvent::Usage { tokens_in, tokens_out } => {
                self.tokens_in = self.tokens_in.saturating_add(*tokens_in);
                self.tokens_out = self.tokens_out.saturating_add(*tokens_out);
            }
            RunEvent::ToolCall { .. } => self.tool_calls += 1,
            RunEvent::Result { output } => self.output = Some(output.clone()),
            RunEvent::Started | RunEvent::Log { .. } | RunEvent::Exit { .. } => {}
        }
    }

    fn into_outcome(self, status: RunStatus, reason: Option<String>, job_seconds: &str) -> Outcome {
        Outcome {
            status,
            output: if status == RunStatus::Succeeded { self.output } else { None },
            reason,
            tokens_in: self.tokens_in,
            tokens_out: self.tokens_out,
            tool_calls: self.tool_calls,
            job_seconds: Decimal::from_str(job_seconds).unwrap_or_default(),
        }
    }
}
