//! Accepting usage. Each event is checked on its own (its form, the meters that read it,
//! its time against the open period); then, in one write transaction, new events are
//! inserted (duplicates of (tenant, source, id) are skipped for good) and their readings
//! added to the hourly and monthly rollups. An event is acknowledged only after that
//! transaction commits, so an acknowledged event survives a crash and a retried one is
//! never counted twice.

use crate::db::events::{self, EventRow};
use crate::db::invoices;
use crate::db::rollups::{self, DistinctRow, HOUR, MONTH, RollupRow};
use crate::domain::event::{EventError, UsageEvent};
use crate::domain::meter::{MeterCatalog, Reading};
use crate::domain::period::Period;
use crate::error::MeteringError;
use caravan_core::db::{DbConnection, DbError, locks, write_transaction};
use caravan_core::id::{ApiKeyId, TenantId};
use caravan_core::money::Decimal;
use chrono::{DurationRound, NaiveDateTime, TimeDelta};
use serde::Serialize;
use std::collections::{BTreeSet, HashMap, HashSet};
use utoipa::ToSchema;

/// The most events one request may carry.
pub const MAX_BATCH: usize = 1000;
/// How far in the future an event's time may be (clocks drift).
pub const FUTURE_SKEW: TimeDelta = TimeDelta::minutes(5);
/// Lock keys for billing periods are this plus the period's ordinal (`202611`).
const PERIOD_LOCK_BASE: i64 = 0x6361_7261_7600_0000;

/// What happened to one event of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// Recorded now.
    Accepted,
    /// An event with this source and id was recorded before; nothing changed.
    Duplicate,
    /// Not recorded; `reason` says why.
    Rejected { reason: String },
}

/// An event with the readings it contributes, ready to record.
#[derive(Debug, Clone)]
pub struct Metered {
    pub event: UsageEvent,
    pub readings: Vec<Reading>,
    /// The capsule's per-execution price, on executions Caravan records itself.
    pub unit_price: Option<Decimal>,
}

/// The readings an event contributes, or why it contributes none.
pub fn meter(meters: &MeterCatalog, event: UsageEvent) -> Result<Metered, String> {
    let mut readings = Vec::new();
    let mut matched = false;
    for meter in meters.for_event_type(&event.event_type) {
        matched = true;
        if let Some(reading) = meter.read(&event.data).map_err(|error| error.to_string())? {
            readings.push(reading);
        }
    }
    if !matched {
        return Err(format!(
            "no meter reads events of type `{}`; meters: {}",
            event.event_type,
            meters.slugs()
        ));
    }
    if readings.is_empty() {
        return Err(format!("the data of this `{}` event holds no value any meter reads", event.event_type));
    }
    Ok(Metered { event, readings, unit_price: None })
}

/// Usage may be recorded from the start of the previous month (late events, until that
/// period is closed) up to a few minutes ahead of now.
pub fn check_time(time: NaiveDateTime, now: NaiveDateTime) -> Result<(), String> {
    if time > now + FUTURE_SKEW {
        return Err(format!("`time` is more than {} minutes in the future", FUTURE_SKEW.num_minutes()));
    }
    let earliest = Period::containing(now).previous();
    if time < earliest.start() {
        return Err(format!("`time` falls before {earliest}, the oldest period still open"));
    }
    Ok(())
}

/// Checks and records the events a tenant sent, answering for each in order.
pub fn ingest(
    connection: &mut DbConnection,
    meters: &MeterCatalog,
    tenant: &TenantId,
    key: &ApiKeyId,
    events: Vec<Result<UsageEvent, EventError>>,
    now: NaiveDateTime,
) -> Result<Vec<Outcome>, MeteringError> {
    let mut outcomes = Vec::with_capacity(events.len());
    let mut candidates: Vec<(usize, Metered)> = Vec::new();
    let mut seen = HashSet::new();
    for (index, event) in events.into_iter().enumerate() {
        let checked = event
            .map_err(|error| error.to_string())
            .and_then(|event| check_time(event.time, now).map(|()| event))
            .and_then(|event| meter(meters, event));
        match checked {
            Err(reason) => outcomes.push(Outcome::Rejected { reason }),
            Ok(metered) if !seen.insert((metered.event.source.clone(), metered.event.id.clone())) => {
                outcomes.push(Outcome::Duplicate);
            }
            Ok(metered) => {
                outcomes.push(Outcome::Accepted);
                candidates.push((index, metered));
            }
        }
    }
    if candidates.is_empty() {
        return Ok(outcomes);
    }
    write_transaction(connection, |connection| {
        let closed = lock_open_periods(connection, candidates.iter().map(|(_, metered)| metered.event.time))?;
        let mut open = Vec::with_capacity(candidates.len());
        for (index, metered) in candidates {
            let period = Period::containing(metered.event.time);
            if closed.contains(&period) {
                outcomes[index] =
                    Outcome::Rejected { reason: format!("period {period} is closed and invoiced") };
            } else {
                open.push((index, metered));
            }
        }
        let metered: Vec<Metered> = open.iter().map(|(_, metered)| metered.clone()).collect();
        let recorded = record(connection, tenant, Some(key), &metered, now)?;
        for ((index, _), new) in open.iter().zip(recorded) {
            if !new {
                outcomes[*index] = Outcome::Duplicate;
            }
        }
        Ok::<_, MeteringError>(())
    })?;
    Ok(outcomes)
}

