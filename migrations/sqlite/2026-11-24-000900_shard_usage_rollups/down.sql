-- Folds every cell's shards back into one row, in the table without the shard column.
CREATE TABLE usage_rollups_folded (
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
    PRIMARY KEY (tenant_id, meter, granularity, bucket, capsule, api_key_id, group_key, unit_price)
);
INSERT INTO usage_rollups_folded
    SELECT tenant_id, meter, granularity, bucket, capsule, api_key_id, group_key, unit_price,
           SUM(quantity_micros), MAX(max_micros), SUM(readings)
    FROM usage_rollups
    GROUP BY tenant_id, meter, granularity, bucket, capsule, api_key_id, group_key, unit_price;
DROP TABLE usage_rollups;
ALTER TABLE usage_rollups_folded RENAME TO usage_rollups;
CREATE INDEX usage_rollups_by_period ON usage_rollups (granularity, bucket);
