//! The audit log: every mutation appended, in the mutation's own transaction, with actor,
//! tenant, action, target, details, time and request id. Each entry's hash covers its
//! content and the previous entry's hash, so [`verify`] finds an edited or deleted entry.
//!
//! The chain's head (last sequence and hash) is what an operator records elsewhere to
//! detect a truncated tail; `caravan audit verify` prints it.

use crate::db::schema::audit_events;
use crate::db::{DbConnection, DbError};
use crate::id::{AuditEventId, TenantId};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

/// The `previous_hash` of the first entry.
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// An arbitrary constant: the PostgreSQL transaction lock that serializes appends.
const APPEND_LOCK: i64 = 0x6361_7261_7661_6e01;

/// What happened, as the code that made the change describes it.
#[derive(Debug, Clone)]
pub struct AuditRecord<'a> {
    pub tenant_id: Option<&'a TenantId>,
    /// Who did it: a key id, `system`, or a member id.
    pub actor: &'a str,
    /// Dotted verb such as `key.create` or `tenant.suspend`.
    pub action: &'a str,
    /// The id of the object acted upon.
    pub target: &'a str,
    pub details: serde_json::Value,
    pub request_id: Option<&'a str>,
}

/// One stored entry.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Serialize, ToSchema)]
#[diesel(table_name = audit_events)]
pub struct AuditEvent {
    /// Position in the chain, from 1 without gaps.
    pub sequence: i64,
    pub id: AuditEventId,
    pub tenant_id: Option<TenantId>,
    pub actor: String,
    pub action: String,
    pub target: String,
    /// JSON text with the facts of the change.
    pub details: String,
    pub request_id: Option<String>,
    #[serde(with = "crate::utc")]
    pub occurred_at: NaiveDateTime,
    pub previous_hash: String,
    pub hash: String,
}

/// Appends `record`. Call it inside the transaction that makes the change, so the change
/// and its audit entry commit together or not at all.
pub fn append(connection: &mut DbConnection, record: AuditRecord<'_>) -> Result<AuditEvent, DbError> {
    if matches!(connection, DbConnection::Postgres(_)) {
        diesel::sql_query(format!("SELECT pg_advisory_xact_lock({APPEND_LOCK})")).execute(connection)?;
    }
    let last: Option<(i64, String)> = audit_events::table
        .select((audit_events::sequence, audit_events::hash))
        .order(audit_events::sequence.desc())
        .first(connection)
        .optional()?;
    let (sequence, previous_hash) = match last {
        Some((sequence, hash)) => (sequence + 1, hash),
        None => (1, GENESIS.to_owned()),
    };
    // Both backends store microseconds; hashing the stored precision keeps verify exact.
    let occurred_at = crate::db::now();
    let mut event = AuditEvent {
        sequence,
        id: AuditEventId::new(),
        tenant_id: record.tenant_id.cloned(),
        actor: record.actor.to_owned(),
        action: record.action.to_owned(),
        target: record.target.to_owned(),
        details: record.details.to_string(),
        request_id: record.request_id.map(str::to_owned),
        occurred_at,
        previous_hash,
        hash: String::new(),
    };
    event.hash = hash_of(&event);
    diesel::insert_into(audit_events::table)
        .values((
            audit_events::sequence.eq(event.sequence),
            audit_events::id.eq(&event.id),
            audit_events::tenant_id.eq(&event.tenant_id),
            audit_events::actor.eq(&event.actor),
            audit_events::action.eq(&event.action),
            audit_events::target.eq(&event.target),
            audit_events::details.eq(&event.details),
            audit_events::request_id.eq(&event.request_id),
            audit_events::occurred_at.eq(event.occurred_at),
            audit_events::previous_hash.eq(&event.previous_hash),
            audit_events::hash.eq(&event.hash),
        ))
        .execute(connection)?;
    Ok(event)
}

/// Entries after `after` (a sequence number), oldest first; only `tenant`'s when given.
pub fn list(
    connection: &mut DbConnection,
    tenant: Option<&TenantId>,
    after: i64,
    limit: i64,
) -> Result<Vec<AuditEvent>, DbError> {
    let mut query = audit_events::table
        .select(AuditEvent::as_select())
        .filter(audit_events::sequence.gt(after))
        .order(audit_events::sequence.asc())
        .limit(limit)
        .into_boxed();
    if let Some(tenant) = tenant {
        query = query.filter(audit_events::tenant_id.eq(tenant.clone()));
    }
    Ok(query.load(connection)?)
}

