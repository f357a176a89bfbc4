//! Invoices pushed to Stripe-compatible servers, exactly once, and Stripe's signed
//! webhooks moving them to paid, unpaid or void.

use super::support::{STRIPE_KEY, StripeServer, free_port};
use crate::helpers::{TestApp, assert_problem, spawn_app_with};
use caravan_metering::stripe::StripeSettings;
use caravan_metering::stripe::client::{NewItem, StripeApi};
use caravan_metering::stripe::signature;
use serde_json::{Value, json};
use std::time::Duration;

/// Caravan with Stripe pointed at `stripe`, and Stripe's webhooks pointed at Caravan.
async fn app_with_stripe(stripe: &StripeServer) -> TestApp {
    let port = free_port();
    let secret = stripe.webhook_to(&format!("http://127.0.0.1:{port}/v1/stripe/webhook"));
    let base_url = stripe.url.clone();
    spawn_app_with(move |settings| {
        settings.listen = format!("127.0.0.1:{port}");
        settings.stripe = StripeSettings {
            api_key: Some(STRIPE_KEY.to_owned().into()),
            base_url,
            webhook_secrets: vec![secret.into()],
            sync_interval_s: 3600,
        };
    })
    .await
}

async fn sync(app: &TestApp) -> Value {
    let response = app.post_as(&app.admin_key, "/v1/billing/stripe/sync", json!({})).await;
    assert_eq!(response.status(), 200);
    response.json().await.expect("json")
}

