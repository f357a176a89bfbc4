//! `usage_rollups` and `usage_distinct_values`: every meter's readings summed per hour and
//! per calendar month, written in the transaction that accepts the events, so usage
//! queries and period closes never scan the raw ledger.
//!
//! On PostgreSQL a cell is spread over up to [`POSTGRES_SHARDS`] rows, one per `shard`,
//! and every reader sums them. Each thread adds to its own shard, picked at random when
//! it first writes: concurrent transactions adding to the same cell (every execution of a
//! capsule adds to its hour and month) run on different threads and rarely wait on one
//! row lock, which each would hold until its commit is flushed. A transaction runs on one
//! thread, so all its rows go to one shard, in key order: two transactions that meet on a
//! shard lock its cells in the same order and cannot deadlock. SQLite serializes its
//! writers anyway and keeps every cell in shard 0.

use caravan_core::db::DbConnection;
use caravan_core::db::schema::{usage_distinct_values, usage_rollups};
use caravan_core::id::TenantId;
use chrono::NaiveDateTime;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{Array, BigInt, SmallInt, Text, Timestamp};
use diesel::sqlite::Sqlite;

pub const HOUR: &str = "hour";
pub const MONTH: &str = "month";

/// How many rows a cell may be spread over on PostgreSQL.
pub const POSTGRES_SHARDS: i16 = 16;

thread_local! {
    /// The shard this thread's PostgreSQL transactions add to.
    static THREAD_SHARD: i16 = rand::random_range(0..POSTGRES_SHARDS);
}

/// One rollup cell: its key (tenant … unit price) and its figures.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = usage_rollups)]
pub struct RollupRow {
    pub tenant_id: TenantId,
    pub meter: String,
    pub granularity: String,
    pub bucket: NaiveDateTime,
    /// `''` when the readings named no capsule.
    pub capsule: String,
    /// `''` when no API key recorded them.
    pub api_key_id: String,
    pub group_key: String,
    /// `''` except on capsule-priced executions.
    pub unit_price: String,
    pub quantity_micros: i64,
    pub max_micros: i64,
    pub readings: i64,
    /// Which of the cell's rows this is; readers sum a cell's shards. Rows about to be
    /// added carry 0: [`add`] picks their shard.
    pub shard: i16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Queryable, Selectable, Insertable)]
#[diesel(table_name = usage_distinct_values)]
pub struct DistinctRow {
    pub tenant_id: TenantId,
    pub meter: String,
    pub bucket: NaiveDateTime,
    pub capsule: String,
    pub api_key_id: String,
    pub group_key: String,
    pub value: String,
}

/// Adds `rows` to their cells (sum and readings add up, max keeps the larger), in this
/// thread's shard on PostgreSQL. The rows must have distinct keys. Call it inside a write
/// transaction.
pub fn add(connection: &mut DbConnection, rows: Vec<RollupRow>) -> QueryResult<()> {
    let shard = thread_shard(connection);
    add_to_shard(connection, rows, shard)
}

/// The shard this thread adds to: its own on PostgreSQL, 0 on SQLite. Other sharded
/// tables written in the same transaction (capsule performance) use it too.
pub fn thread_shard(connection: &DbConnection) -> i16 {
    match connection {
        DbConnection::Sqlite(_) => 0,
        DbConnection::Postgres(_) => THREAD_SHARD.with(|shard| *shard),
    }
}

/// Adds `rows` to their cells' row `shard`.
fn add_to_shard(connection: &mut DbConnection, mut rows: Vec<RollupRow>, shard: i16) -> QueryResult<()> {
    // Nothing to send: on PostgreSQL, empty arrays would still cost a round trip.
    if rows.is_empty() {
        return Ok(());
    }
    for row in &mut rows {
        row.shard = shard;
    }
    match connection {
        // One statement per row, which stays prepared: in one transaction that is cheap.
        DbConnection::Sqlite(sqlite) => {
            for row in &rows {
                AddToCellSqlite(row).execute(sqlite)?;
            }
        }
        DbConnection::Postgres(postgres) => {
            AddToCellsPostgres::of(&rows).execute(postgres)?;
        }
    }
    Ok(())
}

/// The upsert of one row on SQLite, written out so that it stays prepared. diesel prepares
/// every `ON CONFLICT … DO UPDATE` anew, because a changeset may skip fields and so change
/// the SQL; this one never does. Preparing it was half the work of an execution's end.
#[derive(Debug)]
struct AddToCellSqlite<'a>(&'a RollupRow);

