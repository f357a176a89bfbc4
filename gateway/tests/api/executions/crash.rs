//! Failures of the parts: a worker killed mid-run, and the gateway killed with async runs
//! in flight. Every execution ends in a definite state and every webhook is delivered.

use super::support::{RUN_SCOPES, Receiver};
use crate::helpers::{TestApp, assert_problem, spawn_app_with, test_secret};
use crate::metering::support::free_port;
use crate::served::Served;
use caravan_core::testing::TestDatabase;
use serde_json::{Value, json};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const WORKER_TOKEN: &str = "worker-token-for-tests-0123456789";

/// `caravan worker` as a child process on a free port.
struct WorkerProcess {
    child: std::process::Child,
    url: String,
    _data_dir: tempfile::TempDir,
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl WorkerProcess {
    // The child is reaped by `Drop` on every path, including the panic below.
    #[allow(clippy::zombie_processes)]
    fn start() -> Self {
        let data_dir = tempfile::tempdir().expect("worker data dir");
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_caravan"))
            .arg("worker")
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("CARAVAN_WORKER__TOKEN", WORKER_TOKEN)
            .env("CARAVAN_WORKER__LISTEN", format!("127.0.0.1:{port}"))
            .env("CARAVAN_WORKER__DATA_DIR", data_dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("caravan worker starts");
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if ureq::get(&format!("{url}/healthz")).call().is_ok() {
                return Self { child, url, _data_dir: data_dir };
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("caravan worker did not start");
    }
}

/// Waits until the gateway has recorded `count` runs as running.
async fn wait_until_running(app: &TestApp, key: &str, count: usize) {
    for _ in 0..400 {
        let running: Value =
            app.get_as(key, "/v1/executions?status=running").await.json().await.expect("json");
        if running["data"].as_array().is_some_and(|rows| rows.len() >= count) {
            return;
        }
        actix_web::rt::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the runs never started");
}

/// Waits until the worker itself runs `count` entrypoints, not only until the gateway
/// has recorded them as running.
async fn wait_until_the_worker_runs(app: &TestApp, worker: &WorkerProcess, count: u64) {
    let health = format!("{}/healthz", worker.url);
    for _ in 0..400 {
        let running = app.client.get(&health).send().await.ok().map(|response| response.json::<Value>());
        if let Some(body) = running
            && body.await.ok().and_then(|body| body["running"].as_u64()).is_some_and(|n| n >= count)
        {
            return;
        }
        actix_web::rt::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the runs never started");
}

#[actix_web::test]
async fn a_worker_killed_mid_run_fails_each_mode_clearly_within_the_deadline() {
    let app = spawn_app_with(|settings| {
        settings.executions.embedded_worker = false;
        settings.executions.token = Some(WORKER_TOKEN.to_owned().into());
    })
    .await;
    let mut worker = WorkerProcess::start();
    let registered =
        app.post_as(&app.admin_key, "/v1/workers", json!({ "url": worker.url, "tier": "fast" })).await;
    assert_eq!(registered.status(), 201);
    app.publish_lab(&[("sleeper", 30, "echo '{\"type\":\"log\",\"message\":\"working\"}'; sleep 30")]).await;
    let tenant = app.create_tenant("pro", RUN_SCOPES).await;
    let receiver = Receiver::start(0);
    let started = Instant::now();

    let sync = app.run(&tenant.key, "lab/sleeper", json!({ "input": {} }));
    let stream = app.run(&tenant.key, "lab/sleeper", json!({ "input": {}, "mode": "stream" }));
    let async_run = app.run(
        &tenant.key,
        "lab/sleeper",
        json!({ "input": {}, "mode": "async", "webhook_url": receiver.url }),
    );
    let killer = async {
        wait_until_the_worker_runs(&app, &worker, 3).await;
        let _ = worker.child.kill();
    };
    let (sync, stream, accepted, ()) = futures_util::join!(sync, stream, async_run, killer);

    let failed = assert_problem(sync, 502, "execution-failed").await;
    assert!(failed["detail"].as_str().unwrap_or_default().contains("stopped answering"), "{failed}");
    let events = stream.text().await.expect("stream");
    let last = events.lines().filter_map(|line| line.strip_prefix("event: ")).next_back();
    assert_eq!(last, Some("error"), "never a clean-looking end: {events}");
    assert_eq!(accepted.status(), 202);
    let delivered = receiver.wait_for(1).await;
    let event: Value = serde_json::from_str(&delivered[0].body).expect("json");
    assert_eq!(event["type"], "execution.failed");
    assert!(started.elapsed() < Duration::from_secs(15), "well within the 30 s deadline");
}

#[test]
fn a_gateway_killed_with_async_runs_in_flight_ends_each_and_delivers_each_webhook() {
    actix_web::rt::System::new().block_on(async {
        let database = TestDatabase::create();
        let data_dir = tempfile::tempdir().expect("data dir");
        let admin = test_secret();
        let env = [
            ("CARAVAN_BOOTSTRAP_KEY", admin.as_str()),
            ("CARAVAN_EXECUTIONS__SWEEP_INTERVAL_S", "1"),
            ("CARAVAN_EXECUTIONS__SWEEP_AFTER_S", "1"),
        ];
        let mut served = Served::start(&database, data_dir.path(), &env);
        let mut app = TestApp::attach(&served.address, database, data_dir, admin.clone());
        app.publish_lab(&[("sleeper", 30, "sleep 20")]).await;
        let tenant = app.create_tenant("pro", RUN_SCOPES).await;
        let receiver = Receiver::start(0);
        let mut ids = Vec::new();
        for _ in 0..3 {
            let accepted: Value = app
                .run(
                    &tenant.key,
                    "lab/sleeper",
                    json!({ "input": {}, "mode": "async", "webhook_url": receiver.url }),
                )
                .await
                .json()
                .await
                .expect("json");
            ids.push(accepted["id"].as_str().expect("id").to_owned());
        }
        wait_until_running(&app, &tenant.key, 3).await;

        Command::new("kill").args(["-9", &served.pid().to_string()]).status().expect("kill");
        let _ = served.wait_for_exit(Duration::from_secs(10));
        let served = Served::start(&app.database, app.data_dir(), &env);
        app.address = format!("http://{}", served.address);

        let delivered = receiver.wait_for(3).await;
        let mut reported: Vec<String> = delivered
            .iter()
            .map(|delivery| serde_json::from_str::<Value>(&delivery.body).expect("json"))
            .map(|event| {
                assert_eq!(event["type"], "execution.failed");
                event["data"]["execution"]["id"].as_str().unwrap_or_default().to_owned()
            })
            .collect();
        reported.sort();
        ids.sort();
        assert_eq!(reported, ids, "one webhook for each run");
        for id in &ids {
            let execution: Value =
                app.get_as(&tenant.key, &format!("/v1/executions/{id}")).await.json().await.expect("json");
            assert_eq!(execution["status"], "failed");
            assert!(execution["error"].as_str().unwrap_or_default().contains("lost"), "{execution}");
        }
        drop(served);
    });
}
