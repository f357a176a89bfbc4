//! API keys: bootstrap, creation, authentication by either header, rotation with grace,
//! revocation on the very next request, expiry, scope escalation and tenant isolation.

use crate::helpers::{UNKNOWN_KEY, assert_problem, spawn_app};
use serde_json::{Value, json};
use std::time::Duration;

#[actix_web::test]
async fn the_bootstrap_admin_key_is_the_operators_and_holds_every_scope() {
    let app = spawn_app().await;

    let whoami: Value = app.get_as(&app.admin_key, "/v1/whoami").await.json().await.expect("json");

    assert_eq!(whoami["operator"], true);
    assert_eq!(whoami["scopes"].as_array().map(Vec::len), Some(10));
    assert!(whoami["tenant_id"].as_str().is_some_and(|id| id.starts_with("ten_")));
}

#[actix_web::test]
async fn a_new_key_works_with_either_header_and_its_secret_is_shown_once() {
    let app = spawn_app().await;
    let tenant = app.create_tenant("pro", &["registry:read", "keys:manage"]).await;

    let bearer = app.get_as(&tenant.key, "/v1/whoami").await;
    let header =
        app.client.get(app.url("/v1/whoami")).header("X-API-Key", &tenant.key).send().await.expect("send");
    let shown: Value =
        app.get_as(&tenant.key, &format!("/v1/keys/{}", tenant.key_id)).await.json().await.expect("json");
    let listed: Value = app.get_as(&tenant.key, "/v1/keys").await.json().await.expect("json");

    assert_eq!(bearer.status(), 200);
    assert_eq!(header.status(), 200);
    let whoami: Value = bearer.json().await.expect("json");
    assert_eq!(
        whoami,
        json!({
            "tenant_id": tenant.id, "key_id": tenant.key_id, "scopes": ["registry:read", "keys:manage"],
            "capsule_patterns": [], "plan": "pro", "operator": false
        })
    );
    assert_eq!(shown["prefix"], tenant.key[..17]);
    assert_eq!(shown["status"], "active");
    assert!(!shown.to_string().contains(&tenant.key[17..]), "the secret is never shown again");
    assert_eq!(listed["data"].as_array().map(Vec::len), Some(1));
    assert!(!listed.to_string().contains(&tenant.key[17..]));
}

#[actix_web::test]
async fn missing_malformed_and_unknown_keys_are_401_with_a_challenge() {
    let app = spawn_app().await;

    let missing = app.get("/v1/whoami").await;
    assert_eq!(
        missing.headers().get("www-authenticate").and_then(|v| v.to_str().ok()),
        Some("Bearer realm=\"caravan\"")
    );
    assert_problem(missing, 401, "missing-api-key").await;
    assert_problem(app.get_as("sk_live_nope", "/v1/whoami").await, 401, "malformed-api-key").await;
    let basic =
        app.client.get(app.url("/v1/whoami")).basic_auth("user", Some("pass")).send().await.expect("send");
    assert_problem(basic, 401, "malformed-api-key").await;
    assert_problem(app.get_as(UNKNOWN_KEY, "/v1/whoami").await, 401, "invalid-api-key").await;
}

#[actix_web::test]
async fn revocation_takes_effect_on_the_very_next_request_even_on_a_warm_cache() {
    let app = spawn_app().await;
    let tenant = app.create_tenant("pro", &["keys:manage"]).await;
    assert_eq!(app.get_as(&tenant.key, "/v1/whoami").await.status(), 200, "the cache is warm");

    let revoked = app.post_as(&app.admin_key, &format!("/v1/keys/{}/revoke", tenant.key_id), json!({})).await;
    let next = app.get_as(&tenant.key, "/v1/whoami").await;

    assert_eq!(revoked.status(), 200);
    assert_eq!(revoked.json::<Value>().await.expect("json")["status"], "revoked");
    assert_problem(next, 401, "revoked-api-key").await;
}

