//! Writing an execution's life: the `running` row before dispatch, and the end of the run
//! — its record, its usage in the ledger (a `caravan.usage` event from source
//! `caravan/executions` whose id is the execution's), and, for async runs with a webhook,
//! the outbox row — in one transaction, with the run counted in its capsule's ranking cell
//! (`caravan_registry::search::performance`). A run recorded only at its end
//! ([`Recording::AtTheEnd`]) inserts its ended row with its usage in that transaction
//! instead. The ends of many runs may share the transaction (see `ends`), their usage
//! added to each rollup cell once. An execution that got a 2xx survives a crash; a retried
//! end changes nothing: an update needs the row still `running`, a second insert of an
//! ended row fails on its id, and the usage event's id is unique.

use super::Recording;
use crate::db::executions::{self, ExecutionRow, Finish};
use crate::db::rollups;
use crate::db::webhooks::{self, DeliveryRow, SecretRow};
use crate::domain::event::UsageEvent;
use crate::domain::meter::{MeterCatalog, USAGE_EVENT_TYPE};
use crate::error::MeteringError;
use crate::ingest::{self, Metered, lock_open_periods};
use crate::views::ExecutionView;
use caravan_core::db::{DbConnection, recoverable_statement};
use caravan_core::id::{ApiKeyId, DeliveryId, TenantId, WebhookEventId, WebhookSecretId};
use caravan_core::money::{Decimal, quantity_to_micros};
use caravan_registry::search::performance::{self, PerformanceCell};
use caravan_worker::protocol::RunStatus;
use chrono::NaiveDateTime;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::str::FromStr;

/// Where usage of executions comes from.
pub const EXECUTIONS_SOURCE: &str = "caravan/executions";

/// What a run produced, as the worker reported it.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub status: RunStatus,
    pub output: Option<Value>,
    pub reason: Option<String>,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub tool_calls: u64,
    pub job_seconds: Decimal,
}

impl Outcome {
    /// A run that ended without the worker reporting its end.
    pub fn lost(reason: &str) -> Self {
        Self {
            status: RunStatus::Failed,
            output: None,
            reason: Some(reason.to_owned()),
            tokens_in: 0,
            tokens_out: 0,
            tool_calls: 0,
            job_seconds: Decimal::ZERO,
        }
    }
}

/// A run's end, to record.
#[derive(Debug, Clone)]
pub struct End {
    pub execution: ExecutionRow,
    pub recording: Recording,
    pub outcome: Outcome,
}

/// Records the ends of runs: each one's record (the `running` row updated, or the ended row
/// inserted), the usage of all of them, added to each rollup cell once, and their
/// webhooks. Returns each execution as it now stands (unchanged when it had ended
/// already). Call it inside a write transaction (`Database::write`), which makes all of it
/// one change.
pub fn record_ends(
    connection: &mut DbConnection,
    meters: &MeterCatalog,
    ends: &[End],
    now: NaiveDateTime,
) -> Result<Vec<ExecutionRow>, MeteringError> {
    let mut rows: Vec<Option<ExecutionRow>> = vec![None; ends.len()];
    // What ranking counts of each run that ended here.
    let mut performance = Vec::with_capacity(ends.len());
    // By tenant and key, in order, so that transactions meet shared rollup cells in one order.
    let mut usage: BTreeMap<(&TenantId, &ApiKeyId), Vec<Metered>> = BTreeMap::new();
    // Executions in id order, for the same reason: two groups that end the same running
    // rows (a run's own end and a sweeper's on another replica) lock them in one order.
    let mut order: Vec<usize> = (0..ends.len()).collect();
    order.sort_by(|&left, &right| ends[left].execution.id.cmp(&ends[right].execution.id));
    for index in order {
        let End { execution, recording, outcome } = &ends[index];
        let finish = finish_of(execution, outcome, now);
        let ended = execution.ended(&finish);
        match recording {
            Recording::FromTheStart => {
                if !executions::finish(connection, &execution.id, &finish)? {
                    let current = executions::find(connection, &execution.id)?
                        .ok_or_else(|| MeteringError::ExecutionNotFound(execution.id.to_string()))?;
                    rows[index] = Some(current);
                    continue;
                }
            }
            Recording::AtTheEnd => executions::insert(connection, &ended)?,
        }
        let key = (&execution.tenant_id, &execution.api_key_id);
        usage.entry(key).or_default().push(metered_usage(meters, execution, outcome, now)?);
        if let Some(url) = &ended.webhook_url {
            enqueue_webhook(connection, &ended, url, now)?;
        }
        performance.push(performance_of(&ended));
        rows[index] = Some(ended);
    }
    if !usage.is_empty() {
        lock_open_periods(connection, std::iter::once(now))?;
    }
    for ((tenant, key), metered) in usage {
        ingest::record(connection, tenant, Some(key), &metered, now)?;
    }
    let shard = rollups::thread_shard(connection);
    performance::add(connection, &performance::merged(performance), shard)?;
    Ok(rows.into_iter().flatten().collect())
}