/// Polls until `check` holds for the invoice, as webhooks arrive asynchronously.
async fn eventually(app: &TestApp, key: &str, check: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..100 {
        let invoice = app.last_invoice_of(key).await;
        if check(&invoice) {
            return invoice;
        }
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the invoice never reached the expected state: {}", app.last_invoice_of(key).await);
}

#[actix_web::test]
async fn a_closed_period_reaches_stripe_as_one_finalized_invoice_with_its_lines() {
    let stripe = StripeServer::start();
    let app = app_with_stripe(&stripe).await;
    let tenant = app.create_tenant("pro", &["usage:write", "billing:read"]).await;
    app.ingest(
        &tenant.key,
        vec![super::support::usage_event(
            "u",
            super::support::last_month(3, 3),
            json!({ "executions": 1500 }),
        )],
    )
    .await;
    app.close_last_period().await;

    // The close wakes the background sync; syncing now waits for it, then finds nothing left.
    let report = sync(&app).await;
    assert_eq!((report["failed"].as_u64(), report["retrying"].as_u64()), (Some(0), Some(0)), "{report}");
    let invoice = app.last_invoice_of(&tenant.key).await;
    assert_eq!(invoice["stripe"]["status"], "synced", "{invoice}");
    let stripe_id = invoice["stripe"]["invoice_id"].as_str().expect("stripe id");
    assert!(invoice["stripe"]["hosted_url"].as_str().is_some_and(|url| url.starts_with("http")));

    let remote = stripe.get(&format!("/v1/invoices/{stripe_id}"));
    assert_eq!(remote["status"], "open");
    assert_eq!(remote["metadata"]["caravan_invoice_id"], invoice["id"]);
    let amounts: Vec<i64> = remote["lines"]["data"]
        .as_array()
        .expect("lines")
        .iter()
        .filter_map(|line| line["amount"].as_i64())
        .collect();
    assert_eq!(amounts, [4900, 100]);
    assert_eq!(remote["amount_due"], invoice["total_minor"]);
    let customer = stripe.get(&format!("/v1/customers/{}", remote["customer"].as_str().expect("customer")));
    assert_eq!(customer["metadata"]["caravan_tenant_id"], tenant.id.as_str());

    // Syncing again finds nothing to do and creates nothing.
    let again = sync(&app).await;
    assert_eq!(again, json!({ "synced": 0, "failed": 0, "retrying": 0 }));
    assert_eq!(
        (stripe.created("/v1/invoices"), stripe.created("/v1/invoiceitems"), stripe.created("/v1/customers")),
        (1, 2, 1)
    );
}

#[actix_web::test]
async fn stripe_webhooks_move_invoices_to_paid_and_payment_failed() {
    let stripe = StripeServer::start();
    let app = app_with_stripe(&stripe).await;
    let payer = app.billed_tenant("pro").await;
    let defaulter = app.billed_tenant("pro").await;
    app.close_last_period().await;
    sync(&app).await;
    let paying = app.last_invoice_of(&payer.key).await;
    let failing = app.last_invoice_of(&defaulter.key).await;

    stripe.post(
        &format!("/v1/invoices/{}/pay", paying["stripe"]["invoice_id"].as_str().expect("id")),
        &[("paid_out_of_band", "true")],
    );
    let paid = eventually(&app, &payer.key, |invoice| invoice["status"] == "paid").await;
    assert!(paid["paid_at"].is_string());
    stripe.post(
        &format!("/_test/invoices/{}/payment_failed", failing["stripe"]["invoice_id"].as_str().expect("id")),
        &[],
    );
    eventually(&app, &defaulter.key, |invoice| invoice["status"] == "payment_failed").await;

    // One audit entry per status change.
    let audit: Value = app.get_as(&app.admin_key, "/v1/audit?limit=200").await.json().await.expect("json");
    let paid_entries = |audit: &Value| {
        audit["data"]
            .as_array()
            .expect("entries")
            .iter()
            .filter(|entry| entry["action"] == "invoice.paid")
            .count()
    };
    assert_eq!(paid_entries(&audit), 1);
}

#[actix_web::test]
async fn webhook_deliveries_are_verified_and_handled_once() {
    let secret = "whsec_for_this_test";
    let app =
        spawn_app_with(|settings| settings.stripe.webhook_secrets = vec![secret.to_owned().into()]).await;
    let tenant = app.billed_tenant("pro").await;
    app.close_last_period().await;
    let invoice = app.last_invoice_of(&tenant.key).await;
    let event = json!({ "id": "evt_manual_1", "object": "event", "type": "invoice.paid",
        "data": { "object": { "id": "in_unknown", "object": "invoice", "metadata": { "caravan_invoice_id": invoice["id"] } } } });
    let body = event.to_string();
    let now = chrono::Utc::now().timestamp();
    let deliver = |header: String, body: String| {
        let request =
            app.client.post(app.url("/v1/stripe/webhook")).header("Stripe-Signature", header).body(body);
        async move { request.send().await.expect("request") }
    };

    assert_problem(deliver("t=1,v1=00".to_owned(), body.clone()).await, 400, "invalid-stripe-signature")
        .await;
    assert_problem(
        deliver(signature::sign(body.as_bytes(), secret, now - 301), body.clone()).await,
        400,
        "invalid-stripe-signature",
    )
    .await;
    assert_problem(
        deliver(signature::sign(body.as_bytes(), "whsec_wrong", now), body.clone()).await,
        400,
        "invalid-stripe-signature",
    )
    .await;
    let tampered = body.replace("invoice.paid", "invoice.voided");
    assert_problem(
        deliver(signature::sign(body.as_bytes(), secret, now), tampered).await,
        400,
        "invalid-stripe-signature",
    )
    .await;
    let missing =
        app.client.post(app.url("/v1/stripe/webhook")).body(body.clone()).send().await.expect("request");
    assert_problem(missing, 400, "invalid-stripe-signature").await;

    let first: Value = deliver(signature::sign(body.as_bytes(), secret, now), body.clone())
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(first["outcome"], "applied");
    let again: Value = deliver(signature::sign(body.as_bytes(), secret, now), body.clone())
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(again["outcome"], "duplicate");
    let other = body.replace("evt_manual_1", "evt_manual_2").replace("invoice.paid", "customer.created");
    let ignored: Value =
        deliver(signature::sign(other.as_bytes(), secret, now), other).await.json().await.expect("json");
    assert_eq!(ignored["outcome"], "ignored");
    let updated: Value = app
        .get_as(&app.admin_key, &format!("/v1/invoices/{}", invoice["id"].as_str().expect("id")))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(updated["status"], "paid");
}

#[actix_web::test]
async fn an_invoice_voided_after_it_reached_stripe_is_voided_there() {
    let stripe = StripeServer::start();
    let app = app_with_stripe(&stripe).await;
    let tenant = app.billed_tenant("pro").await;
    app.close_last_period().await;
    sync(&app).await;
    let invoice = app.last_invoice_of(&tenant.key).await;

    let voided = app
        .post_as(
            &app.admin_key,
            &format!("/v1/invoices/{}/void", invoice["id"].as_str().expect("id")),
            json!({ "reason": "goodwill" }),
        )
        .await;
    assert_eq!(voided.status(), 200);
    sync(&app).await;

    let remote =
        stripe.get(&format!("/v1/invoices/{}", invoice["stripe"]["invoice_id"].as_str().expect("id")));
    assert_eq!(remote["status"], "void");
    assert_eq!(stripe.created("/v1/invoices"), 1);
}

/// `localstripe` supports customers and invoice items (not standalone invoices): the
/// requests Caravan makes for those work against it.
#[actix_web::test]
async fn customers_and_invoice_items_work_against_localstripe() {
    let localstripe = StripeServer::localstripe();
    let api = StripeApi::new(&localstripe.url, STRIPE_KEY).expect("client");

    assert_eq!(api.find_customer("ten_nobody").await, Ok(None), "no search API: nothing found");
    let customer = api
        .create_customer("ten_local", "Local Tenant", "caravan-customer-ten_local")
        .await
        .expect("customer");
    let usd = caravan_core::money::Currency::usd();
    let item = NewItem {
        customer: &customer,
        invoice: None,
        amount_minor: 1234,
        currency: &usd,
        description: "tokens_in: 1000 units",
        metadata: [("caravan_line_id".to_owned(), "inl_1".to_owned())].into(),
    };
    let item_id = api.create_item(item, "caravan-line-inl_1").await.expect("invoice item");

    let stored = localstripe.get(&format!("/v1/invoiceitems/{item_id}"));
    assert_eq!(
        (stored["amount"].as_i64(), stored["currency"].as_str(), stored["customer"].as_str()),
        (Some(1234), Some("usd"), Some(customer.as_str()))
    );
    assert_eq!(stored["metadata"]["caravan_line_id"], "inl_1");
    let stored = localstripe.get(&format!("/v1/customers/{customer}"));
    assert_eq!(stored["metadata"]["caravan_tenant_id"], "ten_local");
}
