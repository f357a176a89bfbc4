-- The append-only audit log. Each row's hash covers its content and the previous row's
-- hash, so an edited or deleted row breaks the chain ('caravan audit verify').
CREATE TABLE audit_events (
    sequence BIGINT PRIMARY KEY NOT NULL,
    id TEXT NOT NULL UNIQUE,
    tenant_id TEXT,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    details TEXT NOT NULL,
    request_id TEXT,
    occurred_at TIMESTAMP NOT NULL,
    previous_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX audit_events_by_tenant ON audit_events (tenant_id, sequence);
