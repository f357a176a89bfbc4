//! The `executions` table.

use caravan_core::db::DbConnection;
use caravan_core::db::schema::executions;
use caravan_core::id::{ApiKeyId, ExecutionId, TenantId};
use caravan_core::on_backend;
use chrono::NaiveDateTime;
use diesel::backend::Backend;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, HasSqlType, Nullable, Text, Timestamp};

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = executions)]
pub struct ExecutionRow {
    pub id: ExecutionId,
    pub tenant_id: TenantId,
    pub api_key_id: ApiKeyId,
    pub capsule: String,
    pub version: String,
    pub digest: String,
    pub tier: String,
    /// `sync`, `stream` or `async`.
    pub mode: String,
    /// `running`, `succeeded`, `failed`, `cancelled` or `timed_out`.
    pub status: String,
    pub idempotency_key: Option<String>,
    pub request_hash: String,
    /// JSON.
    pub input: String,
    /// JSON, once succeeded.
    pub output: Option<String>,
    pub error: Option<String>,
    pub worker_id: Option<String>,
    pub webhook_url: Option<String>,
    pub unit_price: Option<String>,
    pub tokens_in: i64,
    pub tokens_out: i64,
    pub tool_calls: i64,
    pub job_micros: i64,
    pub created_at: NaiveDateTime,
    pub finished_at: Option<NaiveDateTime>,
    pub duration_ms: Option<i64>,
}

/// How a run ended, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finish {
    pub status: String,
    pub output: Option<String>,
    pub error: Option<String>,
    pub tokens_in: i64,
    pub tokens_out: i64,
    pub tool_calls: i64,
    pub job_micros: i64,
    pub finished_at: Option<NaiveDateTime>,
    pub duration_ms: Option<i64>,
}

pub fn insert(connection: &mut DbConnection, row: &ExecutionRow) -> QueryResult<()> {
    on_backend!(connection, |concrete| InsertExecution(row).execute(concrete)).map(drop)
}

/// [`insert`]'s INSERT, written out: every run inserts one, and diesel's own insert of 24
/// columns, going through the two-backend connection, rebuilt the statement's text to find
/// it in the statement cache and walked its columns three times per call — four times the
/// cost of SQLite storing the row. This one is cached by its type and bound in one pass.
#[derive(Debug)]
struct InsertExecution<'a>(&'a ExecutionRow);

impl QueryId for InsertExecution<'_> {
    type QueryId = InsertExecution<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<DB> QueryFragment<DB> for InsertExecution<'_>
where
    DB: Backend + HasSqlType<Text> + HasSqlType<BigInt> + HasSqlType<Timestamp>,
    str: ToSql<Text, DB>,
    String: ToSql<Text, DB>,
    i64: ToSql<BigInt, DB>,
    Option<String>: ToSql<Nullable<Text>, DB>,
    Option<i64>: ToSql<Nullable<BigInt>, DB>,
    NaiveDateTime: ToSql<Timestamp, DB>,
    Option<NaiveDateTime>: ToSql<Nullable<Timestamp>, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        let row = self.0;
        out.push_sql(
            "INSERT INTO executions (id, tenant_id, api_key_id, capsule, version, digest, tier, mode, \
             status, idempotency_key, request_hash, input, output, error, worker_id, webhook_url, \
             unit_price, tokens_in, tokens_out, tool_calls, job_micros, created_at, finished_at, \
             duration_ms) VALUES (",
        );
        out.push_bind_param::<Text, str>(row.id.as_str())?;
        for id in [row.tenant_id.as_str(), row.api_key_id.as_str()] {
            out.push_sql(", ");
            out.push_bind_param::<Text, str>(id)?;
        }
        for text in [&row.capsule, &row.version, &row.digest, &row.tier, &row.mode, &row.status] {
            out.push_sql(", ");
            out.push_bind_param::<Text, String>(text)?;
        }
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&row.idempotency_key)?;
        for text in [&row.request_hash, &row.input] {
            out.push_sql(", ");
            out.push_bind_param::<Text, String>(text)?;
        }
        for text in [&row.output, &row.error, &row.worker_id, &row.webhook_url, &row.unit_price] {
            out.push_sql(", ");
            out.push_bind_param::<Nullable<Text>, _>(text)?;
        }
        for count in [&row.tokens_in, &row.tokens_out, &row.tool_calls, &row.job_micros] {
            out.push_sql(", ");
            out.push_bind_param::<BigInt, i64>(count)?;
        }
        out.push_sql(", ");
        out.push_bind_param::<Timestamp, _>(&row.created_at)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Timestamp>, _>(&row.finished_at)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<BigInt>, _>(&row.duration_ms)?;
        out.push_sql(")");
        Ok(())
    }
}

