//! Ranking by measured performance: each capsule's executions over a sliding window
//! (30 days, counted per day in [`performance`]) become a success rate (Wilson lower
//! bound), p50/p95 latency (exact below 64 ms, else within 3.2 %: see [`latency_buckets`]),
//! mean cost, volume and recency, blended into one quality score by one formula:
//!
//! ```text
//! quality   = 0.45·wilson + 0.20·latency + 0.15·cost + 0.10·volume + 0.10·recency
//!   wilson  = lower bound of the 95 % Wilson interval of succeeded / executions
//!   latency = 1 / (1 + p95_ms / 2000)              (2 s at p95 → 0.5)
//!   cost    = 1 / (1 + mean_cost / 0.01)            (1 cent a run → 0.5)
//!   volume  = min(1, log10(1 + executions) / 4)     (10,000 runs → 1)
//!   recency = exp(−days since the last run / 7)
//! popularity = log10(1 + executions in the window, or downloads a month)
//! relevance sort: text score × (1 + 0.5·quality) × (1 + popularity)
//! ```
//!
//! A capsule without executions in the window has quality 0; imported catalog entries
//! rank by popularity alone.

use super::latency_buckets;
use super::performance::{self, PerformanceCell};
use crate::db::capsules;
use caravan_core::db::DbConnection;
use caravan_core::db::schema::capsule_stats;
use caravan_core::id::TenantId;
use caravan_core::money::Decimal;
use chrono::{NaiveDateTime, TimeDelta};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::str::FromStr;
use utoipa::ToSchema;

/// The ranking window.
pub const WINDOW_DAYS: i64 = 30;

/// One capsule's figures over the window, and the score they make.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Queryable, Selectable, Insertable)]
#[diesel(table_name = capsule_stats)]
pub struct CapsuleStats {
    pub capsule: String,
    pub window_days: i64,
    /// Executions that ended in the window (from midnight UTC of its first day).
    pub executions: i64,
    pub succeeded: i64,
    /// The lower bound of the 95 % Wilson interval of the success rate.
    pub success_lower_bound: f64,
    /// Median duration in milliseconds: exact below 64 ms, else within 3.2 %.
    pub p50_ms: i64,
    /// 95th percentile duration in milliseconds: exact below 64 ms, else within 3.2 %.
    pub p95_ms: i64,
    /// Mean charge per execution (the capsule's price on successful runs), exact decimal.
    pub mean_cost: String,
    #[serde(with = "caravan_core::utc::option", default)]
    pub last_execution_at: Option<NaiveDateTime>,
    /// The blended quality score, 0 to 1.
    pub quality: f64,
    #[serde(with = "caravan_core::utc")]
    pub computed_at: NaiveDateTime,
}

/// The 95 % Wilson lower bound of `successes` out of `total`.
pub fn wilson_lower_bound(successes: i64, total: i64) -> f64 {
    if total <= 0 {
        return 0.0;
    }
    let n = total as f64;
    let p = successes as f64 / n;
    let z = 1.96_f64;
    let z2 = z * z;
    ((p + z2 / (2.0 * n) - z * ((p * (1.0 - p) + z2 / (4.0 * n)) / n).sqrt()) / (1.0 + z2 / n)).max(0.0)
}

/// The quality score of the formula in the module's documentation.
pub fn quality(stats: &CapsuleStats, now: NaiveDateTime) -> f64 {
    if stats.executions == 0 {
        return 0.0;
    }
    let latency = 1.0 / (1.0 + stats.p95_ms as f64 / 2000.0);
    let mean_cost = f64::from_str(&stats.mean_cost).unwrap_or(0.0).max(0.0);
    let cost = 1.0 / (1.0 + mean_cost / 0.01);
    let volume = ((1.0 + stats.executions as f64).log10() / 4.0).min(1.0);
    let days = stats
        .last_execution_at
        .map_or(f64::INFINITY, |last| (now - last).num_seconds().max(0) as f64 / 86_400.0);
    let recency = (-days / 7.0).exp();
    0.45 * stats.success_lower_bound + 0.2 * latency + 0.15 * cost + 0.1 * volume + 0.1 * recency
}

/// Popularity: log10(1 + executions in the window, or downloads a month).
pub fn popularity(count: f64) -> f64 {
    (1.0 + count.max(0.0)).log10()
}

#[derive(Debug, Default)]
struct Accumulated {
    executions: i64,
    succeeded: i64,
    /// Runs per latency bucket.
    latencies: BTreeMap<i32, i64>,
    charged: Decimal,
    last: Option<NaiveDateTime>,
}

impl Accumulated {
    fn add(&mut self, cell: &PerformanceCell) {
        self.executions += cell.executions;
        self.succeeded += cell.succeeded;
        *self.latencies.entry(cell.latency_bucket).or_default() += cell.executions;
        // The publisher's price is charged on runs that succeeded.
        let price = Decimal::from_str(&cell.unit_price).unwrap_or_default();
        self.charged += price * Decimal::from(cell.succeeded);
        self.last = self.last.max(Some(cell.last_ended_at));
    }
}