#[actix_web::test]
async fn rotation_keeps_the_old_secret_for_the_grace_period_then_stops_it() {
    let app = spawn_app().await;
    let tenant = app.create_tenant("pro", &["keys:manage"]).await;
    assert_eq!(app.get_as(&tenant.key, "/v1/whoami").await.status(), 200);

    let rotated: Value = app
        .post_as(&tenant.key, &format!("/v1/keys/{}/rotate", tenant.key_id), json!({ "grace_period_s": 2 }))
        .await
        .json()
        .await
        .expect("json");
    let new_secret = rotated["secret"].as_str().expect("new secret").to_owned();
    let old_during_grace = app.get_as(&tenant.key, "/v1/whoami").await;
    let new_during_grace = app.get_as(&new_secret, "/v1/whoami").await;
    tokio_sleep(Duration::from_millis(2300)).await;
    let old_after_grace = app.get_as(&tenant.key, "/v1/whoami").await;
    let new_after_grace = app.get_as(&new_secret, "/v1/whoami").await;

    assert_eq!(rotated["key"]["id"], tenant.key_id, "rotation keeps the key id");
    assert_eq!(old_during_grace.status(), 200);
    assert_eq!(new_during_grace.status(), 200);
    assert_problem(old_after_grace, 401, "expired-api-key").await;
    assert_eq!(new_after_grace.status(), 200);
}

#[actix_web::test]
async fn a_key_stops_working_when_it_expires() {
    let app = spawn_app().await;
    let tenant = app.create_tenant("pro", &["keys:manage", "registry:read"]).await;
    let expires_at = chrono::Utc::now() + chrono::Duration::milliseconds(1500);
    let (short_lived, _) =
        app.create_key_for(&tenant.key, None, &["registry:read"], json!({ "expires_at": expires_at })).await;

    let before = app.get_as(&short_lived, "/v1/whoami").await;
    tokio_sleep(Duration::from_millis(1700)).await;
    let after = app.get_as(&short_lived, "/v1/whoami").await;

    assert_eq!(before.status(), 200);
    assert_problem(after, 401, "expired-api-key").await;
}

#[actix_web::test]
async fn a_key_cannot_mint_or_rotate_a_key_with_more_scopes_than_it_holds() {
    let app = spawn_app().await;
    let tenant = app.create_tenant("pro", &["keys:manage", "registry:read"]).await;
    let (broad, broad_id) = app
        .create_key_for(
            &app.admin_key,
            Some(&tenant.id),
            &["keys:manage", "registry:read", "admin"],
            json!({}),
        )
        .await;

    let escalate = app
        .post_as(&tenant.key, "/v1/keys", json!({ "name": "x", "scopes": ["registry:read", "admin"] }))
        .await;
    let rotate_broader = app.post_as(&tenant.key, &format!("/v1/keys/{broad_id}/rotate"), json!({})).await;
    let revoke_broader = app.post_as(&tenant.key, &format!("/v1/keys/{broad_id}/revoke"), json!({})).await;
    let narrower =
        app.post_as(&tenant.key, "/v1/keys", json!({ "name": "x", "scopes": ["registry:read"] })).await;

    let body = assert_problem(escalate, 403, "scope-escalation").await;
    assert_eq!(body["missing-scopes"], json!(["admin"]));
    assert_problem(rotate_broader, 403, "scope-escalation").await;
    assert_problem(revoke_broader, 403, "scope-escalation").await;
    assert_eq!(narrower.status(), 201);
    assert_eq!(app.get_as(&broad, "/v1/whoami").await.status(), 200, "the broader key is untouched");
}

#[actix_web::test]
async fn a_publisher_restricted_to_a_namespace_cannot_mint_an_unrestricted_key() {
    let app = spawn_app().await;
    let tenant = app.create_tenant("pro", &["keys:manage"]).await;
    let (restricted, _) = app
        .create_key_for(
            &app.admin_key,
            Some(&tenant.id),
            &["keys:manage", "registry:publish"],
            json!({ "capsule_patterns": ["acme/*"] }),
        )
        .await;

    let unrestricted =
        app.post_as(&restricted, "/v1/keys", json!({ "name": "x", "scopes": ["registry:publish"] })).await;
    let inside = app
        .post_as(
            &restricted,
            "/v1/keys",
            json!({ "name": "x", "scopes": ["registry:publish"], "capsule_patterns": ["acme/echo"] }),
        )
        .await;

    assert_problem(unrestricted, 403, "scope-escalation").await;
    assert_eq!(inside.status(), 201);
}