impl<Connection> RunQueryDsl<Connection> for InsertExecution<'_> {}

pub fn find(connection: &mut DbConnection, id: &ExecutionId) -> QueryResult<Option<ExecutionRow>> {
    executions::table.find(id).select(ExecutionRow::as_select()).first(connection).optional()
}

pub fn find_by_key(
    connection: &mut DbConnection,
    tenant: &TenantId,
    key: &str,
) -> QueryResult<Option<ExecutionRow>> {
    executions::table
        .filter(executions::tenant_id.eq(tenant))
        .filter(executions::idempotency_key.eq(key))
        .select(ExecutionRow::as_select())
        .first(connection)
        .optional()
}

impl ExecutionRow {
    /// The row once `finish` is recorded on it.
    pub fn ended(&self, finish: &Finish) -> Self {
        Self {
            status: finish.status.clone(),
            output: finish.output.clone(),
            error: finish.error.clone(),
            tokens_in: finish.tokens_in,
            tokens_out: finish.tokens_out,
            tool_calls: finish.tool_calls,
            job_micros: finish.job_micros,
            finished_at: finish.finished_at,
            duration_ms: finish.duration_ms,
            ..self.clone()
        }
    }
}

/// Records the end of a run that is still `running`; false when it had ended already.
pub fn finish(connection: &mut DbConnection, id: &ExecutionId, finish: &Finish) -> QueryResult<bool> {
    let update = FinishRunning { id, finish };
    let updated = on_backend!(connection, |concrete| update.execute(concrete))?;
    Ok(updated == 1)
}

/// [`finish`]'s UPDATE, written out so that it stays prepared: diesel prepares every
/// `UPDATE … SET` anew (a changeset may skip `None` fields, which changes the SQL), and
/// preparing it cost more than running it. This one writes `None` as NULL.
#[derive(Debug)]
struct FinishRunning<'a> {
    id: &'a ExecutionId,
    finish: &'a Finish,
}

impl QueryId for FinishRunning<'_> {
    type QueryId = FinishRunning<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<DB> QueryFragment<DB> for FinishRunning<'_>
where
    DB: Backend + HasSqlType<Text> + HasSqlType<BigInt> + HasSqlType<Timestamp>,
    str: ToSql<Text, DB>,
    String: ToSql<Text, DB>,
    i64: ToSql<BigInt, DB>,
    Option<String>: ToSql<Nullable<Text>, DB>,
    Option<i64>: ToSql<Nullable<BigInt>, DB>,
    Option<NaiveDateTime>: ToSql<Nullable<Timestamp>, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        let finish = self.finish;
        out.push_sql("UPDATE executions SET status = ");
        out.push_bind_param::<Text, _>(&finish.status)?;
        for (column, text) in [(", output = ", &finish.output), (", error = ", &finish.error)] {
            out.push_sql(column);
            out.push_bind_param::<Nullable<Text>, _>(text)?;
        }
        for (column, count) in [
            (", tokens_in = ", &finish.tokens_in),
            (", tokens_out = ", &finish.tokens_out),
            (", tool_calls = ", &finish.tool_calls),
            (", job_micros = ", &finish.job_micros),
        ] {
            out.push_sql(column);
            out.push_bind_param::<BigInt, _>(count)?;
        }
        out.push_sql(", finished_at = ");
        out.push_bind_param::<Nullable<Timestamp>, _>(&finish.finished_at)?;
        out.push_sql(", duration_ms = ");
        out.push_bind_param::<Nullable<BigInt>, _>(&finish.duration_ms)?;
        out.push_sql(" WHERE id = ");
        out.push_bind_param::<Text, str>(self.id.as_str())?;
        out.push_sql(" AND status = 'running'");
        Ok(())
    }
}