impl QueryId for AddToCellSqlite<'_> {
    type QueryId = AddToCellSqlite<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl QueryFragment<Sqlite> for AddToCellSqlite<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        let row = self.0;
        out.push_sql(
            "INSERT INTO usage_rollups (tenant_id, meter, granularity, bucket, capsule, api_key_id, \
             group_key, unit_price, quantity_micros, max_micros, readings, shard) VALUES (",
        );
        out.push_bind_param::<Text, _>(&row.tenant_id)?;
        for text in [&row.meter, &row.granularity] {
            out.push_sql(", ");
            out.push_bind_param::<Text, _>(text)?;
        }
        out.push_sql(", ");
        out.push_bind_param::<Timestamp, _>(&row.bucket)?;
        for text in [&row.capsule, &row.api_key_id, &row.group_key, &row.unit_price] {
            out.push_sql(", ");
            out.push_bind_param::<Text, _>(text)?;
        }
        for figure in [&row.quantity_micros, &row.max_micros, &row.readings] {
            out.push_sql(", ");
            out.push_bind_param::<BigInt, _>(figure)?;
        }
        out.push_sql(", ");
        out.push_bind_param::<SmallInt, _>(&row.shard)?;
        out.push_sql(
            ") ON CONFLICT (tenant_id, meter, granularity, bucket, capsule, api_key_id, group_key, \
             unit_price, shard) DO UPDATE SET quantity_micros = quantity_micros + excluded.quantity_micros, \
             readings = readings + excluded.readings, max_micros = max(max_micros, excluded.max_micros)",
        );
        Ok(())
    }
}

impl RunQueryDsl<SqliteConnection> for AddToCellSqlite<'_> {}

/// The upsert of any number of rows on PostgreSQL as one statement whose text does not
/// depend on how many rows there are, so it stays prepared: each column goes in as one
/// array, and the server unnests the arrays into rows (in order, so in key order). diesel's
/// own multi-row upsert was parsed and planned anew at every execution's end.
#[derive(Debug)]
struct AddToCellsPostgres<'a> {
    tenant_ids: Vec<&'a str>,
    meters: Vec<&'a str>,
    granularities: Vec<&'a str>,
    buckets: Vec<NaiveDateTime>,
    capsules: Vec<&'a str>,
    api_key_ids: Vec<&'a str>,
    group_keys: Vec<&'a str>,
    unit_prices: Vec<&'a str>,
    quantities: Vec<i64>,
    maxima: Vec<i64>,
    readings: Vec<i64>,
    shards: Vec<i16>,
}

impl<'a> AddToCellsPostgres<'a> {
    fn of(rows: &'a [RollupRow]) -> Self {
        let text = |column: fn(&'a RollupRow) -> &'a str| rows.iter().map(column).collect::<Vec<_>>();
        Self {
            tenant_ids: text(|row| row.tenant_id.as_str()),
            meters: text(|row| &row.meter),
            granularities: text(|row| &row.granularity),
            buckets: rows.iter().map(|row| row.bucket).collect(),
            capsules: text(|row| &row.capsule),
            api_key_ids: text(|row| &row.api_key_id),
            group_keys: text(|row| &row.group_key),
            unit_prices: text(|row| &row.unit_price),
            quantities: rows.iter().map(|row| row.quantity_micros).collect(),
            maxima: rows.iter().map(|row| row.max_micros).collect(),
            readings: rows.iter().map(|row| row.readings).collect(),
            shards: rows.iter().map(|row| row.shard).collect(),
        }
    }
}

impl QueryId for AddToCellsPostgres<'_> {
    type QueryId = AddToCellsPostgres<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl QueryFragment<Pg> for AddToCellsPostgres<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(
            "INSERT INTO usage_rollups (tenant_id, meter, granularity, bucket, capsule, api_key_id, \
             group_key, unit_price, quantity_micros, max_micros, readings, shard) SELECT * FROM UNNEST(",
        );
        out.push_bind_param::<Array<Text>, _>(&self.tenant_ids)?;
        for texts in [&self.meters, &self.granularities] {
            out.push_sql(", ");
            out.push_bind_param::<Array<Text>, _>(texts)?;
        }
        out.push_sql(", ");
        out.push_bind_param::<Array<Timestamp>, _>(&self.buckets)?;
        for texts in [&self.capsules, &self.api_key_ids, &self.group_keys, &self.unit_prices] {
            out.push_sql(", ");
            out.push_bind_param::<Array<Text>, _>(texts)?;
        }
        for figures in [&self.quantities, &self.maxima, &self.readings] {
            out.push_sql(", ");
            out.push_bind_param::<Array<BigInt>, _>(figures)?;
        }
        out.push_sql(", ");
        out.push_bind_param::<Array<SmallInt>, _>(&self.shards)?;
        out.push_sql(
            ") ON CONFLICT (tenant_id, meter, granularity, bucket, capsule, api_key_id, group_key, \
             unit_price, shard) DO UPDATE SET \
             quantity_micros = usage_rollups.quantity_micros + excluded.quantity_micros, \
             readings = usage_rollups.readings + excluded.readings, \
             max_micros = greatest(usage_rollups.max_micros, excluded.max_micros)",
        );
        Ok(())
    }
}

