//! Running a capsule: its entrypoint as a child process in a fresh directory, with the
//! input as JSON on standard input and a scrubbed environment, under resource limits
//! (`prlimit`: CPU time, address space, file size, processes, no core dumps) and, when
//! available, inside bubblewrap (a read-only system with an empty `/tmp`, other runs and
//! bundles hidden, its own bundle read-only, the run's directory the only writable place,
//! its own process namespace). Standard
//! output is read as JSON-lines events; anything else becomes a warning in the log. The
//! deadline, a cancel, an output flood or the caller going away kill the whole process
//! group.

use crate::bundles::Prepared;
use crate::config::{RunLimits, Sandbox};
use crate::protocol::{RunEvent, RunRequest, RunStatus};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;
use tokio::sync::{mpsc, oneshot};

/// The longest line of standard output read as one event.
const MAX_LINE_BYTES: usize = 256 * 1024;
/// How much of standard error reaches the log.
const MAX_STDERR_BYTES: usize = 16 * 1024;
/// Unreadable output lines reported before the rest are only counted.
const MAX_GARBAGE_REPORTS: usize = 5;

/// How runs are contained, decided once at start-up.
#[derive(Debug, Clone)]
pub enum Containment {
    Bubblewrap(PathBuf),
    Processes,
}

impl Containment {
    /// Resolves the configured sandbox against what is installed.
    pub fn detect(sandbox: Sandbox) -> Result<Self, String> {
        let bwrap = which("bwrap");
        match (sandbox, bwrap) {
            (Sandbox::None, _) => Ok(Self::Processes),
            (_, Some(path)) => Ok(Self::Bubblewrap(path)),
            (Sandbox::Bwrap, None) => {
                Err("sandbox = \"bwrap\" but `bwrap` is not installed (Debian: bubblewrap)".to_owned())
            }
            (Sandbox::Auto, None) => {
                tracing::warn!("`bwrap` is not installed: runs are plain processes with resource limits");
                Ok(Self::Processes)
            }
        }
    }
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths).map(|dir| dir.join(program)).find(|path| path.is_file())
    })
}

/// The runs of this worker, so they can be cancelled and counted.
#[derive(Debug)]
pub struct Runner {
    limits: RunLimits,
    containment: Containment,
    runs_dir: PathBuf,
    /// Directories no run may read (other runs, the bundle cache), hidden inside the sandbox.
    hidden: Vec<PathBuf>,
    running: Mutex<HashMap<String, oneshot::Sender<()>>>,
}

impl Runner {
    pub fn new(
        limits: RunLimits,
        containment: Containment,
        runs_dir: PathBuf,
        hidden: Vec<PathBuf>,
    ) -> std::io::Result<Self> {
        std::fs::create_dir_all(&runs_dir)?;
        Ok(Self { limits, containment, runs_dir, hidden, running: Mutex::new(HashMap::new()) })
    }

    pub fn running(&self) -> usize {
        self.running.lock().map(|running| running.len()).unwrap_or(0)
    }

    pub fn is_running(&self, execution_id: &str) -> bool {
        self.running.lock().is_ok_and(|running| running.contains_key(execution_id))
    }

    /// Kills a run; false when there is no such run.
    pub fn cancel(&self, execution_id: &str) -> bool {
        let sender = self.running.lock().ok().and_then(|mut running| running.remove(execution_id));
        sender.is_some_and(|sender| sender.send(()).is_ok())
    }

    /// Starts the run and returns its events as they happen; the last is `Exit`. Dropping
    /// the receiver kills the run.
    pub fn start(self: &Arc<Self>, request: RunRequest, prepared: Prepared) -> mpsc::Receiver<RunEvent> {
        let (events, receiver) = mpsc::channel(64);
        let (cancel, cancelled) = oneshot::channel();
        if let Ok(mut running) = self.running.lock() {
            running.insert(request.execution_id.clone(), cancel);
        }
        let runner = self.clone();
        actix_web::rt::spawn(async move {
            let id = request.execution_id.clone();
            let exit = runner.run(&request, &prepared, &events, cancelled).await;
            if let Ok(mut running) = runner.running.lock() {
                running.remove(&id);
            }
            let _ = events.send(exit).await;
        });
        receiver
    }

