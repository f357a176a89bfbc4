//! `GET /v1/usage` and `GET /v1/meters`: exact quantities by window and group, tenant
//! isolation, operator-defined meters, and refused queries.

use super::support::{BATCH, last_month, usage_event};
use crate::helpers::{assert_problem, spawn_app, spawn_app_with};
use caravan_metering::domain::meter::{Aggregation, MeterDefinition};
use serde_json::{Value, json};
use std::collections::BTreeMap;

#[actix_web::test]
async fn usage_sums_exact_decimals_by_day_and_capsule() {
    let app = spawn_app().await;
    let tenant = app.create_tenant("pro", &["usage:write", "usage:read"]).await;
    app.ingest(
        &tenant.key,
        vec![
            usage_event("a", last_month(3, 10), json!({ "job_seconds": "0.1", "capsule": "acme/echo" })),
            usage_event("b", last_month(3, 11), json!({ "job_seconds": "0.2", "capsule": "acme/echo" })),
            usage_event("c", last_month(4, 9), json!({ "job_seconds": "1.000001", "capsule": "acme/echo" })),
            usage_event("d", last_month(4, 9), json!({ "job_seconds": 7 })),
        ],
    )
    .await;
    let from = last_month(1, 0).to_rfc3339().replace("+00:00", "Z");

    let report: Value = app
        .get_as(
            &tenant.key,
            &format!(
                "/v1/usage?meter=job_seconds&window=day&group_by=capsule&from={from}&to={}",
                last_month(10, 0).to_rfc3339().replace("+00:00", "Z")
            ),
        )
        .await
        .json()
        .await
        .expect("json");

    let rows: Vec<(String, String, Value)> = report["data"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|row| {
            (
                row["from"].as_str().unwrap_or_default()[..10].to_owned(),
                row["quantity"].as_str().unwrap_or_default().to_owned(),
                row["groups"]["capsule"].clone(),
            )
        })
        .collect();
    let day = |day: u32| last_month(day, 0).format("%Y-%m-%d").to_string();
    assert_eq!(
        rows,
        [
            (day(3), "0.3".to_owned(), json!("acme/echo")),
            (day(4), "7".to_owned(), Value::Null),
            (day(4), "1.000001".to_owned(), json!("acme/echo")),
        ]
    );
    assert_eq!(report["aggregation"], "sum");
}