impl<Connection> RunQueryDsl<Connection> for FinishRunning<'_> {}

/// Which executions to list.
#[derive(Debug, Clone, Default)]
pub struct ExecutionFilter {
    pub tenant: Option<TenantId>,
    pub capsule: Option<String>,
    pub status: Option<String>,
}

/// Newest first, before the cursor.
pub fn list(
    connection: &mut DbConnection,
    filter: &ExecutionFilter,
    before: Option<&ExecutionId>,
    limit: i64,
) -> QueryResult<Vec<ExecutionRow>> {
    let mut query = executions::table
        .select(ExecutionRow::as_select())
        .order(executions::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(tenant) = &filter.tenant {
        query = query.filter(executions::tenant_id.eq(tenant.clone()));
    }
    if let Some(capsule) = &filter.capsule {
        query = query.filter(executions::capsule.eq(capsule.clone()));
    }
    if let Some(status) = &filter.status {
        query = query.filter(executions::status.eq(status.clone()));
    }
    if let Some(before) = before {
        query = query.filter(executions::id.lt(before.clone()));
    }
    query.load(connection)
}

/// Executions marked running that started before `before`: the sweeper asks their
/// workers whether they still run.
pub fn running_since(connection: &mut DbConnection, before: NaiveDateTime) -> QueryResult<Vec<ExecutionRow>> {
    executions::table
        // A literal, not a bound value: only then may the planners use the partial index
        // `executions_running` (`WHERE status = 'running'`).
        .filter(diesel::dsl::sql::<diesel::sql_types::Bool>("executions.status = 'running'"))
        .filter(executions::created_at.lt(before))
        .select(ExecutionRow::as_select())
        .load(connection)
}

#[cfg(test)]
mod tests {
    use super::*;
    use caravan_core::testing::count_preparations;
    use diesel::connection::SimpleConnection;
    use std::sync::atomic::Ordering;

    fn ended(status: &str) -> Finish {
        Finish {
            status: status.to_owned(),
            output: None,
            error: Some("the worker stopped".to_owned()),
            tokens_in: 3,
            tokens_out: 4,
            tool_calls: 1,
            job_micros: 2_500_000,
            finished_at: Some(caravan_core::db::now()),
            duration_ms: Some(7),
        }
    }

    /// Every column different from every other, so a value bound to the wrong column shows.
    fn distinct_row(n: i64) -> ExecutionRow {
        let created_at = caravan_core::db::now();
        ExecutionRow {
            id: ExecutionId::new(),
            tenant_id: TenantId::new(),
            api_key_id: ApiKeyId::new(),
            capsule: format!("acme/capsule-{n}"),
            version: format!("1.0.{n}"),
            digest: format!("sha256:{n:064}"),
            tier: "balanced".to_owned(),
            mode: "async".to_owned(),
            status: "running".to_owned(),
            idempotency_key: Some(format!("key-{n}")),
            request_hash: format!("hash-{n}"),
            input: format!("{{\"n\":{n}}}"),
            output: Some(format!("{{\"out\":{n}}}")),
            error: Some(format!("error {n}")),
            worker_id: Some(format!("worker-{n}")),
            webhook_url: Some(format!("https://example.com/hooks/{n}")),
            unit_price: Some(format!("0.0{n}")),
            tokens_in: 10 + n,
            tokens_out: 20 + n,
            tool_calls: 30 + n,
            job_micros: 40 + n,
            created_at,
            finished_at: Some(created_at + chrono::TimeDelta::milliseconds(50 + n)),
            duration_ms: Some(60 + n),
        }
    }

    #[test]
    fn a_run_is_inserted_whole_by_a_statement_prepared_once() {
        let mut sqlite = SqliteConnection::establish(":memory:").expect("an in-memory database");
        sqlite
            .batch_execute(
                "CREATE TABLE executions (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, api_key_id TEXT NOT NULL, \
                 capsule TEXT NOT NULL, version TEXT NOT NULL, digest TEXT NOT NULL, tier TEXT NOT NULL, \
                 mode TEXT NOT NULL, status TEXT NOT NULL, idempotency_key TEXT, request_hash TEXT NOT NULL, \
                 input TEXT NOT NULL, output TEXT, error TEXT, worker_id TEXT, webhook_url TEXT, unit_price TEXT, \
                 tokens_in BIGINT NOT NULL, tokens_out BIGINT NOT NULL, tool_calls BIGINT NOT NULL, \
                 job_micros BIGINT NOT NULL, created_at TIMESTAMP NOT NULL, finished_at TIMESTAMP, \
                 duration_ms BIGINT);",
            )
            .expect("the table");
        let mut connection = DbConnection::Sqlite(sqlite);
        let prepared = count_preparations(&mut connection, "");
        let mut nameless = distinct_row(2);
        (nameless.idempotency_key, nameless.output, nameless.finished_at, nameless.duration_ms) =
            (None, None, None, None);
        let rows = [distinct_row(1), nameless];

        for row in &rows {
            insert(&mut connection, row).expect("insert");
        }

        assert_eq!(prepared.load(Ordering::Relaxed), 1, "prepared once, then reused");
        for row in &rows {
            assert_eq!(find(&mut connection, &row.id).expect("find").as_ref(), Some(row));
        }
    }

    #[test]
    fn the_end_of_a_run_is_written_once_by_a_statement_prepared_once() {
        let mut sqlite = SqliteConnection::establish(":memory:").expect("an in-memory database");
        let ids = [ExecutionId::new(), ExecutionId::new()];
        sqlite
            .batch_execute(&format!(
                "CREATE TABLE executions (id TEXT PRIMARY KEY, status TEXT NOT NULL, output TEXT, error TEXT, \
                 tokens_in BIGINT, tokens_out BIGINT, tool_calls BIGINT, job_micros BIGINT, \
                 finished_at TIMESTAMP, duration_ms BIGINT); \
                 INSERT INTO executions (id, status, output) VALUES ('{}', 'running', 'old'), ('{}', 'running', NULL);",
                ids[0], ids[1]
            ))
            .expect("the table");
        let mut connection = DbConnection::Sqlite(sqlite);
        let prepared = count_preparations(&mut connection, "");

        assert!(finish(&mut connection, &ids[0], &ended("failed")).expect("the first end"));
        assert!(finish(&mut connection, &ids[1], &ended("succeeded")).expect("the second end"));
        assert!(
            !finish(&mut connection, &ids[0], &ended("succeeded")).expect("a repeated end"),
            "ended already"
        );

        assert_eq!(prepared.load(Ordering::Relaxed), 1, "prepared once, then reused");
        let DbConnection::Sqlite(sqlite) = &mut connection else { unreachable!("an SQLite connection") };
        let row: (String, Option<String>, Option<String>, i64) = executions::table
            .find(&ids[0])
            .select((executions::status, executions::output, executions::error, executions::job_micros))
            .first(sqlite)
            .expect("the first run");
        assert_eq!(
            row,
            ("failed".to_owned(), None, Some("the worker stopped".to_owned()), 2_500_000),
            "None is NULL"
        );
    }
}