    async fn run(
        &self,
        request: &RunRequest,
        prepared: &Prepared,
        events: &mpsc::Sender<RunEvent>,
        mut cancelled: oneshot::Receiver<()>,
    ) -> RunEvent {
        let started = Instant::now();
        let exit = |status, reason: Option<String>, exit_code| RunEvent::Exit {
            status,
            reason,
            job_seconds: format!("{:.6}", started.elapsed().as_secs_f64()),
            exit_code,
        };
        let directory = match tempfile::Builder::new().prefix("run-").tempdir_in(&self.runs_dir) {
            Ok(directory) => directory,
            Err(error) => return exit(RunStatus::Failed, Some(format!("no run directory: {error}")), None),
        };
        let _ = std::fs::create_dir_all(directory.path().join("tmp"));
        let mut child = match self.command(prepared, directory.path(), &request.execution_id).spawn() {
            Ok(child) => child,
            Err(error) => {
                return exit(RunStatus::Failed, Some(format!("the entrypoint did not start: {error}")), None);
            }
        };
        let group = child.id();
        let kill = move || {
            if let Some(pid) = group.and_then(|pid| rustix::process::Pid::from_raw(pid as i32)) {
                let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
            }
        };
        let _ = events.send(RunEvent::Started).await;

        let input = serde_json::to_vec(&request.input).unwrap_or_default();
        if let Some(mut stdin) = child.stdin.take() {
            actix_web::rt::spawn(async move {
                let _ = stdin.write_all(&input).await;
            });
        }
        let stderr = child.stderr.take().map(|stderr| actix_web::rt::spawn(read_stderr(stderr)));
        let Some(stdout) = child.stdout.take() else {
            kill();
            return exit(RunStatus::Failed, Some("no standard output".to_owned()), None);
        };
        let deadline = tokio::time::sleep(Duration::from_millis(request.timeout_ms));
        tokio::pin!(deadline);
        let mut reader = Output::new(stdout, self.limits.output_bytes);
        let mut result_seen = false;
        let mut stop: Option<(RunStatus, String)> = None;
        // When the entrypoint exits, whatever it left running in its process group (a
        // background child holding standard output open) is killed, and the output it
        // wrote is still read to the end.
        let mut exited = false;
        loop {
            tokio::select! {
                _ = child.wait(), if !exited => {
                    exited = true;
                    kill();
                }
                line = reader.next_event() => match line {
                    Ok(Some(event)) => {
                        result_seen |= matches!(event, RunEvent::Result { .. });
                        if events.send(event).await.is_err() {
                            stop = Some((RunStatus::Cancelled, "the caller went away".to_owned()));
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(reason) => {
                        stop = Some((RunStatus::Failed, reason));
                        break;
                    }
                },
                () = &mut deadline => {
                    stop = Some((RunStatus::TimedOut, format!("the run exceeded its deadline of {} ms", request.timeout_ms)));
                    break;
                }
                _ = &mut cancelled => {
                    stop = Some((RunStatus::Cancelled, "cancelled".to_owned()));
                    break;
                }
            }
        }
        if let Some((status, reason)) = stop {
            kill();
            let _ = child.wait().await;
            return exit(status, Some(reason), None);
        }
        // Standard output closed: wait for the process, still under the deadline (a process
        // that exited already answers at once with its status).
        let waited = tokio::select! {
            status = child.wait() => status.ok(),
            () = &mut deadline => None,
        };
        kill();
        let stderr_text = match stderr {
            Some(task) => task.await.unwrap_or_default(),
            None => String::new(),
        };
        // The last line of standard error explains most failures.
        let last_words = stderr_text
            .lines()
            .last()
            .map(|line| format!(": {}", line.chars().take(300).collect::<String>()));
        if !stderr_text.is_empty() {
            let _ = events
                .send(RunEvent::Log { level: Some("stderr".to_owned()), message: stderr_text.clone() })
                .await;
        }
        let last_words = last_words.unwrap_or_default();
        let Some(status) = waited else {
            return exit(
                RunStatus::TimedOut,
                Some(format!("the run exceeded its deadline of {} ms", request.timeout_ms)),
                None,
            );
        };
        use std::os::unix::process::ExitStatusExt;
        match (status.code(), status.signal()) {
            (Some(0), _) if result_seen => exit(RunStatus::Succeeded, None, Some(0)),
            (Some(0), _) => {
                exit(RunStatus::Failed, Some("the capsule exited without a result".to_owned()), Some(0))
            }
            (Some(code), _) => exit(
                RunStatus::Failed,
                Some(format!("the capsule exited with status {code}{last_words}")),
                Some(code),
            ),
            (None, Some(signal)) => {
                exit(RunStatus::Failed, Some(format!("the capsule was killed by signal {signal}")), None)
            }
            (None, None) => exit(RunStatus::Failed, Some("the capsule ended abnormally".to_owned()), None),
        }
    }

    /// The entrypoint under `prlimit`, inside bubblewrap when available, in its own
    /// process group, with nothing of the worker's environment.
    fn command(&self, prepared: &Prepared, directory: &Path, execution_id: &str) -> Command {
        let limits = &self.limits;
        let prlimit = [
            "prlimit".to_owned(),
            format!("--cpu={}", limits.cpu_seconds),
            format!("--as={}", limits.memory_bytes),
            format!("--fsize={}", limits.file_bytes),
            format!("--nproc={}", limits.processes),
            "--core=0".to_owned(),
            "--".to_owned(),
        ];
        let directory_text = directory.display().to_string();
        let mut command = match &self.containment {
            Containment::Bubblewrap(bwrap) => {
                let mut command = Command::new(bwrap);
                command.args(["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]);
                for hidden in &self.hidden {
                    command.arg("--tmpfs").arg(hidden);
                }
                // The run's directory and its bundle come back into view at their own
                // paths, over the emptied ones.
                command
                    .args(["--bind", &directory_text, &directory_text])
                    .arg("--ro-bind")
                    .arg(&prepared.directory)
                    .arg(&prepared.directory)
                    .args(["--chdir", &directory_text, "--unshare-pid", "--unshare-ipc", "--die-with-parent"])
                    .args(["--new-session", "--"])
                    .args(&prlimit)
                    .arg(prepared.directory.join(&prepared.entrypoint));
                command
            }
            Containment::Processes => {
                let mut command = Command::new(&prlimit[0]);
                command
                    .args(&prlimit[1..])
                    .arg(prepared.directory.join(&prepared.entrypoint))
                    .current_dir(directory);
                command
            }
        };
        command
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("HOME", directory)
            .env("TMPDIR", directory.join("tmp"))
            .env("LANG", "C.UTF-8")
            .env("CARAVAN_EXECUTION_ID", execution_id)
            .env("CARAVAN_CAPSULE_DIR", &prepared.directory)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        command
    }
}

/// Reads standard error, keeping the first `MAX_STDERR_BYTES`.
async fn read_stderr(stderr: tokio::process::ChildStderr) -> String {
    let mut kept = Vec::new();
    let mut limited = stderr.take(MAX_STDERR_BYTES as u64);
    let _ = limited.read_to_end(&mut kept).await;
    // Drain the rest so the child never blocks on a full pipe.
    let mut rest = limited.into_inner();
    let _ = tokio::io::copy(&mut rest, &mut tokio::io::sink()).await;
    String::from_utf8_lossy(&kept).trim().to_owned()
}

/// Standard output as events, within a byte budget.
struct Output {
    reader: BufReader<tokio::process::ChildStdout>,
    remaining: u64,
    garbage: usize,
}

impl Output {
    fn new(stdout: tokio::process::ChildStdout, budget: u64) -> Self {
        Self { reader: BufReader::new(stdout), remaining: budget, garbage: 0 }
    }

    /// The next event; `None` at the end; an error when the budget is spent.
    async fn next_event(&mut self) -> Result<Option<RunEvent>, String> {
        loop {
            let mut line = Vec::new();
            let read = (&mut self.reader)
                .take((MAX_LINE_BYTES as u64 + 1).min(self.remaining + 1))
                .read_until(b'\n', &mut line)
                .await
                .map_err(|error| format!("reading the capsule's output failed: {error}"))?;
            if read == 0 {
                return Ok(None);
            }
            if read as u64 > self.remaining {
                return Err(format!(
                    "the capsule printed more than {} bytes",
                    self.remaining + read as u64 - 1
                ));
            }
            self.remaining -= read as u64;
            if !line.ends_with(b"\n") && line.len() > MAX_LINE_BYTES {
                // The rest of an overlong line is skipped in the budget's next reads.
                return Ok(Some(self.garbage("a line longer than 256 KiB")));
            }
            let text = String::from_utf8_lossy(&line);
            let text = text.trim();
            if text.is_empty() {
                continue;
            }
            match serde_json::from_str::<Value>(text).ok().and_then(capsule_event) {
                Some(event) => return Ok(Some(event)),
                None if self.garbage < MAX_GARBAGE_REPORTS => {
                    let shown: String = text.chars().take(200).collect();
                    return Ok(Some(self.garbage(&format!("a line that is not an event: {shown}"))));
                }
                None => self.garbage += 1,
            }
        }
    }

    fn garbage(&mut self, what: &str) -> RunEvent {
        self.garbage += 1;
        RunEvent::Log { level: Some("warn".to_owned()), message: format!("ignored {what}") }
    }
}

/// The events a capsule may print; `started` and `exit` belong to the worker.
fn capsule_event(value: Value) -> Option<RunEvent> {
    match serde_json::from_value::<RunEvent>(value).ok()? {
        RunEvent::Started | RunEvent::Exit { .. } => None,
        event => Some(event),
    }
}
