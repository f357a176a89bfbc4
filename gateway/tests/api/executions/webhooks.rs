//! Async runs report their end to a signed webhook, retried until delivered, with one event
//! id; the signing secret rotates without a missed delivery.

use super::support::{RUN_SCOPES, Receiver, signed_with};
use crate::helpers::spawn_app;
use serde_json::{Value, json};

#[actix_web::test]
async fn an_async_runs_webhook_is_signed_retried_and_listed() {
    let app = spawn_app().await;
    app.publish_fixtures().await;
    let tenant = app.create_tenant("pro", RUN_SCOPES).await;
    let receiver = Receiver::start(1);

    let accepted: Value = app
        .run(
            &tenant.key,
            "acme/echo",
            json!({ "input": { "text": "hook" }, "mode": "async", "webhook_url": receiver.url }),
        )
        .await
        .json()
        .await
        .expect("json");

    let deliveries = receiver.wait_for(2).await;
    assert_eq!(
        (deliveries[0].answered, deliveries[1].answered),
        (500, 200),
        "the first attempt failed and was retried"
    );
    assert_eq!(deliveries[0].body, deliveries[1].body, "the same event, the same id");
    let event: Value = serde_json::from_str(&deliveries[1].body).expect("json");
    assert_eq!(event["type"], "execution.succeeded");
    assert!(event["id"].as_str().is_some_and(|id| id.starts_with("evt_")));
    assert_eq!(event["data"]["execution"]["id"], accepted["id"]);
    assert_eq!(event["data"]["execution"]["output"]["text"], "hook");
    let secrets: Value = app.get_as(&tenant.key, "/v1/webhooks/secrets").await.json().await.expect("json");
    let secret = secrets["secrets"][0]["secret"].as_str().expect("secret");
    assert!(
        signed_with(&deliveries[1].signature, &deliveries[1].body, secret),
        "{}",
        deliveries[1].signature
    );
    assert!(!signed_with(&deliveries[1].signature, &deliveries[1].body.replace("hook", "hack"), secret));

    let id = accepted["id"].as_str().expect("id");
    let mut listed: Value = Value::Null;
    for _ in 0..40 {
        listed = app
            .get_as(&tenant.key, &format!("/v1/executions/{id}/deliveries"))
            .await
            .json()
            .await
            .expect("json");
        if listed[0]["delivered_at"].is_string() {
            break;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(
        (listed[0]["attempts"].as_i64(), listed[0]["last_status"].as_i64()),
        (Some(2), Some(200)),
        "{listed}"
    );
    assert!(listed[0]["delivered_at"].is_string());
}

#[actix_web::test]
async fn a_rotated_secret_and_the_previous_one_both_sign_during_the_grace_period() {
    let app = spawn_app().await;
    app.publish_fixtures().await;
    let tenant = app.create_tenant("pro", RUN_SCOPES).await;
    let before: Value = app.get_as(&tenant.key, "/v1/webhooks/secrets").await.json().await.expect("json");
    let old = before["secrets"][0]["secret"].as_str().expect("secret").to_owned();

    let rotated: Value = app
        .post_as(&tenant.key, "/v1/webhooks/secrets/rotate", json!({ "expire_previous_in_s": 3600 }))
        .await
        .json()
        .await
        .expect("json");
    let new = rotated["secrets"][0]["secret"].as_str().expect("secret").to_owned();
    assert_ne!(new, old);
    assert!(rotated["secrets"][1]["expires_at"].is_string());
    let receiver = Receiver::start(0);
    app.run(
        &tenant.key,
        "acme/echo",
        json!({ "input": { "text": "x" }, "mode": "async", "webhook_url": receiver.url }),
    )
    .await;

    let delivered = receiver.wait_for(1).await;
    assert!(signed_with(&delivered[0].signature, &delivered[0].body, &new));
    assert!(signed_with(&delivered[0].signature, &delivered[0].body, &old));
    let refused = app
        .post_as(&tenant.key, "/v1/webhooks/secrets/rotate", json!({ "expire_previous_in_s": 9_999_999 }))
        .await;
    assert_eq!(refused.status(), 422);
}