impl RunQueryDsl<PgConnection> for AddToCellsPostgres<'_> {}

/// Records values for `unique_count` meters; values seen before in the same cell are
/// ignored.
pub fn add_distinct(connection: &mut DbConnection, rows: &[DistinctRow]) -> QueryResult<()> {
    match connection {
        DbConnection::Sqlite(sqlite) => {
            for row in rows {
                diesel::insert_into(usage_distinct_values::table)
                    .values(row)
                    .on_conflict_do_nothing()
                    .execute(sqlite)?;
            }
        }
        DbConnection::Postgres(postgres) => {
            for chunk in rows.chunks(500) {
                diesel::insert_into(usage_distinct_values::table)
                    .values(chunk)
                    .on_conflict_do_nothing()
                    .execute(postgres)?;
            }
        }
    }
    Ok(())
}

/// Hourly cells of `meter` in `[from, to)`, of one tenant or of all.
pub fn hourly(
    connection: &mut DbConnection,
    tenant: Option<&TenantId>,
    meter: &str,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> QueryResult<Vec<RollupRow>> {
    let mut query = usage_rollups::table
        .select(RollupRow::as_select())
        .filter(usage_rollups::granularity.eq(HOUR))
        .filter(usage_rollups::meter.eq(meter))
        .filter(usage_rollups::bucket.ge(from))
        .filter(usage_rollups::bucket.lt(to))
        .into_boxed();
    if let Some(tenant) = tenant {
        query = query.filter(usage_rollups::tenant_id.eq(tenant.clone()));
    }
    query.load(connection)
}

/// Monthly cells of the month starting at `bucket`, of one tenant or of all.
pub fn monthly(
    connection: &mut DbConnection,
    tenant: Option<&TenantId>,
    bucket: NaiveDateTime,
) -> QueryResult<Vec<RollupRow>> {
    let mut query = usage_rollups::table
        .select(RollupRow::as_select())
        .filter(usage_rollups::granularity.eq(MONTH))
        .filter(usage_rollups::bucket.eq(bucket))
        .into_boxed();
    if let Some(tenant) = tenant {
        query = query.filter(usage_rollups::tenant_id.eq(tenant.clone()));
    }
    query.load(connection)
}

/// The distinct values of `meter` recorded in `[from, to)`, of one tenant or of all.
pub fn distinct_values(
    connection: &mut DbConnection,
    tenant: Option<&TenantId>,
    meter: &str,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> QueryResult<Vec<DistinctRow>> {
    let mut query = usage_distinct_values::table
        .select(DistinctRow::as_select())
        .filter(usage_distinct_values::meter.eq(meter))
        .filter(usage_distinct_values::bucket.ge(from))
        .filter(usage_distinct_values::bucket.lt(to))
        .into_boxed();
    if let Some(tenant) = tenant {
        query = query.filter(usage_distinct_values::tenant_id.eq(tenant.clone()));
    }
    query.load(connection)
}

/// The sum of `meter` for one tenant in the month starting at `bucket`, in micros.
pub fn monthly_total(
    connection: &mut DbConnection,
    tenant: &TenantId,
    meter: &str,
    bucket: NaiveDateTime,
) -> QueryResult<i64> {
    // Summed here: a SQL SUM of BIGINT is NUMERIC on PostgreSQL, which diesel reads only
    // through a big-decimal type; a month holds few cells per tenant and meter.
    let cells: Vec<i64> = usage_rollups::table
        .select(usage_rollups::quantity_micros)
        .filter(usage_rollups::tenant_id.eq(tenant.clone()))
        .filter(usage_rollups::meter.eq(meter))
        .filter(usage_rollups::granularity.eq(MONTH))
        .filter(usage_rollups::bucket.eq(bucket))
        .load(connection)?;
    Ok(cells.iter().fold(0_i64, |total, cell| total.saturating_add(*cell)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billing::summarize;
    use crate::domain::meter::MeterCatalog;
    use caravan_core::db::{Database, PoolOptions, write_transaction};
    use caravan_core::money::Decimal;
    use caravan_core::testing::{TestDatabase, count_preparations};
    use chrono::NaiveDate;
    use diesel::connection::SimpleConnection;
    use std::sync::atomic::Ordering;

    fn month() -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 11, 1).and_then(|day| day.and_hms_opt(0, 0, 0)).expect("date")
    }

    fn executions_cell(tenant: &TenantId, quantity_micros: i64) -> RollupRow {
        RollupRow {
            tenant_id: tenant.clone(),
            meter: "executions".to_owned(),
            granularity: MONTH.to_owned(),
            bucket: month(),
            capsule: "acme/echo".to_owned(),
            api_key_id: String::new(),
            group_key: String::new(),
            unit_price: String::new(),
            quantity_micros,
            max_micros: quantity_micros,
            readings: 1,
            shard: 0,
        }
    }

    /// A migrated database and its pool, whose connections wait for a busy SQLite file.
    fn migrated() -> (TestDatabase, Database) {
        let test_database = TestDatabase::create();
        let database = Database::connect(test_database.target(), &PoolOptions::default()).expect("connect");
        database.migrate().expect("migrate");
        (test_database, database)
    }

    /// On PostgreSQL when the suite runs there.
    #[test]
    fn a_cell_spread_over_shards_reads_as_their_sum() {
        let (_test_database, database) = migrated();
        let mut connection = database.connection().expect("connection");
        let tenant = TenantId::new();
        for (quantity, shard) in [(2_000_000, 3), (5_000_000, 7), (1_000_000, 3)] {
            write_transaction(&mut connection, |connection| {
                add_to_shard(connection, vec![executions_cell(&tenant, quantity)], shard)
            })
            .expect("add to a shard");
        }
        write_transaction(&mut connection, |connection| {
            add(connection, vec![executions_cell(&tenant, 4_000_000)])
        })
        .expect("add to this thread's shard");

        let cells = monthly(&mut connection, Some(&tenant), month()).expect("monthly cells");
        let mut shards: Vec<i16> = cells.iter().map(|cell| cell.shard).collect();
        shards.sort_unstable();
        shards.dedup();
        assert!(shards.contains(&3) && shards.contains(&7), "the cell lies in several rows: {shards:?}");
        assert_eq!(
            monthly_total(&mut connection, &tenant, "executions", month()).expect("total"),
            12_000_000
        );
        let meters = MeterCatalog::new(&[]).expect("meters");
        let usage = summarize(&meters, &cells);
        assert_eq!(usage[&tenant].meters["executions"], Decimal::from(12));
    }

    /// On PostgreSQL when the suite runs there.
    #[test]
    fn the_upsert_is_prepared_once_whatever_the_number_of_rows() {
        let (_test_database, database) = migrated();
        let mut connection = database.connection().expect("connection");
        let prepared = count_preparations(&mut connection, "INSERT INTO usage_rollups");
        let tenant = TenantId::new();
        let cells = |count: usize| -> Vec<RollupRow> {
            (0..count)
                .map(|n| RollupRow {
                    capsule: format!("acme/capsule-{n}"),
                    ..executions_cell(&tenant, 1_000_000)
                })
                .collect()
        };

        for rows in [cells(3), cells(10), cells(1)] {
            write_transaction(&mut connection, |connection| add(connection, rows)).expect("add");
        }

        assert_eq!(prepared.load(Ordering::Relaxed), 1, "prepared once, then reused for any number of rows");
        let cells = monthly(&mut connection, Some(&tenant), month()).expect("monthly cells");
        let first: i64 = cells
            .iter()
            .filter(|cell| cell.capsule == "acme/capsule-0")
            .map(|cell| cell.quantity_micros)
            .sum();
        assert_eq!(first, 3_000_000, "a cell added to three times");
        assert_eq!(
            monthly_total(&mut connection, &tenant, "executions", month()).expect("total"),
            14_000_000
        );
    }

    /// PostgreSQL only: SQLite lets one transaction write at a time whatever the rows.
    #[test]
    fn a_transaction_adding_to_another_shard_of_a_cell_does_not_wait_for_the_first() {
        let (_test_database, database) = migrated();
        let mut first = database.connection().expect("connection");
        let mut second = database.connection().expect("connection");
        if matches!(*first, DbConnection::Sqlite(_)) {
            return;
        }
        let tenant = TenantId::new();
        let begin = |connection: &mut DbConnection| {
            connection.batch_execute("BEGIN; SET LOCAL lock_timeout = '2s'").expect("begin")
        };
        let end = |connection: &mut DbConnection, how: &str| {
            connection.batch_execute(how).expect("end the transaction")
        };
        begin(&mut first);
        add_to_shard(&mut first, vec![executions_cell(&tenant, 1_000_000)], 1).expect("first add");

        begin(&mut second);
        add_to_shard(&mut second, vec![executions_cell(&tenant, 1_000_000)], 2)
            .expect("another shard of the cell is not locked by the open transaction");
        end(&mut second, "ROLLBACK");

        begin(&mut second);
        let same_shard = add_to_shard(&mut second, vec![executions_cell(&tenant, 1_000_000)], 1);
        assert!(
            same_shard.is_err(),
            "the same shard waits for the open transaction, here until lock_timeout"
        );
        end(&mut second, "ROLLBACK");
        end(&mut first, "COMMIT");
    }
}
