//! Crash safety of the binary: `caravan serve` killed with SIGKILL in the middle of a
//! Stripe sync or of a stream of ingestion batches loses nothing acknowledged and does
//! nothing twice.

use super::support::{STRIPE_KEY, StripeServer, last_month, last_period, usage_event};
use crate::helpers::test_secret;
use crate::served::Served;
use caravan_core::testing::TestDatabase;
use chrono::Utc;
use serde_json::{Value, json};
use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

/// Every gap between a saved idempotency key, Stripe's answer and the saved answer.
const SYNC_CRASH_POINTS: [&str; 8] = [
    "stripe.customer.create.saved",
    "stripe.customer.create.sent",
    "stripe.invoice.create.saved",
    "stripe.invoice.create.sent",
    "stripe.line.create.saved",
    "stripe.line.create.sent",
    "stripe.invoice.finalize.saved",
    "stripe.invoice.finalize.sent",
];

#[test]
fn a_stripe_sync_killed_at_any_step_ends_with_exactly_one_stripe_invoice() {
    for point in SYNC_CRASH_POINTS {
        let stripe = StripeServer::start();
        let database = TestDatabase::create();
        let data_dir = tempfile::tempdir().expect("data dir");
        let admin = test_secret();
        let env = [
            ("CARAVAN_BOOTSTRAP_KEY", admin.as_str()),
            ("CARAVAN_STRIPE__API_KEY", STRIPE_KEY),
            ("CARAVAN_STRIPE__BASE_URL", stripe.url.as_str()),
            ("CARAVAN_STRIPE__SYNC_INTERVAL_S", "3600"),
        ];
        let mut served =
            Served::start(&database, data_dir.path(), &[&env[..], &[("CARAVAN_CRASH_AT", point)]].concat());
        let (status, tenant) =
            served.call("POST", "/v1/tenants", &admin, Some(json!({ "name": "Acme", "plan": "pro" })));
        assert_eq!(status, 201);
        let (_, key) = served.call(
            "POST",
            "/v1/keys",
            &admin,
            Some(json!({ "name": "usage", "scopes": ["usage:write"], "tenant_id": tenant["id"] })),
        );
        let usage = json!([usage_event("u1", last_month(1, 0), json!({ "tool_calls": 1 }))]);
        let (status, _) =
            served.call("POST", "/v1/events", key["secret"].as_str().expect("secret"), Some(usage));
        assert_eq!(status, 200);
        // The close wakes the sync, which dies at the crash point.
        let _ = served.call(
            "POST",
            &format!("/v1/billing/periods/{}/close", last_period()),
            &admin,
            Some(json!({})),
        );
        let status = served.wait_for_exit(Duration::from_secs(20));
        assert_eq!(status.signal(), Some(9), "{point}: killed by SIGKILL, not {status}");

        let served = Served::start(&database, data_dir.path(), &env);
        let (status, report) = served.call("POST", "/v1/billing/stripe/sync", &admin, Some(json!({})));
        assert_eq!(status, 200, "{point}: {report}");

        let (_, invoices) = served.call(
            "GET",
            &format!("/v1/invoices?tenant_id={}", tenant["id"].as_str().expect("id")),
            &admin,
            None,
        );
        let ours = &invoices["data"][0];
        assert_eq!(ours["stripe"]["status"], "synced", "{point}: {ours}");
        let remote: Vec<Value> = stripe
            .invoices()
            .into_iter()
            .filter(|invoice| invoice["metadata"]["caravan_invoice_id"] == ours["id"])
            .collect();
        assert_eq!(remote.len(), 1, "{point}: exactly one Stripe invoice");
        assert_eq!(remote[0]["status"], "open", "{point}: finalized");
        let amounts: Vec<i64> = remote[0]["lines"]["data"]
            .as_array()
            .expect("lines")
            .iter()
            .filter_map(|line| line["amount"].as_i64())
            .collect();
        assert_eq!(amounts, [4900], "{point}: exactly the invoice's lines");
        assert_eq!(
            stripe.get("/v1/customers")["data"].as_array().map(Vec::len),
            Some(1),
            "{point}: one customer"
        );
        assert_eq!(
            stripe.get("/v1/invoiceitems")["data"].as_array().map(Vec::len),
            Some(1),
            "{point}: one item"
        );
    }
}

