//! `POST /v1/events`: per-event answers, permanent deduplication, and refusals.

use super::support::{BATCH, SINGLE, last_month, usage_event};
use crate::helpers::{assert_problem, spawn_app};
use chrono::{Duration, Utc};
use serde_json::{Value, json};

#[actix_web::test]
async fn a_batch_answers_each_event_accepted_duplicate_or_rejected() {
    let app = spawn_app().await;
    let tenant = app.create_tenant("pro", &["usage:write", "usage:read"]).await;
    let now = Utc::now();
    let batch = json!([
        usage_event("e1", now, json!({ "tokens_in": 100, "capsule": "acme/echo" })),
        usage_event("e1", now, json!({ "tokens_in": 100, "capsule": "acme/echo" })),
        usage_event("e2", now, json!({ "tokens_in": -5 })),
        { "specversion": "1.0", "id": "e3", "source": "test-runtime", "type": "nobody.reads.this" },
        { "id": "e4" },
        usage_event("e5", now + Duration::hours(1), json!({ "tokens_in": 1 })),
        usage_event("e6", now, json!({ "tokens_out": "2.5", "tool_calls": 3 })),
    ]);

    let response = app.send_events(&tenant.key, &batch, BATCH).await;

    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    let statuses: Vec<&str> = body["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|result| result["status"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        statuses,
        ["accepted", "duplicate", "rejected", "rejected", "rejected", "rejected", "accepted"]
    );
    assert_eq!(
        (body["accepted"].as_u64(), body["duplicates"].as_u64(), body["rejected"].as_u64()),
        (Some(2), Some(1), Some(4))
    );
    let reasons: Vec<&str> = body["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter_map(|result| result["reason"].as_str())
        .collect();
    assert!(reasons[0].contains("tokens_in"), "{reasons:?}");
    assert!(reasons[1].contains("nobody.reads.this"), "{reasons:?}");
    assert!(reasons[2].contains("specversion"), "{reasons:?}");
    assert!(reasons[3].contains("future"), "{reasons:?}");

    // The same batch again: what was accepted is now a duplicate, and nothing is counted twice.
    let again: Value = app.send_events(&tenant.key, &batch, BATCH).await.json().await.expect("json");
    assert_eq!((again["accepted"].as_u64(), again["duplicates"].as_u64()), (Some(0), Some(3)), "{again}");
    let usage: Value = app.get_as(&tenant.key, "/v1/usage?meter=tokens_in").await.json().await.expect("json");
    assert_eq!(usage["data"][0]["quantity"], "100");
    let usage: Value =
        app.get_as(&tenant.key, "/v1/usage?meter=tokens_out").await.json().await.expect("json");
    assert_eq!(usage["data"][0]["quantity"], "2.5");
}

#[actix_web::test]
async fn a_single_event_is_answered_alone_and_refused_with_a_422() {
    let app = spawn_app().await;
    let tenant = app.create_tenant("pro", &["usage:write"]).await;
    let event = usage_event("one", Utc::now(), json!({ "job_seconds": "1.25" }));

    let accepted = app.send_events(&tenant.key, &event, SINGLE).await;
    assert_eq!(accepted.status(), 200);
    let body: Value = accepted.json().await.expect("json");
    assert_eq!(body["results"][0]["status"], "accepted");

    let refused = usage_event("two", Utc::now(), json!({ "job_seconds": "0.0000001" }));
    let body =
        assert_problem(app.send_events(&tenant.key, &refused, SINGLE).await, 422, "invalid-event").await;
    assert!(body["detail"].as_str().unwrap_or_default().contains("decimal places"), "{body}");
}

#[actix_web::test]
async fn malformed_requests_are_refused_before_any_event_is_read() {
    let app = spawn_app().await;
    let tenant = app.create_tenant("pro", &["usage:write"]).await;
    let event = usage_event("x", Utc::now(), json!({ "tokens_in": 1 }));

    assert_problem(app.send_events(&tenant.key, &event, "text/plain").await, 415, "unsupported-media-type")
        .await;
    let response = app
        .client
        .post(app.url("/v1/events"))
        .bearer_auth(&tenant.key)
        .header("content-type", BATCH)
        .body("[{not json")
        .send()
        .await
        .expect("request");
    assert_problem(response, 400, "invalid-event-batch").await;
    assert_problem(app.send_events(&tenant.key, &json!([]), BATCH).await, 400, "invalid-event-batch").await;
    assert_problem(app.send_events(&tenant.key, &json!([event]), SINGLE).await, 400, "invalid-event-batch")
        .await;
    let too_many = Value::Array(
        (0..1001)
            .map(|index| usage_event(&format!("e{index}"), Utc::now(), json!({ "tokens_in": 1 })))
            .collect(),
    );
    assert_problem(app.send_events(&tenant.key, &too_many, BATCH).await, 413, "batch-too-large").await;
    let reserved = json!({ "specversion": "1.0", "id": "r", "source": "caravan/executions", "type": "caravan.usage",
        "data": { "executions": 1 } });
    assert_problem(app.send_events(&tenant.key, &reserved, SINGLE).await, 422, "invalid-event").await;
    let reader = app.create_tenant("pro", &["usage:read"]).await;
    let body = assert_problem(app.send_events(&reader.key, &event, SINGLE).await, 403, "missing-scope").await;
    assert_eq!(body["required-scope"], "usage:write");
}

#[actix_web::test]
async fn late_events_of_last_month_are_accepted_and_older_ones_refused() {
    let app = spawn_app().await;
    let tenant = app.create_tenant("pro", &["usage:write"]).await;
    let late = usage_event("late", last_month(2, 3), json!({ "tokens_in": 1 }));
    let body: Value = app.send_events(&tenant.key, &late, SINGLE).await.json().await.expect("json");
    assert_eq!(body["results"][0]["status"], "accepted");

    let ancient = usage_event("ancient", last_month(1, 0) - Duration::days(1), json!({ "tokens_in": 1 }));
    let body =
        assert_problem(app.send_events(&tenant.key, &ancient, SINGLE).await, 422, "invalid-event").await;
    assert!(body["detail"].as_str().unwrap_or_default().contains("oldest period still open"), "{body}");
}
