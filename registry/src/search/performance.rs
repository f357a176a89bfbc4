//! `capsule_performance`: each capsule's ended executions counted per day (UTC), unit price and
//! latency bucket ([`latency_buckets`](super::latency_buckets)). Ranking reads these cells
//! instead of every execution of its window, so a refresh costs the same at ten runs a day
//! as at thousands a second.
//!
//! The end of a run adds to its cell in the transaction that records it (`record_ends` in
//! `caravan-metering`), so the counts are exactly as durable as the executions, and an end
//! written twice is refused before it reaches them. On PostgreSQL a cell is spread over
//! shards, as usage rollups are: the writer passes its thread's shard, readers add them up.

use super::latency_buckets;
use caravan_core::db::DbConnection;
use caravan_core::db::schema::capsule_performance;
use chrono::{NaiveDateTime, NaiveTime};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{Array, BigInt, Integer, SmallInt, Text, Timestamp};
use diesel::sqlite::Sqlite;
use std::collections::BTreeMap;

/// One cell: the runs of a capsule that ended on one day, at one price, in one latency
/// bucket (one shard of it on PostgreSQL).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = capsule_performance)]
pub struct PerformanceCell {
    pub capsule: String,
    /// Midnight (UTC) of the day the runs ended.
    pub day: NaiveDateTime,
    /// The per-execution price the runs carried (decimal), `''` when none.
    pub unit_price: String,
    pub latency_bucket: i32,
    /// Which of the cell's rows this is; readers add a cell's shards. Cells about to be
    /// added carry 0: [`add`] writes them to the shard it is given.
    pub shard: i16,
    pub executions: i64,
    pub succeeded: i64,
    pub last_ended_at: NaiveDateTime,
}

type CellKey = (String, NaiveDateTime, String, i32);

impl PerformanceCell {
    /// The cell of one run that ended at `ended_at` after `duration_ms`, counting it.
    pub fn of_run(
        capsule: &str,
        unit_price: Option<&str>,
        succeeded: bool,
        duration_ms: i64,
        ended_at: NaiveDateTime,
    ) -> Self {
        Self {
            capsule: capsule.to_owned(),
            day: day_of(ended_at),
            unit_price: unit_price.unwrap_or_default().to_owned(),
            latency_bucket: latency_buckets::bucket_of(duration_ms),
            shard: 0,
            executions: 1,
            succeeded: i64::from(succeeded),
            last_ended_at: ended_at,
        }
    }

    fn key(&self) -> CellKey {
        (self.capsule.clone(), self.day, self.unit_price.clone(), self.latency_bucket)
    }
}

/// Midnight of the day `at` falls on.
pub fn day_of(at: NaiveDateTime) -> NaiveDateTime {
    at.date().and_time(NaiveTime::MIN)
}

/// Cells with the same key added together, in key order: what one transaction adds, each
/// cell once, locking cells in the same order as every other writer.
pub fn merged(cells: impl IntoIterator<Item = PerformanceCell>) -> Vec<PerformanceCell> {
    let mut by_key: BTreeMap<CellKey, PerformanceCell> = BTreeMap::new();
    for cell in cells {
        match by_key.entry(cell.key()) {
            std::collections::btree_map::Entry::Vacant(vacant) => {
                vacant.insert(cell);
            }
            std::collections::btree_map::Entry::Occupied(mut occupied) => {
                let sum = occupied.get_mut();
                sum.executions += cell.executions;
                sum.succeeded += cell.succeeded;
                sum.last_ended_at = sum.last_ended_at.max(cell.last_ended_at);
            }
        }
    }
    by_key.into_values().collect()
}

/// Adds `cells` (distinct keys, as [`merged`] makes them) to their cells' row `shard`:
/// counts add up, the last end keeps the later. Call it inside a write transaction.
pub fn add(connection: &mut DbConnection, cells: &[PerformanceCell], shard: i16) -> QueryResult<()> {
    if cells.is_empty() {
        return Ok(());
    }
    match connection {
        // One statement per cell, which stays prepared: in one transaction that is cheap.
        DbConnection::Sqlite(sqlite) => {
            for cell in cells {
                AddToCellSqlite { cell, shard }.execute(sqlite)?;
            }
        }
        DbConnection::Postgres(postgres) => {
            AddToCellsPostgres::of(cells, shard).execute(postgres)?;
        }
    }
    Ok(())
}

/// Every cell from `from` on.
pub fn since(connection: &mut DbConnection, from: NaiveDateTime) -> QueryResult<Vec<PerformanceCell>> {
    capsule_performance::table
        .filter(capsule_performance::day.ge(from))
        .select(PerformanceCell::as_select())
        .load(connection)
}

