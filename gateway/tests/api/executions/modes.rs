//! Running the fixture capsules through the gateway on the embedded worker: sync, stream
//! and async, with their usage in the ledger.

use super::support::RUN_SCOPES;
use crate::helpers::{assert_problem, spawn_app};
use serde_json::{Value, json};

#[actix_web::test]
async fn a_sync_run_answers_the_capsules_result_and_meters_it() {
    let app = spawn_app().await;
    app.publish_fixtures().await;
    let tenant = app.create_tenant("pro", RUN_SCOPES).await;

    let response =
        app.run(&tenant.key, "acme/word-count", json!({ "input": { "text": "one two\nthree" } })).await;

    let status = response.status();
    let execution: Value = response.json().await.expect("json");
    assert_eq!(status, 200, "{execution}");
    assert_eq!(execution["status"], "succeeded", "{execution}");
    assert_eq!(execution["output"], json!({ "words": 3, "lines": 2, "characters": 13 }));
    assert_eq!(execution["version"], "1.0.0");
    assert_eq!(execution["usage"]["tokens_in"], 3, "the capsule reported its words as tokens");
    let usage: Value = app
        .get_as(&tenant.key, "/v1/usage?meter=executions&group_by=capsule")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(usage["data"][0]["quantity"], "1");
    assert_eq!(usage["data"][0]["groups"]["capsule"], "acme/word-count");

    let refused = app.run(&tenant.key, "acme/word-count", json!({ "input": { "words": 3 } })).await;
    let problem = assert_problem(refused, 422, "invalid-input").await;
    assert!(problem["errors"][0].as_str().is_some_and(|error| error.contains("text")), "{problem}");
}

#[actix_web::test]
async fn a_stream_run_passes_events_through_and_ends_with_done() {
    let app = spawn_app().await;
    app.publish_fixtures().await;
    let tenant = app.create_tenant("pro", RUN_SCOPES).await;

    let response =
        app.run(&tenant.key, "acme/echo", json!({ "input": { "text": "hi" }, "mode": "stream" })).await;

    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers().get("content-type").and_then(|value| value.to_str().ok()),
        Some("text/event-stream")
    );
    let body = response.text().await.expect("body");
    let names: Vec<&str> = body.lines().filter_map(|line| line.strip_prefix("event: ")).collect();
    assert_eq!(names.first(), Some(&"execution"), "{body}");
    assert!(names.contains(&"started") && names.contains(&"result") && names.contains(&"exit"), "{body}");
    assert_eq!(names.last(), Some(&"done"), "{body}");
    let done =
        body.split("event: done\ndata: ").nth(1).and_then(|rest| rest.lines().next()).expect("done data");
    let execution: Value = serde_json::from_str(done).expect("json");
    assert_eq!(
        (execution["status"].as_str(), &execution["output"]),
        (Some("succeeded"), &json!({ "text": "hi" }))
    );
}

#[actix_web::test]
async fn an_async_run_answers_202_and_is_polled_to_its_end() {
    let app = spawn_app().await;
    app.publish_fixtures().await;
    let tenant = app.create_tenant("pro", RUN_SCOPES).await;
    let input =
        json!({ "document": { "a": { "b": 1 }, "c": 2 }, "select": ["a.b"], "rename": { "a.b": "x" } });

    let response = app
        .run(
            &tenant.key,
            "acme/json-transform",
            json!({ "input": input, "mode": "async", "version": "^0.3" }),
        )
        .await;

    assert_eq!(response.status(), 202);
    let location =
        response.headers().get("location").and_then(|value| value.to_str().ok()).map(str::to_owned);
    let accepted: Value = response.json().await.expect("json");
    assert_eq!(location, Some(format!("/v1/executions/{}", accepted["id"].as_str().expect("id"))));
    let ended = app.wait_for_end(&tenant.key, accepted["id"].as_str().expect("id")).await;
    assert_eq!(ended["status"], "succeeded", "{ended}");
    assert_eq!(ended["output"], json!({ "document": { "x": 1 } }));
    assert_eq!(ended["unit_price"], "0.002");
    let listed: Value = app
        .get_as(&tenant.key, "/v1/executions?capsule=acme/json-transform")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(listed["data"][0]["id"], accepted["id"]);
    let other = app.create_tenant("pro", RUN_SCOPES).await;
    assert_problem(
        app.get_as(&other.key, &format!("/v1/executions/{}", accepted["id"].as_str().expect("id"))).await,
        404,
        "execution-not-found",
    )
    .await;
}

#[actix_web::test]
async fn the_same_idempotency_key_answers_the_same_execution() {
    let app = spawn_app().await;
    app.publish_fixtures().await;
    let tenant = app.create_tenant("pro", RUN_SCOPES).await;
    let run = |body: Value| {
        app.client
            .post(app.url("/v1/capsules/acme/echo/executions"))
            .bearer_auth(&tenant.key)
            .header("Idempotency-Key", "order-42")
            .json(&body)
            .send()
    };

    let first: Value =
        run(json!({ "input": { "text": "once" } })).await.expect("send").json().await.expect("json");
    let again: Value =
        run(json!({ "input": { "text": "once" } })).await.expect("send").json().await.expect("json");
    let reused = run(json!({ "input": { "text": "twice" } })).await.expect("send");

    assert_eq!(first["status"], "succeeded");
    assert_eq!(again["id"], first["id"], "no second run");
    assert_problem(reused, 422, "idempotency-key-reused").await;
    let usage: Value =
        app.get_as(&tenant.key, "/v1/usage?meter=executions").await.json().await.expect("json");
    assert_eq!(usage["data"][0]["quantity"], "1", "metered once");
}