/// [`record_ends`] of one end.
pub fn record_end(
    connection: &mut DbConnection,
    meters: &MeterCatalog,
    end: End,
    now: NaiveDateTime,
) -> Result<ExecutionRow, MeteringError> {
    let id = end.execution.id.to_string();
    record_ends(connection, meters, &[end], now)?.pop().ok_or(MeteringError::ExecutionNotFound(id))
}

/// The ranking cell of an ended run.
fn performance_of(ended: &ExecutionRow) -> PerformanceCell {
    PerformanceCell::of_run(
        &ended.capsule,
        ended.unit_price.as_deref(),
        ended.status == RunStatus::Succeeded.as_str(),
        ended.duration_ms.unwrap_or(0),
        ended.finished_at.unwrap_or(ended.created_at),
    )
}

/// The end of `execution` as `outcome` reports it, at `now`.
fn finish_of(execution: &ExecutionRow, outcome: &Outcome, now: NaiveDateTime) -> Finish {
    Finish {
        status: outcome.status.as_str().to_owned(),
        output: outcome.output.as_ref().map(Value::to_string),
        error: outcome.reason.clone(),
        tokens_in: i64::try_from(outcome.tokens_in).unwrap_or(i64::MAX),
        tokens_out: i64::try_from(outcome.tokens_out).unwrap_or(i64::MAX),
        tool_calls: i64::try_from(outcome.tool_calls).unwrap_or(i64::MAX),
        job_micros: quantity_to_micros(outcome.job_seconds.round_dp(6)).unwrap_or(0),
        finished_at: Some(now),
        duration_ms: Some((now - execution.created_at).num_milliseconds().max(0)),
    }
}

/// The usage event of an ended run, with its readings: a `caravan.usage` event from
/// [`EXECUTIONS_SOURCE`] whose id is the execution's.
fn metered_usage(
    meters: &MeterCatalog,
    execution: &ExecutionRow,
    outcome: &Outcome,
    now: NaiveDateTime,
) -> Result<Metered, MeteringError> {
    let data = json!({
        "capsule": execution.capsule,
        "version": execution.version,
        "status": outcome.status.as_str(),
        "executions": 1,
        "tokens_in": outcome.tokens_in,
        "tokens_out": outcome.tokens_out,
        "tool_calls": outcome.tool_calls,
        "job_seconds": outcome.job_seconds.round_dp(6).to_string(),
    });
    let event = UsageEvent {
        id: execution.id.to_string(),
        source: EXECUTIONS_SOURCE.to_owned(),
        event_type: USAGE_EVENT_TYPE.to_owned(),
        subject: None,
        time: now,
        data,
        capsule: Some(execution.capsule.clone()),
    };
    let mut metered = ingest::meter(meters, event).map_err(MeteringError::InvalidExecution)?;
    // The publisher's price is charged for runs that succeeded.
    if outcome.status == RunStatus::Succeeded {
        metered.unit_price = execution.unit_price.as_deref().and_then(|price| Decimal::from_str(price).ok());
    }
    Ok(metered)
}

/// The event type of an ended execution: `execution.succeeded`, `execution.failed`, …
pub fn event_type(status: &str) -> String {
    format!("execution.{status}")
}

fn enqueue_webhook(
    connection: &mut DbConnection,
    execution: &ExecutionRow,
    url: &str,
    now: NaiveDateTime,
) -> Result<(), MeteringError> {
    ensure_secret(connection, execution, now)?;
    let event_id = WebhookEventId::new();
    let event_type = event_type(&execution.status);
    let payload = json!({
        "id": event_id,
        "type": event_type,
        "created": now.and_utc().timestamp(),
        "data": { "execution": ExecutionView::from(execution.clone()) },
    });
    webhooks::enqueue(
        connection,
        &DeliveryRow {
            id: DeliveryId::new(),
            tenant_id: execution.tenant_id.clone(),
            execution_id: execution.id.clone(),
            event_id: event_id.to_string(),
            event_type,
            url: url.to_owned(),
            payload: payload.to_string(),
            attempts: 0,
            next_attempt_at: Some(now),
            delivered_at: None,
            last_status: None,
            last_error: None,
            created_at: now,
        },
    )?;
    Ok(())
}

/// A tenant's first webhook makes its signing secret.
fn ensure_secret(
    connection: &mut DbConnection,
    execution: &ExecutionRow,
    now: NaiveDateTime,
) -> Result<(), MeteringError> {
    if webhooks::live_secrets(connection, &execution.tenant_id, now)?.is_empty() {
        webhooks::insert_secret(
            connection,
            &SecretRow {
                id: WebhookSecretId::new(),
                tenant_id: execution.tenant_id.clone(),
                secret: crate::executions::webhooks::new_secret(),
                created_at: now,
                expires_at: None,
            },
        )?;
    }
    Ok(())
}