/// Deletes the cells of days before `before`; returns how many.
pub fn forget_before(connection: &mut DbConnection, before: NaiveDateTime) -> QueryResult<usize> {
    diesel::delete(capsule_performance::table.filter(capsule_performance::day.lt(before))).execute(connection)
}

const COLUMNS: &str = "INSERT INTO capsule_performance (capsule, day, unit_price, latency_bucket, shard, executions, \
     succeeded, last_ended_at)";
const ON_CONFLICT: &str = " ON CONFLICT (capsule, day, unit_price, latency_bucket, shard) DO UPDATE SET \
     executions = capsule_performance.executions + excluded.executions, \
     succeeded = capsule_performance.succeeded + excluded.succeeded, ";

/// The upsert of one cell on SQLite, written out so that it stays prepared (diesel
/// prepares every `ON CONFLICT … DO UPDATE` anew).
#[derive(Debug)]
struct AddToCellSqlite<'a> {
    cell: &'a PerformanceCell,
    shard: i16,
}

impl QueryId for AddToCellSqlite<'_> {
    type QueryId = AddToCellSqlite<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl QueryFragment<Sqlite> for AddToCellSqlite<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        let cell = self.cell;
        out.push_sql(COLUMNS);
        out.push_sql(" VALUES (");
        out.push_bind_param::<Text, _>(&cell.capsule)?;
        out.push_sql(", ");
        out.push_bind_param::<Timestamp, _>(&cell.day)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&cell.unit_price)?;
        out.push_sql(", ");
        out.push_bind_param::<Integer, _>(&cell.latency_bucket)?;
        out.push_sql(", ");
        out.push_bind_param::<SmallInt, _>(&self.shard)?;
        out.push_sql(", ");
        out.push_bind_param::<BigInt, _>(&cell.executions)?;
        out.push_sql(", ");
        out.push_bind_param::<BigInt, _>(&cell.succeeded)?;
        out.push_sql(", ");
        out.push_bind_param::<Timestamp, _>(&cell.last_ended_at)?;
        out.push_sql(")");
        out.push_sql(ON_CONFLICT);
        out.push_sql("last_ended_at = max(capsule_performance.last_ended_at, excluded.last_ended_at)");
        Ok(())
    }
}

impl RunQueryDsl<SqliteConnection> for AddToCellSqlite<'_> {}

/// The upsert of any number of cells on PostgreSQL as one statement whose text does not
/// depend on how many there are, so it stays prepared: each column goes in as one array.
#[derive(Debug)]
struct AddToCellsPostgres<'a> {
    capsules: Vec<&'a str>,
    days: Vec<NaiveDateTime>,
    unit_prices: Vec<&'a str>,
    latency_buckets: Vec<i32>,
    shards: Vec<i16>,
    executions: Vec<i64>,
    succeeded: Vec<i64>,
    last_ended_at: Vec<NaiveDateTime>,
}

impl<'a> AddToCellsPostgres<'a> {
    fn of(cells: &'a [PerformanceCell], shard: i16) -> Self {
        Self {
            capsules: cells.iter().map(|cell| cell.capsule.as_str()).collect(),
            days: cells.iter().map(|cell| cell.day).collect(),
            unit_prices: cells.iter().map(|cell| cell.unit_price.as_str()).collect(),
            latency_buckets: cells.iter().map(|cell| cell.latency_bucket).collect(),
            shards: vec![shard; cells.len()],
            executions: cells.iter().map(|cell| cell.executions).collect(),
            succeeded: cells.iter().map(|cell| cell.succeeded).collect(),
            last_ended_at: cells.iter().map(|cell| cell.last_ended_at).collect(),
        }
    }
}

impl QueryId for AddToCellsPostgres<'_> {
    type QueryId = AddToCellsPostgres<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl QueryFragment<Pg> for AddToCellsPostgres<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(COLUMNS);
        out.push_sql(" SELECT * FROM UNNEST(");
        out.push_bind_param::<Array<Text>, _>(&self.capsules)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Timestamp>, _>(&self.days)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.unit_prices)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Integer>, _>(&self.latency_buckets)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<SmallInt>, _>(&self.shards)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<BigInt>, _>(&self.executions)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<BigInt>, _>(&self.succeeded)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Timestamp>, _>(&self.last_ended_at)?;
        out.push_sql(")");
        out.push_sql(ON_CONFLICT);
        out.push_sql("last_ended_at = greatest(capsule_performance.last_ended_at, excluded.last_ended_at)");
        Ok(())
    }
}

impl RunQueryDsl<PgConnection> for AddToCellsPostgres<'_> {}
