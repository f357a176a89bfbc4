//! The `caravan` binary itself: subcommands, configuration from the environment, JSON
//! logs, and graceful shutdown on SIGTERM.

use caravan_core::testing::TestDatabase;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

fn caravan(database: &TestDatabase, data_dir: &std::path::Path) -> Command {
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

fn output_of(command: &mut Command) -> (bool, String, String) {
    let output = command.output().expect("caravan runs");
    let text = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).into_owned();
    (output.status.success(), text(output.stdout), text(output.stderr))
}

#[test]
fn version_prints_the_crate_version() {
    let (ok, stdout, _) = output_of(Command::new(env!("CARGO_BIN_EXE_caravan")).arg("version"));
    assert!(ok);
    assert_eq!(stdout.trim(), format!("caravan {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn openapi_prints_the_committed_document() {
    let (ok, stdout, _) = output_of(Command::new(env!("CARGO_BIN_EXE_caravan")).arg("openapi"));
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi/openapi.json"))
        .expect("committed document");
    assert!(ok);
    assert!(stdout == committed, "caravan openapi differs from openapi/openapi.json");
}

#[test]
fn migrate_applies_pending_migrations_once() {
    let database = TestDatabase::create();
    let data_dir = tempfile::tempdir().expect("tempdir");

    let (first_ok, first, first_err) = output_of(caravan(&database, data_dir.path()).arg("migrate"));
    let (second_ok, second, _) = output_of(caravan(&database, data_dir.path()).arg("migrate"));

    assert!(first_ok, "{first_err}");
    assert!(first.starts_with("applied "), "{first}");
    assert!(second_ok);
    assert_eq!(second.trim(), "no pending migrations");
}

#[test]
fn a_missing_config_file_fails_loudly() {
    let database = TestDatabase::create();
    let data_dir = tempfile::tempdir().expect("tempdir");

    let (ok, _, stderr) = output_of(caravan(&database, data_dir.path()).args([
        "--config",
        "/nonexistent/caravan.toml",
        "serve",
    ]));

    assert!(!ok);
    assert!(stderr.contains("/nonexistent/caravan.toml"), "{stderr}");
}

#[test]
fn serve_logs_json_and_shuts_down_gracefully_on_sigterm() {
    let database = TestDatabase::create();
    let data_dir = tempfile::tempdir().expect("tempdir");
    let mut child = caravan(&database, data_dir.path())
        .args(["--log-format", "json", "serve"])
        .stderr(Stdio::piped())
        .spawn()
        .expect("serve starts");
    let (lines, address) = follow_logs(&mut child);

    let health = status_of_get(&address, "/healthz");
    forget_migrations(&database);
    let not_ready = status_of_get(&address, "/readyz");
    send_signal(&child, "TERM");
    let status = wait_with_timeout(&mut child, Duration::from_secs(20));
    let logs: Vec<String> = lines.try_iter().collect();

    assert_eq!(health, Some(200));
    assert_eq!(not_ready, Some(503));
    let failure = logs.iter().find(|line| line.contains("request failed")).expect("the 503 is logged");
    let failure: serde_json::Value = serde_json::from_str(failure).expect("json");
    assert!(failure["request_id"].as_str().is_some_and(|id| id.starts_with("req_")), "{failure}");
    assert!(failure["cause"].as_str().is_some_and(|cause| cause.contains("not applied")), "{failure}");
    assert!(status.is_some_and(|status| status.success()), "caravan did not exit cleanly: {status:?}");
    assert!(logs.iter().any(|line| line.contains("shutdown complete")), "{logs:?}");
    for line in &logs {
        assert!(serde_json::from_str::<serde_json::Value>(line).is_ok(), "not a JSON log line: {line}");
    }
}

fn forget_migrations(database: &TestDatabase) {
    use diesel::RunQueryDsl;
    diesel::sql_query("DELETE FROM __diesel_schema_migrations")
        .execute(&mut database.connect())
        .expect("delete");
}

/// Streams the child's stderr into a channel and returns the address it listens on.
fn follow_logs(child: &mut Child) -> (mpsc::Receiver<String>, String) {
    let stderr = child.stderr.take().expect("stderr is piped");
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        let Ok(line) = receiver.recv_timeout(Duration::from_millis(100)) else { continue };
        if let Some(rest) = line.split("listening on http://").nth(1) {
            let address: String =
                rest.chars().take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':').collect();
            return (receiver, address);
        }
    }
    panic!("caravan serve did not report its address");
}

fn send_signal(child: &Child, signal: &str) {
    let status = Command::new("kill").arg(format!("-{signal}")).arg(child.id().to_string()).status();
    assert!(status.is_ok_and(|status| status.success()), "kill -{signal} failed");
}

fn wait_with_timeout(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    None
}

/// A minimal blocking `GET`, so this test needs no async runtime.
fn status_of_get(address: &str, path: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response.split_whitespace().nth(1)?.parse().ok()
}
