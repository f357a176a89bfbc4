//! Usage queries: a meter's quantity over a time range, by hour, day or month, grouped by
//! capsule, key, tenant (operator only) or the meter's own group-by fields. Answers come
//! from the hourly rollups, so a month of a busy tenant is a few thousand cells, not
//! millions of events. Quantities are exact decimals.

use crate::db::rollups::{self, RollupRow};
use crate::domain::meter::{Aggregation, Meter, MeterCatalog, UNIVERSAL_GROUPS};
use crate::domain::period::Period;
use crate::error::MeteringError;
use caravan_core::db::DbConnection;
use caravan_core::id::TenantId;
use caravan_core::money::{Decimal, micros_to_quantity};
use chrono::{DurationRound, NaiveDateTime, TimeDelta};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use utoipa::ToSchema;

/// The most windows one query may return per group.
pub const MAX_WINDOWS: i64 = 2000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Window {
    Hour,
    Day,
    Month,
}

impl Window {
    fn start_of(self, time: NaiveDateTime) -> NaiveDateTime {
        match self {
            Self::Hour => time.duration_trunc(TimeDelta::hours(1)).unwrap_or(time),
            Self::Day => time.duration_trunc(TimeDelta::days(1)).unwrap_or(time),
            Self::Month => Period::containing(time).start(),
        }
    }

    fn end_of(self, start: NaiveDateTime) -> NaiveDateTime {
        match self {
            Self::Hour => start + TimeDelta::hours(1),
            Self::Day => start + TimeDelta::days(1),
            Self::Month => Period::containing(start).end(),
        }
    }
}

/// What to measure.
#[derive(Debug, Clone)]
pub struct UsageQuery {
    pub meter: String,
    pub from: NaiveDateTime,
    pub to: NaiveDateTime,
    pub window: Option<Window>,
    pub group_by: Vec<String>,
    /// One tenant, or every tenant (the operator's view).
    pub tenant: Option<TenantId>,
}

/// One window of one group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct UsageRow {
    #[serde(with = "caravan_core::utc")]
    pub from: NaiveDateTime,
    #[serde(with = "caravan_core::utc")]
    pub to: NaiveDateTime,
    /// Exact decimal, as a string.
    #[schema(value_type = String, example = "1250.5")]
    pub quantity: Decimal,
    /// The group's values, by group-by name; `null` where the usage named none.
    pub groups: BTreeMap<String, Option<String>>,
}

/// The answer to a [`UsageQuery`].
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UsageReport {
    pub meter: String,
    pub aggregation: Aggregation,
    #[serde(with = "caravan_core::utc")]
    pub from: NaiveDateTime,
    #[serde(with = "caravan_core::utc")]
    pub to: NaiveDateTime,
    pub window: Option<Window>,
    pub group_by: Vec<String>,
    pub data: Vec<UsageRow>,
}

impl UsageQuery {
    /// Checks the range and the group-by names against the meter.
    pub fn check<'a>(&self, meters: &'a MeterCatalog) -> Result<&'a Meter, MeteringError> {
        let meter = meters.get(&self.meter).ok_or_else(|| MeteringError::UnknownMeter {
            meter: self.meter.clone(),
            known: meters.slugs(),
        })?;
        let invalid = |message: String| Err(MeteringError::InvalidQuery(message));
        for (name, time) in [("from", self.from), ("to", self.to)] {
            if time.duration_trunc(TimeDelta::hours(1)).ok() != Some(time) {
                return invalid(format!(
                    "`{name}` must fall on a whole hour (UTC), e.g. 2026-11-01T00:00:00Z"
                ));
            }
        }
        if self.to <= self.from {
            return invalid("`to` must be after `from`".to_owned());
        }
        if self.to - self.from > TimeDelta::days(366) {
            return invalid("a query spans at most 366 days".to_owned());
        }
        if let Some(window) = self.window {
            let windows = match window {
                Window::Hour => (self.to - self.from).num_hours(),
                Window::Day => (self.to - self.from).num_days() + 1,
                Window::Month => 13,
            };
            if windows > MAX_WINDOWS {
                return invalid(format!("at most {MAX_WINDOWS} windows per query; use a larger window"));
            }
        }
        let mut seen = HashSet::new();
        for name in &self.group_by {
            let known = UNIVERSAL_GROUPS.contains(&name.as_str())
                || meter.group_names().any(|group| group == name)
                || (name == "tenant" && self.tenant.is_none());
            if !known {
                let mut names: Vec<&str> = UNIVERSAL_GROUPS.to_vec();
                names.extend(meter.group_names());
                return invalid(format!(
                    "cannot group `{}` by `{name}`; use: {}",
                    meter.slug,
                    names.join(", ")
                ));
            }
            if !seen.insert(name) {
                return invalid(format!("`{name}` appears twice in group_by"));
            }
        }
        Ok(meter)
    }
}