#[actix_web::test]
async fn a_tenant_sees_its_own_usage_and_the_operator_every_tenants() {
    let app = spawn_app().await;
    let first = app.create_tenant("pro", &["usage:write", "usage:read"]).await;
    let second = app.create_tenant("pro", &["usage:write", "usage:read"]).await;
    app.ingest(&first.key, vec![usage_event("same-id", last_month(5, 1), json!({ "tokens_in": 10 }))]).await;
    app.ingest(&second.key, vec![usage_event("same-id", last_month(5, 1), json!({ "tokens_in": 32 }))]).await;
    let from = last_month(1, 0).to_rfc3339().replace("+00:00", "Z");
    let query = format!("/v1/usage?meter=tokens_in&from={from}");

    let mine: Value = app.get_as(&first.key, &query).await.json().await.expect("json");
    assert_eq!(mine["data"][0]["quantity"], "10");
    assert_problem(
        app.get_as(&first.key, &format!("{query}&tenant_id={}", second.id)).await,
        404,
        "tenant-not-found",
    )
    .await;

    let everyone: Value =
        app.get_as(&app.admin_key, &format!("{query}&group_by=tenant")).await.json().await.expect("json");
    let mut per_tenant: Vec<(String, String)> = everyone["data"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|row| {
            (
                row["groups"]["tenant"].as_str().unwrap_or_default().to_owned(),
                row["quantity"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    per_tenant.sort();
    let mut expected = vec![(first.id.clone(), "10".to_owned()), (second.id.clone(), "32".to_owned())];
    expected.sort();
    assert_eq!(per_tenant, expected);
}

#[actix_web::test]
async fn operator_meters_count_unique_values_and_keep_maxima_by_their_groups() {
    let meters = vec![
        MeterDefinition {
            slug: "active_users".into(),
            description: String::new(),
            event_type: "app.request".into(),
            aggregation: Aggregation::UniqueCount,
            value_property: Some("user.id".into()),
            group_by: BTreeMap::from([("region".into(), "region".into())]),
        },
        MeterDefinition {
            slug: "peak_gb".into(),
            description: String::new(),
            event_type: "app.storage".into(),
            aggregation: Aggregation::Max,
            value_property: Some("gb".into()),
            group_by: BTreeMap::new(),
        },
    ];
    let app = spawn_app_with(|settings| settings.metering.meters = meters).await;
    let tenant = app.create_tenant("pro", &["usage:write", "usage:read"]).await;
    let event = |id: &str, kind: &str, data: Value| {
        json!({ "specversion": "1.0", "id": id, "source": "app", "type": kind,
        "time": last_month(6, 12).to_rfc3339(), "data": data })
    };
    let batch = json!([
        event("1", "app.request", json!({ "user": { "id": "ann" }, "region": "eu" })),
        event("2", "app.request", json!({ "user": { "id": "ann" }, "region": "eu" })),
        event("3", "app.request", json!({ "user": { "id": "bob" }, "region": "eu" })),
        event("4", "app.request", json!({ "user": { "id": 7 }, "region": "us" })),
        event("5", "app.storage", json!({ "gb": "1.5" })),
        event("6", "app.storage", json!({ "gb": 4 })),
        event("7", "app.storage", json!({ "gb": 2 })),
    ]);
    let body: Value = app.send_events(&tenant.key, &batch, BATCH).await.json().await.expect("json");
    assert_eq!(body["accepted"], 7, "{body}");
    let from = last_month(1, 0).to_rfc3339().replace("+00:00", "Z");

    let users: Value = app
        .get_as(&tenant.key, &format!("/v1/usage?meter=active_users&group_by=region&from={from}"))
        .await
        .json()
        .await
        .expect("json");
    let by_region: Vec<(Value, Value)> = users["data"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|row| (row["groups"]["region"].clone(), row["quantity"].clone()))
        .collect();
    assert_eq!(by_region, [(json!("eu"), json!("2")), (json!("us"), json!("1"))]);
    let peak: Value = app
        .get_as(&tenant.key, &format!("/v1/usage?meter=peak_gb&from={from}"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(peak["data"][0]["quantity"], "4");
    let meters: Value = app.get_as(&tenant.key, "/v1/meters").await.json().await.expect("json");
    assert_eq!(meters.as_array().map(Vec::len), Some(7));
}

#[actix_web::test]
async fn bad_usage_queries_are_400_problems() {
    let app = spawn_app().await;
    let tenant = app.create_tenant("pro", &["usage:read"]).await;
    for (query, slug) in [
        ("/v1/usage?meter=nope", "unknown-meter"),
        ("/v1/usage", "invalid-query"),
        ("/v1/usage?meter=tokens_in&from=2026-01-01T00:30:00Z", "invalid-usage-query"),
        (
            "/v1/usage?meter=tokens_in&from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z",
            "invalid-usage-query",
        ),
        ("/v1/usage?meter=tokens_in&group_by=region", "invalid-usage-query"),
        ("/v1/usage?meter=tokens_in&group_by=tenant", "invalid-usage-query"),
        ("/v1/usage?meter=tokens_in&window=week", "invalid-query"),
        (
            "/v1/usage?meter=tokens_in&window=hour&from=2025-01-01T00:00:00Z&to=2025-12-01T00:00:00Z",
            "invalid-usage-query",
        ),
    ] {
        let response = app.get_as(&tenant.key, query).await;
        assert_eq!(response.status(), 400, "{query}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["type"], format!("/problems/{slug}"), "{query}: {body}");
    }
}