/// The outcome of walking the whole chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    /// Every entry matches; `head` is the last sequence and hash (None when empty).
    Intact { entries: i64, head: Option<(i64, String)> },
    /// The first entry that does not match, and why.
    Broken { sequence: i64, reason: String },
}

/// Recomputes every hash and link, in batches, oldest first.
pub fn verify(connection: &mut DbConnection) -> Result<Verification, DbError> {
    let mut expected_sequence = 1;
    let mut previous_hash = GENESIS.to_owned();
    loop {
        let batch = list(connection, None, expected_sequence - 1, 1000)?;
        if batch.is_empty() {
            let entries = expected_sequence - 1;
            let head = (entries > 0).then_some((entries, previous_hash));
            return Ok(Verification::Intact { entries, head });
        }
        for event in batch {
            let broken = |reason: String| Ok(Verification::Broken { sequence: event.sequence, reason });
            if event.sequence != expected_sequence {
                return broken(format!("entry {expected_sequence} is missing"));
            }
            if event.previous_hash != previous_hash {
                return broken("its link to the previous entry does not match".to_owned());
            }
            if hash_of(&event) != event.hash {
                return broken("its content does not match its hash".to_owned());
            }
            previous_hash = event.hash;
            expected_sequence += 1;
        }
    }
}

/// SHA-256 over the previous hash and every field, each length-prefixed so no two
/// different entries serialize alike.
fn hash_of(event: &AuditEvent) -> String {
    let mut hasher = Sha256::new();
    let occurred_at = event.occurred_at.format("%Y-%m-%dT%H:%M:%S%.6f").to_string();
    let sequence = event.sequence.to_string();
    let fields = [
        event.previous_hash.as_str(),
        sequence.as_str(),
        event.id.as_str(),
        event.tenant_id.as_ref().map_or("", TenantId::as_str),
        event.actor.as_str(),
        event.action.as_str(),
        event.target.as_str(),
        event.details.as_str(),
        event.request_id.as_deref().unwrap_or(""),
        occurred_at.as_str(),
    ];
    for field in fields {
        hasher.update((field.len() as u64).to_be_bytes());
        hasher.update(field.as_bytes());
    }
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{Database, DbTarget, PoolOptions, write_transaction};

    fn database() -> (tempfile::TempDir, Database) {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = DbTarget::Sqlite(dir.path().join("audit.db"));
        let database = Database::connect(target, &PoolOptions::default()).expect("connect");
        database.migrate().expect("migrate");
        (dir, database)
    }

    fn record(action: &str) -> AuditRecord<'_> {
        AuditRecord {
            tenant_id: None,
            actor: "system",
            action,
            target: "ten_01JD8X3ZQK9V6R2N4T7W5YB1CM",
            details: serde_json::json!({ "plan": "pro" }),
            request_id: Some("req_01JD8X3ZQK9V6R2N4T7W5YB1CM"),
        }
    }

    fn append_three(connection: &mut DbConnection) {
        for action in ["tenant.create", "key.create", "key.revoke"] {
            write_transaction(connection, |connection| append(connection, record(action))).expect("append");
        }
    }

    #[test]
    fn an_untouched_chain_verifies() {
        let (_dir, database) = database();
        let mut connection = database.connection().expect("connection");
        append_three(&mut connection);

        let verification = verify(&mut connection).expect("verify");

        assert!(
            matches!(verification, Verification::Intact { entries: 3, head: Some((3, _)) }),
            "{verification:?}"
        );
    }

    #[test]
    fn an_edited_entry_breaks_the_chain() {
        let (_dir, database) = database();
        let mut connection = database.connection().expect("connection");
        append_three(&mut connection);
        diesel::update(audit_events::table.filter(audit_events::sequence.eq(2)))
            .set(audit_events::actor.eq("key_01JD8X3ZQK9V6R2N4T7W5YB1CM"))
            .execute(&mut connection)
            .expect("tamper");

        let verification = verify(&mut connection).expect("verify");

        assert_eq!(
            verification,
            Verification::Broken { sequence: 2, reason: "its content does not match its hash".to_owned() }
        );
    }

    #[test]
    fn a_deleted_entry_breaks_the_chain() {
        let (_dir, database) = database();
        let mut connection = database.connection().expect("connection");
        append_three(&mut connection);
        diesel::delete(audit_events::table.filter(audit_events::sequence.eq(2)))
            .execute(&mut connection)
            .expect("tamper");

        let verification = verify(&mut connection).expect("verify");

        assert_eq!(
            verification,
            Verification::Broken { sequence: 3, reason: "entry 2 is missing".to_owned() }
        );
    }
}
