//! Closing periods into invoices: exactly once, exact to the cent, recomputable from the
//! raw events; the upcoming invoice; voiding; publisher earnings.

use super::support::{SINGLE, last_month, last_period, usage_event};
use crate::helpers::{assert_problem, spawn_app};
use caravan_core::db::write_transaction;
use caravan_core::money::Decimal;
use caravan_metering::domain::event::UsageEvent;
use caravan_metering::domain::meter::MeterCatalog;
use caravan_metering::ingest::{self, lock_open_periods};
use serde_json::{Value, json};
use std::str::FromStr;

#[actix_web::test]
async fn closing_a_period_makes_one_invoice_per_tenant_exactly_once() {
    let app = spawn_app().await;
    let pro = app.create_tenant("pro", &["usage:write", "billing:read"]).await;
    let free = app.create_tenant("free", &["usage:write", "billing:read"]).await;
    app.ingest(
        &pro.key,
        vec![
            usage_event(
                "t1",
                last_month(2, 1),
                json!({ "tokens_out": 1_500_000, "executions": 1200, "capsule": "acme/echo" }),
            ),
            usage_event("t2", last_month(9, 1), json!({ "job_seconds": "3600.5", "tool_calls": 1001 })),
        ],
    )
    .await;
    app.ingest(&free.key, vec![usage_event("f1", last_month(3, 1), json!({ "tokens_in": 99 }))]).await;

    // Two closes at once, then a third: one of them closes, the others find it closed.
    let path = format!("/v1/billing/periods/{}/close", last_period());
    let (first, second) = futures_util::join!(
        app.post_as(&app.admin_key, &path, json!({})),
        app.post_as(&app.admin_key, &path, json!({}))
    );
    let (first, second): (Value, Value) =
        (first.json().await.expect("json"), second.json().await.expect("json"));
    assert_eq!(
        [first["closed_now"].as_bool(), second["closed_now"].as_bool()]
            .iter()
            .filter(|now| **now == Some(true))
            .count(),
        1
    );
    assert_eq!(first["invoice_count"], 2, "the two customers, not the operator");
    let third = app.close_last_period().await;
    assert_eq!((third["closed_now"].as_bool(), third["invoice_count"].as_i64()), (Some(false), Some(2)));

    let invoice = app.last_invoice_of(&pro.key).await;
    let lines: Vec<(String, String, String, i64)> = invoice["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|line| {
            (
                line["meter"].as_str().unwrap_or("fee").to_owned(),
                line["quantity"].as_str().unwrap_or_default().to_owned(),
                line["unit_price"].as_str().unwrap_or_default().to_owned(),
                line["amount_minor"].as_i64().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            ("fee".to_owned(), "1".to_owned(), "49".to_owned(), 4900),
            // 1200 executions, 1000 included: 200 × 0.002.
            ("executions".to_owned(), "200".to_owned(), "0.002".to_owned(), 40),
            // 3600.5 seconds: two started packages of 3600 at 0.40.
            ("job_seconds".to_owned(), "2".to_owned(), "0.4".to_owned(), 80),
            // 1.5M output tokens reach the second volume tier: all at 0.000006.
            ("tokens_out".to_owned(), "1500000".to_owned(), "0.000006".to_owned(), 900),
            // 1001 tool calls, 1000 included: 1 × 0.0005 = 0.0005, rounds to 0.
            ("tool_calls".to_owned(), "1".to_owned(), "0.0005".to_owned(), 0),
        ]
    );
    assert_eq!((invoice["total_minor"].as_i64(), invoice["total"].as_str()), (Some(5920), Some("59.20")));
    assert_eq!(invoice["status"], "open");
    assert_eq!(invoice["stripe"]["status"], "disabled");
    let free_invoice = app.last_invoice_of(&free.key).await;
    assert_eq!(
        (free_invoice["total_minor"].as_i64(), free_invoice["lines"].as_array().map(Vec::len)),
        (Some(0), Some(0))
    );

    // The period is closed for usage too, and the close is audited once.
    let late = usage_event("t3", last_month(20, 1), json!({ "tokens_in": 1 }));
    let body = assert_problem(app.send_events(&pro.key, &late, SINGLE).await, 422, "invalid-event").await;
    assert!(body["detail"].as_str().unwrap_or_default().contains("closed"), "{body}");
    let audit: Value = app.get_as(&app.admin_key, "/v1/audit?limit=200").await.json().await.expect("json");
    let closes = audit["data"]
        .as_array()
        .expect("audit entries")
        .iter()
        .filter(|entry| entry["action"] == "billing.period.close")
        .count();
    assert_eq!(closes, 1);
}

