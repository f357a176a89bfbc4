//! How runs are written down: concurrent sync runs, whose ends share transactions, are
//! each recorded once with their usage; a run sees a new version, a yank and a revocation
//! made through this gateway at once, although admission reads the capsule's versions
//! from a cache.

use super::support::{RUN_SCOPES, shell_capsule_version};
use crate::helpers::{assert_problem, spawn_app};
use serde_json::{Value, json};

/// A capsule's entrypoint that reports a result at once.
const RESULT: &str = r#"echo '{"type":"result","output":{"ok":true}}'"#;

#[actix_web::test]
async fn concurrent_sync_runs_are_each_recorded_once_with_their_usage() {
    let app = spawn_app().await;
    app.publish_lab(&[("echo", 10, RESULT)]).await;
    let tenant = app.create_tenant("pro", RUN_SCOPES).await;

    let runs = (0..24).map(|n| app.run(&tenant.key, "lab/echo", json!({ "input": { "n": n } })));
    let answers = futures_util::future::join_all(runs).await;

    let mut answered = Vec::new();
    for answer in answers {
        let status = answer.status();
        let execution: Value = answer.json().await.expect("json");
        assert_eq!(status, 200, "{execution}");
        answered.push(execution["id"].as_str().expect("id").to_owned());
    }
    let listed: Value = app
        .get_as(&tenant.key, "/v1/executions?capsule=lab/echo&limit=100")
        .await
        .json()
        .await
        .expect("json");
    let mut listed: Vec<String> = listed["data"]
        .as_array()
        .expect("a page")
        .iter()
        .inspect(|execution| assert_eq!(execution["status"], "succeeded", "{execution}"))
        .map(|execution| execution["id"].as_str().expect("id").to_owned())
        .collect();
    answered.sort();
    listed.sort();
    assert_eq!(listed, answered, "every answered run is listed, once");
    let usage: Value =
        app.get_as(&tenant.key, "/v1/usage?meter=executions").await.json().await.expect("json");
    assert_eq!(usage["data"][0]["quantity"], "24", "{usage}");
}

#[actix_web::test]
async fn a_run_sees_a_new_version_a_yank_and_a_revocation_at_once() {
    let app = spawn_app().await;
    let publisher = app.publisher("lab").await;
    let tenant = app.create_tenant("pro", RUN_SCOPES).await;
    let publish = |version: &'static str| {
        let bundle = shell_capsule_version("tool", version, 10, RESULT);
        let publisher = &publisher;
        let app = &app;
        async move { assert_eq!(app.publish(publisher, &bundle).await.status(), 201, "{version}") }
    };
    let ran_version = |body: Value| {
        let app = &app;
        let key = tenant.key.clone();
        async move {
            let answer = app.run(&key, "lab/tool", body).await;
            let execution: Value = answer.json().await.expect("json");
            execution["version"].as_str().map(str::to_owned).unwrap_or_else(|| panic!("{execution}"))
        }
    };
    let input = json!({ "input": {} });
    publish("1.0.0").await;
    assert_eq!(ran_version(input.clone()).await, "1.0.0");

    publish("1.1.0").await;
    assert_eq!(ran_version(input.clone()).await, "1.1.0", "the new version at once");

    let path = "/v1/capsules/lab/tool/versions";
    let yanked = app.post_as(&publisher.tenant.key, &format!("{path}/1.1.0/yank"), json!({})).await;
    assert_eq!(yanked.status(), 200);
    assert_eq!(ran_version(input.clone()).await, "1.0.0", "the yank at once");

    let revoked = app
        .post_as(&publisher.tenant.key, &format!("{path}/1.0.0/revoke"), json!({ "reason": "CVE-2026-0002" }))
        .await;
    assert_eq!(revoked.status(), 200);
    assert_problem(app.run(&tenant.key, "lab/tool", input).await, 410, "version-revoked").await;
}