/// Holds every period the times fall in open against a concurrent close, until the
/// transaction ends, and returns those already closed.
pub fn lock_open_periods(
    connection: &mut DbConnection,
    times: impl Iterator<Item = NaiveDateTime>,
) -> Result<BTreeSet<Period>, DbError> {
    let periods: BTreeSet<Period> = times.map(Period::containing).collect();
    for period in &periods {
        locks::lock_shared(connection, period_lock(*period))?;
    }
    // One period a query, so the statement stays prepared (an `IN` list is prepared anew
    // on every call).
    let mut closed = BTreeSet::new();
    for period in periods {
        if invoices::find_period(connection, &period.to_string())?.is_some() {
            closed.insert(period);
        }
    }
    Ok(closed)
}

/// The lock a period's close holds exclusively and ingestion holds shared.
pub fn period_lock(period: Period) -> i64 {
    PERIOD_LOCK_BASE + period.ordinal()
}

/// Inserts the events and adds the readings of the new ones to the rollups; returns for
/// each event whether it was new. Call it inside a write transaction that holds the
/// events' periods open ([`lock_open_periods`]).
pub fn record(
    connection: &mut DbConnection,
    tenant: &TenantId,
    key: Option<&ApiKeyId>,
    metered: &[Metered],
    now: NaiveDateTime,
) -> Result<Vec<bool>, DbError> {
    let rows: Vec<EventRow> = metered
        .iter()
        .map(|metered| EventRow {
            tenant_id: tenant.clone(),
            source: metered.event.source.clone(),
            event_id: metered.event.id.clone(),
            event_type: metered.event.event_type.clone(),
            occurred_at: metered.event.time,
            received_at: now,
            capsule: metered.event.capsule.clone(),
            api_key_id: key.cloned(),
            event: metered.event.to_json().to_string(),
        })
        .collect();
    let inserted = events::insert_new(connection, &rows)?;
    let new: Vec<bool> = metered
        .iter()
        .map(|metered| inserted.contains(&(metered.event.source.clone(), metered.event.id.clone())))
        .collect();
    let fresh = metered.iter().zip(&new).filter(|(_, new)| **new).map(|(metered, _)| metered);
    let (cells, distinct) = rollup_cells(tenant, key, fresh);
    rollups::add(connection, cells)?;
    rollups::add_distinct(connection, &distinct)?;
    Ok(new)
}

