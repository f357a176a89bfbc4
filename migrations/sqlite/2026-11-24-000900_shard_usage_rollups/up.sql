-- The shard column of PostgreSQL's rollups (see its migration), so that both backends
-- share one schema. SQLite serializes its writers anyway: every row here is shard 0.
-- SQLite cannot change a primary key in place, so the table is rebuilt.
CREATE TABLE usage_rollups_sharded (
    tenant_id TEXT NOT NULL,
    meter TEXT NOT NULL,
    granularity TEXT NOT NULL CHECK (granularity IN ('hour', 'month')),
    bucket TIMESTAMP NOT NULL,
    capsule TEXT NOT NULL,
    api_key_id TEXT NOT NULL,
    group_key TEXT NOT NULL,
    unit_price TEXT NOT NULL,
    quantity_micros BIGINT NOT NULL,
    max_micros BIGINT NOT NULL,
    readings BIGINT NOT NULL,
    shard SMALLINT NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, meter, granularity, bucket, capsule, api_key_id, group_key, unit_price, shard)
);
INSERT INTO usage_rollups_sharded (tenant_id, meter, granularity, bucket, capsule, api_key_id, group_key,
                                   unit_price, quantity_micros, max_micros, readings, shard)
    SELECT tenant_id, meter, granularity, bucket, capsule, api_key_id, group_key, unit_price,
           quantity_micros, max_micros, readings, 0
    FROM usage_rollups;
DROP TABLE usage_rollups;
ALTER TABLE usage_rollups_sharded RENAME TO usage_rollups;
CREATE INDEX usage_rollups_by_period ON usage_rollups (granularity, bucket);