#[test]
fn ingestion_killed_mid_stream_counts_every_acknowledged_event_exactly_once() {
    let database = TestDatabase::create();
    let data_dir = tempfile::tempdir().expect("data dir");
    let admin = test_secret();
    let env = [("CARAVAN_BOOTSTRAP_KEY", admin.as_str())];
    let mut served = Served::start(&database, data_dir.path(), &env);
    let (_, tenant) =
        served.call("POST", "/v1/tenants", &admin, Some(json!({ "name": "Acme", "plan": "team" })));
    let (_, key) = served.call(
        "POST",
        "/v1/keys",
        &admin,
        Some(json!({ "name": "ingest", "scopes": ["usage:write", "usage:read"], "tenant_id": tenant["id"] })),
    );
    let key = key["secret"].as_str().expect("secret").to_owned();

    const BATCHES: usize = 60;
    const PER_BATCH: usize = 250;
    let batches: Vec<Value> = (0..BATCHES)
        .map(|batch| {
            Value::Array(
                (0..PER_BATCH)
                    .map(|index| {
                        usage_event(&format!("b{batch}-e{index}"), Utc::now(), json!({ "tokens_in": 1 }))
                    })
                    .collect(),
            )
        })
        .collect();
    // The killer strikes once ten batches were answered, while the next is on its way.
    let answered = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let killer = {
        let (pid, answered) = (served.pid(), answered.clone());
        std::thread::spawn(move || {
            while answered.load(std::sync::atomic::Ordering::SeqCst) < 10 {
                std::thread::sleep(Duration::from_millis(1));
            }
            std::thread::sleep(Duration::from_millis(3));
            std::process::Command::new("kill").args(["-9", &pid.to_string()]).status().expect("kill runs");
        })
    };

    let agent =
        ureq::Agent::new_with_config(ureq::Agent::config_builder().http_status_as_error(false).build());
    let mut acknowledged = 0;
    let mut killed_during = None;
    for (index, batch) in batches.iter().enumerate() {
        let sent = agent
            .post(&format!("http://{}/v1/events", served.address))
            .header("Authorization", &format!("Bearer {key}"))
            .header("Content-Type", "application/cloudevents-batch+json")
            .send(batch.to_string());
        match sent {
            Ok(mut response) if response.status() == 200 => {
                let body: Value = response.body_mut().read_json().expect("json");
                acknowledged += body["accepted"].as_u64().expect("accepted");
                answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            _ => {
                killed_during = Some(index);
                break;
            }
        }
    }
    killer.join().expect("killer");
    let killed_during = killed_during.expect("the server was killed while batches were being sent");
    assert!(served.wait_for_exit(Duration::from_secs(10)).signal() == Some(9));

    // Restart, resend what got no answer, then the rest.
    let served = Served::start(&database, data_dir.path(), &env);
    let mut duplicates = 0;
    for batch in &batches[killed_during..] {
        let mut response = agent
            .post(&format!("http://{}/v1/events", served.address))
            .header("Authorization", &format!("Bearer {key}"))
            .header("Content-Type", "application/cloudevents-batch+json")
            .send(batch.to_string())
            .expect("the restarted server answers");
        assert_eq!(response.status(), 200);
        let body: Value = response.body_mut().read_json().expect("json");
        acknowledged += body["accepted"].as_u64().expect("accepted");
        duplicates += body["duplicates"].as_u64().expect("duplicates");
    }

    let total = (BATCHES * PER_BATCH) as u64;
    // A batch commits as a whole: the one in flight was committed entirely or not at all.
    assert!(duplicates == 0 || duplicates == PER_BATCH as u64, "{duplicates}");
    assert_eq!(acknowledged + duplicates, total, "every event accepted once");
    let (_, usage) = served.call("GET", "/v1/usage?meter=tokens_in", &key, None);
    assert_eq!(usage["data"][0]["quantity"], total.to_string(), "counted exactly once");
}
