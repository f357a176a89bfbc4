//! `caravan serve` as a child process, for tests of the binary itself: started on a free
//! port, its stderr followed line by line, stopped with SIGTERM.

use caravan_core::testing::TestDatabase;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The binary with a clean environment pointed at `database`, on a free port.
pub fn caravan_command(database: &TestDatabase, data_dir: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_caravan"));
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("DATABASE_URL", database.url())
        .env("CARAVAN_DATA_DIR", data_dir)
        .env("CARAVAN_LISTEN", "127.0.0.1:0")
        .env("CARAVAN_WORKERS", "1");
    command
}

/// A `caravan serve` child process with its stderr followed line by line.
pub struct Served {
    child: Child,
    pub address: String,
    logs: mpsc::Receiver<String>,
}

/// A test that fails half-way must not leave a server running.
impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Served {
    pub fn start(database: &TestDatabase, data_dir: &std::path::Path, extra_env: &[(&str, &str)]) -> Self {
        Self::start_with(database, data_dir, extra_env, &[])
    }

    /// Like [`Served::start`], with global options placed before `serve`.
    // The child is reaped by `Drop` on every path, including the panics below.
    #[allow(clippy::zombie_processes)]
    pub fn start_with(
        database: &TestDatabase,
        data_dir: &std::path::Path,
        extra_env: &[(&str, &str)],
        options: &[&str],
    ) -> Self {
        let mut command = caravan_command(database, data_dir);
        command.args(options).arg("serve").stdout(Stdio::piped()).stderr(Stdio::piped());
        for (name, value) in extra_env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("caravan serve starts");
        let stderr = child.stderr.take().expect("stderr");
        let (sender, logs) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let Ok(line) = logs.recv_timeout(Duration::from_millis(100)) else { continue };
            if let Some(rest) = line.split("caravan listening on http://").nth(1) {
                let address =
                    rest.chars().take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':').collect();
                let served = Self { child, address, logs };
                served.wait_until_serving();
                return served;
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("caravan serve did not report its address");
    }

    /// Signal handlers are installed once the server runs; answering proves it does.
    fn wait_until_serving(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if ureq::get(&format!("http://{}/healthz", self.address)).call().is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("caravan serve does not answer /healthz");
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the process to end by itself (a crash point, say); its exit status.
    pub fn wait_for_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "caravan did not exit within {timeout:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the server with SIGTERM; returns (stdout, every log line).
    pub fn stop(mut self) -> (String, Vec<String>) {
        let killed = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        assert!(killed.is_ok_and(|status| status.success()));
        let status = self.child.wait().expect("wait");
        assert!(status.success(), "caravan exited with {status}");
        let mut stdout = String::new();
        self.child.stdout.take().expect("stdout").read_to_string(&mut stdout).expect("read stdout");
        std::thread::sleep(Duration::from_millis(100));
        (stdout, self.logs.try_iter().collect())
    }

    /// Sends a request with `key` (none when empty); returns status and JSON body.
    pub fn call(&self, method: &str, path: &str, key: &str, body: Option<Value>) -> (u16, Value) {
        let agent =
            ureq::Agent::new_with_config(ureq::Agent::config_builder().http_status_as_error(false).build());
        let url = format!("http://{}{path}", self.address);
        let authorization = format!("Bearer {key}");
        let response = match body {
            Some(body) if method == "POST" => {
                agent.post(&url).header("Authorization", &authorization).send_json(body)
            }
            _ => agent.get(&url).header("Authorization", &authorization).call(),
        }
        .expect("request");
        let status = response.status().as_u16();
        (status, response.into_body().read_json().unwrap_or(Value::Null))
    }
}
