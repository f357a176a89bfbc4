-- Each capsule's ended executions, counted per day (UTC), unit price and latency bucket (see
-- registry/src/search/latency_buckets.rs): what ranking reads instead of every execution
-- of the window. The end of a run adds to its cell in the transaction that records it.
-- On PostgreSQL a cell is spread over shards, as usage rollups are.
CREATE TABLE capsule_performance (
    capsule TEXT NOT NULL,
    -- Midnight of the day the runs ended.
    day TIMESTAMP NOT NULL,
    -- The capsule's per-execution price (decimal) the runs carried, charged on those that
    -- succeeded; '' when none.
    unit_price TEXT NOT NULL,
    latency_bucket INTEGER NOT NULL,
    shard SMALLINT NOT NULL,
    executions BIGINT NOT NULL,
    succeeded BIGINT NOT NULL,
    last_ended_at TIMESTAMP NOT NULL,
    PRIMARY KEY (capsule, day, unit_price, latency_bucket, shard)
);
-- Ranking was its reader; the executions an operator lists by capsule alone (no tenant)
-- are now found by a scan.
DROP INDEX executions_by_capsule;