/// Recomputes the stats of every capsule with executions in the window (and clears those
/// whose executions left it) from the performance cells of its days, forgetting older
/// cells; touches the capsules whose figures changed, so every replica's search index
/// picks up the new rank. Returns how many changed. The window starts at the top of the
/// day [`WINDOW_DAYS`] days before `now` (UTC), so it holds 30 to 31 days.
pub fn refresh(connection: &mut DbConnection, now: NaiveDateTime) -> QueryResult<usize> {
    let since = performance::day_of(now - TimeDelta::days(WINDOW_DAYS));
    performance::forget_before(connection, since)?;
    let mut per_capsule: BTreeMap<String, Accumulated> = BTreeMap::new();
    for cell in performance::since(connection, since)? {
        per_capsule.entry(cell.capsule.clone()).or_default().add(&cell);
    }
    let previous: BTreeMap<String, CapsuleStats> = capsule_stats::table
        .select(CapsuleStats::as_select())
        .load(connection)?
        .into_iter()
        .map(|stats| (stats.capsule.clone(), stats))
        .collect();
    let mut changed = 0;
    for (capsule, accumulated) in &per_capsule {
        let mean_cost =
            (accumulated.charged / Decimal::from(accumulated.executions.max(1))).round_dp(6).normalize();
        let mut stats = CapsuleStats {
            capsule: capsule.clone(),
            window_days: WINDOW_DAYS,
            executions: accumulated.executions,
            succeeded: accumulated.succeeded,
            success_lower_bound: wilson_lower_bound(accumulated.succeeded, accumulated.executions),
            p50_ms: latency_buckets::percentile(&accumulated.latencies, 0.5),
            p95_ms: latency_buckets::percentile(&accumulated.latencies, 0.95),
            mean_cost: mean_cost.to_string(),
            last_execution_at: accumulated.last,
            quality: 0.0,
            computed_at: now,
        };
        stats.quality = quality(&stats, now);
        let same = previous.get(capsule).is_some_and(|old| {
            old.executions == stats.executions
                && old.succeeded == stats.succeeded
                && old.p95_ms == stats.p95_ms
                && (old.quality - stats.quality).abs() < 0.005
        });
        if !same {
            save(connection, &stats, now)?;
            changed += 1;
        }
    }
    for (capsule, _) in previous.iter().filter(|(capsule, _)| !per_capsule.contains_key(*capsule)) {
        diesel::delete(capsule_stats::table.find(capsule)).execute(connection)?;
        capsules::touch(connection, capsule, now)?;
        changed += 1;
    }
    Ok(changed)
}

fn save(connection: &mut DbConnection, stats: &CapsuleStats, now: NaiveDateTime) -> QueryResult<()> {
    diesel::delete(capsule_stats::table.find(&stats.capsule)).execute(connection)?;
    diesel::insert_into(capsule_stats::table).values(stats).execute(connection)?;
    capsules::touch(connection, &stats.capsule, now)
}

pub fn stats_of(connection: &mut DbConnection, capsule: &str) -> QueryResult<Option<CapsuleStats>> {
    capsule_stats::table.find(capsule).select(CapsuleStats::as_select()).first(connection).optional()
}

/// The figures of every capsule the tenant publishes that has any.
pub fn stats_of_tenant(connection: &mut DbConnection, tenant: &TenantId) -> QueryResult<Vec<CapsuleStats>> {
    use caravan_core::db::schema::capsules as published;
    let names = published::table.filter(published::tenant_id.eq(tenant)).select(published::name);
    capsule_stats::table
        .filter(capsule_stats::capsule.eq_any(names))
        .select(CapsuleStats::as_select())
        .load(connection)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wilson_bound_rewards_evidence() {
        assert_eq!(wilson_lower_bound(0, 0), 0.0);
        let few = wilson_lower_bound(5, 5);
        let many = wilson_lower_bound(950, 1000);
        assert!(few < many, "5/5 is weaker evidence than 950/1000: {few} {many}");
        assert!((wilson_lower_bound(950, 1000) - 0.9346).abs() < 0.001);
    }

    #[test]
    fn quality_blends_the_components_by_the_documented_weights() {
        let now = chrono::DateTime::from_timestamp(2_000_000_000, 0).expect("time").naive_utc();
        let stats = CapsuleStats {
            capsule: "acme/echo".to_owned(),
            window_days: 30,
            executions: 9999,
            succeeded: 9999,
            success_lower_bound: 1.0,
            p50_ms: 10,
            p95_ms: 2000,
            mean_cost: "0.01".to_owned(),
            last_execution_at: Some(now),
            quality: 0.0,
            computed_at: now,
        };
        // 0.45·1 + 0.2·0.5 + 0.15·0.5 + 0.1·1 + 0.1·1
        assert!((quality(&stats, now) - 0.825).abs() < 1e-9, "{}", quality(&stats, now));
        assert!((popularity(999.0) - 3.0).abs() < 1e-9 && popularity(0.0) == 0.0);
    }
}
