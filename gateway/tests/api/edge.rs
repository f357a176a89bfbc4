//! Liveness, readiness, metrics, request ids and Swagger UI.

use crate::helpers::spawn_app;
use caravan_core::db::Backend;
use diesel::RunQueryDsl;

#[actix_web::test]
async fn healthz_answers_ok() {
    let app = spawn_app().await;

    let response = app.get("/healthz").await;

    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<serde_json::Value>().await.ok(), Some(serde_json::json!({ "status": "ok" })));
}

#[actix_web::test]
async fn readyz_reports_the_backend_when_migrated() {
    let app = spawn_app().await;

    let response = app.get("/readyz").await;

    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.expect("json");
    let expected = match app.database.target().backend() {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    assert_eq!(body, serde_json::json!({ "status": "ready", "database": expected }));
}

#[actix_web::test]
async fn readyz_fails_while_a_migration_is_missing() {
    let app = spawn_app().await;
    let mut connection = app.database.connect();
    diesel::sql_query("DELETE FROM __diesel_schema_migrations")
        .execute(&mut connection)
        .expect("forget migrations");

    let response = app.get("/readyz").await;

    let body = crate::helpers::assert_problem(response, 503, "not-ready").await;
    assert!(body["detail"].as_str().unwrap_or_default().contains("not applied"), "{body}");
}

#[actix_web::test]
async fn every_response_carries_a_request_id() {
    let app = spawn_app().await;

    let generated = app.get("/healthz").await;
    let echoed =
        app.client.get(app.url("/nope")).header("X-Request-Id", "trace-42").send().await.expect("send");
    let refused =
        app.client.get(app.url("/healthz")).header("X-Request-Id", "not ok\t").send().await.expect("send");

    let header = |response: &reqwest::Response| {
        response.headers().get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned)
    };
    assert!(header(&generated).is_some_and(|id| id.starts_with("req_")));
    assert_eq!(header(&echoed).as_deref(), Some("trace-42"));
    assert!(header(&refused).is_some_and(|id| id.starts_with("req_")), "unsafe ids are replaced");
}

#[actix_web::test]
async fn metrics_count_requests_by_route_and_status() {
    let app = spawn_app().await;
    app.get("/healthz").await;
    app.get("/healthz").await;
    app.get("/no/such/route").await;
    let brew = reqwest::Method::from_bytes(b"BREW").expect("a method token");
    let brewed = app.client.request(brew, app.url("/no/such/route")).send().await.expect("request");
    assert_eq!(brewed.status(), 404);
    let deleted = app.client.delete(app.url("/healthz")).send().await.expect("request");
    assert_eq!(deleted.status(), 405);

    let response = app.get("/metrics").await;

    assert_eq!(response.status(), 200);
    let text = response.text().await.expect("text");
    assert!(
        text.contains(r#"caravan_http_requests_total{method="GET",route="/healthz",status="200"} 2"#),
        "{text}"
    );
    assert!(text.contains(r#"caravan_http_requests_total{method="GET",route="unmatched",status="404"} 1"#));
    assert!(
        text.contains(r#"caravan_http_requests_total{method="OTHER",route="unmatched",status="404"} 1"#),
        "a method outside the standard ones is labelled OTHER: {text}"
    );
    assert!(
        text.contains(r#"caravan_http_requests_total{method="DELETE",route="/healthz",status="405"} 1"#),
        "a refusal the framework made is counted with its final status: {text}"
    );
    assert!(text.contains(r#"caravan_http_request_duration_seconds_bucket{method="GET",route="/healthz",status="200",le="0.0005"}"#));
    assert!(text.contains("caravan_db_pool_connections{state=\"idle\"}"));
}

#[actix_web::test]
async fn swagger_ui_is_served_without_the_internet() {
    let app = spawn_app().await;

    let redirect = app.get("/docs").await;
    let page = app.get("/docs/").await;
    let bundle = app.get("/docs/swagger-ui-bundle.js").await;
    let initializer = app.get("/docs/swagger-initializer.js").await;

    assert_eq!(redirect.status(), 308);
    assert_eq!(redirect.headers().get("location").and_then(|v| v.to_str().ok()), Some("/docs/"));
    assert_eq!(page.status(), 200);
    assert!(page.text().await.expect("html").contains("swagger-ui"));
    assert_eq!(bundle.status(), 200);
    assert!(bundle.bytes().await.expect("js").len() > 100_000, "the vendored bundle is served");
    assert!(initializer.text().await.expect("js").contains("/openapi.json"));
}
