//! The ranking refresh (release build; `DATABASE_URL=postgres://…` for PostgreSQL, an
//! empty database; embedded SQLite otherwise): `ranking [RUNS] [CAPSULES] [ROUNDS]`.
//!
//! RUNS ended executions (default 300,000) of CAPSULES capsules (10), spread over the 30
//! days of the window, are recorded through the code path a run's end takes
//! (`record_ends`, in groups of 256). Then, ROUNDS times (5) each, in turn:
//! - `refresh`: `ranking::refresh` as the server runs it every 30 s, from the capsules'
//!   performance cells;
//! - the baseline: what a refresh did before those cells existed, in the same run: load
//!   every execution of the window (capsule, status, duration, price, end) and compute
//!   each capsule's counts, charge and nearest-rank percentiles from them.
//!
//! Prints the median of each and their ratio, and how many rows each read.

#![allow(clippy::print_stdout)] // the report goes to standard output

use caravan_bench::median;
use caravan_core::db::schema::{capsule_performance, executions};
use caravan_core::db::{DbConnection, PoolOptions, write_transaction};
use caravan_core::id::{ApiKeyId, ExecutionId, TenantId};
use caravan_core::money::Decimal;
use caravan_core::{Database, db::DbTarget};
use caravan_metering::db::executions::ExecutionRow;
use caravan_metering::domain::meter::MeterCatalog;
use caravan_metering::executions::Recording;
use caravan_metering::executions::record::{End, Outcome, record_ends};
use caravan_registry::search::ranking;
use caravan_worker::protocol::RunStatus;
use chrono::{NaiveDateTime, TimeDelta};
use diesel::prelude::*;
use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Instant;

const GROUP: usize = 256;

