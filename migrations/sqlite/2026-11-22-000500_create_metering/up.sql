-- Metering and billing: the usage ledger, its rollups, closed periods, invoices and the
-- state of their sync to Stripe. Quantities are integer millionths of a unit and amounts
-- integer minor units of the currency, so sums are exact on both backends.

-- The raw ledger. The primary key is the deduplication key, kept for good: an event
-- with a (tenant, source, id) seen before is a duplicate whenever it arrives.
CREATE TABLE usage_events (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    source TEXT NOT NULL,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    occurred_at TIMESTAMP NOT NULL,
    received_at TIMESTAMP NOT NULL,
    capsule TEXT,
    api_key_id TEXT,
    -- The event as accepted, CloudEvents JSON: what a tenant recomputes invoices from.
    event TEXT NOT NULL,
    PRIMARY KEY (tenant_id, source, event_id)
);
CREATE INDEX usage_events_by_time ON usage_events (tenant_id, occurred_at);

-- Per meter, hour ('hour') and calendar month ('month'): the sum, the maximum and the
-- number of readings, written in the transaction that accepts the events. '' stands for
-- "none" in the key columns.
CREATE TABLE usage_rollups (
    tenant_id TEXT NOT NULL,
    meter TEXT NOT NULL,
    granularity TEXT NOT NULL CHECK (granularity IN ('hour', 'month')),
    bucket TIMESTAMP NOT NULL,
    capsule TEXT NOT NULL,
    api_key_id TEXT NOT NULL,
    group_key TEXT NOT NULL,
    -- The publisher's per-execution price (decimal), on the `executions` meter only.
    unit_price TEXT NOT NULL,
    quantity_micros BIGINT NOT NULL,
    max_micros BIGINT NOT NULL,
    readings BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, meter, granularity, bucket, capsule, api_key_id, group_key, unit_price)
);
CREATE INDEX usage_rollups_by_period ON usage_rollups (granularity, bucket);

-- The values `unique_count` meters count, once per hour and group.
CREATE TABLE usage_distinct_values (
    tenant_id TEXT NOT NULL,
    meter TEXT NOT NULL,
    bucket TIMESTAMP NOT NULL,
    capsule TEXT NOT NULL,
    api_key_id TEXT NOT NULL,
    group_key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (tenant_id, meter, bucket, capsule, api_key_id, group_key, value)
);

-- A row per closed period (YYYY-MM); an open period has none.
CREATE TABLE billing_periods (
    period TEXT PRIMARY KEY NOT NULL,
    closed_at TIMESTAMP NOT NULL,
    closed_by TEXT NOT NULL,
    invoice_count BIGINT NOT NULL
);

CREATE TABLE invoices (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    period TEXT NOT NULL,
    plan TEXT NOT NULL,
    currency TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'paid', 'payment_failed', 'void')),
    total_minor BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    paid_at TIMESTAMP,
    voided_at TIMESTAMP,
    void_reason TEXT,
    stripe_status TEXT NOT NULL CHECK (stripe_status IN ('disabled', 'pending', 'synced', 'failed')),
    stripe_invoice_id TEXT,
    stripe_hosted_url TEXT,
    stripe_synced_at TIMESTAMP,
    stripe_error TEXT,
    UNIQUE (tenant_id, period)
);
CREATE INDEX invoices_by_period ON invoices (period);
CREATE INDEX invoices_by_stripe_status ON invoices (stripe_status);
CREATE INDEX invoices_by_stripe_invoice ON invoices (stripe_invoice_id);

CREATE TABLE invoice_lines (
    id TEXT PRIMARY KEY NOT NULL,
    invoice_id TEXT NOT NULL REFERENCES invoices (id),
    position BIGINT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('fee', 'usage', 'capsule')),
    meter TEXT,
    capsule TEXT,
    description TEXT NOT NULL,
    -- Exact decimals, as text.
    quantity TEXT NOT NULL,
    unit_price TEXT NOT NULL,
    amount_minor BIGINT NOT NULL,
    stripe_invoice_item_id TEXT,
    UNIQUE (invoice_id, position)
);

-- Stripe: one customer per tenant; every request's idempotency key saved before the
-- request is sent; webhook event ids seen, so a redelivered event changes nothing.
CREATE TABLE stripe_customers (
    tenant_id TEXT PRIMARY KEY NOT NULL REFERENCES tenants (id),
    customer_id TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE stripe_requests (
    idempotency_key TEXT PRIMARY KEY NOT NULL,
    invoice_id TEXT,
    operation TEXT NOT NULL,
    requested_at TIMESTAMP NOT NULL,
    completed_at TIMESTAMP,
    stripe_object_id TEXT
);

CREATE TABLE stripe_events (
    event_id TEXT PRIMARY KEY NOT NULL,
    event_type TEXT NOT NULL,
    received_at TIMESTAMP NOT NULL,
    outcome TEXT NOT NULL
);