/// Inserts the `running` row before dispatch as a recoverable statement: when the insert
/// loses an Idempotency-Key race, the caller's transaction stays usable to look up the
/// execution that won.
pub fn start(connection: &mut DbConnection, row: &ExecutionRow) -> Result<(), MeteringError> {
    recoverable_statement(connection, |connection| {
        executions::insert(connection, row).map_err(MeteringError::from)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::executions::test_runs::{database_with_tenant, sync_run};
    use caravan_core::db::write_transaction;
    use caravan_registry::search::ranking;
    use chrono::TimeDelta;

    /// A run of `capsule` that took `duration_ms` up to `now`.
    fn run_of(
        tenant: &TenantId,
        capsule: &str,
        duration_ms: i64,
        status: RunStatus,
        now: NaiveDateTime,
    ) -> End {
        let mut end = sync_run(tenant);
        end.execution.capsule = capsule.to_owned();
        end.execution.created_at = now - TimeDelta::milliseconds(duration_ms);
        end.execution.unit_price = Some("0.015".to_owned());
        end.outcome.status = status;
        end
    }

    /// Every cell, its shards added together.
    fn cells(connection: &mut DbConnection) -> Vec<PerformanceCell> {
        let since = caravan_core::db::now() - TimeDelta::days(40);
        let cells = performance::since(connection, since).expect("cells");
        performance::merged(cells.into_iter().map(|cell| PerformanceCell { shard: 0, ..cell }))
    }

    /// On PostgreSQL when the suite runs there.
    #[test]
    fn ended_runs_are_counted_in_their_capsules_ranking_cells_once_each() {
        let (_test_database, database, tenant) = database_with_tenant();
        let mut connection = database.connection().expect("connection");
        let meters = MeterCatalog::new(&[]).expect("meters");
        let now = caravan_core::db::now();
        let group = [
            run_of(&tenant, "acme/echo", 5, RunStatus::Succeeded, now),
            run_of(&tenant, "acme/echo", 5, RunStatus::Succeeded, now),
            run_of(&tenant, "acme/echo", 100, RunStatus::Failed, now),
        ];
        let retried = End { recording: Recording::FromTheStart, ..group[0].clone() };

        write_transaction(&mut connection, |connection| record_ends(connection, &meters, &group, now))
            .expect("the group");
        write_transaction(&mut connection, |connection| record_ends(connection, &meters, &[retried], now))
            .expect("an end that came again");

        let counted: Vec<(i32, i64, i64)> = cells(&mut connection)
            .iter()
            .map(|cell| (cell.latency_bucket, cell.executions, cell.succeeded))
            .collect();
        assert_eq!(counted, vec![(5, 2, 2), (73, 1, 0)], "by latency bucket; the repeated end not counted");
        ranking::refresh(&mut connection, now).expect("refresh");
        let stats = ranking::stats_of(&mut connection, "acme/echo").expect("stats").expect("some stats");
        assert_eq!((stats.executions, stats.succeeded, stats.p50_ms, stats.p95_ms), (3, 2, 5, 102));
        assert_eq!(stats.mean_cost, "0.01", "two runs charged 0.015 each, over three runs");
        assert_eq!(stats.last_execution_at, Some(now));
    }

    /// On PostgreSQL when the suite runs there.
    #[test]
    fn the_backfill_counts_runs_that_ended_before_it_as_their_ends_do() {
        let (_test_database, database, tenant) = database_with_tenant();
        let mut connection = database.connection().expect("connection");
        let meters = MeterCatalog::new(&[]).expect("meters");
        let now = caravan_core::db::now();
        let earlier = now - TimeDelta::hours(30);
        let mut ends = Vec::new();
        for (at, capsule) in [(now, "acme/echo"), (earlier, "acme/echo"), (now, "acme/word-count")] {
            for duration_ms in [0, 63, 64, 100, 101, 3_000, 1_000_000, 5_000_000_000] {
                for status in [RunStatus::Succeeded, RunStatus::TimedOut] {
                    ends.push((at, run_of(&tenant, capsule, duration_ms, status, at)));
                }
            }
        }
        for (at, end) in ends {
            write_transaction(&mut connection, |connection| record_ends(connection, &meters, &[end], at))
                .expect("an end");
        }
        let written = cells(&mut connection);

        let backfill = database.revert_last_migration().expect("revert the backfill");
        assert_eq!(backfill, "20261207001200", "the backfill is the last migration");
        assert!(cells(&mut connection).is_empty());
        database.migrate().expect("run the backfill again");

        assert_eq!(cells(&mut connection), written);
        assert_eq!(written.len(), 3 * 7, "eight durations in seven buckets, on three capsule-days");
    }
}
