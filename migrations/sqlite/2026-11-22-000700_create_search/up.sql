-- Search and ranking: catalog metadata imported for search (no bundles), each capsule's
-- measured performance over the ranking window, and the index that lets every replica's
-- search index follow capsule changes.

CREATE TABLE catalog_entries (
    -- `publisher/name`, normalized like a capsule name.
    name TEXT PRIMARY KEY NOT NULL,
    publisher TEXT NOT NULL,
    version TEXT NOT NULL,
    description TEXT NOT NULL,
    -- Downloads a month where the record came from: its popularity.
    downloads_a_month BIGINT NOT NULL,
    imported_at TIMESTAMP NOT NULL
);
CREATE INDEX catalog_entries_by_import ON catalog_entries (imported_at);

CREATE TABLE capsule_stats (
    capsule TEXT PRIMARY KEY NOT NULL,
    window_days BIGINT NOT NULL,
    executions BIGINT NOT NULL,
    succeeded BIGINT NOT NULL,
    -- Scores and latencies, not money: floating point is fine here.
    success_lower_bound REAL NOT NULL,
    p50_ms BIGINT NOT NULL,
    p95_ms BIGINT NOT NULL,
    -- Exact decimal, in the billing currency.
    mean_cost TEXT NOT NULL,
    last_execution_at TIMESTAMP,
    quality REAL NOT NULL,
    computed_at TIMESTAMP NOT NULL
);

CREATE INDEX capsules_by_update ON capsules (updated_at);
