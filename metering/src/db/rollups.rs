//! `usage_rollups` and `usage_distinct_values`: every meter's readings summed per hour and
//! per calendar month, written in the transaction that accepts the events, so usage
//! queries and period closes never scan the raw ledger.

use caravan_core::db::DbConnection;
use caravan_core::db::schema::{usage_distinct_values, usage_rollups};
use caravan_core::id::TenantId;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Text, Timestamp};
use diesel::sqlite::Sqlite;
use diesel::upsert::excluded;

// The larger of two values on PostgreSQL. A function, not an SQL literal: a literal makes
// diesel prepare the statement anew on every call.
diesel::define_sql_function! {
    #[sql_name = "greatest"]
    fn larger(left: BigInt, right: BigInt) -> BigInt;
}

pub const HOUR: &str = "hour";
pub const MONTH: &str = "month";

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

/// Adds `rows` to their cells (sum and readings add up, max keeps the larger). The rows
/// must have distinct keys. Call it inside a write transaction.
pub fn add(connection: &mut DbConnection, rows: &[RollupRow]) -> QueryResult<()> {
    match connection {
        // One statement per row, which stays prepared: in one transaction that is cheap.
        DbConnection::Sqlite(sqlite) => {
            for row in rows {
                AddToCellSqlite(row).execute(sqlite)?;
            }
        }
        DbConnection::Postgres(postgres) => {
            for chunk in rows.chunks(500) {
                diesel::insert_into(usage_rollups::table)
                    .values(chunk)
                    .on_conflict((
                        usage_rollups::tenant_id,
                        usage_rollups::meter,
                        usage_rollups::granularity,
                        usage_rollups::bucket,
                        usage_rollups::capsule,
                        usage_rollups::api_key_id,
                        usage_rollups::group_key,
                        usage_rollups::unit_price,
                    ))
                    .do_update()
                    .set((
                        usage_rollups::quantity_micros
                            .eq(usage_rollups::quantity_micros + excluded(usage_rollups::quantity_micros)),
                        usage_rollups::readings
                            .eq(usage_rollups::readings + excluded(usage_rollups::readings)),
                        usage_rollups::max_micros
                            .eq(larger(usage_rollups::max_micros, excluded(usage_rollups::max_micros))),
                    ))
                    .execute(postgres)?;
            }
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
             group_key, unit_price, quantity_micros, max_micros, readings) VALUES (",
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
        out.push_sql(
            ") ON CONFLICT (tenant_id, meter, granularity, bucket, capsule, api_key_id, group_key, \
             unit_price) DO UPDATE SET quantity_micros = quantity_micros + excluded.quantity_micros, \
             readings = readings + excluded.readings, max_micros = max(max_micros, excluded.max_micros)",
        );
        Ok(())
    }
}

impl RunQueryDsl<SqliteConnection> for AddToCellSqlite<'_> {}

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
