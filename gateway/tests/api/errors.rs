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
async fn a_wrong_method_is_a_problem_405() {
    let app = spawn_app().await;

    let response = app.client.delete(app.url("/healthz")).send().await.expect("send");

    let body = assert_problem(response, 405, "method-not-allowed").await;
    assert_eq!(body["detail"], "DELETE is not allowed on /healthz");
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