#[actix_web::test]
async fn another_tenants_objects_are_not_found() {
    let app = spawn_app().await;
    let acme = app.create_tenant("pro", &["keys:manage"]).await;
    let globex = app.create_tenant("pro", &["keys:manage"]).await;

    let key = app.get_as(&acme.key, &format!("/v1/keys/{}", globex.key_id)).await;
    let revoke = app.post_as(&acme.key, &format!("/v1/keys/{}/revoke", globex.key_id), json!({})).await;
    let tenant = app.get_as(&acme.key, &format!("/v1/tenants/{}", globex.id)).await;
    let own = app.get_as(&acme.key, &format!("/v1/tenants/{}", acme.id)).await;
    let list = app.get_as(&acme.key, &format!("/v1/keys?tenant_id={}", globex.id)).await;

    assert_problem(key, 404, "api-key-not-found").await;
    assert_problem(revoke, 404, "api-key-not-found").await;
    assert_problem(tenant, 404, "tenant-not-found").await;
    assert_problem(list, 404, "tenant-not-found").await;
    assert_eq!(own.status(), 200);
    assert_eq!(app.get_as(&globex.key, "/v1/whoami").await.status(), 200, "globex's key still works");
}

#[actix_web::test]
async fn a_missing_scope_is_named_in_the_403() {
    let app = spawn_app().await;
    let tenant = app.create_tenant("pro", &["registry:read"]).await;

    let response = app.get_as(&tenant.key, "/v1/keys").await;

    let body = assert_problem(response, 403, "missing-scope").await;
    assert_eq!(body["required-scope"], "keys:manage");
}

#[actix_web::test]
async fn a_suspended_tenants_keys_are_refused_until_it_is_reactivated() {
    let app = spawn_app().await;
    let tenant = app.create_tenant("free", &["registry:read"]).await;
    assert_eq!(app.get_as(&tenant.key, "/v1/whoami").await.status(), 200);

    let suspended = app
        .patch_as(&app.admin_key, &format!("/v1/tenants/{}", tenant.id), json!({ "status": "suspended" }))
        .await;
    let refused = app.get_as(&tenant.key, "/v1/whoami").await;
    app.patch_as(
        &app.admin_key,
        &format!("/v1/tenants/{}", tenant.id),
        json!({ "status": "active", "plan": "team" }),
    )
    .await;
    let restored: Value = app.get_as(&tenant.key, "/v1/whoami").await.json().await.expect("json");

    assert_eq!(suspended.status(), 200);
    assert_problem(refused, 403, "tenant-suspended").await;
    assert_eq!(restored["plan"], "team", "the plan change applies at once");
}

#[actix_web::test]
async fn tenants_are_managed_by_the_operator_only() {
    let app = spawn_app().await;
    let tenant = app.create_tenant("pro", &["admin", "keys:manage"]).await;

    let by_customer_admin =
        app.post_as(&tenant.key, "/v1/tenants", json!({ "name": "x", "plan": "pro" })).await;
    let unknown_plan =
        app.post_as(&app.admin_key, "/v1/tenants", json!({ "name": "x", "plan": "gold" })).await;
    let blank_name = app.post_as(&app.admin_key, "/v1/tenants", json!({ "name": "  ", "plan": "pro" })).await;
    let listed: Value = app.get_as(&app.admin_key, "/v1/tenants?limit=1").await.json().await.expect("json");
    let next: Value = app
        .get_as(
            &app.admin_key,
            &format!("/v1/tenants?limit=1&cursor={}", listed["next_cursor"].as_str().expect("cursor")),
        )
        .await
        .json()
        .await
        .expect("json");

    let operator: Value = app.get_as(&app.admin_key, "/v1/whoami").await.json().await.expect("json");
    let operator_tenant = operator["tenant_id"].as_str().expect("tenant id").to_owned();
    let suspend_operator = app
        .patch_as(&app.admin_key, &format!("/v1/tenants/{operator_tenant}"), json!({ "status": "suspended" }))
        .await;
    assert_problem(suspend_operator, 409, "operator-tenant-protected").await;
    assert_problem(by_customer_admin, 403, "operator-only").await;
    let body = assert_problem(unknown_plan, 422, "unknown-plan").await;
    assert!(body["detail"].as_str().is_some_and(|detail| detail.contains("free, pro, team")));
    assert_problem(blank_name, 422, "invalid-tenant-name").await;
    assert_eq!(listed["data"][0]["kind"], "operator");
    assert_eq!(next["data"][0]["id"], tenant.id);
    assert_problem(app.get_as(&app.admin_key, "/v1/tenants?cursor=bogus").await, 400, "invalid-cursor").await;
    assert_problem(app.get_as(&app.admin_key, "/v1/tenants?limit=0").await, 400, "invalid-page").await;
}

