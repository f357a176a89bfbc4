//! Runs are refused before dispatch: no scope, unknown or revoked capsule, bad version
//! requirement, input that does not match, plan quota used up, no worker of the tier.

use super::support::RUN_SCOPES;
use crate::helpers::{assert_problem, spawn_app, spawn_app_with};
use crate::metering::support::usage_event;
use serde_json::{Value, json};

#[actix_web::test]
async fn runs_are_refused_before_dispatch() {
    let app = spawn_app().await;
    let publisher = app.publish_fixtures().await;
    let tenant = app.create_tenant("pro", RUN_SCOPES).await;
    let reader = app.create_tenant("pro", &["executions:read"]).await;
    let echo = json!({ "input": { "text": "hi" } });

    let body =
        assert_problem(app.run(&reader.key, "acme/echo", echo.clone()).await, 403, "missing-scope").await;
    assert_eq!(body["required-scope"], "executions:run");
    assert_problem(app.run(&tenant.key, "acme/nothing", echo.clone()).await, 404, "capsule-not-found").await;
    assert_problem(
        app.run(&tenant.key, "acme/echo", json!({ "input": {}, "version": "not a requirement" })).await,
        400,
        "invalid-version-requirement",
    )
    .await;
    assert_problem(
        app.run(&tenant.key, "acme/echo", json!({ "input": {}, "version": "^2" })).await,
        404,
        "no-matching-version",
    )
    .await;
    assert_problem(
        app.run(&tenant.key, "acme/echo", json!({ "input": { "text": 5 } })).await,
        422,
        "invalid-input",
    )
    .await;
    assert_problem(
        app.run(&tenant.key, "acme/echo", json!({ "input": {}, "mode": "sometime" })).await,
        400,
        "invalid-json",
    )
    .await;
    assert_problem(
        app.run(
            &tenant.key,
            "acme/echo",
            json!({ "input": { "text": "x" }, "webhook_url": "https://example.com/h" }),
        )
        .await,
        422,
        "invalid-execution",
    )
    .await;
    assert_problem(
        app.run(
            &tenant.key,
            "acme/echo",
            json!({ "input": { "text": "x" }, "mode": "async", "webhook_url": "ftp://x" }),
        )
        .await,
        422,
        "invalid-execution",
    )
    .await;

    let revoked = app
        .post_as(
            &publisher.key,
            "/v1/capsules/acme/echo/versions/1.0.0/revoke",
            json!({ "reason": "CVE-2026-0001" }),
        )
        .await;
    assert_eq!(revoked.status(), 200);
    let body =
        assert_problem(app.run(&tenant.key, "acme/echo", echo.clone()).await, 410, "version-revoked").await;
    assert!(
        body["detail"].as_str().unwrap_or_default().contains("CVE-2026-0001")
            || body["reason"] == "CVE-2026-0001",
        "{body}"
    );
    let executions: Value = app.get_as(&tenant.key, "/v1/executions").await.json().await.expect("json");
    assert_eq!(executions["data"], json!([]), "nothing was dispatched");
}

#[actix_web::test]
async fn a_tenant_over_its_monthly_quota_gets_429() {
    let app = spawn_app().await;
    app.publish_fixtures().await;
    let tenant = app.create_tenant("free", &["executions:run", "usage:write"]).await;
    app.ingest(
        &tenant.key,
        vec![usage_event("runs-elsewhere", chrono::Utc::now(), json!({ "executions": 50 }))],
    )
    .await;

    let body = assert_problem(
        app.run(&tenant.key, "acme/echo", json!({ "input": { "text": "x" } })).await,
        429,
        "quota-exceeded",
    )
    .await;

    assert_eq!((body["quota"].as_u64(), body["used"].as_u64()), (Some(50), Some(50)));
}

#[actix_web::test]
async fn without_a_worker_of_the_tier_runs_get_503_with_retry_after() {
    let app = spawn_app_with(|settings| settings.executions.embedded_worker = false).await;
    app.publish_fixtures().await;
    let tenant = app.create_tenant("pro", RUN_SCOPES).await;

    let response = app.run(&tenant.key, "acme/echo", json!({ "input": { "text": "x" } })).await;

    assert_eq!(response.headers().get("retry-after").and_then(|value| value.to_str().ok()), Some("5"));
    assert_problem(response, 503, "no-worker-available").await;
}
