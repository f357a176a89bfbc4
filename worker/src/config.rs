//! The worker's settings: where it listens, its token, where it keeps bundles and runs,
//! how it contains a run.

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkerSettings {
    /// Address to listen on; port 0 picks a free port.
    pub listen: String,
    /// The shared secret the gateway presents (`Authorization: Bearer …`) and the worker
    /// presents when it downloads bundles.
    #[serde(skip_serializing)]
    pub token: Option<SecretString>,
    /// Unpacked bundles by digest, and a fresh directory per run.
    pub data_dir: PathBuf,
    /// Runs at once; more are refused with 503.
    pub max_runs: usize,
    pub sandbox: Sandbox,
    pub limits: RunLimits,
}

/// How a run is kept away from the rest of the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Sandbox {
    /// bubblewrap when `bwrap` is installed (a read-only view of the system, the run's
    /// directory the only writable place, its own process namespace); plain processes
    /// otherwise, with a warning.
    Auto,
    /// bubblewrap, or the worker does not start.
    Bwrap,
    /// Plain processes: resource limits and a fresh directory only.
    None,
}

/// Limits every run gets besides its deadline.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct RunLimits {
    pub cpu_seconds: u64,
    pub memory_bytes: u64,
    /// Largest file the run may write.
    pub file_bytes: u64,
    /// Most bytes the run may print on standard output before it is killed.
    pub output_bytes: u64,
    /// Most processes the run may have at once.
    pub processes: u64,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8090".to_owned(),
            token: None,
            data_dir: PathBuf::from("caravan-worker"),
            max_runs: 16,
            sandbox: Sandbox::Auto,
            limits: RunLimits::default(),
        }
    }
}

impl Default for RunLimits {
    fn default() -> Self {
        Self {
            cpu_seconds: 60,
            memory_bytes: 1024 * 1024 * 1024,
            file_bytes: 64 * 1024 * 1024,
            output_bytes: 4 * 1024 * 1024,
            processes: 64,
        }
    }
}