type CellKey = (String, &'static str, NaiveDateTime, String, String, String);

/// Sums readings into hourly and monthly cells, one row per distinct cell.
pub fn rollup_cells<'a>(
    tenant: &TenantId,
    key: Option<&ApiKeyId>,
    metered: impl Iterator<Item = &'a Metered>,
) -> (Vec<RollupRow>, Vec<DistinctRow>) {
    let api_key_id = key.map(|key| key.as_str().to_owned()).unwrap_or_default();
    let mut cells: HashMap<CellKey, (i64, i64, i64)> = HashMap::new();
    let mut distinct: HashSet<DistinctRow> = HashSet::new();
    for metered in metered {
        let hour = metered.event.time.duration_trunc(TimeDelta::hours(1)).unwrap_or(metered.event.time);
        let month = Period::containing(metered.event.time).start();
        let capsule = metered.event.capsule.clone().unwrap_or_default();
        for reading in &metered.readings {
            let unit_price = match (reading.meter.as_str(), metered.unit_price) {
                ("executions", Some(price)) => price.normalize().to_string(),
                _ => String::new(),
            };
            for (granularity, bucket) in [(HOUR, hour), (MONTH, month)] {
                let key = (
                    reading.meter.clone(),
                    granularity,
                    bucket,
                    capsule.clone(),
                    reading.group_key.clone(),
                    unit_price.clone(),
                );
                let cell = cells.entry(key).or_insert((0, 0, 0));
                cell.0 = cell.0.saturating_add(reading.quantity_micros);
                cell.1 = cell.1.max(reading.quantity_micros);
                cell.2 += 1;
            }
            if let Some(value) = &reading.unique_value {
                distinct.insert(DistinctRow {
                    tenant_id: tenant.clone(),
                    meter: reading.meter.clone(),
                    bucket: hour,
                    capsule: capsule.clone(),
                    api_key_id: api_key_id.clone(),
                    group_key: reading.group_key.clone(),
                    value: value.clone(),
                });
            }
        }
    }
    // Sorted by key, so concurrent transactions lock shared cells in the same order and
    // never deadlock.
    let mut cells: Vec<_> = cells.into_iter().collect();
    cells.sort_unstable_by(|(left, _), (right, _)| left.cmp(right));
    let rows = cells
        .into_iter()
        .map(|((meter, granularity, bucket, capsule, group_key, unit_price), (quantity, max, readings))| {
            RollupRow {
                tenant_id: tenant.clone(),
                meter,
                granularity: granularity.to_owned(),
                bucket,
                capsule,
                api_key_id: api_key_id.clone(),
                group_key,
                unit_price,
                quantity_micros: quantity,
                max_micros: max,
                readings,
                shard: 0,
            }
        })
        .collect();
    let mut distinct: Vec<DistinctRow> = distinct.into_iter().collect();
    distinct.sort_unstable_by(|left, right| {
        (&left.meter, left.bucket, &left.capsule, &left.group_key, &left.value).cmp(&(
            &right.meter,
            right.bucket,
            &right.capsule,
            &right.group_key,
            &right.value,
        ))
    });
    (rows, distinct)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(id: &str, time: &str, data: serde_json::Value) -> UsageEvent {
        UsageEvent::parse(json!({ "specversion": "1.0", "id": id, "source": "test", "type": "caravan.usage",
            "time": time, "data": data }))
        .expect("valid event")
    }

    fn at(text: &str) -> NaiveDateTime {
        chrono::DateTime::parse_from_rfc3339(text).expect("time").naive_utc()
    }

    #[test]
    fn the_open_window_runs_from_last_month_to_a_few_minutes_ahead() {
        let now = at("2026-11-22T12:00:00Z");
        assert!(check_time(at("2026-10-01T00:00:00Z"), now).is_ok());
        assert!(check_time(at("2026-11-22T12:04:59Z"), now).is_ok());
        assert!(check_time(at("2026-09-30T23:59:59Z"), now).is_err());
        assert!(check_time(at("2026-11-22T12:05:01Z"), now).is_err());
    }

    #[test]
    fn readings_sum_into_one_hourly_and_one_monthly_cell_per_key() {
        let meters = MeterCatalog::new(&[]).expect("meters");
        let metered: Vec<Metered> = [
            event("a", "2026-11-22T10:15:00Z", json!({ "tokens_in": 10, "capsule": "acme/echo" })),
            event("b", "2026-11-22T10:45:00Z", json!({ "tokens_in": 5, "capsule": "acme/echo" })),
            event("c", "2026-11-22T11:05:00Z", json!({ "tokens_in": 1, "tokens_out": 2 })),
        ]
        .into_iter()
        .map(|event| meter(&meters, event).expect("metered"))
        .collect();
        let tenant = TenantId::new();
        let (cells, distinct) = rollup_cells(&tenant, None, metered.iter());
        assert!(distinct.is_empty());
        let total = |meter: &str, granularity: &str| -> Vec<i64> {
            let mut found: Vec<i64> = cells
                .iter()
                .filter(|cell| cell.meter == meter && cell.granularity == granularity)
                .map(|cell| cell.quantity_micros)
                .collect();
            found.sort_unstable();
            found
        };
        assert_eq!(total("tokens_in", HOUR), [1_000_000, 15_000_000]);
        assert_eq!(total("tokens_in", MONTH), [1_000_000, 15_000_000], "one cell per capsule");
        assert_eq!(total("tokens_out", MONTH), [2_000_000]);
    }

    #[test]
    fn events_no_meter_reads_are_refused_with_the_reason() {
        let meters = MeterCatalog::new(&[]).expect("meters");
        let unknown =
            UsageEvent::parse(json!({ "specversion": "1.0", "id": "x", "source": "s", "type": "other" }))
                .expect("valid");
        assert!(meter(&meters, unknown).unwrap_err().contains("no meter reads events of type `other`"));
        let empty = event("y", "2026-11-22T10:00:00Z", json!({ "capsule": "acme/echo" }));
        assert!(meter(&meters, empty).is_err());
    }
}
