//! Property: for random event streams (duplicates, any hour of the month, several
//! capsules, exact decimals) and random plans (every price model, random tiers), the
//! invoice Caravan computes — through the same rollups, summary and pricing as a real
//! close — equals an independent recomputation from the raw events and the published
//! rules.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use caravan_core::id::TenantId;
use caravan_core::money::Decimal;
use caravan_core::plans::PlanCatalog;
use caravan_metering::billing::summarize;
use caravan_metering::domain::event::UsageEvent;
use caravan_metering::domain::meter::MeterCatalog;
use caravan_metering::domain::pricing::{Usage, invoice_lines};
use caravan_metering::ingest::{meter, rollup_cells};
use proptest::prelude::*;
use rust_decimal::RoundingStrategy;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashSet};
use std::str::FromStr;

const METERS: [&str; 5] = ["executions", "tokens_in", "tokens_out", "tool_calls", "job_seconds"];

#[derive(Debug, Clone)]
struct RawEvent {
    id: u8,
    hour: u32,
    capsule: Option<&'static str>,
    /// (meter index, value); a later value of the same field replaces an earlier one.
    values: Vec<(usize, Decimal)>,
}

fn quantity() -> impl Strategy<Value = Decimal> {
    prop_oneof![
        (0_u64..5_000_000).prop_map(Decimal::from),
        (0_u64..50).prop_map(Decimal::from),
        (0_i64..10_000_000_000).prop_map(|micros| Decimal::new(micros, 6)),
    ]
}

fn raw_event() -> impl Strategy<Value = RawEvent> {
    (
        0_u8..40,
        0_u32..(24 * 28),
        prop::option::of(prop::sample::select(vec!["acme/echo", "acme/word-count", "beta/tool"])),
        prop::collection::vec((0_usize..5, quantity()), 1..4),
    )
        .prop_map(|(id, hour, capsule, values)| RawEvent { id, hour, capsule, values })
}

/// A price: any number of micro-units, or one that often lands on half a cent, where
/// the rounding rule shows.
fn amount() -> impl Strategy<Value = String> {
    prop_oneof![
        (0_i64..2_000_000).prop_map(|micros| Decimal::new(micros, 6).to_string()),
        prop::sample::select(vec!["0.005", "0.125", "0.0005", "0.015"]).prop_map(str::to_owned),
    ]
}

fn bound() -> impl Strategy<Value = u64> {
    1_u64..3_000_000
}

/// A price of a random model, as TOML.
fn price() -> impl Strategy<Value = String> {
    prop_oneof![
        (amount(), amount()).prop_map(|(included, unit)| format!(
            "model = 'per_unit'\nincluded = '{included}'\nunit_price = '{unit}'"
        )),
        (amount(), bound(), amount()).prop_map(|(price, size, included)| format!(
            "model = 'package'\nincluded = '{included}'\npackage_size = '{size}'\npackage_price = '{price}'"
        )),
        (prop::bool::ANY, prop::collection::vec((bound(), amount(), amount()), 0..3), amount(), amount())
            .prop_map(|(graduated, mut bounded, last_unit, included)| {
                bounded.sort_by_key(|(bound, _, _)| *bound);
                bounded.dedup_by_key(|(bound, _, _)| *bound);
                let mut tiers: Vec<String> = bounded
                    .iter()
                    .map(|(bound, unit, flat)| {
                        format!("{{ up_to = '{bound}', unit_price = '{unit}', flat_price = '{flat}' }}")
                    })
                    .collect();
                tiers.push(format!("{{ unit_price = '{last_unit}' }}"));
                let model = if graduated { "graduated" } else { "volume" };
                format!("model = '{model}'\nincluded = '{included}'\ntiers = [{}]", tiers.join(", "))
            }),
    ]
}

/// A plan `p` with a random fee and a random price (or none) per meter, as TOML.
fn plan() -> impl Strategy<Value = String> {
    (prop::collection::vec(prop::option::of(price()), 5), 0_i64..100_000).prop_map(|(prices, fee)| {
        let mut toml = format!(
            "[plans.p]\nname = 'P'\nkey_requests_per_minute = 1\nkey_burst = 1\ntenant_requests_per_minute = 1\n\
             tenant_burst = 1\nmonthly_fee = '{}'\n",
            Decimal::new(fee, 2)
        );
        for (meter, price) in METERS.iter().zip(prices) {
            if let Some(price) = price {
                toml.push_str(&format!("[plans.p.prices.{meter}]\n{price}\n"));
            }
        }
        toml
    })
}

/// The documented rounding rule, written out: to cents, half away from zero.
fn cents(amount: Decimal) -> i64 {
    let rounded =
        (amount * Decimal::from(100)).round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero);
    i64::try_from(rounded).unwrap()
}

