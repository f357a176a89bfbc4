//! Requests the router refuses get problem+json with the right status, and the server
//! keeps serving afterwards.

use crate::helpers::{assert_problem, spawn_app};

#[actix_web::test]
async fn an_unknown_route_is_a_problem_404() {
    let app = spawn_app().await;

    let response = app.get("/nothing-here").await;
    let under_v1 = app.get_as(&app.admin_key, "/v1/nothing-here").await;

    let body = assert_problem(response, 404, "route-not-found").await;
    assert_eq!(body["detail"], "no route matches GET /nothing-here");
    assert_problem(under_v1, 404, "route-not-found").await;
}

#[actix_web::test]
async fn a_wrong_method_is_a_problem_405_naming_the_allowed_ones() {
    let app = spawn_app().await;

    let response = app.client.delete(app.url("/healthz")).send().await.expect("send");
    assert_eq!(response.headers().get("allow").and_then(|value| value.to_str().ok()), Some("GET"));
    assert!(response.headers().contains_key("x-request-id"), "a converted refusal keeps its request id");
    let body = assert_problem(response, 405, "method-not-allowed").await;
    assert_eq!(body["detail"], "DELETE is not allowed on /healthz");

    let url = app.url("/v1/keys/key_01JD8X3ZQK9V6R2N4T7W5YB1CM");
    let response = app.client.put(url).bearer_auth(&app.admin_key).send().await.expect("send");
    assert_eq!(response.headers().get("allow").and_then(|value| value.to_str().ok()), Some("GET"));
    assert_problem(response, 405, "method-not-allowed").await;
}

#[actix_web::test]
async fn the_server_keeps_serving_after_a_burst_of_bad_requests() {
    let app = spawn_app().await;
    for path in ["/%zz", "/docs/../../etc/passwd", "/healthz?x=%ff", "/\u{1F600}"] {
        let response = app.client.get(app.url(path)).send().await.expect("send");
        assert!(response.status().is_client_error() || response.status().is_success(), "{path}");
    }
    for _ in 0..3 {
        app.client.patch(app.url("/readyz")).body("{").send().await.expect("send");
    }

    let response = app.get("/healthz").await;

    assert_eq!(response.status(), 200);
}

#[actix_web::test]
async fn a_json_body_must_be_an_object_not_an_array_of_its_fields() {
    let app = spawn_app().await;
    let tenant = app.create_tenant("free", &["registry:read"]).await;
    let url = app.url(&format!("/v1/tenants/{}", tenant.id));

    // serde would read `[null, null]` as an update of nothing, and `["team", null]` as a
    // plan change; both are refused and nothing changes.
    for body in [serde_json::json!([null, null]), serde_json::json!(["team", null])] {
        let response =
            app.client.patch(&url).bearer_auth(&app.admin_key).json(&body).send().await.expect("send");
        let problem = assert_problem(response, 400, "invalid-json").await;
        assert!(problem["detail"].as_str().is_some_and(|detail| detail.contains("JSON object")), "{problem}");
    }
    let response = app.client.get(&url).bearer_auth(&app.admin_key).send().await.expect("send");
    let tenant: serde_json::Value = response.json().await.expect("tenant");
    assert_eq!(tenant["plan"], "free");
}
