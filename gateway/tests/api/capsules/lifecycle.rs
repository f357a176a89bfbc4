//! Yank, unyank, revoke and deprecate, and how version requirements resolve around them.

use super::support::version;
use crate::helpers::{assert_problem, spawn_app};
use serde_json::{Value, json};

const CAPSULE: &str = "/v1/capsules/acme/echo";

#[actix_web::test]
async fn requirements_resolve_to_the_newest_active_match() {
    let app = spawn_app().await;
    let publisher = app.publisher("acme").await;
    for number in ["1.0.0", "1.2.0", "1.3.0-beta.1", "2.0.0"] {
        assert_eq!(app.publish(&publisher, &version(number)).await.status(), 201, "{number}");
    }
    let key = &publisher.tenant.key;
    let resolve = |requirement: &'static str| {
        let request = app.client.get(app.url(&format!("{CAPSULE}/resolve"))).query(&[("req", requirement)]);
        request.bearer_auth(key).send()
    };
    let resolved = |response: reqwest::Response| async move {
        let body: Value = response.json().await.expect("json");
        body["version"].as_str().map(str::to_owned).unwrap_or_else(|| panic!("{body}"))
    };

    assert_eq!(resolved(resolve("^1").await.expect("response")).await, "1.2.0");
    assert_eq!(resolved(resolve("*").await.expect("response")).await, "2.0.0");
    assert_eq!(resolved(resolve(">=1.3.0-beta.1, <2").await.expect("response")).await, "1.3.0-beta.1");
    assert_problem(resolve("^3").await.expect("response"), 404, "no-matching-version").await;
    assert_problem(resolve("not a requirement").await.expect("response"), 400, "invalid-version-requirement")
        .await;

    let yanked = app.post_as(key, &format!("{CAPSULE}/versions/1.2.0/yank"), json!({})).await;
    assert_eq!(yanked.status(), 200);
    assert_eq!(yanked.json::<Value>().await.expect("json")["status"], "yanked");
    assert_eq!(resolved(resolve("^1").await.expect("response")).await, "1.0.0");
    let exact = app.get_as(key, &format!("{CAPSULE}/versions/1.2.0/download")).await;
    assert_eq!(exact.status(), 200, "a yanked version still downloads by exact version");
    let listed: Value = app.get_as(key, &format!("{CAPSULE}/versions")).await.json().await.expect("json");
    let listed: Vec<(&str, &str)> = listed["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .map(|entry| (entry["version"].as_str().expect("v"), entry["status"].as_str().expect("s")))
        .collect();
    assert_eq!(
        listed,
        [("2.0.0", "active"), ("1.3.0-beta.1", "active"), ("1.2.0", "yanked"), ("1.0.0", "active")]
    );

    let unyanked = app.post_as(key, &format!("{CAPSULE}/versions/1.2.0/unyank"), json!({})).await;
    assert_eq!(unyanked.status(), 200);
    assert_eq!(resolved(resolve("^1").await.expect("response")).await, "1.2.0");
}

#[actix_web::test]
async fn a_revoked_version_shows_its_reason_and_no_longer_downloads() {
    let app = spawn_app().await;
    let publisher = app.publisher("acme").await;
    let key = &publisher.tenant.key;
    assert_eq!(app.publish(&publisher, &version("1.0.0")).await.status(), 201);
    let reason = "CVE-2026-0001: leaks its input";

    let revoked =
        app.post_as(key, &format!("{CAPSULE}/versions/1.0.0/revoke"), json!({ "reason": reason })).await;
    let download = app.get_as(key, &format!("{CAPSULE}/versions/1.0.0/download")).await;
    let shown: Value =
        app.get_as(key, &format!("{CAPSULE}/versions/1.0.0")).await.json().await.expect("json");
    let twice =
        app.post_as(key, &format!("{CAPSULE}/versions/1.0.0/revoke"), json!({ "reason": "again" })).await;
    let unyank = app.post_as(key, &format!("{CAPSULE}/versions/1.0.0/unyank"), json!({})).await;
    let empty = app.post_as(key, &format!("{CAPSULE}/versions/1.0.0/revoke"), json!({ "reason": " " })).await;
    let resolve = app.get_as(key, &format!("{CAPSULE}/resolve?req=*")).await;

    assert_eq!(revoked.status(), 200);
    let problem = assert_problem(download, 410, "version-revoked").await;
    assert_eq!(problem["reason"], reason);
    assert_eq!(shown["status"], "revoked");
    assert_eq!(shown["revoked_reason"], reason);
    assert_problem(twice, 422, "invalid-change").await;
    assert_problem(unyank, 422, "invalid-change").await;
    assert_problem(empty, 422, "invalid-change").await;
    assert_problem(resolve, 404, "no-matching-version").await;
}

#[actix_web::test]
async fn deprecation_shows_a_message_and_only_the_owner_changes_a_version() {
    let app = spawn_app().await;
    let publisher = app.publisher("acme").await;
    let key = &publisher.tenant.key;
    assert_eq!(app.publish(&publisher, &version("1.0.0")).await.status(), 201);
    let stranger = app.create_tenant("pro", super::support::ALL_REGISTRY_SCOPES).await;
    let (read_only, _) =
        app.create_key_for(&app.admin_key, Some(&publisher.tenant.id), &["registry:read"], json!({})).await;
    let path = format!("{CAPSULE}/versions/1.0.0");

    let deprecated =
        app.post_as(key, &format!("{path}/deprecate"), json!({ "message": "use acme/echo 2" })).await;
    let shown: Value = app.get_as(key, &path).await.json().await.expect("json");
    let foreign = app.post_as(&stranger.key, &format!("{path}/yank"), json!({})).await;
    let unscoped = app.post_as(&read_only, &format!("{path}/yank"), json!({})).await;
    let missing = app.post_as(key, &format!("{CAPSULE}/versions/9.9.9/yank"), json!({})).await;
    let operator =
        app.post_as(&app.admin_key, &format!("{path}/revoke"), json!({ "reason": "malware reported" })).await;
    let undeprecated = app.post_as(key, &format!("{path}/undeprecate"), json!({})).await;
    let audit: Value = app.get_as(&app.admin_key, "/v1/audit").await.json().await.expect("json");

    assert_eq!(deprecated.status(), 200);
    assert_eq!(shown["deprecated_message"], "use acme/echo 2");
    assert_eq!(shown["status"], "active");
    assert_problem(foreign, 403, "not-capsule-owner").await;
    assert_problem(unscoped, 403, "missing-scope").await;
    assert_problem(missing, 404, "version-not-found").await;
    assert_eq!(operator.status(), 200, "the operator may revoke any version");
    assert_eq!(undeprecated.json::<Value>().await.expect("json")["deprecated_message"], Value::Null);
    let actions: Vec<&str> = audit["data"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|entry| entry["action"].as_str())
        .collect();
    for action in ["capsule.publish", "capsule.deprecate", "capsule.revoke"] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
}
