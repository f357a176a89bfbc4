-- Executions of capsules on worker backends, the webhook outbox that reports async
-- runs, tenants' webhook signing secrets, and workers registered through the API.

CREATE TABLE executions (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    api_key_id TEXT NOT NULL,
    capsule TEXT NOT NULL,
    version TEXT NOT NULL,
    digest TEXT NOT NULL,
    tier TEXT NOT NULL,
    mode TEXT NOT NULL CHECK (mode IN ('sync', 'stream', 'async')),
    status TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'cancelled', 'timed_out')),
    -- Same key (per tenant) → same execution.
    idempotency_key TEXT,
    -- SHA-256 of what was asked (capsule, requirement, input), to refuse a reused key.
    request_hash TEXT NOT NULL,
    input TEXT NOT NULL,
    output TEXT,
    error TEXT,
    worker_id TEXT,
    webhook_url TEXT,
    -- The capsule's per-execution price (decimal), charged when it succeeds.
    unit_price TEXT,
    tokens_in BIGINT NOT NULL,
    tokens_out BIGINT NOT NULL,
    tool_calls BIGINT NOT NULL,
    job_micros BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    duration_ms BIGINT,
    UNIQUE (tenant_id, idempotency_key)
);
CREATE INDEX executions_by_tenant ON executions (tenant_id, id);
CREATE INDEX executions_by_capsule ON executions (capsule, finished_at);
CREATE INDEX executions_by_status ON executions (status);

-- Webhooks to deliver, at least once, until delivered or 24 hours have passed.
CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    execution_id TEXT NOT NULL REFERENCES executions (id),
    -- The event's id: receivers drop a second delivery of the same one.
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    url TEXT NOT NULL,
    payload TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    -- NULL once delivered or abandoned.
    next_attempt_at TIMESTAMP,
    delivered_at TIMESTAMP,
    last_status BIGINT,
    last_error TEXT,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at);
CREATE INDEX webhook_deliveries_by_execution ON webhook_deliveries (execution_id);

-- A tenant's webhook signing secrets; several sign while one is being rotated out.
CREATE TABLE webhook_secrets (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    secret TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP
);
CREATE INDEX webhook_secrets_by_tenant ON webhook_secrets (tenant_id);

CREATE TABLE workers (
    id TEXT PRIMARY KEY NOT NULL,
    url TEXT NOT NULL UNIQUE,
    tier TEXT NOT NULL CHECK (tier IN ('fast', 'balanced', 'flagship')),
    created_at TIMESTAMP NOT NULL
);