/// Runs a checked query.
pub fn query(
    connection: &mut DbConnection,
    meters: &MeterCatalog,
    query: &UsageQuery,
) -> Result<UsageReport, MeteringError> {
    let meter = query.check(meters)?;
    let mut groups: BTreeMap<(NaiveDateTime, Vec<Option<String>>), Accumulated> = BTreeMap::new();
    let window_of = |bucket: NaiveDateTime| {
        query.window.map_or(query.from, |window| window.start_of(bucket).max(query.from))
    };
    if meter.aggregation == Aggregation::UniqueCount {
        let values =
            rollups::distinct_values(connection, query.tenant.as_ref(), &meter.slug, query.from, query.to)?;
        for row in values {
            let cell = Cell {
                tenant: &row.tenant_id,
                capsule: &row.capsule,
                key: &row.api_key_id,
                group_key: &row.group_key,
            };
            let entry =
                groups.entry((window_of(row.bucket), group_values(&query.group_by, &cell))).or_default();
            entry.distinct.insert(row.value);
        }
    } else {
        let cells = rollups::hourly(connection, query.tenant.as_ref(), &meter.slug, query.from, query.to)?;
        for row in &cells {
            let entry = groups
                .entry((window_of(row.bucket), group_values(&query.group_by, &Cell::of(row))))
                .or_default();
            entry.sum = entry.sum.saturating_add(row.quantity_micros);
            entry.max = entry.max.max(row.max_micros);
        }
    }
    let data = groups
        .into_iter()
        .map(|((start, values), accumulated)| {
            let end =
                query.window.map_or(query.to, |window| window.end_of(window.start_of(start)).min(query.to));
            UsageRow {
                from: start,
                to: end,
                quantity: accumulated.quantity(meter.aggregation),
                groups: query.group_by.iter().cloned().zip(values).collect(),
            }
        })
        .collect();
    Ok(UsageReport {
        meter: meter.slug.clone(),
        aggregation: meter.aggregation,
        from: query.from,
        to: query.to,
        window: query.window,
        group_by: query.group_by.clone(),
        data,
    })
}

#[derive(Debug, Default)]
struct Accumulated {
    sum: i64,
    max: i64,
    distinct: HashSet<String>,
}

impl Accumulated {
    fn quantity(&self, aggregation: Aggregation) -> Decimal {
        match aggregation {
            Aggregation::Sum | Aggregation::Count => micros_to_quantity(self.sum),
            Aggregation::Max => micros_to_quantity(self.max),
            Aggregation::UniqueCount => Decimal::from(self.distinct.len()),
        }
    }
}

/// The key columns of a rollup or distinct-value row.
struct Cell<'a> {
    tenant: &'a TenantId,
    capsule: &'a str,
    key: &'a str,
    group_key: &'a str,
}

impl<'a> Cell<'a> {
    fn of(row: &'a RollupRow) -> Self {
        Self {
            tenant: &row.tenant_id,
            capsule: &row.capsule,
            key: &row.api_key_id,
            group_key: &row.group_key,
        }
    }
}

fn group_values(names: &[String], cell: &Cell<'_>) -> Vec<Option<String>> {
    let declared: BTreeMap<String, String> = if cell.group_key.is_empty() {
        BTreeMap::new()
    } else {
        serde_json::from_str(cell.group_key).unwrap_or_default()
    };
    let present = |value: &str| (!value.is_empty()).then(|| value.to_owned());
    names
        .iter()
        .map(|name| match name.as_str() {
            "capsule" => present(cell.capsule),
            "key" => present(cell.key),
            "tenant" => Some(cell.tenant.as_str().to_owned()),
            other => declared.get(other).and_then(|value| present(value)),
        })
        .collect()
}