#[actix_web::test]
async fn invoice_totals_recompute_from_the_raw_events() {
    let app = spawn_app().await;
    let tenant = app.create_tenant("team", &["usage:write", "usage:read", "billing:read"]).await;
    let events: Vec<Value> = (0..40)
        .map(|index| usage_event(&format!("r{index}"), last_month(1 + index % 27, index % 24),
            json!({ "tokens_out": 400_000 + index * 1_333, "job_seconds": format!("{}.{}", index * 97, index) })))
        .collect();
    app.ingest(&tenant.key, events).await;
    app.close_last_period().await;
    let invoice = app.last_invoice_of(&tenant.key).await;

    // The raw events, as exported, recomputed with the team plan's published prices.
    let from = last_month(1, 0).to_rfc3339().replace("+00:00", "Z");
    let page: Value = app
        .get_as(&tenant.key, &format!("/v1/events?from={from}&limit=1000"))
        .await
        .json()
        .await
        .expect("json");
    let sum = |field: &str| -> Decimal {
        page["data"]
            .as_array()
            .expect("events")
            .iter()
            .map(|event| {
                Decimal::from_str(event["data"][field].to_string().trim_matches('"')).expect("decimal")
            })
            .sum()
    };
    let (tokens, seconds) = (sum("tokens_out"), sum("job_seconds"));
    let tokens_unit = if tokens <= Decimal::from(10_000_000) {
        Decimal::from_str("0.000005")
    } else {
        Decimal::from_str("0.000003")
    }
    .expect("price");
    let packages = ((seconds - Decimal::from(3600)).max(Decimal::ZERO) / Decimal::from(3600)).ceil();
    let cents = |amount: Decimal| {
        (amount * Decimal::from(100))
            .round_dp_with_strategy(0, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
    };
    let expected = cents(Decimal::from(199))
        + cents(tokens * tokens_unit)
        + cents(packages * Decimal::from_str("0.30").expect("price"));
    assert_eq!(Decimal::from(invoice["total_minor"].as_i64().expect("total")), expected, "{invoice}");
}

#[actix_web::test]
async fn the_upcoming_invoice_previews_the_open_period_and_closing_it_early_is_refused() {
    let app = spawn_app().await;
    let tenant = app.create_tenant("pro", &["usage:write", "billing:read"]).await;
    app.ingest(&tenant.key, vec![usage_event("now", chrono::Utc::now(), json!({ "executions": 1001 }))])
        .await;

    let preview: Value = app.get_as(&tenant.key, "/v1/invoices/upcoming").await.json().await.expect("json");
    assert_eq!(preview["period"], chrono::Utc::now().format("%Y-%m").to_string());
    assert_eq!(
        (preview["total_minor"].as_i64(), preview["total"].as_str()),
        (Some(4900), Some("49.00")),
        "{preview}"
    );
    assert_eq!(
        preview["lines"][1]["amount"], "0.00",
        "one execution over the allowance at 0.002 rounds to 0"
    );

    let current = chrono::Utc::now().format("%Y-%m").to_string();
    assert_problem(
        app.post_as(&app.admin_key, &format!("/v1/billing/periods/{current}/close"), json!({})).await,
        409,
        "period-not-ended",
    )
    .await;
    assert_problem(
        app.post_as(&app.admin_key, "/v1/billing/periods/2026-13/close", json!({})).await,
        400,
        "invalid-period",
    )
    .await;
    assert_problem(
        app.post_as(&tenant.key, &format!("/v1/billing/periods/{}/close", last_period()), json!({})).await,
        403,
        "missing-scope",
    )
    .await;
}

#[actix_web::test]
async fn invoices_are_private_and_voiding_needs_a_reason_and_an_open_invoice() {
    let app = spawn_app().await;
    let tenant = app.billed_tenant("pro").await;
    let other = app.billed_tenant("pro").await;
    app.close_last_period().await;
    let invoice = app.last_invoice_of(&tenant.key).await;
    let id = invoice["id"].as_str().expect("id");

    assert_problem(app.get_as(&other.key, &format!("/v1/invoices/{id}")).await, 404, "invoice-not-found")
        .await;
    assert_problem(app.get_as(&other.key, "/v1/invoices/not-an-id").await, 404, "invoice-not-found").await;
    let listed: Value = app.get_as(&other.key, "/v1/invoices").await.json().await.expect("json");
    assert!(
        listed["data"]
            .as_array()
            .expect("list")
            .iter()
            .all(|invoice| invoice["tenant_id"] == other.id.as_str())
    );
    assert_problem(app.get_as(&other.key, "/v1/invoices?status=late").await, 400, "invalid-usage-query")
        .await;
    assert_problem(app.get_as(&other.key, "/v1/invoices?cursor=garbage").await, 400, "invalid-usage-query")
        .await;

    let void = format!("/v1/invoices/{id}/void");
    assert_problem(app.post_as(&tenant.key, &void, json!({ "reason": "mine" })).await, 403, "missing-scope")
        .await;
    assert_problem(
        app.post_as(&app.admin_key, &void, json!({ "reason": "  " })).await,
        422,
        "invalid-void-reason",
    )
    .await;
    let voided: Value = app
        .post_as(&app.admin_key, &void, json!({ "reason": "billed twice" }))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        (voided["status"].as_str(), voided["void_reason"].as_str()),
        (Some("void"), Some("billed twice"))
    );
    assert_problem(
        app.post_as(&app.admin_key, &void, json!({ "reason": "again" })).await,
        409,
        "invoice-not-voidable",
    )
    .await;
}

