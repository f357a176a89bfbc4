//! The Stripe sync against Stripe itself, in test mode. Off by default; it needs the
//! network and a test-mode secret key:
//!
//! ```sh
//! STRIPE_TEST_SECRET_KEY=sk_test_… cargo test -p caravan-gateway --features stripe-live \
//!     --test api metering::stripe_live
//! ```
//!
//! It closes a period with one tenant and checks, on Stripe, one finalized invoice with
//! the invoice's lines and amount — the same assertions as the local suite.

use super::support::last_month;
use crate::helpers::spawn_app_with;
use caravan_metering::stripe::StripeSettings;
use serde_json::{Value, json};

#[actix_web::test]
async fn a_closed_period_reaches_stripe_test_mode_as_one_finalized_invoice() {
    let secret = std::env::var("STRIPE_TEST_SECRET_KEY")
        .expect("STRIPE_TEST_SECRET_KEY names a Stripe test-mode secret key (sk_test_…)");
    assert!(secret.starts_with("sk_test_"), "only ever run this against test mode");
    let api_key = secret.clone();
    let app = spawn_app_with(move |settings| {
        settings.stripe = StripeSettings {
            api_key: Some(api_key.into()),
            sync_interval_s: 3600,
            ..StripeSettings::default()
        };
    })
    .await;
    let tenant = app.billed_tenant("pro").await;
    app.ingest(
        &tenant.key,
        vec![super::support::usage_event("live", last_month(3, 3), json!({ "executions": 1500 }))],
    )
    .await;
    app.close_last_period().await;
    let report: Value =
        app.post_as(&app.admin_key, "/v1/billing/stripe/sync", json!({})).await.json().await.expect("json");
    assert_eq!(report["failed"], 0, "{report}");

    let invoice = app.last_invoice_of(&tenant.key).await;
    assert_eq!(invoice["stripe"]["status"], "synced", "{invoice}");
    let stripe_id = invoice["stripe"]["invoice_id"].as_str().expect("stripe id");
    let remote: Value = reqwest::Client::new()
        .get(format!("https://api.stripe.com/v1/invoices/{stripe_id}"))
        .bearer_auth(&secret)
        .send()
        .await
        .expect("Stripe answers")
        .json()
        .await
        .expect("json");
    assert_eq!(remote["status"], "open");
    assert_eq!(remote["amount_due"], invoice["total_minor"]);
    assert_eq!(remote["metadata"]["caravan_invoice_id"], invoice["id"]);
}