async fn tokio_sleep(duration: Duration) {
    actix_web::rt::time::sleep(duration).await;
}

#[actix_web::test]
async fn a_namespace_restricted_key_cannot_rotate_or_revoke_a_wider_publisher() {
    let app = spawn_app().await;
    let tenant = app.create_tenant("pro", &["keys:manage"]).await;
    let (restricted, _) = app
        .create_key_for(
            &app.admin_key,
            Some(&tenant.id),
            &["keys:manage", "registry:publish"],
            json!({ "capsule_patterns": ["acme/*"] }),
        )
        .await;
    let (_, wider_id) =
        app.create_key_for(&app.admin_key, Some(&tenant.id), &["registry:publish"], json!({})).await;

    let rotate_wider = app.post_as(&restricted, &format!("/v1/keys/{wider_id}/rotate"), json!({})).await;
    let revoke_wider = app.post_as(&restricted, &format!("/v1/keys/{wider_id}/revoke"), json!({})).await;
    let without_publish =
        app.post_as(&restricted, "/v1/keys", json!({ "name": "x", "scopes": ["keys:manage"] })).await;

    assert_problem(rotate_wider, 403, "scope-escalation").await;
    assert_problem(revoke_wider, 403, "scope-escalation").await;
    assert_eq!(without_publish.status(), 201, "patterns do not restrict keys without publish or yank");
}

#[actix_web::test]
async fn a_key_cannot_mint_a_key_that_outlives_it_or_reaches_the_live_environment() {
    let app = spawn_app().await;
    let tenant = app.create_tenant("pro", &["keys:manage"]).await;
    let in_an_hour = chrono::Utc::now() + chrono::Duration::hours(1);
    let (expiring, _) = app
        .create_key_for(
            &app.admin_key,
            Some(&tenant.id),
            &["keys:manage"],
            json!({ "expires_at": in_an_hour }),
        )
        .await;
    let (test_key, _) = app
        .create_key_for(&app.admin_key, Some(&tenant.id), &["keys:manage"], json!({ "environment": "test" }))
        .await;

    let forever = app.post_as(&expiring, "/v1/keys", json!({ "name": "x", "scopes": ["keys:manage"] })).await;
    let sooner = app
        .post_as(
            &expiring,
            "/v1/keys",
            json!({ "name": "x", "scopes": ["keys:manage"], "expires_at": in_an_hour }),
        )
        .await;
    let live_from_test =
        app.post_as(&test_key, "/v1/keys", json!({ "name": "x", "scopes": ["keys:manage"] })).await;
    let test_from_test = app
        .post_as(
            &test_key,
            "/v1/keys",
            json!({ "name": "x", "scopes": ["keys:manage"], "environment": "test" }),
        )
        .await;

    assert_problem(forever, 422, "invalid-api-key-request").await;
    assert_eq!(sooner.status(), 201);
    assert_problem(live_from_test, 403, "scope-escalation").await;
    assert_eq!(test_from_test.status(), 201);
}