#[actix_web::test]
async fn publishers_earn_their_capsule_prices_as_tenants_are_billed_them() {
    let app = spawn_app().await;
    let publisher = app.create_tenant("pro", &["registry:publish", "registry:read", "billing:read"]).await;
    let (_, public_key) = caravan_registry::signing::generate_key_pair().expect("key pair");
    let registered = app
        .post_as(
            &publisher.key,
            "/v1/namespaces/acme/keys",
            json!({ "name": "k", "public_key_pem": public_key }),
        )
        .await;
    assert_eq!(registered.status(), 201);
    let buyers = [
        app.create_tenant("pro", &["billing:read"]).await,
        app.create_tenant("team", &["billing:read"]).await,
    ];
    // Executions are recorded by Caravan itself, with the capsule's price, through the
    // same code path the gateway's executions use.
    let meters = MeterCatalog::new(&[]).expect("meters");
    for (buyer, count) in buyers.iter().zip([3_u32, 5]) {
        let mut connection = app.database.connect();
        let metered: Vec<_> = (0..count)
            .map(|index| {
                let event = UsageEvent::parse(
                    json!({ "specversion": "1.0", "id": format!("x{index}"), "source": "runner",
                "type": "caravan.usage", "time": last_month(4, 4).to_rfc3339(),
                "data": { "executions": 1, "capsule": "acme/echo" } }),
                )
                .expect("event");
                let mut metered = ingest::meter(&meters, event).expect("metered");
                metered.unit_price = Some(Decimal::from_str("0.125").expect("price"));
                metered
            })
            .collect();
        let tenant = caravan_core::id::TenantId::parse(&buyer.id).expect("id");
        write_transaction(&mut connection, |connection| {
            lock_open_periods(connection, metered.iter().map(|metered| metered.event.time))?;
            ingest::record(connection, &tenant, None, &metered, caravan_core::db::now())
        })
        .expect("recorded");
    }
    app.close_last_period().await;

    let invoice = app.last_invoice_of(&buyers[0].key).await;
    let capsule_line = invoice["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .find(|line| line["kind"] == "capsule")
        .expect("a capsule line");
    assert_eq!(
        (
            capsule_line["capsule"].as_str(),
            capsule_line["quantity"].as_str(),
            capsule_line["amount_minor"].as_i64()
        ),
        (Some("acme/echo"), Some("3"), Some(38)),
        "3 × 0.125 = 0.375 → 38 cents"
    );
    let earnings: Value = app
        .get_as(&publisher.key, &format!("/v1/earnings?period={}", last_period()))
        .await
        .json()
        .await
        .expect("json");
    let acme = &earnings["publishers"][0];
    assert_eq!(acme["namespace"], "acme");
    // 38 cents from one buyer, 5 × 0.125 = 0.625 → 63 cents from the other.
    assert_eq!(
        (acme["total_minor"].as_i64(), acme["capsules"][0]["executions"].as_str()),
        (Some(101), Some("8"))
    );
    let stranger: Value = app
        .get_as(&buyers[0].key, &format!("/v1/earnings?period={}", last_period()))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(stranger["publishers"], json!([]));
}

#[actix_web::test]
async fn the_monthly_execution_quota_counts_this_months_executions() {
    let app = spawn_app().await;
    let tenant = app.create_tenant("free", &["usage:write"]).await;
    let plans = caravan_core::plans::PlanCatalog::built_in().expect("plans");
    let tenant_id = caravan_core::id::TenantId::parse(&tenant.id).expect("id");
    let check = |connection: &mut caravan_core::DbConnection| {
        caravan_metering::quota::check_executions(
            connection,
            &plans,
            &tenant_id,
            "free",
            caravan_core::db::now(),
        )
    };
    app.ingest(
        &tenant.key,
        vec![
            usage_event("old", last_month(5, 5), json!({ "executions": 80 })),
            usage_event("now", chrono::Utc::now(), json!({ "executions": 49 })),
        ],
    )
    .await;
    assert!(check(&mut app.database.connect()).is_ok(), "49 of 50: last month's do not count");

    app.ingest(&tenant.key, vec![usage_event("one-more", chrono::Utc::now(), json!({ "executions": 1 }))])
        .await;

    let refused = check(&mut app.database.connect()).expect_err("50 of 50");
    let problem = caravan_core::ApiError::from(refused).problem();
    assert_eq!((problem.status, problem.problem_type.as_str()), (429, "/problems/quota-exceeded"));
    assert_eq!(problem.extensions["quota"], 50);
}