/// The published rules applied to one meter's monthly quantity: its rounded lines.
fn recompute_meter(price: &toml::Value, quantity: Decimal) -> Vec<i64> {
    let decimal = |value: &toml::Value| Decimal::from_str(value.as_str().unwrap()).unwrap();
    let included = price.get("included").map_or(Decimal::ZERO, decimal);
    let billable = (quantity - included).max(Decimal::ZERO);
    if billable.is_zero() {
        return Vec::new();
    }
    let tiers: Vec<(Option<Decimal>, Decimal, Decimal)> = price
        .get("tiers")
        .and_then(toml::Value::as_array)
        .map(|tiers| {
            tiers
                .iter()
                .map(|tier| {
                    let flat = tier.get("flat_price").map_or(Decimal::ZERO, decimal);
                    (tier.get("up_to").map(decimal), decimal(&tier["unit_price"]), flat)
                })
                .collect()
        })
        .unwrap_or_default();
    match price["model"].as_str().unwrap() {
        "per_unit" => vec![cents(billable * decimal(&price["unit_price"]))],
        "package" => vec![cents(
            (billable / decimal(&price["package_size"])).ceil() * decimal(&price["package_price"]),
        )],
        "volume" => {
            let (_, unit, flat) =
                tiers.iter().find(|(up_to, _, _)| up_to.is_none_or(|up_to| billable <= up_to)).unwrap();
            vec![cents(billable * unit + flat)]
        }
        _ => {
            // Graduated: each tier prices the units between its floor and its bound.
            let mut floor = Decimal::ZERO;
            let mut lines = Vec::new();
            for (up_to, unit, flat) in &tiers {
                let ceiling = up_to.map_or(billable, |up_to| up_to.min(billable));
                if ceiling > floor {
                    lines.push(cents((ceiling - floor) * unit + flat));
                }
                floor = up_to.unwrap_or(billable);
                if floor >= billable {
                    break;
                }
            }
            lines
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn the_invoice_total_equals_a_recomputation_from_the_raw_events(
        events in prop::collection::vec(raw_event(), 0..60),
        plan_toml in plan(),
    ) {
        let catalog = PlanCatalog::parse(&plan_toml).expect("a valid random plan");
        let plan = catalog.get("p").unwrap();
        let meters = MeterCatalog::new(&[]).expect("meters");
        let tenant = TenantId::new();
        let start = chrono::NaiveDate::from_ymd_opt(2026, 10, 1).unwrap().and_hms_opt(0, 0, 0).unwrap();

        // Caravan's way: parse, meter, drop repeated ids, roll up, summarize, price.
        let mut seen = HashSet::new();
        let mut kept = Vec::new();
        let mut metered = Vec::new();
        for event in &events {
            let mut data = Map::new();
            for (meter, value) in &event.values {
                data.insert(METERS[*meter].to_owned(), Value::String(value.to_string()));
            }
            if let Some(capsule) = event.capsule {
                data.insert("capsule".to_owned(), json!(capsule));
            }
            let time = start + chrono::TimeDelta::hours(i64::from(event.hour));
            let parsed = UsageEvent::parse(json!({ "specversion": "1.0", "id": event.id.to_string(), "source": "prop",
                "type": "caravan.usage", "time": time.and_utc().to_rfc3339(), "data": data })).expect("valid");
            if seen.insert(event.id) {
                metered.push(meter(&meters, parsed).expect("metered"));
                kept.push(event);
            }
        }
        let (cells, _) = rollup_cells(&tenant, None, metered.iter());
        let monthly: Vec<_> = cells.into_iter().filter(|cell| cell.granularity == "month").collect();
        let usage = summarize(&meters, &monthly).remove(&tenant).unwrap_or_default();
        let lines = invoice_lines(&Usage { plan_id: "p", plan, currency: catalog.currency(), meters: &usage.meters,
            capsules: &usage.capsules }).expect("priced");
        let total: i64 = lines.iter().map(|line| line.amount_minor).sum();

        // Independently, from the raw events kept (first of each id) and the plan's TOML.
        let mut quantities: BTreeMap<&str, Decimal> = BTreeMap::new();
        for event in kept {
            let fields: BTreeMap<usize, Decimal> = event.values.iter().copied().collect();
            for (meter, value) in fields {
                *quantities.entry(METERS[meter]).or_default() += value;
            }
        }
        let published: toml::Value = toml::from_str(&plan_toml).expect("toml");
        let prices = &published["plans"]["p"].get("prices");
        let mut expected = cents(Decimal::from_str(published["plans"]["p"]["monthly_fee"].as_str().unwrap()).unwrap());
        for (meter, quantity) in &quantities {
            if let Some(price) = prices.and_then(|prices| prices.get(*meter)) {
                expected += recompute_meter(price, *quantity).iter().sum::<i64>();
            }
        }
        prop_assert_eq!(total, expected, "lines: {:#?}", lines);
    }
}