fn main() -> anyhow::Result<()> {
    let numbers: Vec<usize> =
        std::env::args().skip(1).map(|value| value.replace('_', "").parse()).collect::<Result<_, _>>()?;
    let number = |index: usize, default: usize| numbers.get(index).copied().unwrap_or(default);
    let (runs, capsules, rounds) = (number(0, 300_000), number(1, 10).max(1), number(2, 5).max(1));

    let data_dir = tempfile::tempdir()?;
    let (target, backend) = match std::env::var("DATABASE_URL") {
        Ok(url) => (DbTarget::parse(&url)?, "PostgreSQL"),
        Err(_) => (DbTarget::Sqlite(data_dir.path().join("caravan.db")), "SQLite"),
    };
    let database = Database::connect(target, &PoolOptions::default())?;
    database.migrate()?;
    let mut connection = database.connection()?;
    let tenant = TenantId::new();
    diesel::sql_query(format!(
        "INSERT INTO tenants (id, name, plan, created_at, updated_at) \
         VALUES ('{tenant}', 'Bench', 'pro', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
    ))
    .execute(&mut *connection)?;

    let now = caravan_core::db::now();
    let seeding = Instant::now();
    record_runs(&mut connection, &tenant, runs, capsules, now)?;
    println!(
        "{backend}: {runs} runs of {capsules} capsules recorded in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );
    // The first refresh writes every capsule's stats; the rounds measure the steady state.
    ranking::refresh(&mut connection, caravan_core::db::now())?;

    let (mut refreshes, mut baselines) = (Vec::new(), Vec::new());
    let mut baseline_stats = BTreeMap::new();
    for _ in 0..rounds {
        let started = Instant::now();
        ranking::refresh(&mut connection, caravan_core::db::now())?;
        refreshes.push(started.elapsed().as_secs_f64() * 1000.0);
        let started = Instant::now();
        baseline_stats = refresh_from_executions(&mut connection, caravan_core::db::now())?;
        baselines.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let cells: i64 = capsule_performance::table.count().get_result(&mut *connection)?;
    let (refresh, baseline) = (median(&mut refreshes), median(&mut baselines));
    println!("refresh from performance cells: {refresh:.2} ms median ({cells} cells)");
    println!("baseline, from every execution of the window: {baseline:.2} ms median ({runs} rows)");
    println!("ratio: {:.1}× faster", baseline / refresh);

    // Both ways must agree (up to the buckets' 1/32 on latencies above 64 ms).
    for (capsule, (executions, succeeded, p95)) in baseline_stats {
        let stats = ranking::stats_of(&mut connection, &capsule)?
            .ok_or_else(|| anyhow::anyhow!("{capsule} has no stats"))?;
        anyhow::ensure!(
            stats.executions == executions && stats.succeeded == succeeded,
            "{capsule}: {} {} against {executions} {succeeded}",
            stats.executions,
            stats.succeeded
        );
        let error = (stats.p95_ms - p95).abs() as f64 / p95.max(1) as f64;
        anyhow::ensure!(error <= 1.0 / 32.0, "{capsule}: p95 {} ms against {p95} ms", stats.p95_ms);
    }
    Ok(())
}

/// `runs` ends spread evenly over the window before `now`, written in groups as the
/// gateway writes them.
fn record_runs(
    connection: &mut DbConnection,
    tenant: &TenantId,
    runs: usize,
    capsules: usize,
    now: NaiveDateTime,
) -> anyhow::Result<()> {
    let meters = MeterCatalog::new(&[])?;
    let window_ms = (ranking::WINDOW_DAYS * 86_400_000 - 3_600_000) as usize;
    let (api_key, tenant) = (ApiKeyId::new(), tenant.clone());
    for (group_number, first) in (0..runs).step_by(GROUP).enumerate() {
        let ended_at = now - TimeDelta::milliseconds((window_ms * (runs - first) / runs) as i64);
        let ends: Vec<End> = (first..(first + GROUP).min(runs))
            .map(|number| {
                // Durations from 1 ms to about 2 s, one run in ten failing.
                let duration_ms = 1 + (number * 7919 % 2000) as i64 * (1 + (number % 3) as i64) / 3;
                let status = if number % 10 == 0 { RunStatus::Failed } else { RunStatus::Succeeded };
                end_of(&tenant, &api_key, number % capsules, duration_ms, status, ended_at)
            })
            .collect();
        write_transaction(connection, |connection| record_ends(connection, &meters, &ends, ended_at))?;
        if group_number % 200 == 0 {
            eprint!("\r{first}/{runs}");
        }
    }
    eprintln!();
    Ok(())
}

fn end_of(
    tenant: &TenantId,
    api_key: &ApiKeyId,
    capsule: usize,
    duration_ms: i64,
    status: RunStatus,
    ended_at: NaiveDateTime,
) -> End {
    End {
        execution: ExecutionRow {
            id: ExecutionId::new(),
            tenant_id: tenant.clone(),
            api_key_id: api_key.clone(),
            capsule: format!("bench/capsule-{capsule}"),
            version: "1.0.0".to_owned(),
            digest: "sha256:00".to_owned(),
            tier: "fast".to_owned(),
            mode: "sync".to_owned(),
            status: "running".to_owned(),
            idempotency_key: None,
            request_hash: "hash".to_owned(),
            input: "{}".to_owned(),
            output: None,
            error: None,
            worker_id: None,
            webhook_url: None,
            unit_price: Some("0.002".to_owned()),
            tokens_in: 0,
            tokens_out: 0,
            tool_calls: 0,
            job_micros: 0,
            created_at: ended_at - TimeDelta::milliseconds(duration_ms),
            finished_at: None,
            duration_ms: None,
        },
        recording: Recording::AtTheEnd,
        outcome: Outcome { status, ..Outcome::lost("") },
    }
}

/// One capsule's runs, as a refresh gathered them before the performance cells.
#[derive(Default)]
struct Accumulated {
    executions: i64,
    succeeded: i64,
    durations: Vec<i64>,
    charged: Decimal,
    last: Option<NaiveDateTime>,
}

/// Executions, succeeded and nearest-rank p95 of each capsule, computed as a refresh did
/// before the performance cells: from every execution of the window (the charge and the
/// last end too, though only the first three are compared).
fn refresh_from_executions(
    connection: &mut DbConnection,
    now: NaiveDateTime,
) -> anyhow::Result<BTreeMap<String, (i64, i64, i64)>> {
    type EndedRun = (String, String, Option<i64>, Option<String>, Option<NaiveDateTime>);
    let since = now - TimeDelta::days(ranking::WINDOW_DAYS);
    let ended: Vec<EndedRun> = executions::table
        .filter(executions::finished_at.ge(since))
        .select((
            executions::capsule,
            executions::status,
            executions::duration_ms,
            executions::unit_price,
            executions::finished_at,
        ))
        .load(connection)?;
    let mut per_capsule: BTreeMap<String, Accumulated> = BTreeMap::new();
    for (capsule, status, duration, price, finished) in ended {
        let entry = per_capsule.entry(capsule).or_default();
        entry.executions += 1;
        if status == "succeeded" {
            entry.succeeded += 1;
            entry.charged +=
                price.as_deref().and_then(|price| Decimal::from_str(price).ok()).unwrap_or_default();
        }
        entry.durations.push(duration.unwrap_or(0));
        entry.last = entry.last.max(finished);
    }
    Ok(per_capsule
        .into_iter()
        .map(|(capsule, mut runs)| {
            runs.durations.sort_unstable();
            let rank = ((runs.durations.len() as f64) * 0.95).ceil() as usize;
            let p95 = runs.durations[rank.clamp(1, runs.durations.len()) - 1];
            (capsule, (runs.executions, runs.succeeded, p95))
        })
        .collect())
}
