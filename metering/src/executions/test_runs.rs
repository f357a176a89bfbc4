//! Runs and databases for the tests of executions' ends.

use super::Recording;
use super::record::{End, Outcome};
use crate::db::executions::ExecutionRow;
use caravan_core::Database;
use caravan_core::db::{PoolOptions, now};
use caravan_core::id::{ApiKeyId, ExecutionId, TenantId};
use caravan_core::money::Decimal;
use caravan_core::testing::TestDatabase;
use caravan_worker::protocol::RunStatus;
use diesel::RunQueryDsl;

/// A plain sync run of `acme/echo` that has just succeeded.
pub fn sync_run(tenant: &TenantId) -> End {
    let created_at = now();
    End {
        execution: ExecutionRow {
            id: ExecutionId::new(),
            tenant_id: tenant.clone(),
            api_key_id: ApiKeyId::new(),
            capsule: "acme/echo".to_owned(),
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
            unit_price: None,
            tokens_in: 0,
            tokens_out: 0,
            tool_calls: 0,
            job_micros: 0,
            created_at,
            finished_at: None,
            duration_ms: None,
        },
        recording: Recording::AtTheEnd,
        outcome: Outcome {
            status: RunStatus::Succeeded,
            output: Some(serde_json::json!({ "ok": true })),
            reason: None,
            tokens_in: 2,
            tokens_out: 3,
            tool_calls: 0,
            job_seconds: Decimal::ONE,
        },
    }
}

/// A migrated database with one tenant.
pub fn database_with_tenant() -> (TestDatabase, Database, TenantId) {
    let test_database = TestDatabase::create();
    let database = Database::connect(test_database.target(), &PoolOptions::default()).expect("connect");
    database.migrate().expect("migrate");
    let tenant = TenantId::new();
    let mut connection = database.connection().expect("connection");
    diesel::sql_query(format!(
        "INSERT INTO tenants (id, name, plan, created_at, updated_at) \
         VALUES ('{tenant}', 'Acme', 'pro', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
    ))
    .execute(&mut connection)
    .expect("a tenant");
    (test_database, database, tenant)
}
