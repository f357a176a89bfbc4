//! Namespaces and publisher signing keys: the first tenant to register a key claims the
//! namespace; keys are validated, listed by the owner only, and retired.

use crate::helpers::{assert_problem, spawn_app};
use caravan_registry::signing::generate_key_pair;
use serde_json::{Value, json};

fn public_key() -> String {
    generate_key_pair().expect("key pair").1
}

#[actix_web::test]
async fn the_first_key_claims_the_namespace_for_its_tenant() {
    let app = spawn_app().await;
    let acme = app.create_tenant("pro", &["registry:publish", "registry:read"]).await;
    let globex = app.create_tenant("pro", &["registry:publish", "registry:read"]).await;
    let pem = public_key();

    let registered = app
        .post_as(&acme.key, "/v1/namespaces/acme/keys", json!({ "name": "release", "public_key_pem": pem }))
        .await;
    let second = app
        .post_as(
            &acme.key,
            "/v1/namespaces/acme/keys",
            json!({ "name": "ci", "public_key_pem": public_key() }),
        )
        .await;
    let again = app
        .post_as(&acme.key, "/v1/namespaces/acme/keys", json!({ "name": "copy", "public_key_pem": pem }))
        .await;
    let taken = app
        .post_as(
            &globex.key,
            "/v1/namespaces/acme/keys",
            json!({ "name": "x", "public_key_pem": public_key() }),
        )
        .await;
    let listed: Value = app.get_as(&acme.key, "/v1/namespaces/acme/keys").await.json().await.expect("json");
    let hidden = app.get_as(&globex.key, "/v1/namespaces/acme/keys").await;

    assert_eq!(registered.status(), 201);
    let key: Value = registered.json().await.expect("json");
    assert_eq!(key["namespace"], "acme");
    assert_eq!(key["status"], "active");
    assert!(key["fingerprint"].as_str().is_some_and(|print| print.starts_with("sha256:")));
    assert_eq!(second.status(), 201);
    assert_problem(again, 409, "publisher-key-exists").await;
    assert_problem(taken, 409, "namespace-taken").await;
    assert_eq!(listed["data"].as_array().map(Vec::len), Some(2));
    assert_problem(hidden, 404, "namespace-not-found").await;
}

#[actix_web::test]
async fn a_retired_key_stays_listed_and_retiring_twice_changes_nothing() {
    let app = spawn_app().await;
    let acme = app.create_tenant("pro", &["registry:publish"]).await;
    let key: Value = app
        .post_as(
            &acme.key,
            "/v1/namespaces/acme/keys",
            json!({ "name": "old", "public_key_pem": public_key() }),
        )
        .await
        .json()
        .await
        .expect("json");
    let retire_path = format!("/v1/namespaces/acme/keys/{}/retire", key["id"].as_str().expect("id"));

    let retired: Value = app.post_as(&acme.key, &retire_path, json!({})).await.json().await.expect("json");
    let twice = app.post_as(&acme.key, &retire_path, json!({})).await;
    let audit: Value = app.get_as(&app.admin_key, "/v1/audit").await.json().await.expect("json");

    assert_eq!(retired["status"], "retired");
    assert_eq!(twice.status(), 200);
    let actions: Vec<&str> =
        audit["data"].as_array().expect("entries").iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(actions.iter().filter(|action| **action == "publisher_key.retire").count(), 1);
    assert!(actions.contains(&"namespace.claim") && actions.contains(&"publisher_key.register"));
}

#[actix_web::test]
async fn bad_keys_namespaces_and_rights_are_refused() {
    let app = spawn_app().await;
    let acme = app.create_tenant("pro", &["registry:publish", "keys:manage"]).await;
    let (reader, _) = app.create_key_for(&app.admin_key, Some(&acme.id), &["registry:read"], json!({})).await;
    let (restricted, _) = app
        .create_key_for(
            &app.admin_key,
            Some(&acme.id),
            &["registry:publish"],
            json!({ "capsule_patterns": ["acme/*"] }),
        )
        .await;
    let body = |pem: &str| json!({ "name": "k", "public_key_pem": pem });

    let garbage = app
        .post_as(
            &acme.key,
            "/v1/namespaces/acme/keys",
            body("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"),
        )
        .await;
    let bad_namespace = app.post_as(&acme.key, "/v1/namespaces/Acme!/keys", body(&public_key())).await;
    let read_only = app.post_as(&reader, "/v1/namespaces/acme/keys", body(&public_key())).await;
    let outside = app.post_as(&restricted, "/v1/namespaces/globex/keys", body(&public_key())).await;
    let inside = app.post_as(&restricted, "/v1/namespaces/acme/keys", body(&public_key())).await;

    assert_problem(garbage, 422, "invalid-public-key").await;
    assert_problem(bad_namespace, 422, "invalid-namespace").await;
    let scope = assert_problem(read_only, 403, "missing-scope").await;
    assert_eq!(scope["required-scope"], "registry:publish");
    assert_problem(outside, 403, "outside-capsule-patterns").await;
    assert_eq!(inside.status(), 201);
}
