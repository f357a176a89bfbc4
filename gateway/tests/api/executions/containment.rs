//! Capsules that misbehave are contained and reported, and the worker keeps serving:
//! past the deadline, garbage and floods on standard output, forks, writes outside their
//! directory.

use super::support::RUN_SCOPES;
use crate::helpers::{assert_problem, spawn_app};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const RESULT: &str = r#"echo '{"type":"result","output":{"ok":true}}'"#;

#[actix_web::test]
async fn misbehaving_capsules_are_contained_and_the_worker_keeps_serving() {
    let app = spawn_app().await;
    let garbage =
        format!("echo 'not json at all'; echo '{{\"type\":\"usage\",\"tokens_in\":\"lots\"}}'; {RESULT}");
    let fork = format!("(sleep 300 &) ; {RESULT}");
    let escape = "if echo x > /etc/caravan-escape 2>/dev/null; then etc=true; else etc=false; fi; \
        echo x > /tmp/caravan-escape-test; echo x > \"$HOME/inside\"; \
        printf '{\"type\":\"result\",\"output\":{\"etc\":%s}}\\n' \"$etc\"";
    app.publish_lab(&[
        ("sleeper", 1, "sleep 30"),
        ("garbage", 5, &garbage),
        (
            "flood",
            10,
            "yes '{\"type\":\"log\",\"message\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}'",
        ),
        ("forker", 5, &fork),
        ("escape", 5, escape),
        ("crasher", 5, "echo 'boom: the model is gone' >&2; exit 3"),
    ])
    .await;
    let tenant = app.create_tenant("pro", RUN_SCOPES).await;
    let run = |capsule: &'static str| app.run(&tenant.key, capsule, json!({ "input": {} }));

    let started = Instant::now();
    let slow = assert_problem(run("lab/sleeper").await, 504, "execution-timed-out").await;
    assert!(started.elapsed() < Duration::from_secs(5), "killed at its 1 s deadline, not after 30 s");
    assert!(slow["detail"].as_str().unwrap_or_default().contains("deadline"), "{slow}");

    let garbled: Value = run("lab/garbage").await.json().await.expect("json");
    assert_eq!(garbled["status"], "succeeded", "garbage lines are skipped: {garbled}");

    let flood = assert_problem(run("lab/flood").await, 502, "execution-failed").await;
    assert!(flood["detail"].as_str().unwrap_or_default().contains("printed more than"), "{flood}");

    let forked: Value = run("lab/forker").await.json().await.expect("json");
    assert_eq!(forked["status"], "succeeded");
    actix_web::rt::time::sleep(Duration::from_millis(300)).await;
    let leftovers = std::process::Command::new("pgrep").args(["-f", "sleep 300"]).output().expect("pgrep");
    assert!(
        leftovers.stdout.is_empty(),
        "the forked child died with the run: {}",
        String::from_utf8_lossy(&leftovers.stdout)
    );

    // What an escape would write; an earlier run without the sandbox may have left it.
    let escapes = ["/etc/caravan-escape", "/tmp/caravan-escape-test"];
    for path in escapes {
        let _ = std::fs::remove_file(path);
    }
    let escaped: Value = run("lab/escape").await.json().await.expect("json");
    assert_eq!(escaped["output"]["etc"], false, "the system is read-only: {escaped}");
    assert!(!std::path::Path::new(escapes[0]).exists());
    assert!(!std::path::Path::new(escapes[1]).exists(), "the run's /tmp is its own");

    let crashed = assert_problem(run("lab/crasher").await, 502, "execution-failed").await;
    assert!(
        crashed["detail"].as_str().unwrap_or_default().contains("status 3: boom: the model is gone"),
        "{crashed}"
    );

    // After all that, the worker still runs capsules.
    app.publish_fixtures().await;
    let fine: Value = app
        .run(&tenant.key, "acme/echo", json!({ "input": { "text": "still here" } }))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(fine["output"]["text"], "still here");
}
