//! What the gateway and a worker say to each other over HTTP.
//!
//! The gateway sends a [`RunRequest`] (`POST /runs`, `Authorization: Bearer <worker
//! token>`); the worker answers with newline-delimited JSON [`RunEvent`]s as they
//! happen, ending with exactly one [`RunEvent::Exit`]. `DELETE /runs/{execution_id}`
//! kills a run. A capsule's entrypoint speaks a subset of the same events on its standard
//! output (`usage`, `tool_call`, `log`, `result`), one JSON object per line.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The media type of a run's answer.
pub const EVENTS_CONTENT_TYPE: &str = "application/x-ndjson";

/// A run to start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRequest {
    pub execution_id: String,
    /// `publisher/name`.
    pub capsule: String,
    pub version: String,
    /// `sha256:<hex>` of the bundle; the worker checks what it downloads against it.
    pub digest: String,
    /// Where the worker downloads the bundle (with its worker token).
    pub bundle_url: String,
    /// The publisher's base64 signature over the bundle, and the key that made it.
    pub signature: String,
    pub public_key_pem: String,
    /// Given to the entrypoint as JSON on its standard input.
    pub input: Value,
    /// The run is killed when it lasts longer.
    pub timeout_ms: u64,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Succeeded,
    Failed,
    TimedOut,
    Cancelled,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::TimedOut => "timed_out",
            Self::Cancelled => "cancelled",
        }
    }
}

/// One thing that happened during a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RunEvent {
    /// The bundle is ready and the entrypoint started.
    Started,
    /// Tokens the capsule consumed (it may report several times; they add up).
    Usage {
        #[serde(default)]
        tokens_in: u64,
        #[serde(default)]
        tokens_out: u64,
    },
    /// A tool the capsule called.
    ToolCall {
        #[serde(default)]
        name: String,
    },
    /// A line for the run's log.
    Log {
        #[serde(default)]
        level: Option<String>,
        message: String,
    },
    /// The capsule's answer.
    Result { output: Value },
    /// The run is over; always the last event.
    Exit {
        status: RunStatus,
        /// Why it did not succeed, in words.
        #[serde(default)]
        reason: Option<String>,
        /// Wall-clock seconds of the entrypoint, as a decimal string with 6 places.
        job_seconds: String,
        #[serde(default)]
        exit_code: Option<i32>,
    },
}

impl RunEvent {
    /// The event as one line of the answer, newline included.
    pub fn to_line(&self) -> String {
        let mut line = serde_json::to_string(self).unwrap_or_default();
        line.push('\n');
        line
    }

    /// The SSE event name of this event.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Started => "started",
            Self::Usage { .. } => "usage",
            Self::ToolCall { .. } => "tool_call",
            Self::Log { .. } => "log",
            Self::Result { .. } => "result",
            Self::Exit { .. } => "exit",
        }
    }
}

/// What `GET /healthz` of a worker answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerHealth {
    pub status: String,
    pub running: usize,
    pub capacity: usize,
}
