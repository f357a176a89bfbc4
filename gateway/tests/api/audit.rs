//! The audit log records every change with actor, tenant, target and request id.

use crate::helpers::{assert_problem, spawn_app};
use serde_json::{Value, json};

#[actix_web::test]
async fn changes_are_audited_with_their_actor_and_request_id() {
    let app = spawn_app().await;
    let created = app
        .client
        .post(app.url("/v1/tenants"))
        .bearer_auth(&app.admin_key)
        .header("X-Request-Id", "trace-tenant-create")
        .json(&json!({ "name": "Acme", "plan": "pro" }))
        .send()
        .await
        .expect("send");
    let tenant: Value = created.json().await.expect("json");
    let tenant_id = tenant["id"].as_str().expect("id").to_owned();
    let (_, key_id) =
        app.create_key_for(&app.admin_key, Some(&tenant_id), &["admin", "registry:read"], json!({})).await;
    app.post_as(&app.admin_key, &format!("/v1/keys/{key_id}/revoke"), json!({})).await;

    let log: Value = app.get_as(&app.admin_key, "/v1/audit").await.json().await.expect("json");

    let entries = log["data"].as_array().expect("entries");
    let actions: Vec<&str> = entries.iter().filter_map(|entry| entry["action"].as_str()).collect();
    assert_eq!(actions, ["tenant.create", "key.create", "tenant.create", "key.create", "key.revoke"]);
    let tenant_create = &entries[2];
    assert_eq!(tenant_create["tenant_id"], tenant_id);
    assert_eq!(tenant_create["target"], tenant_id);
    assert_eq!(tenant_create["request_id"], "trace-tenant-create");
    assert!(tenant_create["actor"].as_str().is_some_and(|actor| actor.starts_with("key_")));
    assert_eq!(entries[4]["previous_hash"], entries[3]["hash"], "entries are chained");
}

#[actix_web::test]
async fn a_tenant_admin_sees_only_its_own_entries() {
    let app = spawn_app().await;
    let acme = app.create_tenant("pro", &["admin"]).await;
    let globex = app.create_tenant("pro", &["registry:read"]).await;

    let own: Value = app.get_as(&acme.key, "/v1/audit").await.json().await.expect("json");
    let other = app.get_as(&acme.key, &format!("/v1/audit?tenant_id={}", globex.id)).await;
    let without_admin = app.get_as(&globex.key, "/v1/audit").await;

    let tenants: Vec<&str> =
        own["data"].as_array().expect("entries").iter().filter_map(|e| e["tenant_id"].as_str()).collect();
    assert!(!tenants.is_empty());
    assert!(tenants.iter().all(|tenant| *tenant == acme.id), "{tenants:?}");
    assert_problem(other, 404, "tenant-not-found").await;
    assert_problem(without_admin, 403, "missing-scope").await;
}

#[actix_web::test]
async fn the_audit_log_pages_with_a_cursor() {
    let app = spawn_app().await;
    app.create_tenant("pro", &["registry:read"]).await;

    let first: Value = app.get_as(&app.admin_key, "/v1/audit?limit=3").await.json().await.expect("json");
    let cursor = first["next_cursor"].as_str().expect("a full page has a cursor").to_owned();
    let second: Value = app
        .get_as(&app.admin_key, &format!("/v1/audit?limit=3&cursor={cursor}"))
        .await
        .json()
        .await
        .expect("json");

    assert_eq!(first["data"].as_array().map(Vec::len), Some(3));
    assert_eq!(second["data"][0]["sequence"], 4);
    assert_problem(app.get_as(&app.admin_key, "/v1/audit?cursor=abc").await, 400, "invalid-cursor").await;
}

#[actix_web::test]
async fn an_update_that_changes_nothing_writes_nothing() {
    let app = spawn_app().await;
    let tenant = app.create_tenant("pro", &["registry:read"]).await;
    let before: Value = app.get_as(&app.admin_key, "/v1/audit").await.json().await.expect("json");

    let empty = app.patch_as(&app.admin_key, &format!("/v1/tenants/{}", tenant.id), json!({})).await;
    let same =
        app.patch_as(&app.admin_key, &format!("/v1/tenants/{}", tenant.id), json!({ "plan": "pro" })).await;
    let after: Value = app.get_as(&app.admin_key, "/v1/audit").await.json().await.expect("json");

    assert_eq!((empty.status().as_u16(), same.status().as_u16()), (200, 200));
    assert_eq!(before["data"].as_array().map(Vec::len), after["data"].as_array().map(Vec::len));
}
